import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Connection as CallbackConnection } from 'mysql2';
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlSettings } from '../config.js';
import type { TableName } from '../names.js';
import { baseTables } from './catalog.js';
import { connect, disconnect, type Connection } from './connection.js';
import { quoteIdentifier, quoteString } from './sql.js';

/** INSERT statements are cut after about this many bytes of values. */
export const INSERT_TARGET_BYTES = 1024 * 1024;

export interface SnapshotInfo {
  serverVersion: string;
  /** UTC instant of the snapshot, ISO 8601. */
  snapshotTime: string;
  /** Binary log file and position at the snapshot, when the server logs and lets us see it. */
  binlog: { file: string; position: number } | null;
}

interface ColumnInfo {
  name: string;
  dataType: string;
  generated: boolean;
}

interface TableDefinition {
  table: TableName;
  createTable: string;
  columns: ColumnInfo[];
  triggers: { name: string; sqlMode: string; statement: string }[];
}

/**
 * One consistent view of several tables, read over several connections at once. MySQL cannot
 * share a snapshot between sessions, so the tables are read-locked while every session starts
 * its snapshot: no write to them can commit in between, so all sessions see the same instant.
 * For InnoDB the lock is released at once; tables without MVCC stay locked until close().
 */
export class ConsistentSnapshot {
  private readonly idle: Connection[] = [];
  private readonly waiting: ((conn: Connection) => void)[] = [];

  private constructor(
    readonly info: SnapshotInfo,
    private readonly definitions: Map<string, TableDefinition>,
    private readonly sessions: Connection[],
    private readonly lockSession: Connection,
    /** The server's row estimates, for progress reports. */
    readonly estimatedRows: number,
  ) {
    this.idle.push(...sessions);
  }

  static async open(settings: MysqlSettings, tables: readonly TableName[], parallelism: number): Promise<ConsistentSnapshot> {
    const opened: Connection[] = [];
    const open = async (): Promise<Connection> => {
      const conn = await connect(settings, { typeCast: false });
      opened.push(conn);
      return conn;
    };
    try {
      const lock = await open();
      const sessionCount = Math.max(1, Math.min(parallelism, tables.length));
      const sessions: Connection[] = [];
      for (let i = 0; i < sessionCount; i++) sessions.push(await open());
      for (const session of [lock, ...sessions]) {
        // sql_mode '' so SHOW CREATE output uses backticks whatever the server's default is.
        await session.query("SET SESSION sql_mode = ''");
        await session.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      }

      const catalog = await baseTables(lock);
      const missing = tables.filter((table) => !catalog.has(table));
      if (missing.length > 0) throw new TableMissingError(missing);

      await lock.query(`LOCK TABLES ${tables.map((t) => `${quoteIdentifier(t)} READ`).join(', ')}`);
      for (const session of sessions) await session.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      const info = await describeSnapshot(lock);
      const definitions = new Map<string, TableDefinition>();
      for (const table of tables) definitions.set(table, await readDefinition(lock, table));
      const allTransactional = tables.every((t) => catalog.get(t)?.engine?.toLowerCase() === 'innodb');
      if (allTransactional) await lock.query('UNLOCK TABLES');

      const estimatedRows = tables.reduce((sum, t) => sum + (catalog.get(t)?.estimatedRows ?? 0), 0);
      return new ConsistentSnapshot(info, definitions, sessions, lock, estimatedRows);
    } catch (err) {
      await Promise.all(opened.map((conn) => disconnect(conn)));
      throw err;
    }
  }

