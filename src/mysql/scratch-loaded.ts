/**
 * Which tables of a restore are fully loaded (and counted) into its scratch schema, kept in the
 * scratch schema itself: a restore whose process died resumes from them (restore.ts), loading
 * only the rest, then swaps all of them at once.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Connection } from './connection.js';
import { quoteIdentifier as q } from './sql.js';

export const LOADED_TABLE = '_nmtb_loaded';

export interface LoadedTable {
  rows: number;
  /** The statements deferred from the table's dump (its session settings and triggers), as latin1 strings of its bytes. */
  deferred: string[];
}

export async function createLoadedTable(admin: Connection, scratch: string): Promise<void> {
  await admin.query(`CREATE TABLE ${q(scratch)}.${LOADED_TABLE} (table_name VARCHAR(64) NOT NULL PRIMARY KEY, row_count BIGINT NOT NULL, deferred LONGBLOB NOT NULL)`);
}

export async function markLoaded(admin: Connection, scratch: string, table: string, loaded: LoadedTable): Promise<void> {
  const deferred = JSON.stringify(loaded.deferred.map((statement) => Buffer.from(statement, 'latin1').toString('base64')));
  await admin.query(`REPLACE INTO ${q(scratch)}.${LOADED_TABLE} (table_name, row_count, deferred) VALUES (?, ?, ?)`, [table, loaded.rows, deferred]);
}

/** The tables marked loaded; null when the scratch schema has no such record (made by an older version). */
async function loadedTables(admin: Connection, scratch: string): Promise<Map<string, LoadedTable> | null> {
  const [exists] = await admin.query<RowDataPacket[]>('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [scratch, LOADED_TABLE]);
  if (exists.length === 0) return null;
  const [rows] = await admin.query<RowDataPacket[]>(`SELECT table_name AS name, row_count AS n, deferred FROM ${q(scratch)}.${LOADED_TABLE}`);
  return new Map(
    rows.map((row) => [
      String(row.name),
      { rows: Number(row.n), deferred: (JSON.parse(Buffer.from(row.deferred as Buffer).toString('utf8')) as string[]).map((b64) => Buffer.from(b64, 'base64').toString('latin1')) },
    ]),
  );
}

/**
 * What an earlier attempt of the same job left in `scratch` that can be kept: its fully loaded
 * tables, once the half-loaded ones are dropped. Null when there is nothing to resume from (no
 * scratch schema, one from an older version, or one whose swap had begun: its plan has steps).
 */
export async function keptFromEarlierAttempt(
  admin: Connection,
  scratch: string,
  planHasSteps: () => Promise<boolean>,
): Promise<Map<string, LoadedTable> | null> {
  const [schemas] = await admin.query<RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [scratch]);
  if (schemas.length === 0) return null;
  const loaded = await loadedTables(admin, scratch);
  if (!loaded || (await planHasSteps())) return null;
  const [tables] = await admin.query<RowDataPacket[]>("SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", [scratch]);
  for (const { name } of tables) {
    const table = String(name);
    if (table.startsWith('_nmtb_') || loaded.has(table)) continue;
    await admin.query(`DROP TABLE ${q(scratch)}.${q(table)}`);
  }
  return loaded;
}
