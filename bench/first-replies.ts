// The first `archive` and `restore` replies of a freshly started service (the reply, not the job).
import { RequestError } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { config } from './config.js';
import type { AliveCheck } from './client.js';
import { sleep } from './measure.js';

const READY_TIMEOUT_MS = 60_000;

/**
 * Waits until the service answers: it subscribes all its subjects before one flush, so the first
 * answer on `status` (a job id that does not exist: only the job-state bucket is read, no archive)
 * means `archive` and `restore` are listening too, with no archive looked at yet.
 */
export async function waitUntilAnswering(nc: NatsConnection, alive: AliveCheck): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    alive();
    try {
      await nc.request(`${config.subjectPrefix}.status`, 'bench-ready-probe', { timeout: 5_000 });
      return;
    } catch (err) {
      // No responders: not subscribed yet. A timeout: still starting. Both are retried.
      if (Date.now() > deadline) throw err;
      if (!(err instanceof RequestError && err.isNoResponders())) await sleep(200);
      await sleep(20);
    }
  }
}

/** Milliseconds from sending the request to its reply, which must satisfy `ok`. */
export async function firstReply(
  nc: NatsConnection,
  verb: string,
  body: string,
  ok: (reply: Record<string, unknown>) => boolean,
): Promise<number> {
  const started = performance.now();
  const msg = await nc.request(`${config.subjectPrefix}.${verb}`, body, { timeout: 30_000 });
  const ms = performance.now() - started;
  const reply = msg.json<Record<string, unknown>>();
  if (!ok(reply)) throw new Error(`${verb} "${body}" answered ${msg.string()}`);
  return ms;
}
