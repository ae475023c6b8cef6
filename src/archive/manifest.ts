import type { SnapshotInfo } from '../mysql/dump.js';
import { DUMP_FORMAT } from '../mysql/dump-sql.js';
import { extractEntry } from './reader.js';

export const MANIFEST_ENTRY = 'manifest.json';
const MANIFEST_FORMAT = 1;

export interface TableSummary {
  rows: number;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: number;
  /** How the .sql files were written (mysql/dump-sql.ts); absent in archives of dump format 1. */
  dumpFormat?: number;
  tool: string;
  database: string;
  serverVersion: string;
  snapshotTime: string;
  binlog: SnapshotInfo['binlog'];
  createdAt: string;
  tables: Record<string, TableSummary & { entry: string }>;
  /** A scheduled backup: the schedule's name and the slot's time (ISO 8601, UTC). */
  schedule?: string;
  slot?: string;
}

export function buildManifest(
  database: string,
  snapshot: SnapshotInfo,
  tables: Map<string, TableSummary & { entry: string }>,
  scheduled: Pick<Manifest, 'schedule' | 'slot'> = {},
): Manifest {
  return {
    format: MANIFEST_FORMAT,
    dumpFormat: DUMP_FORMAT,
    tool: 'nats-mysql-tables-backup',
    database,
    serverVersion: snapshot.serverVersion,
    snapshotTime: snapshot.snapshotTime,
    binlog: snapshot.binlog,
    createdAt: new Date().toISOString(),
    tables: Object.fromEntries(tables),
    ...scheduled,
  };
}

/** Dump formats whose INSERTs only hold the literals load-data.ts knows. */
const KNOWN_DUMP_FORMATS = new Set([1, 2]);

/** Whether the archive's .sql files were written by this service's dump, in a format this version knows. */
export function madeByThisService(manifest: Manifest | null | undefined): boolean {
  return manifest?.tool === 'nats-mysql-tables-backup' && KNOWN_DUMP_FORMATS.has(dumpFormatOf(manifest));
}

/** The dump format of an archive with this manifest (1 when the manifest does not say). */
export function dumpFormatOf(manifest: Manifest): number {
  return typeof manifest.dumpFormat === 'number' ? manifest.dumpFormat : 1;
}

/** The archive's manifest.json, extracted alone (a small entry in its own block); null when unreadable. */
export async function readManifest(archivePath: string, password?: string): Promise<Manifest | null> {
  const chunks: Buffer[] = [];
  for await (const chunk of extractEntry(archivePath, MANIFEST_ENTRY, password)) chunks.push(chunk as Buffer);
  try {
    const manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Manifest;
    return manifest && typeof manifest.tables === 'object' ? manifest : null;
  } catch {
    return null;
  }
}
