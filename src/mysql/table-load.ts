/**
 * Replays one table's dump, statement by statement, into the scratch schema, the way the fastest
 * loaders do:
 *
 * - the table is created with its primary key only and its other indexes are added in ONE
 *   `ALTER TABLE` after the rows (deferred-indexes.ts); a duplicate in a deferred UNIQUE index
 *   fails that ALTER, so the restore fails before any swap;
 * - INSERTs, independent once the table exists, are spread over up to `insertConnections`
 *   sessions (one in flight each: memory stays bounded). Every other statement keeps its place: it
 *   waits until the INSERTs before it are done (and committed), and session settings (`SET …`)
 *   run on every session, so each INSERT runs under the dump's settings;
 * - `LOCK TABLES` / `UNLOCK TABLES` are skipped when INSERTs run on several sessions (a WRITE lock
 *   would shut the other sessions out; nobody else uses the scratch schema anyway);
 * - the rows of the service's own dumps go in with `LOAD DATA LOCAL INFILE` (load-data.ts), which
 *   costs the server far less than the INSERTs they were written as.
 *
 * Triggers, and everything a dump runs after its first trigger, cannot run in the scratch
 * schema: they are returned (with the session settings run before them) for after the swap.
 */
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MysqlSettings } from '../config.js';
import { ConflictError } from '../errors.js';
import { connect, disconnect, type Connection } from './connection.js';
import { deferIndexes } from './deferred-indexes.js';
import { insertRows, loadDataSql, LoadDataRun, type LoadDataResult } from './load-data.js';
import { quoteIdentifier, quoteString } from './sql.js';
import { leadingWords, statementKind } from './statement-kind.js';
import { createStatementSplitter, type SplitStatement } from './statements.js';

/** Statements a dump runs after its first trigger are kept for after the swap: at most this much. */
const MAX_DEFERRED_BYTES = 16 * 1024 * 1024;

const UNIQUE_CHECKS_ON = 'SET SESSION unique_checks = 1';

export interface TableLoadOptions {
  /** Sessions that run the table's INSERTs at once (1: all on one session, in order). */
  insertConnections: number;
  /** Build secondary indexes after the rows. */
  deferIndexes: boolean;
  /**
   * The dump is the service's own, so its INSERTs' rows may go in with LOAD DATA LOCAL INFILE
   * (used when the server allows it and INSERTs run on one session).
   */
  loadData?: boolean;
}

export interface TableLoadResult {
  statements: number;
  /**
   * The rows the INSERTs added, from the server's replies (no COUNT(*) scan of a table just
   * written); null when a statement may have changed rows in a way those do not tell (REPLACE,
   * INSERT IGNORE, a duplicate updated, DELETE, …): then count the table.
   */
  rows: number | null;
  /** Session settings and triggers, to run on the live table after the swap (empty: none). */
  deferred: string[];
  /** Indexes built after the rows (for the log). */
  indexesDeferred: number;
  /** Sessions that ran INSERTs (for the log). */
  insertSessions: number;
  /** LOAD DATA statements that took the rows of INSERTs (for the log; 0: all replayed as INSERTs). */
  loadDataRuns: number;
}

type Role = 'insert' | 'create-table' | 'lock' | 'ddl' | 'other';

function roleOf(statement: string): Role {
  const words = leadingWords(statement);
  // REPLACE and INSERT IGNORE depend on the order of rows that clash: they stay in order.
  if (/^INSERT\b/.test(words) && !/^INSERT\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY)\s+)?IGNORE\b/.test(words)) return 'insert';
  if (/^CREATE TABLE\b/.test(words)) return 'create-table';
  if (/^(LOCK|UNLOCK) TABLES?\b/.test(words)) return 'lock';
  if (/^(CREATE|DROP|RENAME|TRUNCATE)\b/.test(words)) return 'ddl';
  return 'other';
}

async function run(conn: Connection, statement: string, entry: string): Promise<unknown> {
  try {
    const [result] = await conn.query(statement);
    return result;
  } catch (err) {
    throw refused(err, entry);
  }
}

function refused(err: unknown, entry: string): Error {
  const e = err as { code?: string; errno?: number; message: string };
  // The server's message may quote the data; the statement itself is never repeated.
  return new Error(`${entry}: the server refused a statement: ${e.code ?? ''} ${e.errno ?? ''} ${e.message.slice(0, 200)}`, { cause: err });
}

