/**
 * The rows of this service's own INSERT statements, loaded with `LOAD DATA LOCAL INFILE` instead
 * of replayed as INSERTs. The server parses a LOAD DATA row for far less than the same row in an
 * INSERT (no expression per value): at bench scale 1 it spent 28 % less CPU loading `orders`,
 * `customers` and `metrics_wide`, and a restore is bound by that CPU.
 *
 * The INSERTs' own bytes are what LOAD DATA reads: the rows `(v1,v2),(v3,v4)` of consecutive
 * INSERTs become one stream `(v1,v2),(v3,v4)(v5,v6),…` read with FIELDS TERMINATED BY ','
 * OPTIONALLY ENCLOSED BY '''' ESCAPED BY '\\' LINES STARTING BY '(' TERMINATED BY ')' (a line's
 * prefix skips what comes before it: the comma between rows, or nothing). That reads every
 * literal the dump writes (dump-sql.ts) as the INSERT would: NULL, numbers and QUOTE()d strings
 * (escapes `\\ \' \0 \Z \r`). `_binary'…'` is read once its introducer is cut out. A statement
 * with a literal LOAD DATA cannot read (`b'…'` BITs, `X'…'` geometries) stays an INSERT.
 *
 * Only dumps made by this service qualify: other dumps (mysqldump's `0x…` hex BLOBs, say) hold
 * literals that LOAD DATA would store as text, silently.
 */
import { PassThrough, type Writable } from 'node:stream';
import type { Connection } from './connection.js';
import { quoteIdentifier } from './sql.js';

export interface InsertRows {
  /** The statement's table and column list as written: consecutive INSERTs with the same one share a LOAD DATA. */
  target: string;
  table: string;
  columns: string[] | null;
  /** The rows as LOAD DATA reads them, `(…),(…)`: a view of the statement's bytes where nothing is cut out. */
  rows: Buffer;
}