  /**
   * The table's dump as SQL text. The stream runs on one of the snapshot's sessions, waiting
   * for a free one; `rows` is final once the stream has ended.
   */
  dumpTable(table: TableName): TableDumpStream {
    const definition = this.definitions.get(table);
    if (!definition) throw new Error(`table ${table} is not part of this snapshot`);
    const out = new TableDumpStream(definition);
    this.acquire().then(
      (session) => {
        out.write(Buffer.from(dumpHeader(definition)));
        const query = callbackSide(session).query({ sql: selectRowsSql(definition), rowsAsArray: true, typeCast: false });
        const rows = query.stream({ highWaterMark: 256 });
        let released = false;
        const release = () => {
          if (!released) {
            released = true;
            this.release(session);
          }
        };
        // A streamed query has no callback, so mysql2 reports a lost connection on the
        // connection, not on the stream: without this the dump would wait forever.
        const core = callbackSide(session);
        const onConnectionError = (err: Error) => rows.destroy(err);
        core.on('error', onConnectionError);
        rows.on('error', (err: Error) => {
          core.removeListener('error', onConnectionError);
          release();
          out.destroy(err);
        });
        rows.on('end', () => {
          core.removeListener('error', onConnectionError);
          release();
          out.end();
        });
        out.on('close', release);
        rows.pipe(out, { end: false });
      },
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  async close(): Promise<void> {
    // A session still streaming rows (a failed backup) cannot take another command: cut it off.
    for (const conn of this.sessions) if (!this.idle.includes(conn)) conn.destroy();
    const usable = [this.lockSession, ...this.idle];
    await Promise.all(
      usable.map(async (conn) => {
        // Ends the snapshot and, for tables without MVCC, the read lock.
        await conn.query('ROLLBACK').catch(() => undefined);
        await conn.query('UNLOCK TABLES').catch(() => undefined);
        await disconnect(conn);
      }),
    );
  }

  private acquire(): Promise<Connection> {
    const conn = this.idle.pop();
    if (conn) return Promise.resolve(conn);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(conn: Connection): void {
    const next = this.waiting.shift();
    if (next) next(conn);
    else this.idle.push(conn);
  }
}

export class TableMissingError extends Error {
  constructor(readonly tables: string[]) {
    super(`table${tables.length > 1 ? 's' : ''} not found: ${tables.join(', ')}`);
  }
}

/**
 * Rows (each one pre-formatted `(v1,v2,…)` literal from the server) → INSERT statements.
 * Emits 'rows' (a count) as each INSERT is cut, for progress reports.
 */
export class TableDumpStream extends Transform {
  rows = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly insertPrefix: Buffer;

  constructor(private readonly definition: TableDefinition) {
    super({ writableObjectMode: true, readableHighWaterMark: 4 * 1024 * 1024 });
    const columns = definition.columns.filter((c) => !c.generated).map((c) => quoteIdentifier(c.name));
    this.insertPrefix = Buffer.from(`INSERT INTO ${quoteIdentifier(definition.table)} (${columns.join(',')}) VALUES `);
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (Buffer.isBuffer(chunk)) {
      // The header, written before the rows.
      callback(null, chunk);
      return;
    }
    const literal = (chunk as Buffer[])[0] as Buffer;
    this.rows++;
    this.pending.push(literal);
    this.pendingBytes += literal.length + 1;
    if (this.pendingBytes >= INSERT_TARGET_BYTES) this.push(this.takeInsert());
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending.length > 0) this.push(this.takeInsert());
    this.push(Buffer.from(dumpFooter(this.definition)));
    callback();
  }

  private takeInsert(): Buffer {
    this.emit('rows', this.pending.length);
    const parts: Buffer[] = [this.insertPrefix];
    this.pending.forEach((literal, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push(literal);
    });
    parts.push(END_OF_STATEMENT);
    this.pending = [];
    this.pendingBytes = 0;
    return Buffer.concat(parts);
  }
}

const COMMA = Buffer.from(',');
const END_OF_STATEMENT = Buffer.from(';\n');

/**
 * The SELECT that has the server format each row as one `(…)` literal. Doing it server-side
 * keeps the bytes exact (the server's own conversions) and takes the work off the Node thread.
 * Every piece is cast to BINARY so that columns of different collations never clash.
 */
export function selectRowsSql(definition: TableDefinition): string {
  const pieces = definition.columns.filter((c) => !c.generated).map((c) => `CAST(${valueLiteralSql(c)} AS BINARY)`);
  const row = `CONCAT(_binary'(', ${pieces.join(", _binary',', ")}, _binary')')`;
  return `SELECT ${row} FROM ${quoteIdentifier(definition.table)}`;
}

const NUMERIC = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'double', 'real', 'year']);
const BINARY = new Set([
  'binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob',
  'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'geomcollection',
]);
const TEXT = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set']);

/** SQL that yields the column's value as a literal: NULL, a number, X'…', b'…' or '…'. */
function valueLiteralSql(column: ColumnInfo): string {
  const col = quoteIdentifier(column.name);
  const type = column.dataType.toLowerCase();
  if (NUMERIC.has(type)) return `IFNULL(${col}, 'NULL')`;
  // A FLOAT's own text form keeps 6 digits; through DOUBLE it is exact and loads back bit-equal.
  if (type === 'float') return `IFNULL(${col} + 0e0, 'NULL')`;
  if (type === 'bit') return `IFNULL(CONCAT('b''', BIN(${col}), ''''), 'NULL')`;
  if (BINARY.has(type)) return `IFNULL(CONCAT('X''', HEX(${col}), ''''), 'NULL')`;
  if (TEXT.has(type) || type === 'json') return `QUOTE(CONVERT(${col} USING utf8mb4))`;
  // Dates, times and anything newer (MariaDB's uuid/inet6, …): their text form, quoted.
  return `QUOTE(${col})`;
}

