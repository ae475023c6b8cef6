/**
 * The SQL text of one table's dump: a mysqldump-like header, the rows as INSERT statements, the
 * triggers and the footer; and the SELECT that has the server format the rows.
 */
import { Readable } from 'node:stream';
import { quoteIdentifier, quoteString } from './sql.js';
import type { ColumnInfo, TableDefinition } from './table-definition.js';

/**
 * Bumped whenever the bytes of a dump change for the same table (the deep verify compares a
 * re-dump with the archived .sql only within one format). 1: BLOBs as X'…', CR unescaped;
 * 2: BLOBs as _binary'…', CR escaped.
 */
export const DUMP_FORMAT = 2;

/** INSERT statements are cut after about this many bytes of values. */
const INSERT_TARGET_BYTES = 1024 * 1024;

/**
 * One table's dump as SQL text: the header, the rows (each one `(v1,v2,…)` literal formatted by
 * the server) cut into INSERT statements of about 1 MiB, and the footer. Rows are copied straight
 * into the statement being built: at a few hundred thousand rows a second, an object stream per
 * row and a Buffer.concat per statement were a good part of the backup's CPU.
 * Emits 'rows' (a count) as each INSERT is cut, for progress reports.
 */
export class TableDumpStream extends Readable {
  rows = 0;
  /** Called when the reader wants more after addRow() returned false. */
  onDemand: () => void = () => undefined;
  private readonly insertPrefix: Buffer;
  private statement!: Buffer;
  private used = 0;
  private statementRows = 0;

  constructor(private readonly definition: TableDefinition) {
    super({ highWaterMark: 4 * 1024 * 1024 });
    const columns = definition.columns.filter((c) => !c.generated).map((c) => quoteIdentifier(c.name));
    this.insertPrefix = Buffer.from(`INSERT INTO ${quoteIdentifier(definition.table)} (${columns.join(',')}) VALUES `);
    this.startStatement();
  }

  override _read(): void {
    this.onDemand();
  }

  start(): void {
    this.push(Buffer.from(dumpHeader(this.definition)));
  }

  /** Adds one row literal; false when the reader is behind (pause the source until onDemand). */
  addRow(literal: Buffer): boolean {
    this.rows++;
    const needed = literal.length + 1 + END_OF_STATEMENT.length;
    if (this.used + needed > this.statement.length) {
      // A row bigger than the room left (a large BLOB): the statement takes it whole.
      const grown = Buffer.allocUnsafe(this.used + needed);
      this.statement.copy(grown, 0, 0, this.used);
      this.statement = grown;
    }
    if (this.statementRows > 0) this.statement[this.used++] = COMMA;
    this.used += literal.copy(this.statement, this.used);
    this.statementRows++;
    return this.used - this.insertPrefix.length >= INSERT_TARGET_BYTES ? this.cutInsert() : true;
  }

  /** After the last row: the last INSERT, the footer, the end. */
  finish(): void {
    if (this.statementRows > 0) this.cutInsert();
    this.push(Buffer.from(dumpFooter(this.definition)));
    this.push(null);
  }

  private cutInsert(): boolean {
    this.used += END_OF_STATEMENT.copy(this.statement, this.used);
    this.emit('rows', this.statementRows);
    const more = this.push(escapeCarriageReturns(this.statement.subarray(0, this.used), this.insertPrefix.length));
    this.startStatement();
    return more;
  }

  /** A fresh buffer for the next statement, the INSERT prefix in place. */
  private startStatement(): void {
    this.statement = Buffer.allocUnsafe(this.insertPrefix.length + INSERT_TARGET_BYTES + 64 * 1024);
    this.used = this.insertPrefix.copy(this.statement, 0);
    this.statementRows = 0;
  }
}

const COMMA = 0x2c;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const LETTER_R = 0x72;
const END_OF_STATEMENT = Buffer.from(';\n');

/**
 * The statement with every CR from `from` on written `\r`, as mysqldump does: the stock client
 * drops a CR before a line feed (`mariadb < t.sql` loaded CR LF as LF). Past the INSERT's prefix
 * a CR can only be inside a quoted value (numbers, NULL, hex and bit literals have none), where
 * `\r` reads back as the CR byte. A REPLACE around every quoted value in the SELECT cost a fifth
 * of the server's time for the dump (0.9 s of mariadbd at bench scale 1); here a statement
 * without CR costs one memchr, and CRs cost about 0.2 µs each (0.4 s of Node for the bench's
 * BLOB-heavy `events` at scale 1, a CR every ~50 bytes).
 */
