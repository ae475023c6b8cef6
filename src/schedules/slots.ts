import { createHash } from 'node:crypto';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { retryTransient } from '../transient.js';

/** A slot's record: who claimed it and, once its job is queued, which job and archive. */
export interface SlotClaim {
  status: 'claimed' | 'queued';
  /** The instance that claimed it (or took it over). */
  by: string;
  /** When it was claimed or taken over (ms since epoch). */
  at: number;
  job: string;
  archive?: string;
}

export type ClaimResult = { won: true; revision: number } | { won: false; claim: SlotClaim | null; revision: number };

/** JetStream's "wrong last sequence": the key exists (a KV create lost the race). */
const WRONG_LAST_SEQUENCE = 10071;

/**
 * The once-per-cluster record of each schedule's slots, as keys in the job-state bucket:
 * `sched.<prefix>.<schedule>.<slot>` is created exclusively by the one instance that makes the
 * slot (and lives as long as the bucket's TTL, so an instance that fires the same slot hours
 * later still finds it), and `sched.<prefix>.<schedule>.last` remembers the latest slot made,
 * for catchUp.
 */
export class SlotClaims {
  constructor(
    private readonly kv: KV,
    private readonly prefix: string,
  ) {}

  async claim(schedule: string, slot: Date, claim: SlotClaim): Promise<ClaimResult> {
    const key = this.slotKey(schedule, slot);
    try {
      return { won: true, revision: await retryTransient(() => this.kv.create(key, JSON.stringify(claim))) };
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE)) throw err;
    }
    const entry = await retryTransient(() => this.kv.get(key));
    if (!entry || entry.operation !== 'PUT') return { won: false, claim: null, revision: entry?.revision ?? 0 };
    const holder = entry.json<SlotClaim>();
    // A create retried after its first ack was lost finds its own claim.
    if (holder.by === claim.by && holder.job === claim.job && holder.at === claim.at) return { won: true, revision: entry.revision };
    return { won: false, claim: holder, revision: entry.revision };
  }

  async get(schedule: string, slot: Date): Promise<{ claim: SlotClaim; revision: number } | null> {
    const entry = await retryTransient(() => this.kv.get(this.slotKey(schedule, slot)));
    return entry && entry.operation === 'PUT' ? { claim: entry.json<SlotClaim>(), revision: entry.revision } : null;
  }

  /** Compare-and-set: replaces the claim only if it is still at `revision`; the new revision, or null. */
  async replace(schedule: string, slot: Date, revision: number, claim: SlotClaim): Promise<number | null> {
    try {
      return await retryTransient(() => this.kv.update(this.slotKey(schedule, slot), JSON.stringify(claim), revision));
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) return null;
      throw err;
    }
  }

  /** The latest slot made, or null (none yet, or the record expired with the bucket's TTL). */
  async lastMade(schedule: string): Promise<Date | null> {
    const entry = await retryTransient(() => this.kv.get(this.lastKey(schedule)));
    if (!entry || entry.operation !== 'PUT') return null;
    const time = Date.parse(entry.string());
    return Number.isNaN(time) ? null : new Date(time);
  }

  async rememberMade(schedule: string, slot: Date): Promise<void> {
    const last = await this.lastMade(schedule);
    if (last && last >= slot) return;
    await retryTransient(() => this.kv.put(this.lastKey(schedule), slot.toISOString()));
  }

  private slotKey(schedule: string, slot: Date): string {
    return `sched.${this.prefix}.${schedule}.${compactTime(slot)}`;
  }

  private lastKey(schedule: string): string {
    return `sched.${this.prefix}.${schedule}.last`;
  }
}

/** `2026-12-01T21:35:05.000Z` → `20261201T213505Z` (KV keys allow no ":"). */
function compactTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/**
 * The job id of a slot: the same on every instance, so a slot's job is one job whoever queues it
 * (a takeover republishes the same job, which the duplicate window recognises).
 */
export function slotJobId(prefix: string, schedule: string, slot: Date): string {
  const hex = createHash('sha256').update(`${prefix}\n${schedule}\n${slot.toISOString()}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
