import { randomUUID } from 'node:crypto';
import type { LockTarget } from './jobs/locks.js';
import type { RuntimeState } from './jobs/state.js';
import { checkArchiveName, checkDatabaseName, checkTableName, type ArchiveName, type DatabaseName, type TableName } from './names.js';
import { SCHEDULE_NAME } from './schedules/config.js';

/*
 * The kinds of job the service runs (backup, restore), as they travel in the work queue and
 * show in their state; the job runtime (src/jobs) knows none of this.
 */

export interface BackupJob {
  kind: 'backup';
  id: string;
  archive: ArchiveName;
  tables: TableName[];
  requestedAt: string;
  /** Made for a slot of this schedule (src/schedules/), at `slot` (ISO 8601, UTC). */
  schedule?: string;
  slot?: string;
}

export interface RestoreJob {
  kind: 'restore';
  id: string;
  archive: ArchiveName;
  tables: TableName[];
  requestedAt: string;
  /** `<p>.restoreinto`: the database to restore into (absent: the service's own). */
  database?: DatabaseName;
  /** `<p>.restoreinto`: archive table → the name it gets in the target database. */
  rename?: Record<string, TableName>;
}

export type Job = BackupJob | RestoreJob;

export function newJobId(): string {
  return randomUUID();
}

export function newRestoreJob(archive: ArchiveName, tables: TableName[], target: Pick<RestoreJob, 'database' | 'rename'> = {}): RestoreJob {
  return { kind: 'restore', id: newJobId(), archive, tables, requestedAt: new Date().toISOString(), ...target };
}

/**
 * The wire kind of a restore with a target. Not `restore`: an instance from before restoreinto
 * would ignore the target and restore over the live tables; this kind it drops as malformed.
 */
const RESTORE_INTO_KIND = 'restoreinto';

export function encodeJob(job: Job): Uint8Array {
  const retargeted = job.kind === 'restore' && (job.database !== undefined || job.rename !== undefined);
  return new TextEncoder().encode(JSON.stringify(retargeted ? { ...job, kind: RESTORE_INTO_KIND } : job));
}

/** Anyone allowed to publish on the jobs subject could write one: check it like a request. */
export function decodeJob(data: Uint8Array): Job {
  const raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as Record<string, unknown>;
  if (raw.kind !== 'backup' && raw.kind !== 'restore' && raw.kind !== RESTORE_INTO_KIND) throw new Error('job has no valid kind');
  const kind = raw.kind === 'backup' ? 'backup' : 'restore';
  if (typeof raw.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(raw.id)) throw new Error('job has no valid id');
  const archive = checkArchiveName(String(raw.archive ?? ''));
  if (!archive.ok) throw new Error(`job archive: ${archive.reason}`);
  if (!Array.isArray(raw.tables) || raw.tables.length === 0) throw new Error('job has no tables');
  const tables = raw.tables.map((t) => {
    const checked = checkTableName(String(t));
    if (!checked.ok) throw new Error(`job table: ${checked.reason}`);
    return checked.value;
  });
  return withTarget(withSchedule({ kind, id: raw.id, archive: archive.value, tables, requestedAt: String(raw.requestedAt ?? '') }, raw), raw);
}

/** A restore job's target database and new names, checked as strictly as the request was. */
function withTarget(job: Job, raw: Record<string, unknown>): Job {
  const retargeted = raw.kind === RESTORE_INTO_KIND;
  if (retargeted !== (raw.database !== undefined || raw.rename !== undefined)) {
    throw new Error(`a job with a target database or new names is of kind ${RESTORE_INTO_KIND}, and only such a job has them`);
  }
  if (!retargeted || job.kind !== 'restore') return job;
  const target: Pick<RestoreJob, 'database' | 'rename'> = {};
  if (raw.database !== undefined) {
    const database = checkDatabaseName(String(raw.database));
    if (!database.ok) throw new Error(`job database: ${database.reason}`);
    target.database = database.value;
  }
  if (raw.rename !== undefined) {
    if (typeof raw.rename !== 'object' || raw.rename === null || Array.isArray(raw.rename)) throw new Error('job rename is not an object');
    const rename = Object.create(null) as Record<string, TableName>;
    const targets = new Set<string>();
    for (const [from, to] of Object.entries(raw.rename)) {
      const name = checkTableName(String(to));
      if (!job.tables.includes(from as TableName) || !name.ok || targets.has(name.value)) throw new Error(`job rename of ${JSON.stringify(from)} is invalid`);
      targets.add(name.value);
      rename[from] = name.value;
    }
    if (job.tables.some((t) => !Object.hasOwn(rename, t) && targets.has(t))) throw new Error('job rename gives two tables one name');
    target.rename = rename;
  }
  return { ...job, ...target };
}

/** The name a restored table gets: its new name, or its own. */
export function targetNameOf(job: RestoreJob, table: TableName): TableName {
  return job.rename && Object.hasOwn(job.rename, table) ? (job.rename[table] as TableName) : table;
}

/** A backup job's schedule and slot, kept only when they look like what the scheduler writes. */
function withSchedule(job: Job, raw: Record<string, unknown>): Job {
  if (job.kind !== 'backup' || typeof raw.schedule !== 'string' || !SCHEDULE_NAME.test(raw.schedule)) return job;
  const slot = typeof raw.slot === 'string' && !Number.isNaN(Date.parse(raw.slot)) ? { slot: new Date(raw.slot).toISOString() } : {};
  return { ...job, schedule: raw.schedule, ...slot };
}

/** What a done backup reports. */
export interface JobResult {
  archive: string;
  path: string;
  size: number;
  sha256: string;
  durationMs: number;
  /** The archive's copy in the object store and its digest there. */
  bucket: { name: string; digest: string };
}

/** A job's state as `<p>.status` answers it and `<p>.events.<id>` carries it. */
export interface JobState extends RuntimeState {
  kind: Job['kind'];
  archive: string;
  tables: string[];
  result?: JobResult;
  /** A scheduled backup: its schedule and slot (ISO 8601, UTC). */
  schedule?: string;
  slot?: string;
  /** A restore into another database or under other names (`<p>.restoreinto`). */
  database?: string;
  rename?: Record<string, string>;
}

/** The state a job starts in, written before its message is published. */
export function queuedState(job: Job): JobState {
  return {
    id: job.id,
    kind: job.kind,
    status: 'queued',
    state: 'queued',
    archive: job.archive,
    tables: job.tables,
    requestedAt: job.requestedAt,
    updatedAt: new Date().toISOString(),
    attempts: 0,
    ...(job.kind === 'backup' && job.schedule !== undefined && { schedule: job.schedule, slot: job.slot }),
    ...(job.kind === 'restore' && job.database !== undefined && { database: job.database }),
    ...(job.kind === 'restore' && job.rename !== undefined && { rename: job.rename }),
  };
}

/**
 * What a restore writes, so what it locks: its tables under their new names, in its target
 * database; never the archive's names in the service's database when it restores elsewhere.
 */
export function lockTargetsOf(job: RestoreJob): LockTarget[] {
  return job.tables.map((table) => ({ ...(job.database !== undefined && { database: job.database }), table: targetNameOf(job, table) }));
}
