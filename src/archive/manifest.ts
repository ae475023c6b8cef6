import type { SnapshotInfo } from '../mysql/dump.js';

export const MANIFEST_ENTRY = 'manifest.json';
export const MANIFEST_FORMAT = 1;

export interface TableSummary {
  rows: number;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: number;
  tool: string;
  database: string;
  serverVersion: string;
  snapshotTime: string;
  binlog: SnapshotInfo['binlog'];
  createdAt: string;
  tables: Record<string, TableSummary & { entry: string }>;
}

export function buildManifest(
  database: string,
  snapshot: SnapshotInfo,
  tables: Map<string, TableSummary & { entry: string }>,
): Manifest {
  return {
    format: MANIFEST_FORMAT,
    tool: 'nats-mysql-tables-backup',
    database,
    serverVersion: snapshot.serverVersion,
    snapshotTime: snapshot.snapshotTime,
    binlog: snapshot.binlog,
    createdAt: new Date().toISOString(),
    tables: Object.fromEntries(tables),
  };
}
