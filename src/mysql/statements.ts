/**
 * Streaming splitter for mysqldump / mariadb-dump style SQL files.
 *
 * It cuts a byte stream into SQL statements the way the stock `mysql` /
 * `mariadb` command-line client does when it reads a file, so that a dump can
 * be replayed statement by statement over an ordinary connection without the
 * client binary:
 *
 * - the default delimiter is `;`; a `DELIMITER xyz` command switches it
 *   (multi-character delimiters are fine) and is not itself a statement. It is
 *   recognised where a statement starts (after the previous delimiter,
 *   whitespace and dropped comments) and, like the client does, at the start
 *   of a line inside an unfinished statement, which then ends there;
 * - delimiters inside '...', "..." (backslash escapes the next byte, doubled
 *   quotes work because they scan as two adjacent strings), `...` (no
 *   backslash escapes) and comments do not end a statement;
 * - plain comments (`-- `, `#`, `/* *\/`) are dropped; executable comments
 *   (`/*!...*\/`, `/*M!...*\/`) and optimizer hints (`/*+ ...*\/`) are kept
 *   because the server interprets them; MariaDB's sandbox-mode line
 *   (`/*M!999999\- ... *\/`) is a client command and is dropped.
 */
import { Buffer } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { StatementScanner } from './statements/scanner.js';

/**
 * How statements are decoded. `latin1` maps each byte to one character, so a statement holds its
 * exact bytes even where a dump has raw binary inside a string literal (mysqldump without
 * --hex-blob); send such strings over a connection whose encoding is `binary` as well.
 */
export type StatementEncoding = 'utf8' | 'latin1';

/** A statement as `createStatementSplitter({ withBytes: true })` emits it. */
export interface SplitStatement {
  text: string;
  /** Its bytes, not copied (in `latin1`, `text[i]` is `bytes[i]`). */
  bytes: Buffer;
}

/**
 * Object-mode Transform: input Buffer chunks of a SQL file (UTF-8, arbitrary
 * chunk boundaries, even inside a multi-byte character or a quote); output one
 * string per statement, WITHOUT the trailing delimiter, trimmed of surrounding
 * whitespace (with `withBytes`, a SplitStatement).
 */
export function createStatementSplitter(options: { encoding?: StatementEncoding; withBytes?: boolean } = {}): Transform {
  const scanner = new StatementScanner(options.encoding);
  const emit = (push: (statement: string | SplitStatement) => void) =>
    options.withBytes ? (text: string, bytes: Buffer) => push({ text, bytes }) : (text: string) => push(text);
  return new Transform({
    readableObjectMode: true,
    // Statements can be ~1 MiB each: keep only a few finished ones queued.
    readableHighWaterMark: 4,
    transform(this: Transform, chunk: unknown, encoding: BufferEncoding, callback: TransformCallback): void {
      try {
        const buf = Buffer.isBuffer(chunk)
          ? chunk
          : typeof chunk === 'string'
            ? Buffer.from(chunk, encoding)
            : Buffer.from(chunk as Uint8Array);
        scanner.write(buf, emit((s) => this.push(s)));
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(this: Transform, callback: TransformCallback): void {
      try {
        scanner.end(emit((s) => this.push(s)));
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}

/** Convenience for tests/small inputs: split a whole text. */
export function splitStatements(sql: string): string[] {
  const scanner = new StatementScanner();
  const statements: string[] = [];
  const out = (statement: string): void => {
    statements.push(statement);
  };
  scanner.write(Buffer.from(sql, 'utf8'), out);
  scanner.end(out);
  return statements;
}
