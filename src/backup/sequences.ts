import type { KV } from '@nats-io/kv';
import { isLostRace } from '../kv-race.js';
import { retryTransient } from '../transient.js';

/** Compare-and-set rounds lost to other instances before a claim gives up. */
const MAX_CAS_ROUNDS = 50;

/**
 * Same-second backup numbers (1 for `…-backup.7z`, 2 for `…-backup-2.7z`, …), counted in the
 * job-state KV bucket under `seq.<stamp>` so every instance draws from one counter.
 *
 * A claim is one KV write when uncontended (`create`, then `update` against the revision this
 * process last wrote). A claim starts once the I/O round that asked for it is over, so requests
 * read from the socket together share it, and requests that arrive while a claim is in flight
 * are served by the next claim together (it adds their count at once): concurrency inside a
 * process costs no extra round trips, and only other instances' writes make a compare-and-set
 * retry.
 */
export class SequenceCounter {
  private readonly waiting = new Map<string, { resolve: (first: number) => void; reject: (err: unknown) => void }[]>();
  private readonly claiming = new Set<string>();
  /** The value and revision this process last saw per key: the next update needs no read. */
  private readonly known = new Map<string, { value: number; revision: number }>();

  constructor(private readonly kv: KV) {}

  /** The next unused number of `stamp` (a name's time part, `2026-12-01_22-30-12`). */
  next(stamp: string): Promise<number> {
    const key = `seq.${stamp}`;
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(key) ?? [];
      queue.push({ resolve, reject });
      this.waiting.set(key, queue);
      if (this.claiming.has(key)) return;
      // The first claim waits for the rest of the I/O round: requests that arrived together share it.
      this.claiming.add(key);
      setImmediate(() => void this.drain(key));
    });
  }

  private async drain(key: string): Promise<void> {
    try {
      for (let batch = this.waiting.get(key); batch && batch.length > 0; batch = this.waiting.get(key)) {
        this.waiting.delete(key);
        try {
          const first = await this.claim(key, batch.length);
          batch.forEach((waiter, i) => waiter.resolve(first + i));
        } catch (err) {
          for (const waiter of batch) waiter.reject(err);
        }
      }
    } finally {
      this.claiming.delete(key);
      // Only the last second's entry is worth keeping.
      for (const old of this.known.keys()) if (old !== key && !this.claiming.has(old)) this.known.delete(old);
    }
  }

  /** Adds `count` to the counter; the first of the numbers claimed. */
  private async claim(key: string, count: number): Promise<number> {
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const seen = this.known.get(key) ?? (round === 0 ? { value: 0, revision: 0 } : await this.read(key));
      const value = seen.value + count;
      try {
        const write = () => (seen.revision === 0 ? this.kv.create(key, String(value)) : this.kv.update(key, String(value), seen.revision));
        const revision = await retryTransient(write);
        this.known.set(key, { value, revision });
        return seen.value + 1;
      } catch (err) {
        if (!isLostRace(err)) throw err;
        this.known.delete(key);
      }
    }
    throw new Error(`the same-second counter ${key} kept changing under ${MAX_CAS_ROUNDS} attempts`);
  }

  private async read(key: string): Promise<{ value: number; revision: number }> {
    const entry = await retryTransient(() => this.kv.get(key));
    if (!entry || entry.operation !== 'PUT') return { value: 0, revision: 0 };
    const value = Number(entry.string());
    return { value: Number.isSafeInteger(value) && value >= 0 ? value : 0, revision: entry.revision };
  }
}
