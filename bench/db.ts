// MariaDB connections and table checksums.
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { config } from './config.js';

export type { Connection };

export function connect(database?: string): Promise<Connection> {
  return mysql.createConnection({ ...config.mysql, database, charset: 'utf8mb4' });
}

/** CHECKSUM TABLE of each table, keyed by table name (null when the table does not exist). */
export async function checksums(conn: Connection, database: string, tables: readonly string[]): Promise<Record<string, string | null>> {
  const list = tables.map((t) => `\`${database}\`.\`${t}\``).join(', ');
  const [rows] = await conn.query<RowDataPacket[]>(`CHECKSUM TABLE ${list}`);
  const out: Record<string, string | null> = {};
  for (const row of rows) {
    const name = String(row['Table']).split('.').pop() ?? '';
    out[name] = row['Checksum'] === null ? null : String(row['Checksum']);
  }
  return out;
}

/** Names of the tables whose checksums differ from (or are missing in) `expected`. */
export function mismatches(expected: Record<string, string | null>, actual: Record<string, string | null>): string[] {
  return Object.keys(expected).filter((t) => expected[t] === null || expected[t] !== actual[t]);
}

export async function recreateDatabase(conn: Connection, database: string): Promise<void> {
  await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await conn.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
}

/** Compares the restored tables of `database` with the data set's checksums; says which differ. */
export async function checkRestored(
  conn: Connection,
  database: string,
  expected: Record<string, string | null>,
  what: string,
): Promise<'OK' | 'MISMATCH'> {
  const bad = mismatches(expected, await checksums(conn, database, Object.keys(expected)));
  if (bad.length > 0) console.error(`${what}: checksum MISMATCH in ${bad.join(', ')}`);
  return bad.length === 0 ? 'OK' : 'MISMATCH';
}
