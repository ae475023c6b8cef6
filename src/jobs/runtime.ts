import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { ServiceError } from '../errors.js';
import type { Logger } from '../log.js';
import { Progress } from '../progress.js';
import { backoffDelay, sleep } from '../retry.js';
import { LeaseLostError, type JobLease, type JobLeases } from './job-lease.js';
import type { Lease, TableLocks } from './locks.js';
import { JobFailure, type JobCodec, type Processor, type RuntimeJob } from './processor.js';
import type { WorkQueue } from './queue.js';
import { isFinal, stateIn, type JobStates, type RuntimeState } from './state.js';

export interface RuntimeOptions {
  slots: number;
  log: Logger;
  /** The wait before the n-th retry of a failed job (jittered, see retry.ts). */
  retryBackoff?: { firstDelayMs: number; maxDelayMs: number };
  /** How long one pull waits for a job (default 5 s); stop() waits for the pulls under way to end. */
  pullExpiresMs?: number;
}

/** How long one pull waits for a job before asking again (also bounds how fast stop() is noticed). */
const DEFAULT_PULL_EXPIRES_MS = 5_000;
/** Progress is published at most this often. */
const PROGRESS_INTERVAL_MS = 250;
/** At a shutdown, how long writing a handed-back job's state may take before it is given up. */
const HAND_BACK_WRITE_MS = 3_000;
const DEFAULT_RETRY_BACKOFF = { firstDelayMs: 1_000, maxDelayMs: 60_000 };

/** The nak of an interrupted attempt, sent once the attempt is over in every respect. */
type HandBack = () => void;

/** Why an attempt was stopped by its own process: it could not keep its job lease. */
class FencedError extends Error {
  constructor(why: string) {
    super(`this process could not keep the job's lease (${why})`);
    this.name = 'FencedError';
  }
}

/** Another attempt cannot help: the job fails at once, whatever attempts it has left. */
function isPermanent(err: unknown): boolean {
  return (err instanceof ServiceError && !err.retryable) || err instanceof JobFailure;
}

/**
 * Takes jobs from the work queue, one per free slot (never prefetching: a buffered job whose
 * ack_wait ran out would be redelivered elsewhere while still waiting here), runs each with the
 * processor registered for its kind, keeps it alive with working() while it runs, and acks only
 * once it completed. Every change of a job's state goes through `states` (KV, the job's events
 * subject and `states.events` in process).
 */
export class JobRuntime<J extends RuntimeJob, S extends RuntimeState> {
  private running = false;
  /** One pull loop per slot; `waiting` while it waits for a job rather than running one. */
  private loops: { done: Promise<void>; waiting: boolean }[] = [];
  private pullsEnded: Promise<void> = Promise.resolve();
  private readonly active = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly processors = new Map<string, Processor<J>>();

  constructor(
    private readonly queue: WorkQueue,
    readonly states: JobStates<S>,
    private readonly codec: JobCodec<J, S>,
    private readonly locks: TableLocks,
    private readonly leases: JobLeases,
    private readonly options: RuntimeOptions,
  ) {}

  get events(): JobStates<S>['events'] {
    return this.states.events;
  }

  register(processor: Processor<J>): this {
    if (this.processors.has(processor.kind)) throw new Error(`a processor for ${processor.kind} jobs is registered already`);
    this.processors.set(processor.kind, processor);
    return this;
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
    // again and spend one of its deliveries): the nak waits until those end (pullExpiresMs).
    this.pullsEnded = Promise.all(this.loops.filter((slot) => slot.waiting).map((slot) => slot.done)).then(() => undefined);
    for (const job of this.active.values()) job.abort.abort(new Error('service is shutting down'));
    await Promise.all(this.loops.map((slot) => slot.done));
  }

