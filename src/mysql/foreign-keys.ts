/** Foreign keys as information_schema describes them, and the SQL that adds one back. */
import type { RowDataPacket } from 'mysql2/promise';
import type { Connection } from './connection.js';
import { quoteIdentifier as q } from './sql.js';

const RULES = new Set(['RESTRICT', 'CASCADE', 'SET NULL', 'NO ACTION', 'SET DEFAULT']);

export interface ForeignKey {
  schema: string;
  table: string;
  name: string;
  columns: string[];
  refSchema: string;
  refTable: string;
  refColumns: string[];
  onUpdate: string;
  onDelete: string;
}

/** The foreign keys of `schema`'s tables, their columns in order. */
export async function foreignKeys(conn: Connection, schema: string): Promise<ForeignKey[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT rc.TABLE_NAME AS tableName, rc.CONSTRAINT_NAME AS name, rc.UPDATE_RULE AS onUpdate, rc.DELETE_RULE AS onDelete,
            k.COLUMN_NAME AS columnName, k.REFERENCED_TABLE_SCHEMA AS refSchema, k.REFERENCED_TABLE_NAME AS refTable,
            k.REFERENCED_COLUMN_NAME AS refColumn
       FROM information_schema.REFERENTIAL_CONSTRAINTS rc
       JOIN information_schema.KEY_COLUMN_USAGE k
         ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = rc.TABLE_NAME AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME
      WHERE rc.CONSTRAINT_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
      ORDER BY rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
    [schema],
  );
  const keys = new Map<string, ForeignKey>();
  for (const row of rows) {
    const id = `${String(row.tableName)}\u0000${String(row.name)}`;
    let key = keys.get(id);
    if (!key) {
      key = {
        schema,
        table: String(row.tableName),
        name: String(row.name),
        columns: [],
        refSchema: String(row.refSchema),
        refTable: String(row.refTable),
        refColumns: [],
        onUpdate: String(row.onUpdate),
        onDelete: String(row.onDelete),
      };
      keys.set(id, key);
    }
    key.columns.push(String(row.columnName));
    key.refColumns.push(String(row.refColumn));
  }
  return [...keys.values()];
}

/** The `CONSTRAINT … FOREIGN KEY … REFERENCES …` clause of `key`, pointing to `refSchema`.`refTable`. */
export function addForeignKeySql(key: ForeignKey, refSchema: string, refTable: string): string {
  const rule = (r: string) => (RULES.has(r) ? r : 'RESTRICT');
  return (
    `CONSTRAINT ${q(key.name)} FOREIGN KEY (${key.columns.map(q).join(', ')}) ` +
    `REFERENCES ${q(refSchema)}.${q(refTable)} (${key.refColumns.map(q).join(', ')}) ` +
    `ON DELETE ${rule(key.onDelete)} ON UPDATE ${rule(key.onUpdate)}`
  );
}
