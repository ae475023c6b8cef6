/**
 * MySQL 8 keeps CHECK constraint names unique per schema (MariaDB keeps them per table). A swap
 * renames the live table aside in its own schema (so its triggers go with it) and the loaded copy
 * in: on MySQL 8 that RENAME fails (ER_CHECK_CONSTRAINT_DUP_NAME, 3822) while the table set aside
 * still holds a constraint the copy names too.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Connection } from './connection.js';
import { freshName } from './retarget.js';
import { quoteIdentifier as q } from './sql.js';

export interface CheckConstraint {
  table: string;
  name: string;
  /** As information_schema.CHECK_CONSTRAINTS gives it: ``(`c2` > 0)``. */
  clause: string;
  enforced: boolean;
}

export interface CheckNamePlan {
  /** Constraints of the tables set aside that a loaded table names too: dropped just before the RENAME. */
  dropFromReplaced: CheckConstraint[];
  /** Constraints of the loaded tables whose name a table that stays uses: off the copy before, back under `newName` after. */
  renameIncoming: (CheckConstraint & { newName: string })[];
}

/** Whether the server scopes CHECK constraint names per schema: MySQL from 8.0.16 on, never MariaDB. */
export function checkNamesPerSchema(version: string): boolean {
  if (/mariadb/i.test(version)) return false;
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return major > 8 || (major === 8 && (minor > 0 || patch >= 16));
}

/** The CHECK constraints of `schema`'s tables (MySQL 8's information_schema). */
export async function checkConstraints(conn: Connection, schema: string): Promise<CheckConstraint[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT tc.TABLE_NAME AS tableName, tc.CONSTRAINT_NAME AS name, cc.CHECK_CLAUSE AS clause, tc.ENFORCED AS enforced
       FROM information_schema.TABLE_CONSTRAINTS tc
       JOIN information_schema.CHECK_CONSTRAINTS cc
         ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
      WHERE tc.TABLE_SCHEMA = ? AND tc.CONSTRAINT_TYPE = 'CHECK'
      ORDER BY tc.TABLE_NAME, tc.CONSTRAINT_NAME`,
    [schema],
  );
  return rows.map((row) => ({ table: String(row.tableName), name: String(row.name), clause: String(row.clause), enforced: String(row.enforced) !== 'NO' }));
}

/**
 * Which names would clash. `incoming` are the loaded tables' constraints under the names the
 * tables get in the live schema; `live` are the live schema's; `replaced` the live tables the
 * loaded ones replace. Names compare case-insensitively, as MySQL compares them.
 */
export function planCheckNames(incoming: CheckConstraint[], live: CheckConstraint[], replaced: ReadonlySet<string>): CheckNamePlan {
  const key = (name: string) => name.toLowerCase();
  const incomingNames = new Set(incoming.map((c) => key(c.name)));
  const dropFromReplaced = live.filter((c) => replaced.has(c.table) && incomingNames.has(key(c.name)));
  const staying = live.filter((c) => !replaced.has(c.table));
  const takenByStaying = new Set(staying.map((c) => key(c.name)));
  const taken = new Set([...takenByStaying, ...incomingNames]);
  const renameIncoming = incoming
    .filter((c) => takenByStaying.has(key(c.name)))
    .map((c) => ({ ...c, newName: freshName(c.name, c.table, c.table, taken) }));
  return { dropFromReplaced, renameIncoming };
}

export function dropCheckSql(schema: string, constraint: Pick<CheckConstraint, 'table' | 'name'>): string {
  return `ALTER TABLE ${q(schema)}.${q(constraint.table)} DROP CHECK ${q(constraint.name)}`;
}

export function addCheckSql(schema: string, table: string, name: string, constraint: Pick<CheckConstraint, 'clause' | 'enforced'>): string {
  return `ALTER TABLE ${q(schema)}.${q(table)} ADD CONSTRAINT ${q(name)} CHECK (${constraint.clause})${constraint.enforced ? '' : ' NOT ENFORCED'}`;
}
