import type { Connection as CallbackConnection } from 'mysql2';
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlSettings } from '../config.js';
import type { TableName } from '../names.js';
import { baseTables } from './catalog.js';
import { connect, disconnect, type Connection } from './connection.js';
import { selectRowsSql, TableDumpStream } from './dump-sql.js';
import { quoteIdentifier } from './sql.js';
import { tablesNotFound } from './table-names.js';
import { readDefinition, textOf, type TableDefinition } from './table-definition.js';

export interface SnapshotInfo {
  serverVersion: string;
  /** UTC instant of the snapshot, ISO 8601. */
  snapshotTime: string;
  /** Binary log file and position at the snapshot, when the server logs and lets us see it. */
  binlog: { file: string; position: number } | null;
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
      // sql_mode '' so SHOW CREATE output uses backticks whatever the server's default is.
      await conn.query("SET SESSION sql_mode = ''");
      await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await showGeneratedPrimaryKeys(conn);
      return conn;
    };
    try {
      const sessionCount = Math.max(1, Math.min(parallelism, tables.length));
      // All at once (three sessions: 6-11 ms, 13-16 ms one by one); settled, so that a failure
      // closes every connection, including those still opening then.
      const settled = await Promise.allSettled(Array.from({ length: sessionCount + 1 }, open));
      const refused = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (refused) throw refused.reason;
      const [lock, ...sessions] = settled.map((r) => (r as PromiseFulfilledResult<Connection>).value) as [Connection, ...Connection[]];

      const catalog = await baseTables(lock);
      const missing = tables.filter((table) => !catalog.has(table));
      if (missing.length > 0) throw tablesNotFound(missing);

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
        if (out.destroyed) {
          this.release(session);
          return;
        }
        out.start();
        const core = callbackSide(session);
        let ended = false;
        const end = (err?: Error) => {
          if (ended) return;
          ended = true;
          core.removeListener('error', end);
          this.release(session);
          if (err) out.destroy(err);
          else out.finish();
        };
        // Rows straight from the query's events; the connection is paused while the reader is behind.
        const query = core.query({ sql: selectRowsSql(definition), rowsAsArray: true, typeCast: false });
        query.on('result', (row: unknown) => {
          if (!ended && !out.addRow((row as Buffer[])[0] as Buffer)) core.pause();
        });
        out.onDemand = () => core.resume();
        query.on('error', (err: Error) => end(err));
        query.on('end', () => end());
        // A streamed query has no callback, so mysql2 reports a lost connection on the
        // connection, not on the query: without this the dump would wait forever.
        core.on('error', end);
        // The reader gave up (a failed backup): the session stays taken, mid-query, and close() cuts it off.
        out.once('close', () => {
          ended = true;
          core.removeListener('error', end);
        });
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

async function describeSnapshot(lock: Connection): Promise<SnapshotInfo> {
  const [[versionRow]] = await lock.query<RowDataPacket[]>('SELECT VERSION() AS version, UTC_TIMESTAMP(6) AS now');
  const version = textOf(versionRow?.version);
  const snapshotTime = textOf(versionRow?.now).replace(' ', 'T') + 'Z';
  let binlog: SnapshotInfo['binlog'] = null;
  // MySQL 8.4 renamed the statement; MariaDB and older MySQL know only the first one.
  for (const statement of ['SHOW MASTER STATUS', 'SHOW BINARY LOG STATUS']) {
    try {
      const [rows] = await lock.query<RowDataPacket[]>(statement);
      const row = rows[0];
      if (row) binlog = { file: textOf(row.File), position: Number(textOf(row.Position)) };
      break;
    } catch {
      // Not allowed, or not this server's syntax: try the other, else go without.
    }
  }
  return { serverVersion: version, snapshotTime, binlog };
}

/** The callback API under a promise connection: only it has streaming queries. */
function callbackSide(conn: Connection): CallbackConnection {
  return (conn as unknown as { connection: CallbackConnection }).connection;
}

const ER_UNKNOWN_SYSTEM_VARIABLE = 1193;

/**
 * MySQL 8.0.30+ may give a table a generated invisible primary key (`my_row_id`); it is dumped
 * with its values only while SHOW CREATE TABLE and information_schema show it, which a server
 * may have turned off. Servers without the variable (MariaDB, older MySQL) have no such keys.
 */
async function showGeneratedPrimaryKeys(session: Connection): Promise<void> {
  try {
    await session.query('SET SESSION show_gipk_in_create_table_and_information_schema = ON');
  } catch (err) {
    if ((err as { errno?: number }).errno !== ER_UNKNOWN_SYSTEM_VARIABLE) throw err;
  }
}