function escapeCarriageReturns(statement: Buffer, from: number): Buffer {
  let first = statement.indexOf(CR, from);
  if (first === -1) return statement;
  let count = 0;
  for (let i = first; i !== -1; i = statement.indexOf(CR, i + 1)) count++;
  const escaped = Buffer.allocUnsafe(statement.length + count);
  let written = 0;
  let start = 0;
  for (; first !== -1; first = statement.indexOf(CR, first + 1)) {
    written += statement.copy(escaped, written, start, first);
    escaped[written++] = BACKSLASH;
    escaped[written++] = LETTER_R;
    start = first + 1;
  }
  statement.copy(escaped, written, start);
  return escaped;
}

/**
 * The SELECT that has the server format each row as one `(…)` literal. Doing it server-side
 * keeps the bytes exact (the server's own conversions) and takes the work off the Node thread.
 * The separators are binary strings, and a CONCAT with a binary argument is binary (MySQL and
 * MariaDB alike): the pieces' bytes are taken as they are, so columns of different collations
 * never clash. A CAST(… AS BINARY) of each piece, as before, cost a quarter of the server's time.
 */
export function selectRowsSql(definition: TableDefinition): string {
  const pieces = definition.columns.filter((c) => !c.generated).map((c) => valueLiteralSql(c).join(', '));
  const row = `CONCAT(_binary'(', ${pieces.join(", _binary',', ")}, _binary')')`;
  return `SELECT ${row} FROM ${quoteIdentifier(definition.table)}`;
}

const NUMERIC = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'double', 'real', 'year']);
const BINARY = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']);
const SPATIAL = new Set(['geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'geomcollection']);
const TEXT = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set']);
/** Their text form holds no quote, backslash, NUL or ^Z: quoting needs no escaping. */
const TEMPORAL = new Set(['date', 'datetime', 'timestamp', 'time']);
/** Character sets whose bytes already are UTF-8 (utf8mb3 is a subset of utf8mb4). */
const UTF8 = new Set(['utf8mb4', 'utf8mb3', 'utf8']);
const QUOTE_MARK = "_binary''''";

/**
 * The CONCAT arguments that yield the column's value as a literal: NULL, a number, _binary'…',
 * X'…', b'…' or '…'. QUOTE escapes backslash, quote, NUL and ^Z (the dump sessions run with
 * sql_mode '', so backslash escapes are on); CRs are escaped as each INSERT is cut
 * (escapeCarriageReturns). A step is left out where it cannot change the bytes: the NULL test of
 * a NOT NULL column, the conversion of a column that is UTF-8 already, the escaping of a date
 * (the bench's `orders`, 1.12 M rows: the server's CPU for the SELECT went from 1.95 s to 1.55 s).
 */
function valueLiteralSql(column: ColumnInfo): string[] {
  const col = quoteIdentifier(column.name);
  const type = column.dataType.toLowerCase();
  const orNull = (literal: string) => (column.nullable ? `IFNULL(${literal}, 'NULL')` : literal);
  if (NUMERIC.has(type)) return [orNull(col)];
  // A FLOAT's own text form keeps 6 digits; through DOUBLE it is exact and loads back bit-equal.
  if (type === 'float') return [orNull(`${col} + 0e0`)];
  if (type === 'bit') return [orNull(`CONCAT('b''', BIN(${col}), '''')`)];
  // Escaped, as mysqldump writes them: hex would double the bytes 7-Zip has to compress. No byte
  // but an escaped one can end the literal in utf8mb4, and the restore reads statements byte for
  // byte (latin1) over a binary connection. QUOTE(NULL) is the word NULL.
  if (BINARY.has(type)) return column.nullable ? [`IF(${col} IS NULL, 'NULL', CONCAT('_binary', QUOTE(${col})))`] : ["_binary'_binary'", `QUOTE(${col})`];
  if (SPATIAL.has(type)) return [orNull(`CONCAT('X''', HEX(${col}), '''')`)];
  // The CONCAT is binary: it takes a column's bytes as they are, so other character sets are converted.
  if (TEXT.has(type) || type === 'json') return [`QUOTE(${isUtf8(column.charset) ? col : `CONVERT(${col} USING utf8mb4)`})`];
  if (TEMPORAL.has(type) && !column.nullable) return [QUOTE_MARK, col, QUOTE_MARK];
  // Dates that may be NULL, and anything newer (MariaDB's uuid/inet6, …): their text form, quoted.
  return [`QUOTE(${col})`];
}

function isUtf8(charset: string | null): boolean {
  return charset !== null && UTF8.has(charset.toLowerCase());
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
