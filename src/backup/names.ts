import type { KV } from '@nats-io/kv';
import type { ArchiveName } from '../names.js';
import { SequenceCounter } from './sequences.js';

/** The archive name a backup requested at `date` gets; `sequence` > 1 tells apart backups of the same second. */
export function archiveNameFor(date: Date, sequence: number): ArchiveName {
  return `${archiveStampOf(date)}-backup${sequence > 1 ? `-${sequence}` : ''}.7z` as ArchiveName;
}

/** The time part of the names of backups requested at `date` (`2021-11-28_17-59-19`). */
export function archiveStampOf(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}_` +
    `${pad(date.getUTCHours())}-${pad(date.getUTCMinutes())}-${pad(date.getUTCSeconds())}`
  );
}

/** At most this many backups may be requested in one second before names run out. */
const MAX_SEQUENCE = 1000;
/** Names drawn for one backup before giving up (each taken one was on disk, in the bucket or queued). */
const MAX_NAME_ATTEMPTS = 100;

/**
 * Draws archive names for new backups. The same-second number comes from a counter shared by
 * all instances (`seq.` keys, sequences.ts), so n backups of one second cost O(1) writes each,
 * not a walk from `-backup.7z` up; a name `isTaken` finds on disk or in the bucket is skipped.
 * The queue makes the name the job's message id, and a name JetStream calls a duplicate (an
 * instance without the counter, a counter that expired with the bucket's TTL) is passed over too.
 */
export class BackupNames {
  private readonly sequences: SequenceCounter;

  constructor(kv: KV) {
    this.sequences = new SequenceCounter(kv);
  }

  /** Unused names of `date`'s second, lowest first; the caller takes the first it can reserve. */
  async *candidates(date: Date, isTaken: (name: ArchiveName) => Promise<boolean>): AsyncGenerator<ArchiveName> {
    for (let attempt = 0; attempt < MAX_NAME_ATTEMPTS; attempt++) {
      const sequence = await this.sequences.next(archiveStampOf(date));
      if (sequence > MAX_SEQUENCE) break;
      const name = archiveNameFor(date, sequence);
      if (!(await isTaken(name))) yield name;
    }
    throw new Error('too many backups requested in one second');
  }
}
