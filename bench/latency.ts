// Reply latencies with many requests in flight: rounds of N concurrent requests per subject.
import type { NatsConnection } from '@nats-io/transport-node';
import { config } from './config.js';

export interface SubjectLatency {
  subject: string;
  inFlight: number;
  rounds: number;
  requests: number;
  failures: number;
  /** The first failure's reason, to say why. */
  firstFailure: string | null;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface LatencyProbe {
  /** The verb: the subject is `<prefix>.<verb>`. */
  verb: string;
  body: string;
  /** Whether a reply is a success; otherwise the reason it is not. */
  check: (reply: Record<string, unknown>) => true | string;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}

async function once(nc: NatsConnection, subject: string, probe: LatencyProbe): Promise<{ ms: number; failure: string | null }> {
  const started = performance.now();
  try {
    const msg = await nc.request(subject, probe.body, { timeout: REQUEST_TIMEOUT_MS });
    const ms = performance.now() - started;
    let reply: unknown;
    try {
      reply = msg.json();
    } catch {
      return { ms, failure: `not JSON: ${msg.string().slice(0, 200)}` };
    }
    const verdict = typeof reply === 'object' && reply !== null ? probe.check(reply as Record<string, unknown>) : 'not an object';
    return { ms, failure: verdict === true ? null : `${verdict}: ${msg.string().slice(0, 200)}` };
  } catch (err) {
    return { ms: performance.now() - started, failure: (err as Error).message };
  }
}

/** `rounds` times, `inFlight` requests sent at once and awaited together. */
export async function measureLatency(
  nc: NatsConnection,
  probe: LatencyProbe,
  inFlight = config.inFlight,
  rounds = config.latencyRounds,
): Promise<SubjectLatency> {
  const subject = `${config.subjectPrefix}.${probe.verb}`;
  const times: number[] = [];
  let failures = 0;
  let firstFailure: string | null = null;
  for (let round = 0; round < rounds; round++) {
    const results = await Promise.all(Array.from({ length: inFlight }, () => once(nc, subject, probe)));
    for (const r of results) {
      // A failed request counts with the time it took too: a timeout must not make p99 look better.
      times.push(r.ms);
      if (r.failure !== null) {
        failures++;
        firstFailure ??= r.failure;
      }
    }
  }
  times.sort((a, b) => a - b);
  return {
    subject: probe.verb,
    inFlight,
    rounds,
    requests: inFlight * rounds,
    failures,
    firstFailure,
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
    maxMs: times.length === 0 ? null : (times[times.length - 1] ?? null),
  };
}

/** The probes of the service's request subjects; makebackup queues real (tiny) backups of `table`. */
export function probes(archiveName: string, table: string): { reads: LatencyProbe[]; makebackup: LatencyProbe } {
  const statusOk = (r: Record<string, unknown>): true | string => r['status'] === 'ok' || `status ${String(r['status'])}`;
  return {
    reads: [
      { verb: 'listbackups', body: 'listfiles', check: (r) => Object.values(r).includes(archiveName) || `${archiveName} not listed` },
      { verb: 'archive', body: `archivename=${archiveName}`, check: (r) => typeof r['tables'] === 'string' || 'no tables' },
      { verb: 'backups', body: '', check: statusOk },
    ],
    makebackup: { verb: 'makebackup', body: `makebackup=${table}`, check: statusOk },
  };
}