const INSERT_INTO = 'INSERT INTO ';
const VALUES = ' VALUES ';
const BACKTICK = 0x60;
const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN = 0x28;
const CLOSE = 0x29;
/** A literal that needs more than reading as it is: only these start with a letter and a quote. */
const SPECIAL_LITERAL = /[(,](?:_binary|b|X)'/g;
const BINARY_INTRODUCER = "_binary'";

/**
 * The rows of an INSERT written by the service's dump, or null when it has another form or holds
 * a literal LOAD DATA cannot read. `statement` is the latin1 decoding of `bytes` (one char per
 * byte: the same offsets).
 */
export function insertRows(statement: string, bytes: Buffer = Buffer.from(statement, 'latin1')): InsertRows | null {
  if (!statement.startsWith(INSERT_INTO)) return null;
  const table = identifierAt(statement, INSERT_INTO.length);
  if (table === null) return null;
  let at = table.end;
  let columns: string[] | null = null;
  if (statement.startsWith(' (', at)) {
    columns = [];
    at += 1;
    do {
      const column = identifierAt(statement, at + 1);
      if (column === null) return null;
      columns.push(column.name);
      at = column.end;
    } while (statement.charCodeAt(at) === COMMA);
    if (statement.charCodeAt(at) !== CLOSE) return null;
    at += 1;
  }
  if (!statement.startsWith(VALUES, at) || statement.charCodeAt(statement.length - 1) !== CLOSE) return null;
  const target = statement.slice(INSERT_INTO.length, at);
  const start = at + VALUES.length;
  if (statement.charCodeAt(start) !== OPEN) return null;
  SPECIAL_LITERAL.lastIndex = start;
  const cuts = SPECIAL_LITERAL.test(statement) ? introducers(statement, start) : [];
  const rows = cuts === null ? null : rowsOf(bytes, start, cuts);
  return rows === null ? null : { target, table: table.name, columns, rows };
}

/** A backquoted identifier at `at` (doubled backquotes inside), and where it ends. */
function identifierAt(text: string, at: number): { name: string; end: number } | null {
  if (text.charCodeAt(at) !== BACKTICK) return null;
  let name = '';
  for (let from = at + 1; ; ) {
    const close = text.indexOf('`', from);
    if (close === -1) return null;
    name += text.slice(from, close);
    if (text.charCodeAt(close + 1) !== BACKTICK) return { name, end: close + 1 };
    name += '`';
    from = close + 2;
  }
}

/**
 * Walks the rows value by value (they may hold `_binary` anywhere, even inside a string that
 * only looks like one): the offsets of the `_binary` introducers to cut, or null for a literal
 * that is neither NULL, a number, a string nor a `_binary` string.
 */
function introducers(text: string, start: number): number[] | null {
  const cuts: number[] = [];
  const end = text.length;
  let at = start;
  for (;;) {
    if (text.charCodeAt(at) !== OPEN) return null;
    at++;
    for (;;) {
      const c = text.charCodeAt(at);
      if (c === QUOTE) {
        at = afterString(text, at);
      } else if (text.startsWith(BINARY_INTRODUCER, at)) {
        cuts.push(at);
        at = afterString(text, at + BINARY_INTRODUCER.length - 1);
      } else {
        const from = at;
        for (let d = c; at < end && d !== COMMA && d !== CLOSE; d = text.charCodeAt(++at)) {
          if (d === QUOTE) return null; // b'…', X'…' and anything else with a quote
        }
        if (at === from) return null;
      }
      if (at < 0 || at >= end) return null;
      const next = text.charCodeAt(at++);
      if (next === CLOSE) break;
      if (next !== COMMA) return null;
    }
    if (at === end) break;
    if (text.charCodeAt(at++) !== COMMA) return null;
  }
  return cuts;
}

/** Past the string literal whose opening quote is at `quote` (backslash escapes), or -1. */
function afterString(text: string, quote: number): number {
  for (let from = quote + 1; ; ) {
    const close = text.indexOf("'", from);
    if (close === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return close + 1;
    from = close + 1;
  }
}

/**
 * The rows' bytes from `start`, without the introducers at `cuts`: one buffer, since each buffer
 * handed to the driver becomes a packet and a socket write of its own.
 */
function rowsOf(bytes: Buffer, start: number, cuts: number[]): Buffer {
  if (cuts.length === 0) return bytes.subarray(start);
  const cut = BINARY_INTRODUCER.length - 1;
  const rows = Buffer.allocUnsafe(bytes.length - start - cuts.length * cut);
  let written = 0;
  let from = start;
  for (const at of cuts) {
    written += bytes.copy(rows, written, from, at);
    from = at + cut;
  }
  bytes.copy(rows, written, from);
  return rows;
}

/** The statement that reads such rows into `table`, in the session's character set. */
export function loadDataSql(rows: Pick<InsertRows, 'table' | 'columns'>, characterSet: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(characterSet)) throw new Error(`unexpected character set name ${characterSet}`);
  const columns = rows.columns === null ? '' : ` (${rows.columns.map(quoteIdentifier).join(',')})`;
  return (
    `LOAD DATA LOCAL INFILE 'rows' INTO TABLE ${quoteIdentifier(rows.table)} CHARACTER SET ${characterSet} ` +
    `FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '''' ESCAPED BY '\\\\' LINES STARTING BY '(' TERMINATED BY ')'${columns}`
  );
}

/** Bytes handed to the driver at once: each becomes one packet (at most 16 MiB). */
const PIECE_BYTES = 1024 * 1024;
/** Bytes the socket may hold unsent before the rows wait: the server sets the pace. */
const SOCKET_HIGH_WATER = 4 * 1024 * 1024;

export interface LoadDataResult {
  rows: number;
  warnings: number;
  /** Rows the server skipped as duplicates (LOAD DATA LOCAL ignores them): null when its message does not say. */
  skipped: number | null;
}

/**
 * One LOAD DATA under way on a session: rows are added as the INSERTs they replace are read, and
 * the server reads them as it goes. Memory stays bounded: `add` waits while the socket holds
 * more than a few MiB the server has not taken yet.
 */
export class LoadDataRun {
  private readonly infile = new PassThrough({ highWaterMark: PIECE_BYTES });
  private readonly done: Promise<LoadDataResult>;
  private failure: unknown = null;

  constructor(
    private readonly conn: Connection,
    sql: string,
    readonly target: string,
  ) {
    // mysql2 asks for the stream when the server asks for the file; whatever name the server
    // asks for, it gets these rows (a server cannot make the service read a file of its own).
    this.done = conn.query({ sql, infileStreamFactory: () => this.infile } as Parameters<Connection['query']>[0]).then(
      ([result]) => outcome(result),
      (err: unknown) => {
        this.failure = err;
        throw err;
      },
    );
    this.done.catch(() => undefined);
  }

  async add(rows: Buffer): Promise<void> {
    if (this.failure !== null) throw this.failure;
    for (let at = 0; at < rows.length; at += PIECE_BYTES) this.infile.write(rows.subarray(at, at + PIECE_BYTES));
    const socket = (this.conn as unknown as { connection: { stream: Writable } }).connection.stream;
    while (this.infile.writableNeedDrain || socket.writableLength > SOCKET_HIGH_WATER) {
      const waitFor = this.infile.writableNeedDrain ? this.infile : socket;
      await Promise.race([new Promise((resolve) => waitFor.once('drain', resolve)), this.done]);
      if (this.failure !== null) throw this.failure;
    }
  }

  /** Ends the rows; the server's count once it has taken them all. */
  async finish(): Promise<LoadDataResult> {
    this.infile.end();
    return this.done;
  }

  destroy(): void {
    this.infile.destroy();
  }
}

function outcome(result: unknown): LoadDataResult {
  const { affectedRows, warningStatus, info } = (result ?? {}) as { affectedRows?: unknown; warningStatus?: unknown; info?: unknown };
  const skipped = /\bSkipped: (\d+)/.exec(String(info ?? ''));
  return { rows: Number(affectedRows), warnings: Number(warningStatus ?? 0), skipped: skipped ? Number(skipped[1]) : null };
}