  private async loop(consumer: Consumer, slot: { waiting: boolean }): Promise<void> {
    while (this.running) {
      let msg: JsMsg | null;
      try {
        slot.waiting = true;
        msg = await consumer.next({ expires: this.options.pullExpiresMs ?? DEFAULT_PULL_EXPIRES_MS });
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
    let job: J;
    try {
      job = this.codec.decode(msg.data);
    } catch (err) {
      this.options.log.error({ err, seq: msg.seq }, 'dropping a malformed job message');
      await this.discard(msg, 'malformed job');
      return;
    }
    const log = this.options.log.child({ job: job.id, kind: job.kind, ...this.codec.logFields(job) });
    if (this.active.has(job.id)) {
      // Redelivered while this process still runs it (its heartbeats did not get through, as in a
      // leader election): that run goes on and acks; a second one here would race it.
      log.warn({ attempt: msg.info.deliveryCount }, 'job redelivered while this process still runs it; leaving it to that run');
      return;
    }
    const abort = new AbortController();
    const attempt = this.attempt(job, msg, abort, log);
    this.active.set(job.id, { abort, done: attempt.then(() => undefined) });
    let handBack: HandBack | void;
    try {
      handBack = await attempt;
    } finally {
      this.active.delete(job.id);
    }
    // Only now: a redelivery must find the job no longer running here (and its lease released).
    handBack?.();
  }

  /** One delivery of `job`: active → completed | failed | delayed | interrupted. */
  private async attempt(job: J, msg: JsMsg, abort: AbortController, log: Logger): Promise<HandBack | void> {
    const attempt = msg.info.deliveryCount;
    const base: S = { ...this.codec.queuedState(job), attempts: attempt };
    const processor = this.processors.get(job.kind);
    const progress = new Progress();
    Object.assign(progress, processor?.startingProgress?.(job));
    let lease: Lease | null = null;
    let jobLease: JobLease | null = null;
    /** Set once the processor returned: the job's effects exist, so it is never stopped or run again. */
    let workDone = false;
    const heartbeat = setInterval(() => {
      msg.working();
      lease?.renew().catch((err: unknown) => log.warn({ err }, 'renewing table locks failed'));
      if (jobLease && workDone) jobLease.renew().catch(() => undefined);
      else if (jobLease) this.renewOrFence(jobLease, abort, log);
    }, Math.max(1_000, this.queue.settings.ackWaitMs / 3));
    let published = '';
    const publishProgress = async (event: 'active' | 'progress') => {
      const snapshot = JSON.stringify(progress.snapshot());
      if (snapshot === published) return;
      published = snapshot;
      await this.states.record(stateIn(base, 'active', { progress: progress.snapshot() }), event);
    };
    let reporter: NodeJS.Timeout | undefined;
    const started = Date.now();
    try {
      let waited = false;
      jobLease = await this.leases.acquire(job.id, abort.signal, (holder) => {
        if (!waited) log.info({ holder, attempt }, 'another process runs this job; waiting until it ends or its lease goes stale');
        waited = true;
      });
      // Finished before (its ack lost as its worker died), or by the run this delivery waited for.
      if (await this.finishedAlready(job, msg, log, waited, processor)) return;
      if (attempt > this.queue.settings.maxDeliver) {
        // The consumer allows one delivery more than JOB_MAX_DELIVER: this one, to record that the last attempt died.
        const reason = `gave up after ${this.queue.settings.maxDeliver} attempts: the last one ended without a result (its process died, or lost NATS)`;
        log.error({ attempt }, reason);
        await this.states.record(stateIn(base, 'failed', { reason, attempts: this.queue.settings.maxDeliver })).catch(() => undefined);
        await this.discard(msg, reason);
        return;
      }
      log.info({ attempt }, 'job started');
      await publishProgress('active');
      reporter = setInterval(() => publishProgress('progress').catch((err: unknown) => log.warn({ err }, 'publishing progress failed')), PROGRESS_INTERVAL_MS);
      if (!processor) throw new ServiceError('bad-request', `no processor runs ${job.kind} jobs`, { retryable: false });
      const locks = processor.locks?.(job) ?? [];
      if (locks.length > 0) {
        lease = await this.locks.acquire(job.id, locks, abort.signal, (holder) => log.debug({ holder }, 'waiting for another job that writes the same tables'));
      }
      const result = await processor.run(job, { signal: abort.signal, log, attempt, progress });
      workDone = true;
      clearInterval(reporter);
      await this.recordCompleted(stateIn(base, 'completed', { progress: progress.snapshot(), ...(result !== null && result !== undefined ? { result } : {}) }), log);
      log.info({ ms: Date.now() - started }, 'job done');
      await this.afterCompleted(processor, job, log);
      // Completed is recorded: a lost ack only means a redelivery, which finds it completed and drops it.
      await msg.ackAck().catch((err: unknown) => log.warn({ err }, 'the ack of a completed job was lost; its redelivery will be dropped'));
    } catch (err) {
      clearInterval(reporter);
      return await this.settleFailure(err, { job, msg, base, attempt, abort, log, progress });
    } finally {
      clearInterval(reporter);
      clearInterval(heartbeat);
      await lease?.release();
      await jobLease?.release();
    }
  }

  /**
   * The heartbeat's renewal of the job's lease. A lease another process took over, or one not
   * renewed for `fenceAfterMs` (cut off from NATS), stops the attempt: by the time anyone may take
   * the lease over (`staleMs`), this process no longer runs the job.
   */
  private renewOrFence(jobLease: JobLease, abort: AbortController, log: Logger): void {
    const fence = (why: string) => {
      if (abort.signal.aborted) return;
      log.error({ why }, 'stopping the job: this process may no longer hold it');
      abort.abort(new FencedError(why));
    };
    if (Date.now() - jobLease.confirmedAt > this.leases.fenceAfterMs) {
      fence(`its lease was not renewed for ${Math.round((Date.now() - jobLease.confirmedAt) / 1000)} s`);
      return;
    }
    jobLease.renew().catch((err: unknown) => {
      if (err instanceof LeaseLostError) fence(err.message);
      else log.warn({ err }, 'renewing the job lease failed; retried with the next heartbeat');
    });
  }

  /**
   * A job whose work is done is recorded completed whatever it takes: failing here would make it
   * a failed attempt, and its retry would do the work again (a restore swapped in twice undoes
   * the writes made in between). Retried until written (JetStream back after an outage), never
   * cut short by the job's abort; only the process's exit deadline ends it.
   */
  private async recordCompleted(state: S, log: Logger): Promise<void> {
    for (let delayMs = 500; ; delayMs = Math.min(2 * delayMs, 5_000)) {
      try {
        return await this.states.record(state);
      } catch (err) {
        log.warn({ err, retryInMs: delayMs }, 'recording a completed job failed; retrying (its work is not done again)');
        await sleep(delayMs);
      }
    }
  }

  /** Before a run, its lease held: whether the job is finished already (the delivery is then dropped, never run twice). */
  private async finishedAlready(job: J, msg: JsMsg, log: Logger, waited: boolean, processor: Processor<J> | undefined): Promise<boolean> {
    const state = await this.states.get(job.id).catch(() => null);
    if (!state || !isFinal(state)) return false;
    log.info({ status: state.status, waitedForAnotherRun: waited }, 'job already finished; dropping the redelivery');
    if (state.state === 'completed') await this.afterCompleted(processor, job, log);
    await msg.ackAck().catch(() => this.discard(msg, 'already finished'));
    return true;
  }

  private async afterCompleted(processor: Processor<J> | undefined, job: J, log: Logger): Promise<void> {
    await processor?.completed?.(job, log).catch((err: unknown) => log.warn({ err }, 'the clean-up after a completed job failed'));
  }

  private async settleFailure(err: unknown, at: { job: J; msg: JsMsg; base: S; attempt: number; abort: AbortController; log: Logger; progress: Progress }): Promise<HandBack | void> {
    const { msg, base, attempt, log } = at;
    const reason = err instanceof Error ? err.message : String(err);
    if (at.abort.signal.aborted) {
      const fenced = at.abort.signal.reason instanceof FencedError;
      log.warn({ err, fenced }, 'job interrupted; handing it back for redelivery');
      const why = fenced ? `stopped: ${(at.abort.signal.reason as Error).message}; queued again` : 'interrupted by a shutdown; queued again';
      const handedBack = stateIn(base, 'interrupted', { reason: why });
      await this.states.record(handedBack, 'interrupted', AbortSignal.timeout(HAND_BACK_WRITE_MS)).catch(() => undefined);
      await this.pullsEnded;
      return () => msg.nak();
    } else if (isPermanent(err) || attempt >= this.queue.settings.maxDeliver) {
      log.error({ err, attempt }, 'job failed');
      const result = err instanceof JobFailure ? { result: err.result } : {};
      await this.states.record(stateIn(base, 'failed', { reason, progress: at.progress.snapshot(), ...result })).catch(() => undefined);
      await this.discard(msg, reason);
    } else {
      const delayMs = backoffDelay(attempt, this.options.retryBackoff ?? DEFAULT_RETRY_BACKOFF);
      log.warn({ err, attempt, retryInMs: delayMs }, 'job attempt failed; it will be retried');
      const nextAttemptAt = new Date(Date.now() + delayMs).toISOString();
      await this.states.record(stateIn(base, 'delayed', { reason: `attempt ${attempt} failed: ${reason}`, nextAttemptAt })).catch(() => undefined);
      msg.nak(delayMs);
    }
  }

  /** A work-queue stream keeps a terminated message: remove it so it is never seen again. */
  private async discard(msg: JsMsg, reason: string): Promise<void> {
    msg.term(reason);
    try {
      await this.queue.remove(msg.seq);
    } catch (err) {
      this.options.log.warn({ err, seq: msg.seq }, 'could not delete a finished job message');
    }
  }
}
