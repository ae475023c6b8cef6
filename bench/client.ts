// The bench's side of the service's NATS protocol: requests, and waiting for the job queue to drain.
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { connect, RequestError } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { config } from './config.js';
import { sleep } from './measure.js';

/** Throws when the service is gone; called while waiting. */
export type AliveCheck = () => void;

export interface Client {
  nc: NatsConnection;
  jsm: JetStreamManager;
}

export async function openClient(): Promise<Client> {
  // Without the client's own error traces (two Error objects per request) in the latencies measured.
  const nc = await connect({ servers: config.natsUrl, noAsyncTraces: true });
  return { nc, jsm: await jetstreamManager(nc) };
}

const STREAM_NOT_FOUND = 10059;
const isStreamNotFound = (err: unknown): boolean => err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND;

/**
 * Drops what an earlier run (or scale) left in NATS: the jobs stream, the archive bucket and the
 * job-state bucket (a bucket is the stream OBJ_<name> or KV_<name>), so each scale starts empty.
 */
export async function deleteBenchStreams(jsm: JetStreamManager): Promise<void> {
  for (const stream of [config.jobsStream, `OBJ_${config.objectBucket}`, `KV_${config.jobStateBucket}`]) {
    await jsm.streams.delete(stream).catch((err: unknown) => {
      if (!isStreamNotFound(err)) throw err;
    });
  }
}

/** Last sequence of the jobs stream (0 when it does not exist yet). */
export async function jobsLastSeq(jsm: JetStreamManager): Promise<number> {
  try {
    return (await jsm.streams.info(config.jobsStream)).state.last_seq;
  } catch (err) {
    if (isStreamNotFound(err)) return 0;
    throw err;
  }
}

/** Sends a request and returns the JSON reply; retries while nobody listens yet (service starting). */
async function request(nc: NatsConnection, verb: string, body: string, alive: AliveCheck): Promise<Record<string, unknown>> {
  const subject = `${config.subjectPrefix}.${verb}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    alive();
    try {
      const msg = await nc.request(subject, body, { timeout: 30_000 });
      const reply = msg.json<Record<string, unknown>>();
      if (reply['status'] !== 'ok') throw new Error(`${subject} "${body}" answered ${msg.string()}`);
      return reply;
    } catch (err) {
      if (!(err instanceof RequestError && err.isNoResponders()) || Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** Asks for a backup; returns the absolute path the archive will appear at. */
export async function requestBackup(nc: NatsConnection, tables: readonly string[], backupDir: string, alive: AliveCheck): Promise<string> {
  const reply = await request(nc, 'makebackup', `makebackup=${tables.join(',')}`, alive);
  const file = reply['futurefilename'];
  if (typeof file !== 'string' || file === '') throw new Error(`makebackup reply without futurefilename: ${JSON.stringify(reply)}`);
  return isAbsolute(file) ? file : join(backupDir, file);
}

/** A backup is done when its archive exists (the service renames it into place). */
export async function waitForBackup(file: string, opts: { timeoutMs: number; alive: AliveCheck }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  while (!existsSync(file)) {
    opts.alive();
    if (Date.now() > deadline) throw new Error(`backup ${file} did not appear within ${opts.timeoutMs / 1000} s`);
    await sleep(50);
  }
}

export async function requestRestore(nc: NatsConnection, archiveName: string, tables: readonly string[], alive: AliveCheck): Promise<void> {
  await request(nc, 'restore', `archive=${archiveName};tables=${tables.map((t) => `${t}.sql`).join(',')}`, alive);
}

/**
 * Whether the job queue is idle: the work-queue stream holds no message (a job's message is deleted
 * when acked) and no consumer has acks pending. With `sinceSeq`, a job published after that
 * sequence must have been seen too, so a job that is not enqueued yet does not count as done.
 * Returns the state it saw when not idle.
 */
export async function jobsIdle(jsm: JetStreamManager, sinceSeq?: number): Promise<true | string> {
  try {
    const { state } = await jsm.streams.info(config.jobsStream);
    const consumers = await jsm.consumers.list(config.jobsStream).next();
    const ackPending = consumers.reduce((sum, c) => sum + c.num_ack_pending, 0);
    if (state.last_seq > (sinceSeq ?? -1) && state.messages === 0 && ackPending === 0) return true;
    return `last_seq ${state.last_seq}, messages ${state.messages}, ack pending ${ackPending}`;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    return 'stream not found';
  }
}

/** Resolves when the job queue is idle (see jobsIdle). */
export async function waitForJobsDrained(
  jsm: JetStreamManager,
  opts: { sinceSeq?: number; timeoutMs: number; alive: AliveCheck },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    opts.alive();
    const idle = await jobsIdle(jsm, opts.sinceSeq);
    if (idle === true) return;
    if (Date.now() > deadline) throw new Error(`jobs stream ${config.jobsStream} not drained after ${opts.timeoutMs / 1000} s (${idle})`);
    await sleep(25); // a restore of a few seconds is timed by this loop: keep its granularity small
  }
}
