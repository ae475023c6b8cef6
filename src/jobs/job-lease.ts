import { randomUUID } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { isLostRace } from '../kv-race.js';
import { sleep } from '../retry.js';
import { retryTransient } from '../transient.js';
import { takeKey } from './locks.js';

/** Releasing gives up soon: it runs last in every attempt, shutdowns included. */
const RELEASE_RETRY_MS = 3_000;
/** How often a waiting attempt looks again whether the lease is free. */
const WAIT_POLL_MS = 500;

interface LeaseValue {
  job: string;
  /** The process that runs the job (one id per process life). */
  holder: string;
  /** When the holder last renewed it, by its own clock (ms since epoch). */
  renewedAt: number;
}

/** The lease was taken over by another process: this attempt must stop at once. */
export class LeaseLostError extends Error {
  constructor(job: string, holder: string) {
    super(`the lease of job ${job} was taken over by ${holder}`);
    this.name = 'LeaseLostError';
  }
}

/**
 * One running attempt per job across all processes: `lock.job.<id>` in the job-state bucket names
 * the process that runs it, renewed with the job's heartbeat. JetStream alone cannot promise
 * that: after a consumer leader change on 2.9 a job whose worker is alive and heartbeating may be
 * redelivered to another process, and a process cut off from NATS keeps running while its job
 * is redelivered elsewhere. So a delivery first waits for the lease (heartbeating meanwhile, so
 * waiting spends no delivery); a lease not renewed for `staleMs` (its holder died or is cut off)
 * is taken over, and a holder that could not renew for `fenceAfterMs` (< `staleMs`) stops its
 * attempt itself before anyone can take over.
 */
export class JobLeases {
  /** This process, as lease holder. */
  readonly holder = randomUUID();

  constructor(
    private readonly kv: KV,
    readonly staleMs: number,
  ) {}

  /** How long a holder may go without a renewal before it must stop: half the time to a takeover. */
  get fenceAfterMs(): number {
    return Math.floor(this.staleMs / 2);
  }

  /** Waits until this process holds the job's lease; `onWait` hears who holds it meanwhile. */
  async acquire(job: string, signal: AbortSignal, onWait: (holder: string) => void): Promise<JobLease> {
    const key = leaseKey(job);
    for (;;) {
      signal.throwIfAborted();
      const value: LeaseValue = { job, holder: this.holder, renewedAt: Date.now() };
      const taken = await takeKey(this.kv, key, value, (current) => current.holder === this.holder, this.staleMs, signal);
      if (typeof taken === 'number') return new JobLease(this.kv, job, this.holder, key, taken);
      onWait(taken.holder);
      await sleep(WAIT_POLL_MS, signal);
    }
  }
}

export class JobLease {
  /** When a renewal last went through (this process's clock). */
  confirmedAt = Date.now();

  constructor(
    private readonly kv: KV,
    private readonly job: string,
    private readonly holder: string,
    private readonly key: string,
    private revision: number,
  ) {}

  /** Renews the lease; LeaseLostError when another process holds it now, other errors when NATS did not answer. */
  async renew(): Promise<void> {
    const value = JSON.stringify({ job: this.job, holder: this.holder, renewedAt: Date.now() } satisfies LeaseValue);
    try {
      this.revision = await retryTransient(() => this.kv.update(this.key, value, this.revision), { forMs: 5_000 });
    } catch (err) {
      if (!isLostRace(err)) throw err;
      // A retried update whose first try went through also lands here: then the key is ours still.
      const entry = await retryTransient(() => this.kv.get(this.key), { forMs: 5_000 });
      const current = entry?.operation === 'PUT' ? entry.json<LeaseValue>() : null;
      if (!entry || current?.holder !== this.holder) throw new LeaseLostError(this.job, current?.holder ?? 'nobody');
      this.revision = entry.revision;
    }
    this.confirmedAt = Date.now();
  }

  async release(): Promise<void> {
    // Not released (JetStream gone): the lease goes stale and is taken over after staleMs.
    await retryTransient(() => this.kv.delete(this.key, { previousSeq: this.revision }), { forMs: RELEASE_RETRY_MS }).catch(() => undefined);
  }
}

function leaseKey(job: string): string {
  // Job ids are letters, digits and '-' (job-kinds.ts): valid in a KV key as they are.
  return `lock.job.${job}`;
}
