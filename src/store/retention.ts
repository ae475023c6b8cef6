import type { Logger } from '../log.js';
import type { ArchiveName } from '../names.js';
import type { Catalog } from './catalog.js';
import type { CatalogEntry } from './catalog-entry.js';
import type { ArchivePins } from './pins.js';

export interface RetentionPolicy {
  /** Keep at most this many archives, the newest (null: no limit). */
  keepLast: number | null;
  /** Remove archives made longer ago than this (null: no limit). */
  maxAgeMs: number | null;
}

export function retentionIsOn(policy: RetentionPolicy): boolean {
  return policy.keepLast !== null || policy.maxAgeMs !== null;
}

/** The archives the policy lets go, oldest first: beyond the newest `keepLast`, or too old. */
function expiredArchives(entries: CatalogEntry[], policy: RetentionPolicy, now: number): CatalogEntry[] {
  const firstKept = policy.keepLast === null ? 0 : Math.max(0, entries.length - policy.keepLast);
  return entries.filter((entry, index) => index < firstKept || (policy.maxAgeMs !== null && now - Date.parse(entry.created) > policy.maxAgeMs));
}

/**
 * Prunes old archives from the backup directory and the bucket alike, never one that a queued
 * or running restore has pinned.
 */
export class Retention {
  private running: Promise<ArchiveName[]> | null = null;

  constructor(
    private readonly catalog: Catalog,
    private readonly pins: ArchivePins,
    private readonly isLiveJob: (jobId: string) => Promise<boolean>,
    readonly policy: RetentionPolicy,
    private readonly log: Logger,
  ) {}

  /** One pass at a time; a call during a pass waits for it. */
  prune(now = Date.now()): Promise<ArchiveName[]> {
    this.running ??= this.pass(now).finally(() => (this.running = null));
    return this.running;
  }

  private async pass(now: number): Promise<ArchiveName[]> {
    if (!retentionIsOn(this.policy)) return [];
    const removed: ArchiveName[] = [];
    for (const entry of expiredArchives(await this.catalog.list(), this.policy, now)) {
      if (!(await this.pins.claimForPruning(entry.name, this.isLiveJob))) {
        this.log.info({ archive: entry.name }, 'retention keeps an archive a restore needs');
        continue;
      }
      try {
        await this.catalog.remove(entry.name);
        removed.push(entry.name);
      } finally {
        await this.pins.pruned(entry.name);
      }
    }
    if (removed.length > 0) this.log.info({ removed, policy: this.policy }, 'retention removed old archives');
    return removed;
  }
}