/** The sessions of one table's load: the main one (DDL, settings, in order) and extra INSERT sessions opened on demand. */
class LoadSessions {
  private readonly extras: Connection[] = [];
  private readonly idle: Connection[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private waiting: (() => void)[] = [];
  private failure: unknown = null;
  private opening = 0;
  /** Every SET run so far, in order: a session opened later replays them. */
  readonly settings: string[] = [];
  /** Rows the INSERTs added so far; null once one's reply did not tell. */
  rowsAdded: number | null = 0;

  constructor(
    readonly main: Connection,
    private readonly mysql: MysqlSettings,
    private readonly scratch: string,
    private readonly limit: number,
    private readonly entry: string,
  ) {
    this.idle.push(main);
  }

  private check(): void {
    if (this.failure !== null) throw this.failure;
  }

  /** Starts an INSERT on a free session; resolves once it has one (not when it is done). */
  async insert(statement: string): Promise<void> {
    this.check();
    let conn = this.idle.pop();
    while (conn === undefined) {
      if (this.extras.length + this.opening + 1 < this.limit) {
        this.opening++;
        try {
          conn = await this.open();
        } finally {
          this.opening--;
        }
      } else {
        await new Promise<void>((resolve) => this.waiting.push(resolve));
        this.check();
        conn = this.idle.pop();
      }
    }
    const session = conn;
    const done = run(session, statement, this.entry).then(
      (result) => {
        const added = rowsInserted(result);
        this.rowsAdded = added === null || this.rowsAdded === null ? null : this.rowsAdded + added;
        this.idle.push(session);
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    ).finally(() => {
      this.inFlight.delete(done);
      this.waiting.shift()?.();
    });
    this.inFlight.add(done);
  }

  private async open(): Promise<Connection> {
    const conn = await connect(this.mysql, { rawBytes: true });
    this.extras.push(conn);
    await run(conn, `USE ${quoteIdentifier(this.scratch)}`, this.entry);
    for (const statement of this.settings) await run(conn, statement, this.entry);
    return conn;
  }

  /** Waits for every INSERT started so far; the extra sessions commit theirs (a dump may have turned autocommit off). */
  async barrier(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    this.check();
    for (const conn of this.extras) await run(conn, 'COMMIT', this.entry);
  }

  /** Runs a statement on every open session, in order (after a barrier). */
  async everywhere(statement: string): Promise<void> {
    await run(this.main, statement, this.entry);
    for (const conn of this.extras) await run(conn, statement, this.entry);
  }

  get count(): number {
    return 1 + this.extras.length;
  }

  get parallel(): boolean {
    return this.limit > 1;
  }

  async close(): Promise<void> {
    await Promise.all(this.extras.map((conn) => disconnect(conn)));
  }

  destroy(): void {
    for (const conn of [this.main, ...this.extras]) conn.destroy();
  }
}

/** Statements of a dump that add no rows and remove none (DDL before the rows, settings, locks, transactions). */
const ROW_NEUTRAL = /^(?:SET|LOCK TABLES?|UNLOCK TABLES?|ALTER TABLE \S+ (?:DISABLE|ENABLE) KEYS|COMMIT|BEGIN|START TRANSACTION)\b/;
/** Neutral only before the first INSERT: after it they may remove the rows counted. */
const TABLE_DDL = /^(?:CREATE|DROP) TABLE\b/;
/** An ON DUPLICATE KEY UPDATE clause comes after the VALUES: it is looked for in a statement's last bytes. */
const TAIL_CHARS = 64 * 1024;

/** Whether the rows added can still be told from the INSERTs' replies once `statement` (not a SET) has run. */
function keepsRowCount(statement: string, role: Role, insertsSoFar: number): boolean {
  if (role === 'insert') return !/\bON\s+DUPLICATE\s+KEY\s+UPDATE\b/i.test(statement.slice(-TAIL_CHARS));
  const words = leadingWords(statement);
  return words === '' || ROW_NEUTRAL.test(words) || (insertsSoFar === 0 && TABLE_DDL.test(words));
}

/**
 * The rows a plain INSERT added, from its OK packet: its affected rows, when the server's info
 * says no row was a duplicate (`Records: 3  Duplicates: 0  Warnings: 0`; a one-row INSERT has no
 * info). null when it cannot tell (a duplicate, a translated message).
 */
function rowsInserted(result: unknown): number | null {
  const { affectedRows, info } = (result ?? {}) as { affectedRows?: unknown; info?: unknown };
  if (typeof affectedRows !== 'number') return null;
  if (info === undefined || info === '') return affectedRows <= 1 ? affectedRows : null;
  const counts = /^Records: (\d+)\s+Duplicates: (\d+)\s+Warnings: \d+/.exec(String(info));
  return counts && counts[2] === '0' && Number(counts[1]) === affectedRows ? affectedRows : null;
}

/** Whether the server takes LOAD DATA LOCAL (MySQL 8 ships with `local_infile` off, MariaDB with it on). */
async function localInfileAllowed(conn: Connection): Promise<boolean> {
  const [rows] = await conn.query('SELECT @@GLOBAL.local_infile AS allowed');
  const allowed = (rows as Record<string, unknown>[])[0]?.allowed;
  return Number(allowed) === 1 || String(allowed).toUpperCase() === 'ON';
}

interface SessionVariables {
  characterSet: string;
  collation: string;
  sqlMode: string;
  uniqueChecks: boolean;
}

/** The session settings a dump's statements change and the load cares about. */
async function sessionVariables(conn: Connection): Promise<SessionVariables> {
  const [rows] = await conn.query('SELECT @@SESSION.character_set_client AS cs, @@SESSION.collation_connection AS co, @@SESSION.sql_mode AS m, @@SESSION.unique_checks AS u');
  const now = (rows as Record<string, unknown>[])[0] ?? {};
  return { characterSet: String(now.cs), collation: String(now.co), sqlMode: String(now.m), uniqueChecks: Number(now.u) === 1 };
}

/**
 * The session's character set for LOAD DATA and whether its unique checks are on; null when its
 * sql_mode reads literals unlike LOAD DATA does.
 */
async function loadDataSession(conn: Connection): Promise<SessionVariables | null> {
  const now = await sessionVariables(conn);
  // Without backslash escapes an INSERT reads `\'` otherwise than LOAD DATA's ESCAPED BY does.
  return /\bNO_BACKSLASH_ESCAPES\b/.test(now.sqlMode) ? null : now;
}

/** A SET that puts the session's character set, collation, sql_mode and unique checks back as they are now. */
async function sessionNow(conn: Connection): Promise<string> {
  const now = await sessionVariables(conn);
  return `SET SESSION character_set_client = ${now.characterSet}, collation_connection = ${now.collation}, sql_mode = ${quoteString(now.sqlMode)}, unique_checks = ${now.uniqueChecks ? 1 : 0}`;
}

export async function loadTable(
  mysql: MysqlSettings,
  scratch: string,
  entry: string,
  /** Opens the table's `.sql` (bytes), once the session is up. */
  source: () => Readable,
  options: TableLoadOptions,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<TableLoadResult> {
  const main = await connect(mysql, { rawBytes: true });
  const sessions = new LoadSessions(main, mysql, scratch, Math.max(1, options.insertConnections), entry);
  const deferred: string[] = [];
  let deferring = false;
  let deferredBytes = 0;
  let statements = 0;
  let inserts = 0;
  let indexesDeferred = 0;
  /** The ALTER still to run, and the settings it runs under (those of its CREATE TABLE). */
  let pendingAlter: { alter: string; session: string } | null = null;
  /** A UNIQUE index is built during the load: its checks must not be off. */
  let uniqueChecksOn = false;
  let loadDataAllowed = options.loadData === true && options.insertConnections <= 1 && (await localInfileAllowed(main).catch(() => false));
  /** The LOAD DATA taking the rows of the INSERTs read so far, on the main session. */
  let loadData: LoadDataRun | null = null;
  let loadDataRuns = 0;
  /** The dump turned unique checks off: they are on during a LOAD DATA (see loadRows), and off again after it. */
  let uniqueChecksOffAfterLoad = false;

  const endLoadData = async () => {
    if (loadData === null) return;
    const loading = loadData;
    loadData = null;
    let result: LoadDataResult;
    try {
      result = await loading.finish();
    } catch (err) {
      throw refused(err, entry);
    }
    if (result.warnings > 0 || (result.skipped ?? 0) > 0) {
      // LOAD DATA LOCAL skips a duplicate key (an INSERT would fail) and warns where an INSERT would: neither is expected of the service's own dump.
      const [rows] = await main.query('SHOW WARNINGS LIMIT 3');
      const messages = (rows as { Message?: unknown }[]).map((row) => String(row.Message).slice(0, 200));
      throw new ConflictError(`${entry}: its rows did not load cleanly (${result.skipped ?? 0} skipped, ${result.warnings} warnings): ${messages.join('; ')}`);
    }
    sessions.rowsAdded = sessions.rowsAdded === null ? null : sessions.rowsAdded + result.rows;
    if (uniqueChecksOffAfterLoad) await run(main, 'SET SESSION unique_checks = 0', entry);
    uniqueChecksOffAfterLoad = false;
  };

  /** Takes an INSERT's rows into the LOAD DATA under way (or a new one); false when it must run as an INSERT. */
  const loadRows = async (statement: string, bytes: Buffer): Promise<boolean> => {
    const rows = loadDataAllowed ? insertRows(statement, bytes) : null;
    if (rows === null) return false;
    if (loadData !== null && loadData.target !== rows.target) await endLoadData();
    if (loadData === null) {
      await sessions.barrier();
      const session = await loadDataSession(main);
      if (session === null) {
        loadDataAllowed = false;
        return false;
      }
      // With unique checks (and foreign key checks) off, MariaDB 10.6+ buffers and sorts a
      // statement's rows into an empty table (MDEV-24621): for one LOAD DATA of a whole table, two
      // tables at once on 2 cores, that cost the server 30 % more CPU (15.7-15.9 s against
      // 11.2-12.1 s at bench scale 1). On, they check nothing more here: the table has its
      // primary key only, or UNIQUE keys whose checks are on during the load anyway.
      if (!session.uniqueChecks) {
        await run(main, UNIQUE_CHECKS_ON, entry);
        uniqueChecksOffAfterLoad = true;
      }
      loadData = new LoadDataRun(main, loadDataSql(rows, session.characterSet), rows.target);
      loadDataRuns++;
    }
    try {
      await loadData.add(rows.rows);
    } catch (err) {
      throw refused(err, entry);
    }
    return true;
  };

  const buildIndexes = async () => {
    if (pendingAlter === null) return;
    const { alter, session } = pendingAlter;
    pendingAlter = null;
    await sessions.barrier();
    const now = await sessionNow(main);
    await run(main, session, entry);
    // A duplicate in a deferred UNIQUE index fails here, before anything is swapped.
    await run(main, UNIQUE_CHECKS_ON, entry);
    await run(main, alter, entry);
    await run(main, now, entry);
  };

  const handle = async ({ text: statement, bytes }: SplitStatement): Promise<void> => {
    const kind = statementKind(statement);
    if (kind === 'use' || kind === 'database') {
      throw new ConflictError(`${entry} switches or changes databases (${statement.slice(0, 60)}…); only single-table dumps restore`);
    }
    if (kind === 'trigger') deferring = true;
    if (deferring) {
      await endLoadData();
      deferredBytes += statement.length;
      if (deferredBytes > MAX_DEFERRED_BYTES) throw new ConflictError(`${entry} has more than ${MAX_DEFERRED_BYTES} bytes after its first trigger`);
      deferred.push(statement);
      return;
    }
    statements++;
    if (kind === 'set') {
      await endLoadData();
      sessions.settings.push(statement);
      if (uniqueChecksOn) sessions.settings.push(UNIQUE_CHECKS_ON);
      await sessions.barrier();
      await sessions.everywhere(statement);
      if (uniqueChecksOn) await sessions.everywhere(UNIQUE_CHECKS_ON);
      return;
    }
    const role = roleOf(statement);
    if (sessions.rowsAdded !== null && !keepsRowCount(statement, role, inserts)) sessions.rowsAdded = null;
    if (role === 'insert') {
      inserts++;
      if (await loadRows(statement, bytes)) return;
      await endLoadData();
      await sessions.insert(statement);
      return;
    }
    await endLoadData();
    if (role === 'lock' && sessions.parallel) return;
    await sessions.barrier();
    if (role === 'ddl' || role === 'create-table') await buildIndexes();
    if (role === 'create-table') {
      const split = options.deferIndexes ? deferIndexes(statement) : null;
      await run(main, split?.create ?? statement, entry);
      if (split) {
        indexesDeferred += split.count;
        pendingAlter = { alter: split.alter, session: await sessionNow(main) };
      }
      // A UNIQUE index built row by row is only checked with unique_checks on (which, on MariaDB,
      // also turns off its bulk load into an empty table: so only where a UNIQUE is loaded that way).
      if (split ? split.keepsUnique : /\bUNIQUE\b/i.test(statement)) {
        uniqueChecksOn = true;
        sessions.settings.push(UNIQUE_CHECKS_ON);
        await sessions.everywhere(UNIQUE_CHECKS_ON);
      }
      return;
    }
    await run(main, statement, entry);
  };

  try {
    await run(main, `USE ${quoteIdentifier(scratch)}`, entry);
    await pipeline(
      source(),
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          onBytes(chunk.length);
          callback(null, chunk);
        },
      }),
      createStatementSplitter({ encoding: 'latin1', withBytes: true }),
      new Writable({
        objectMode: true,
        write(statement: SplitStatement, _encoding, callback) {
          handle(statement).then(() => callback(), callback);
        },
      }),
      { signal },
    );
    await endLoadData();
    await sessions.barrier();
    await buildIndexes();
    // The main session may have sat idle through the INSERTs: a session lost meanwhile fails the load.
    await run(main, 'DO 0', entry);
  } catch (err) {
    (loadData as LoadDataRun | null)?.destroy();
    sessions.destroy();
    throw err;
  }
  const insertSessions = sessions.count;
  await sessions.close();
  await disconnect(main);
  return { statements, rows: sessions.rowsAdded, deferred: deferred.length > 0 ? [...sessions.settings, ...deferred] : [], indexesDeferred, insertSessions, loadDataRuns };
}
