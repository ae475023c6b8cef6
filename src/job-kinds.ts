import { createHash, randomUUID } from 'node:crypto';
import type { LockTarget } from './jobs/locks.js';
import type { RuntimeState } from './jobs/state.js';
import { checkArchiveName, checkDatabaseName, checkTableName, type ArchiveName, type DatabaseName, type TableName } from './names.js';
import { SCHEDULE_NAME } from './schedules/config.js';
import type { VerifyReport } from './verify/report.js';

/*
 * The kinds of job the service runs (backup, restore, verify), as they travel in the work queue and
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

/** `<p>.verify`: checks an archive end to end; `deep` also restores it into a scratch schema. */
export interface VerifyJob {
  kind: 'verify';
  id: string;
  archive: ArchiveName;
  /** The archive's tables as listed when it was queued (empty when the listing could not tell). */
  tables: TableName[];
  deep: boolean;
  requestedAt: string;
}

export type Job = BackupJob | RestoreJob | VerifyJob;

export function newJobId(): string {
  return randomUUID();
}

export function newRestoreJob(archive: ArchiveName, tables: TableName[], target: Pick<RestoreJob, 'database' | 'rename'> = {}): RestoreJob {
  return { kind: 'restore', id: newJobId(), archive, tables, requestedAt: new Date().toISOString(), ...target };
}

export function newVerifyJob(archive: ArchiveName, tables: TableName[], deep: boolean, id = newJobId()): VerifyJob {
  return { kind: 'verify', id, archive, tables, deep, requestedAt: new Date().toISOString() };
}

/** The id of the verify VERIFY_AFTER_BACKUP queues after backup `backupId`: a UUID, the same every time. */
export function verifyJobIdAfter(backupId: string): string {
  const h = createHash('sha256').update(`verify-after:${backupId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
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
  if (raw.kind !== 'backup' && raw.kind !== 'restore' && raw.kind !== RESTORE_INTO_KIND && raw.kind !== 'verify') throw new Error('job has no valid kind');
  if (typeof raw.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(raw.id)) throw new Error('job has no valid id');
  const archive = checkArchiveName(String(raw.archive ?? ''));
  if (!archive.ok) throw new Error(`job archive: ${archive.reason}`);
  // A verify job's tables only describe it (the archive decides what is checked): it may have none.
  if (!Array.isArray(raw.tables) || (raw.tables.length === 0 && raw.kind !== 'verify')) throw new Error('job has no tables');
  const tables = raw.tables.map((t) => {
    const checked = checkTableName(String(t));
    if (!checked.ok) throw new Error(`job table: ${checked.reason}`);
    return checked.value;
  });
  const requestedAt = String(raw.requestedAt ?? '');
  if (raw.kind === 'verify') {
    if (raw.deep !== undefined && typeof raw.deep !== 'boolean') throw new Error('job deep is not a boolean');
    return { kind: 'verify', id: raw.id, archive: archive.value, tables, deep: raw.deep === true, requestedAt };
  }
  const kind = raw.kind === 'backup' ? 'backup' : 'restore';
  return withTarget(withSchedule({ kind, id: raw.id, archive: archive.value, tables, requestedAt }, raw), raw);
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
  /** The verify VERIFY_AFTER_BACKUP queued for the archive. */
  verify?: { job: string; deep: boolean };
}

/** A job's state as `<p>.status` answers it and `<p>.events.<id>` carries it. */
export interface JobState extends RuntimeState {
  kind: Job['kind'];
  archive: string;
  tables: string[];
  /** A backup's JobResult, a verify's VerifyReport (also when it failed). */
  result?: JobResult | VerifyReport;
  /** A verify: whether it restores the archive too. */
  deep?: boolean;
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
    ...(job.kind === 'verify' && { deep: job.deep }),
  };
}

/**
 * What a restore writes, so what it locks: its tables under their new names, in its target
 * database; never the archive's names in the service's database when it restores elsewhere.
 */
export function lockTargetsOf(job: RestoreJob): LockTarget[] {
  return job.tables.map((table) => ({ ...(job.database !== undefined && { database: job.database }), table: targetNameOf(job, table) }));
}
