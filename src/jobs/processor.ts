import type { Logger } from '../log.js';
import type { JobProgress, Progress } from '../progress.js';
import type { LockTarget } from './locks.js';
import type { RuntimeState } from './state.js';

/** Any job the runtime carries: an id, and the kind that picks its processor. */
export interface RuntimeJob {
  id: string;
  kind: string;
}

export interface JobContext {
  /** Aborted when the job must stop (a shutdown hands it back): pass it to every retry loop. */
  signal: AbortSignal;
  log: Logger;
  /** This delivery's number, from 1. */
  attempt: number;
  progress: Progress;
}

/**
 * What runs one kind of job, registered with the runtime under `kind`. It declares what the job
 * needs before it may start (`locks`: the tables it writes, held for all processes while it runs)
 * and returns what a completed job reports (or null). Throwing an error whose `retryable` is
 * false (a `ServiceError`) fails the job at once; anything else is retried with backoff.
 */
export interface Processor<J extends RuntimeJob> {
  readonly kind: J['kind'];
  locks?(job: J): LockTarget[];
  /** Totals known before the job's first step (so its first state never says "0/0"). */
  startingProgress?(job: J): Partial<JobProgress>;
  run(job: J, context: JobContext): Promise<unknown>;
  /**
   * Runs once the job's completion is recorded, and again when a completed job is redelivered
   * (its process died before this ran): the clean-up of what had to outlive the work until its
   * completion was durable. A failure is logged; the job stays completed.
   */
  completed?(job: J, log: Logger): Promise<void>;
}

/** How the runtime reads job messages and what every state of a job carries. */
export interface JobCodec<J extends RuntimeJob, S extends RuntimeState> {
  decode(data: Uint8Array): J;
  /** The job's state before it ever ran (its own fields: archive, tables, …). */
  queuedState(job: J): S;
  /** Fields that every log line about the job carries. */
  logFields(job: J): Record<string, unknown>;
}

/**
 * Thrown by a processor to fail its job for good while keeping what it found: the failed state
 * carries `result` as a completed one would (a verify's report of what did not hold).
 */
export class JobFailure extends Error {
  readonly retryable = false;

  constructor(
    message: string,
    readonly result: unknown,
  ) {
    super(message);
    this.name = 'JobFailure';
  }
}
