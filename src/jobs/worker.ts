import type { Consumer, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../log.js';
import { backoffDelay, sleep } from '../retry.js';
import { decodeJob, PermanentJobError, type Job } from './job.js';
import { lockTargetsOf, TableLocks, type Lease } from './locks.js';
import { Progress } from './progress.js';
import { queuedState, type JobResult } from './state.js';
import type { JobQueue } from './queue.js';

export interface JobContext {
  signal: AbortSignal;
  log: Logger;
  attempt: number;
  progress: Progress;
}

/** Runs one job; returns what a done job reports (a backup's archive), or null. */
export type JobHandler = (job: Job, context: JobContext) => Promise<JobResult | null>;

export interface WorkerOptions {
  slots: number;
  log: Logger;
}

/** How long one pull waits for a job before asking again (also bounds how fast stop() is noticed). */
const PULL_EXPIRES_MS = 5_000;
/** Progress is published at most this often. */
const PROGRESS_INTERVAL_MS = 250;

/**
 * Takes jobs from the work queue, one per free slot (never prefetching: a buffered job whose
 * ack_wait ran out would be redelivered elsewhere while still waiting here), keeps each alive
 * with working() while it runs, and acks only once its result is in place.
 */
export class Worker {
  private running = false;
  /** One pull loop per slot; `waiting` while it waits for a job rather than running one. */
  private loops: { done: Promise<void>; waiting: boolean }[] = [];
  private pullsEnded: Promise<void> = Promise.resolve();
  private readonly active = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly locks: TableLocks;

  constructor(
    private readonly queue: JobQueue,
    private readonly handler: JobHandler,
    private readonly options: WorkerOptions,
  ) {
    this.locks = new TableLocks(queue.states.kv, 2 * queue.settings.ackWaitMs);
  }

  async start(): Promise<void> {
    const consumer = await this.queue.js.consumers.get(this.queue.settings.stream, this.queue.settings.consumer);
    this.running = true;
    this.loops = Array.from({ length: this.options.slots }, () => {
      const slot = { done: Promise.resolve(), waiting: false };
      slot.done = this.loop(consumer, slot);
      return slot;
    });
  }

  /** Stops taking jobs; waits up to `graceMs` for running ones, then hands them back for redelivery. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    const jobs = [...this.active.values()];
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(jobs.map((j) => j.done)), grace]);
    clearTimeout(timer);
    // A job handed back must not land in one of our own pulls still waiting (it would nak it
    // again and spend one of its deliveries): the nak waits until those end (PULL_EXPIRES_MS).
    this.pullsEnded = Promise.all(this.loops.filter((slot) => slot.waiting).map((slot) => slot.done)).then(() => undefined);
    for (const job of this.active.values()) job.abort.abort(new Error('service is shutting down'));
    await Promise.all(this.loops.map((slot) => slot.done));
  }

  private async loop(consumer: Consumer, slot: { waiting: boolean }): Promise<void> {
    while (this.running) {
      let msg: JsMsg | null;
      try {
        slot.waiting = true;
        msg = await consumer.next({ expires: PULL_EXPIRES_MS });
      } catch (err) {
        if (!this.running) break;
        this.options.log.warn({ err }, 'pulling a job failed; retrying');
        await sleep(1_000);
        continue;
      }
      slot.waiting = false;
      if (!msg) continue;
      if (!this.running) {
        msg.nak();
        break;
      }
      await this.run(msg);
    }
  }

  private async run(msg: JsMsg): Promise<void> {
    const attempt = msg.info.deliveryCount;
    let job: Job;
    try {
      job = decodeJob(msg.data);
    } catch (err) {
      this.options.log.error({ err, seq: msg.seq }, 'dropping a malformed job message');
      await this.discard(msg, 'malformed job');
      return;
    }
    const log = this.options.log.child({ job: job.id, kind: job.kind, archive: job.archive });
    const states = this.queue.states;
    const previous = await states.get(job.id).catch(() => null);
    if (previous?.status === 'done' || previous?.status === 'failed') {
      // Finished before, but its ack was lost (the worker died right after): do not run it twice.
      log.info({ status: previous.status }, 'job already finished; dropping the redelivery');
      await msg.ackAck().catch(() => this.discard(msg, 'already finished'));
      return;
    }
    const base = { ...queuedState(job), attempts: attempt };
    const abort = new AbortController();
    const progress = new Progress();
    progress.tablesTotal = job.tables.length; // known before the job's first step, so never "0/0"
    let lease: Lease | null = null;
    const heartbeat = setInterval(() => {
      msg.working();
      lease?.renew().catch((err: unknown) => log.warn({ err }, 'renewing table locks failed'));
    }, Math.max(1_000, this.queue.settings.ackWaitMs / 3));
    let published = '';
    const publishProgress = async () => {
      const snapshot = JSON.stringify(progress.snapshot());
      if (snapshot === published) return;
      published = snapshot;
      await states.record({ ...base, status: 'running', progress: progress.snapshot() });
    };
    const reporter = setInterval(() => publishProgress().catch((err: unknown) => log.warn({ err }, 'publishing progress failed')), PROGRESS_INTERVAL_MS);
    const done = (async () => {
      log.info({ attempt, tables: job.tables }, 'job started');
      const started = Date.now();
      try {
        await publishProgress();
        if (job.kind === 'restore') {
          lease = await this.locks.acquire(job.id, lockTargetsOf(job), abort.signal, (holder) =>
            log.debug({ holder }, 'waiting for another job that writes the same tables'),
          );
        }
        const result = await this.handler(job, { signal: abort.signal, log, attempt, progress });
        clearInterval(reporter);
        await states.record({ ...base, status: 'done', progress: progress.snapshot(), ...(result ? { result } : {}) });
        await msg.ackAck();
        log.info({ ms: Date.now() - started }, 'job done');
      } catch (err) {
        clearInterval(reporter);
        const reason = (err as Error).message;
        if (abort.signal.aborted) {
          log.warn({ err }, 'job interrupted; handing it back for redelivery');
          await states.record({ ...base, status: 'queued', reason: 'interrupted by a shutdown; queued again' }).catch(() => undefined);
          await this.pullsEnded;
          msg.nak();
        } else if (err instanceof PermanentJobError || attempt >= this.queue.settings.maxDeliver) {
          log.error({ err, attempt }, 'job failed');
          await states.record({ ...base, status: 'failed', reason, progress: progress.snapshot() }).catch(() => undefined);
          await this.discard(msg, reason);
        } else {
          const delayMs = backoffDelay(attempt, { firstDelayMs: 1_000, maxDelayMs: 60_000 });
          log.warn({ err, attempt, retryInMs: delayMs }, 'job attempt failed; it will be retried');
          await states.record({ ...base, status: 'queued', reason: `attempt ${attempt} failed: ${reason}` }).catch(() => undefined);
          msg.nak(delayMs);
        }
      } finally {
        clearInterval(reporter);
        clearInterval(heartbeat);
        await lease?.release();
      }
    })();
    this.active.set(job.id, { abort, done });
    try {
      await done;
    } finally {
      this.active.delete(job.id);
    }
  }

  /** A work-queue stream keeps a terminated message: remove it so it is never seen again. */
  private async discard(msg: JsMsg, reason: string): Promise<void> {
    msg.term(reason);
    try {
      await this.queue.jsm.streams.deleteMessage(this.queue.settings.stream, msg.seq, false);
    } catch (err) {
      this.options.log.warn({ err, seq: msg.seq }, 'could not delete a finished job message');
    }
  }
}
