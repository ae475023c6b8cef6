import mysql from 'mysql2/promise';

export type Db = mysql.Connection;

export async function dbConnect(database = 'test'): Promise<Db> {
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
