/** What a dump needs to know of a table: its CREATE TABLE, its columns, its triggers. */
import type { RowDataPacket } from 'mysql2/promise';
import type { TableName } from '../names.js';
import type { Connection } from './connection.js';
import { quoteIdentifier } from './sql.js';

export interface ColumnInfo {
  name: string;
  dataType: string;
  generated: boolean;
  nullable: boolean;
  /** The character set of a string column (null for other types, and for MySQL's JSON). */
  charset: string | null;
}

export interface TableDefinition {
  table: TableName;
  createTable: string;
  columns: ColumnInfo[];
  triggers: { name: string; sqlMode: string; statement: string }[];
}

export async function readDefinition(conn: Connection, table: TableName): Promise<TableDefinition> {
  const [createRows] = await conn.query<RowDataPacket[]>({ sql: `SHOW CREATE TABLE ${quoteIdentifier(table)}`, rowsAsArray: true });
  const createTable = textOf((createRows[0] as unknown as unknown[] | undefined)?.[1]);
  const [columnRows] = await conn.query<RowDataPacket[]>(
    'SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, EXTRA AS extra, IS_NULLABLE AS nullable, CHARACTER_SET_NAME AS charset FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [table],
  );
  const columns = columnRows.map((row) => ({
    name: textOf(row.name),
    dataType: textOf(row.dataType),
    // MySQL marks expression defaults DEFAULT_GENERATED: those columns are stored as usual.
    generated: /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(textOf(row.extra)),
    nullable: textOf(row.nullable) !== 'NO',
    charset: row.charset == null ? null : textOf(row.charset),
  }));
  const [triggerRows] = await conn.query<RowDataPacket[]>(
    'SELECT TRIGGER_NAME AS name, SQL_MODE AS sqlMode FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? ORDER BY ACTION_ORDER, CREATED',
    [table],
  );
  const triggers = [];
  for (const row of triggerRows) {
    const [showRows] = await conn.query<RowDataPacket[]>(`SHOW CREATE TRIGGER ${quoteIdentifier(textOf(row.name))}`);
    triggers.push({ name: textOf(row.name), sqlMode: textOf(row.sqlMode), statement: textOf(showRows[0]?.['SQL Original Statement']) });
  }
  return { table, createTable, columns, triggers };
}

/** A value read with typeCast off (a Buffer) or on, as text; NULL as ''. */
export function textOf(value: unknown): string {
  if (value === null || value === undefined) return '';
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}
