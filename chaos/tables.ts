/**
 * The tables a chaos run backs up and restores, and how their content is known at any snapshot.
 *
 * Each table has a marker row (id 0) whose `v` is the generation of the table's content: the
 * writer changes rows and sets a new, never reused generation in the same transaction, and notes
 * the content's digest under (table, generation) before it commits. A backup's snapshot of the
 * table therefore holds a generation whose digest is known, and any restore of it must give
 * exactly that digest back: a dump that mixed two instants, a lost or doubled row, a changed
 * byte, or a half-loaded table gives another.
 */
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { numbers } from '../test/helpers/db.js';

/** Table → rows at the start. One of each size, so jobs take from milliseconds to a second or two. */
export const TABLES: Record<string, number> = { chaos_small: 200, chaos_mid: 3_000, chaos_big: 30_000 };
export const TABLE_NAMES = Object.keys(TABLES);

export const q = (name: string) => '`' + name.replaceAll('`', '``') + '`';

/** `n:md5` of every column of every row, in id order (NULLs and bytes told apart). */
export async function digestOf(conn: Connection, table: string, database?: string): Promise<{ digest: string; generation: number | null; rows: number }> {
  const from = database === undefined ? q(table) : `${q(database)}.${q(table)}`;
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n, MD5(GROUP_CONCAT(CONCAT_WS(',', id, v, IFNULL(HEX(s), '~'), IFNULL(HEX(b), '~'), IFNULL(d, '~')) ORDER BY id SEPARATOR ';')) AS h, ` +
      `MAX(CASE WHEN id = 0 THEN v END) AS g FROM ${from}`,
  );
  const row = rows[0]!;
  return { digest: `${row.n}:${row.h}`, generation: row.g === null ? null : Number(row.g), rows: Number(row.n) };
}

/** Creates the tables afresh with their first content (generation 0), and the verify database. */
export async function createTables(conn: Connection, verifyDatabase: string): Promise<void> {
  await conn.query(`DROP DATABASE IF EXISTS ${q(verifyDatabase)}`);
  await conn.query(`CREATE DATABASE ${q(verifyDatabase)}`);
  for (const [table, count] of Object.entries(TABLES)) {
    await conn.query(`DROP TABLE IF EXISTS ${q(table)}`);
    await conn.query(
      `CREATE TABLE ${q(table)} (id INT NOT NULL PRIMARY KEY, v BIGINT NOT NULL, s VARCHAR(200) CHARACTER SET utf8mb4 NULL, ` +
        `b VARBINARY(64) NULL, d DECIMAL(20,6) NULL, KEY by_v (v)) ENGINE=InnoDB`,
    );
    await conn.query(`INSERT INTO ${q(table)} VALUES (0, 0, 'generation marker', NULL, NULL)`);
    await conn.query(
      `INSERT INTO ${q(table)} SELECT seq, 0, IF(seq % 17 = 0, NULL, CONCAT('row ', seq, ' \u00e9\u{1F600} ', SHA2(seq, 256))), ` +
        `IF(seq % 13 = 0, '', UNHEX(SHA2(seq, 256))), seq / 7 FROM ${numbers(count)}`,
    );
  }
}
