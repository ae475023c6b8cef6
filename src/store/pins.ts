import type { KV } from '@nats-io/kv';
import type { ArchiveName } from '../names.js';
import { retryTransient } from '../transient.js';

/** A pruning that has not finished in this long (its process died) no longer blocks restores. */
const PRUNE_STALE_MS = 10 * 60_000;

export class ArchiveBeingPruned extends Error {}

/**
 * Keeps retention away from archives that queued or running restores need, across all service
 * processes, with keys in the job-state bucket: a restore writes `pin.<archive>.<job>` before it
 * is queued, and retention writes `prune.<archive>` before it looks for pins. Each side writes
 * first and then reads the other's key, so either the restore sees the pruning (and is refused)
 * or the pruning sees the pin (and keeps the archive).
 */
export class ArchivePins {
  constructor(private readonly kv: KV) {}

  async pin(archive: ArchiveName, jobId: string): Promise<void> {
    await retryTransient(() => this.kv.put(pinKey(archive, jobId), jobId));
    if (await retryTransient(() => this.pruning(archive))) {
      await this.unpin(archive, jobId);
      throw new ArchiveBeingPruned(`archive ${archive} is being removed by retention`);
    }
  }

  async unpin(archive: ArchiveName, jobId: string): Promise<void> {
    await retryTransient(() => this.kv.purge(pinKey(archive, jobId)));
  }

  /**
   * Marks the archive as being pruned unless a live job pins it; pins of jobs that `isLive` says
   * are over (their process died before unpinning) are removed on the way. True: go ahead, and
   * call `pruned` afterwards.
   */
  async claimForPruning(archive: ArchiveName, isLive: (jobId: string) => Promise<boolean>): Promise<boolean> {
    await retryTransient(() => this.kv.put(pruneKey(archive), String(Date.now())));
    const keys = await retryTransient(async () => {
      const found: string[] = [];
      for await (const key of await this.kv.keys(`pin.${hex(archive)}.*`)) found.push(key);
      return found;
    });
    let pinned = false;
    for (const key of keys) {
      const jobId = key.slice(key.lastIndexOf('.') + 1);
      if (await isLive(jobId)) pinned = true;
      else await retryTransient(() => this.kv.purge(key));
    }
    if (pinned) await this.pruned(archive);
    return !pinned;
  }

  async pruned(archive: ArchiveName): Promise<void> {
    await retryTransient(() => this.kv.purge(pruneKey(archive)));
  }

  private async pruning(archive: ArchiveName): Promise<boolean> {
    const entry = await this.kv.get(pruneKey(archive));
    return entry !== null && entry.operation === 'PUT' && Date.now() - Number(entry.string()) < PRUNE_STALE_MS;
  }
}

/** KV keys allow only a few characters: archive names go in as hex. */
function hex(archive: string): string {
  return Buffer.from(archive, 'utf8').toString('hex');
}

function pinKey(archive: ArchiveName, jobId: string): string {
  return `pin.${hex(archive)}.${jobId}`;
}

function pruneKey(archive: ArchiveName): string {
  return `prune.${hex(archive)}`;
}
