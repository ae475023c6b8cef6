import type { RowDataPacket } from 'mysql2/promise';
import type { Connection } from './connection.js';
import type { TableName } from '../names.js';

export interface TableInfo {
  name: TableName;
  engine: string | null;
  /** The server's estimate (exact for MyISAM, statistics for InnoDB). */
  estimatedRows: number;
}

/** The base tables (not views) of the connection's database, by exact name. */
export async function baseTables(conn: Connection): Promise<Map<string, TableInfo>> {
  const [rows] = await conn.query<RowDataPacket[]>(
    "SELECT TABLE_NAME AS name, ENGINE AS engine, TABLE_ROWS AS estimatedRows FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
  );
  return new Map(rows.map((row) => [String(row.name), {
      name: String(row.name) as TableName,
      engine: row.engine === null ? null : String(row.engine),
      estimatedRows: Number(row.estimatedRows ?? 0) || 0,
    }]));
}

/** The names of the base tables (not views) of the connection's database: what a request checks. */
export async function baseTableNames(conn: Connection): Promise<Set<string>> {
  const [rows] = await conn.query<RowDataPacket[]>(
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
  );
  return new Set(rows.map((row) => String(row.name)));
}