async function describeSnapshot(lock: Connection): Promise<SnapshotInfo> {
  const [[versionRow]] = await lock.query<RowDataPacket[]>('SELECT VERSION() AS version, UTC_TIMESTAMP(6) AS now');
  const version = text(versionRow?.version);
  const snapshotTime = text(versionRow?.now).replace(' ', 'T') + 'Z';
  let binlog: SnapshotInfo['binlog'] = null;
  // MySQL 8.4 renamed the statement; MariaDB and older MySQL know only the first one.
  for (const statement of ['SHOW MASTER STATUS', 'SHOW BINARY LOG STATUS']) {
    try {
      const [rows] = await lock.query<RowDataPacket[]>(statement);
      const row = rows[0];
      if (row) binlog = { file: text(row.File), position: Number(text(row.Position)) };
      break;
    } catch {
      // Not allowed, or not this server's syntax: try the other, else go without.
    }
  }
  return { serverVersion: version, snapshotTime, binlog };
}

async function readDefinition(conn: Connection, table: TableName): Promise<TableDefinition> {
  const [createRows] = await conn.query<RowDataPacket[]>({ sql: `SHOW CREATE TABLE ${quoteIdentifier(table)}`, rowsAsArray: true });
  const createTable = text((createRows[0] as unknown as unknown[] | undefined)?.[1]);
  const [columnRows] = await conn.query<RowDataPacket[]>(
    'SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, EXTRA AS extra FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [table],
  );
  const columns = columnRows.map((row) => ({
    name: text(row.name),
    dataType: text(row.dataType),
    // MySQL marks expression defaults DEFAULT_GENERATED: those columns are stored as usual.
    generated: /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(text(row.extra)),
  }));
  const [triggerRows] = await conn.query<RowDataPacket[]>(
    'SELECT TRIGGER_NAME AS name, SQL_MODE AS sqlMode FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? ORDER BY ACTION_ORDER, CREATED',
    [table],
  );
  const triggers = [];
  for (const row of triggerRows) {
    const [showRows] = await conn.query<RowDataPacket[]>(`SHOW CREATE TRIGGER ${quoteIdentifier(text(row.name))}`);
    triggers.push({ name: text(row.name), sqlMode: text(row.sqlMode), statement: text(showRows[0]?.['SQL Original Statement']) });
  }
  return { table, createTable, columns, triggers };
}

/** The callback API under a promise connection: only it has streaming queries. */
function callbackSide(conn: Connection): CallbackConnection {
  return (conn as unknown as { connection: CallbackConnection }).connection;
}

function text(value: unknown): string {
  if (value === null || value === undefined) return '';
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

function dumpHeader(definition: TableDefinition): string {
  const table = quoteIdentifier(definition.table);
  return [
    `-- nats-mysql-tables-backup dump of table ${table}`,
    '',
    '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;',
    '/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;',
    '/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;',
    '/*!40101 SET NAMES utf8mb4 */;',
    '/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;',
    "/*!40103 SET TIME_ZONE='+00:00' */;",
    '/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;',
    '/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;',
    "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
    '/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;',
    '',
    `DROP TABLE IF EXISTS ${table};`,
    `${definition.createTable};`,
    '',
    '',
  ].join('\n');
}

function dumpFooter(definition: TableDefinition): string {
  const lines: string[] = [''];
  if (definition.triggers.length > 0) {
    lines.push('/*!50003 SET @OLD_TRIGGER_SQL_MODE=@@SQL_MODE */;', 'DELIMITER ;;');
    for (const trigger of definition.triggers) {
      lines.push(`/*!50003 SET SESSION SQL_MODE=${quoteString(trigger.sqlMode)} */;;`, `${trigger.statement} ;;`);
    }
    lines.push('DELIMITER ;', '/*!50003 SET SESSION SQL_MODE=@OLD_TRIGGER_SQL_MODE */;', '');
  }
  lines.push(
    '/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;',
    '/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;',
    '/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;',
    '/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;',
    '/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;',
    '/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;',
    '/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;',
    '/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;',
    '',
  );
  return lines.join('\n');
}
