import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';

export interface Reply {
  body: string;
  headers: Record<string, string>;
}

export function natsConnect(servers = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'): Promise<NatsConnection> {
  return connect({ servers });
}

/** A request as `nats req` sends it: a body and, optionally, headers. */
export async function request(nc: NatsConnection, subject: string, body: string | Uint8Array, headers?: Record<string, string>): Promise<Reply> {
  let h;
  if (headers) {
    h = natsHeaders();
    for (const [key, value] of Object.entries(headers)) h.set(key, value);
  }
  const msg = await nc.request(subject, body, { timeout: 10_000, headers: h });
  const replyHeaders: Record<string, string> = {};
  if (msg.headers) for (const [key, values] of msg.headers) replyHeaders[key] = values.join(',');
  return { body: new TextDecoder().decode(msg.data), headers: replyHeaders };
}

/** Until issue-3's status subject exists: a job is finished once the work queue is empty. */
export async function waitForJobsDrained(nc: NatsConnection, stream: string, timeoutMs = 60_000): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = await jsm.streams.info(stream);
    if (info.state.messages === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`jobs on ${stream} not finished after ${timeoutMs} ms`);
}

export async function deleteStream(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => undefined);
}

export interface JobStateReply {
  id: string;
  kind: 'backup' | 'restore';
  archive: string;
  tables: string[];
  status: 'queued' | 'running' | 'done' | 'failed';
  attempts: number;
  reason?: string;
  progress?: { tablesDone: number; tablesTotal: number; rowsDone: number; rowsTotal: number; bytesDone: number; bytesTotal: number };
  result?: { archive: string; path: string; size: number; sha256: string; durationMs: number };
}

/** Asks `<prefix>.status` until the job's state satisfies `until` (by default: finished). */
export async function waitForJob(
  nc: NatsConnection,
  prefix: string,
  id: string,
  until: (state: JobStateReply) => boolean = (s) => s.status === 'done' || s.status === 'failed',
  timeoutMs = 90_000,
): Promise<JobStateReply> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const reply = await request(nc, `${prefix}.status`, id);
      last = reply.body;
      if (!reply.headers['Nats-Service-Error-Code']) {
        const state = JSON.parse(reply.body) as JobStateReply;
        if (until(state)) return state;
      }
    } catch (err) {
      last = String(err); // no responder while the service restarts
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not reach the expected state in ${timeoutMs} ms; last: ${last}`);
}

/** A job's state straight from the job-state bucket, for when no service is running to ask. */
export async function readJobState(nc: NatsConnection, id: string, bucket: string): Promise<JobStateReply | null> {
  const kv = await new Kvm(nc).open(bucket);
  const entry = await kv.get(`job.${id}`);
  return entry && entry.operation === 'PUT' ? entry.json<JobStateReply>() : null;
}
