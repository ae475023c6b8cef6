import { randomUUID } from 'node:crypto';
import { checkArchiveName, checkTableName, type ArchiveName, type TableName } from '../names.js';

export interface BackupJob {
  kind: 'backup';
  id: string;
  archive: ArchiveName;
  tables: TableName[];
  requestedAt: string;
}

export interface RestoreJob {
  kind: 'restore';
  id: string;
  archive: ArchiveName;
  tables: TableName[];
  requestedAt: string;
}

export type Job = BackupJob | RestoreJob;

export function newJobId(): string {
  return randomUUID();
}

export function newRestoreJob(archive: ArchiveName, tables: TableName[]): RestoreJob {
  return { kind: 'restore', id: newJobId(), archive, tables, requestedAt: new Date().toISOString() };
}

export function encodeJob(job: Job): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(job));
}

/** Anyone allowed to publish on the jobs subject could write one: check it like a request. */
export function decodeJob(data: Uint8Array): Job {
  const raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as Record<string, unknown>;
  const kind = raw.kind;
  if (kind !== 'backup' && kind !== 'restore') throw new Error('job has no valid kind');
  if (typeof raw.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(raw.id)) throw new Error('job has no valid id');
  const archive = checkArchiveName(String(raw.archive ?? ''));
  if (!archive.ok) throw new Error(`job archive: ${archive.reason}`);
  if (!Array.isArray(raw.tables) || raw.tables.length === 0) throw new Error('job has no tables');
  const tables = raw.tables.map((t) => {
    const checked = checkTableName(String(t));
    if (!checked.ok) throw new Error(`job table: ${checked.reason}`);
    return checked.value;
  });
  return { kind, id: raw.id, archive: archive.value, tables, requestedAt: String(raw.requestedAt ?? '') };
}

/** A failure that retrying cannot mend (a table or archive gone): the job ends at once. */
export class PermanentJobError extends Error {}
