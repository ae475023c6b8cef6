import mysql from 'mysql2/promise';

export type Db = mysql.Connection;

/** This test worker's database (test/setup/worker-database.ts): files in parallel never share tables. */
export const TEST_DATABASE = process.env.TEST_DATABASE ?? 'test';

export async function dbConnect(database = TEST_DATABASE): Promise<Db> {
  return mysql.createConnection({
    host: '127.0.0.1',
    port: 3306,
    user: 'root',
    database,
    charset: 'UTF8MB4_GENERAL_CI',
    multipleStatements: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
}

export function ident(name: string): string {
  return '`' + name.replaceAll('`', '``') + '`';
}

export async function checksum(db: Db, table: string): Promise<string> {
  const [rows] = await db.query<mysql.RowDataPacket[]>(`CHECKSUM TABLE ${ident(table)} EXTENDED`);
  return String(rows[0]?.Checksum);
}

export async function count(db: Db, table: string): Promise<number> {
  const [rows] = await db.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${ident(table)}`);
  return Number(rows[0]?.n);
}

/**
 * A derived table `s` of the numbers 1..n in column `seq`, for filling test tables in one
 * INSERT … SELECT. Portable (MariaDB's seq_1_to_N tables do not exist on MySQL): cross joins of
 * digits, up to 10^6.
 */
export function numbers(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new Error(`numbers(${n}): 1..1000000 only`);
  const digits = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
  const places = Math.max(1, Math.ceil(Math.log10(n + 1)));
  const names = Array.from({ length: places }, (_, i) => `d${i}`);
  const value = names.map((name, i) => `${name}.d * ${10 ** i}`).join(' + ');
  return `(SELECT ${value} + 1 AS seq FROM ${names.map((name) => `${digits} AS ${name}`).join(' CROSS JOIN ')} HAVING seq <= ${n}) AS s`;
}
