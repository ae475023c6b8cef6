import type { KV } from '@nats-io/kv';
import { sleep } from '../retry.js';
import { retryTransient } from '../transient.js';

/** Releasing gives up sooner than other writes: it runs last in every job, shutdowns included. */
const RELEASE_RETRY_MS = 3_000;

interface LockValue {
  job: string;
  /** When the holder last renewed it (ms since epoch). */
  renewedAt: number;
}

/**
 * Table locks across all service processes, as keys in the job-state bucket: two jobs that write
 * the same table never run at once. A lock is renewed while its job runs; one not renewed for
 * `staleMs` (its worker died) may be taken over, and a redelivered job takes back its own.
 */
export class TableLocks {
  constructor(
    private readonly kv: KV,
    private readonly staleMs: number,
  ) {}

  /** Waits until every table is locked for `jobId` (in a fixed order, so two jobs never deadlock). */
  async acquire(jobId: string, tables: LockTarget[], signal: AbortSignal, onWait: (holder: string) => void): Promise<Lease> {
    const held: { key: string; revision: number }[] = [];
    try {
      for (const key of [...new Set(tables.map(lockKey))].sort()) {
        for (;;) {
          signal.throwIfAborted();
          const revision = await this.tryTake(key, jobId, signal);
          if (typeof revision === 'number') {
            held.push({ key, revision });
            break;
          }
          onWait(revision.holder);
          await sleep(500, signal);
        }
      }
    } catch (err) {
      await new Lease(this.kv, jobId, held).release();
      throw err;
    }
    return new Lease(this.kv, jobId, held);
  }

  private tryTake(key: string, jobId: string, signal: AbortSignal): Promise<number | { holder: string }> {
    return takeKey(this.kv, key, { job: jobId, renewedAt: Date.now() }, (current) => current.job === jobId, this.staleMs, signal);
  }
}

/**
 * Takes `key` for `value`'s holder: when free, when `isOwn` says the current value is the same
 * holder's, or when its holder did not renew it for `staleMs`. The new revision, or who holds it.
 */
export async function takeKey<V extends { renewedAt: number; job: string }>(
  kv: KV,
  key: string,
  value: V,
  isOwn: (current: V) => boolean,
  staleMs: number,
  signal: AbortSignal,
): Promise<number | { holder: string }> {
  const text = JSON.stringify(value);
  try {
    return await kv.create(key, text);
  } catch {
    // Held by someone, or a delete marker is in the way: look.
  }
  const entry = await retryTransient(() => kv.get(key), { signal });
  if (!entry || entry.operation !== 'PUT') {
    try {
      return await kv.update(key, text, entry?.revision ?? 0);
    } catch {
      return { holder: 'unknown' };
    }
  }
  const current = entry.json<V>();
  if (!isOwn(current) && Date.now() - current.renewedAt < staleMs) return { holder: holderOf(current) };
  try {
    return await kv.update(key, text, entry.revision);
  } catch {
    return { holder: holderOf(current) };
  }
}

function holderOf(value: { job: string; holder?: unknown }): string {
  return typeof value.holder === 'string' ? value.holder : value.job;
}

export class Lease {
  constructor(
    private readonly kv: KV,
    private readonly jobId: string,
    private readonly held: { key: string; revision: number }[],
  ) {}

  async renew(): Promise<void> {
    for (const lock of this.held) {
      const value = JSON.stringify({ job: this.jobId, renewedAt: Date.now() } satisfies LockValue);
      lock.revision = await retryTransient(() => this.kv.update(lock.key, value, lock.revision));
    }
  }

  async release(): Promise<void> {
    for (const lock of this.held.splice(0)) {
      // Not released (JetStream gone): the lock goes stale and is taken over after `staleMs`.
      await retryTransient(() => this.kv.delete(lock.key, { previousSeq: lock.revision }), { forMs: RELEASE_RETRY_MS }).catch(() => undefined);
    }
  }
}

/** A table a job writes: in the service's own database when `database` is absent. */
export interface LockTarget {
  database?: string;
  table: string;
}

/**
 * KV keys allow only a few characters: names go in as hex. A table of the service's own database
 * keeps the key it always had, so instances of an earlier version still see its locks.
 */
function lockKey({ database, table }: LockTarget): string {
  const hex = (name: string) => Buffer.from(name, 'utf8').toString('hex');
  return database === undefined ? `lock.table.${hex(table)}` : `lock.table.${hex(database)}.${hex(table)}`;
}
