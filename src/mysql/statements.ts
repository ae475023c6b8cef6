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
 *
 * The scanner works on bytes: every byte it reacts to is ASCII, and UTF-8
 * never uses ASCII values inside a multi-byte character, so a statement's
 * bytes are always whole characters and are decoded once, when the statement
 * is complete. Only the current statement is buffered (as slices of the input
 * chunks). A token that straddles a chunk boundary (`--`, `/*!`, a delimiter,
 * the word DELIMITER, ...) is carried over: the few bytes from its start are
 * prepended to the next chunk and scanned again.
 */
import { Buffer } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';

// Scanner states.
const NORMAL = 0;
/** In '...'. */
const SQ = 1;
/** In "...". */
const DQ = 2;
/** In `...`. */
const BT = 3;
/** In an executable comment (kept): strings are tracked, the delimiter is not. */
const EXEC = 4;
/** In an optimizer hint (kept): opaque up to the closing star-slash. */
const HINT = 5;
/** In a `-- ` or `#` comment (dropped) up to the end of the line. */
const LINE = 6;
/** In a plain block comment (dropped). */
const BLOCK = 7;

/** Result of a look-ahead that ran out of bytes before it could decide. */
const NEED_MORE = -2;
/** Result of a look-ahead that did not match. */
const NO_MATCH = -1;

const EMPTY = Buffer.alloc(0);
const NO_WORDS = new Int32Array(0);
const SPACE = Buffer.from(' ');
const STAR_SLASH = Buffer.from('*/');
/** What follows `/*M!` in MariaDB's sandbox-mode line. */
const SANDBOX_TAIL = Buffer.from('999999\\-');
const DELIMITER_WORD = Buffer.from('delimiter');

/** 1 for the bytes the client counts as whitespace. */
const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]) WS[c] = 1;

/** Bytes that need a closer look outside strings and comments (plus the delimiter's first byte). */
const NORMAL_SPECIAL = [
  0x27 /* ' */,
  0x22 /* " */,
  0x60 /* ` */,
  0x2d /* - */,
  0x23 /* # */,
  0x2f /* / */,
  0x0a /* newline: a DELIMITER command may start the next line */,
];

function buildTable(delimiter: Buffer): Uint8Array {
  const table = new Uint8Array(256);
  for (const c of NORMAL_SPECIAL) table[c] = 1;
  table[delimiter[0]!] = 1;
  return table;
}

/**
 * Does `pattern` occur at `buf[at]`? Returns 1, NO_MATCH, or NEED_MORE when
 * the buffer ends while the bytes so far match (only when not `final`).
 */
function matchAt(buf: Buffer, at: number, pattern: Buffer, final: boolean): number {
  const len = buf.length;
  const n = pattern.length;
  for (let k = 0; k < n; k++) {
    if (at + k >= len) return final ? NO_MATCH : NEED_MORE;
    if (buf[at + k] !== pattern[k]) return NO_MATCH;
  }
  return 1;
}

class StatementScanner {
  constructor(private readonly encoding: StatementEncoding = 'utf8') {}

  private state = NORMAL;
  /** The state a string returns to when it closes (NORMAL or EXEC). */
  private strReturn = NORMAL;
  /** Whether the current statement has anything besides whitespace and dropped comments. */
  private hasContent = false;
  /** A backslash ended the previous chunk inside a string: the next byte is escaped. */
  private escPending = false;
  /** Kept bytes of the current statement seen so far (slices of earlier chunks). */
  private pieces: Buffer[] = [];
  /** Bytes of an undecided token at the end of the previous chunk. */
  private carry: Buffer | null = null;
  private delimiter: Buffer = Buffer.from(';');
  private table: Uint8Array = buildTable(this.delimiter);
  private atStart = true;

  write(chunk: Buffer, out: (statement: string) => void): void {
    let buf = chunk;
    if (this.carry !== null) {
      buf = chunk.length === 0 ? this.carry : Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    this.scan(buf, false, out);
  }

  end(out: (statement: string) => void): void {
    const buf = this.carry ?? EMPTY;
    this.carry = null;
    this.scan(buf, true, out);
    this.finish(EMPTY, 0, 0, out);
    this.state = NORMAL;
    this.strReturn = NORMAL;
    this.escPending = false;
    this.atStart = true;
  }

  private scan(buf: Buffer, final: boolean, out: (statement: string) => void): void {
    const len = buf.length;
    let i = 0;

    if (this.atStart) {
      // Skip a UTF-8 byte order mark at the very start of the input.
      if (len < 3 && !final && buf.equals(Buffer.from([0xef, 0xbb, 0xbf]).subarray(0, len))) {
        this.carry = len === 0 ? null : buf;
        return;
      }
      this.atStart = false;
      if (len >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) i = 3;
    }

    let state = this.state;
    let hasContent = this.hasContent;
    let strReturn = this.strReturn;
    let keepFrom = state === LINE || state === BLOCK ? -1 : i;
    let carryPos = -1;

    // A 32-bit view of the 4-byte-aligned middle of buf, for skipping through strings.
    const wordsFrom = (4 - (buf.byteOffset & 3)) & 3;
    const wordCount = len > wordsFrom ? (len - wordsFrom) >> 2 : 0;
    const words = wordCount > 0 ? new Int32Array(buf.buffer, buf.byteOffset + wordsFrom, wordCount) : NO_WORDS;
    const wordsTo = wordsFrom + wordCount * 4;

    if (this.escPending && len > 0) {
      // The first byte is the one escaped by the backslash that ended the last chunk.
      this.escPending = false;
      i = 1;
    }

    outer: while (i < len) {
      switch (state) {
        case NORMAL: {
          if (!hasContent) {
            // Start of a statement: drop leading whitespace, look for DELIMITER.
            while (i < len && WS[buf[i]!] === 1) i++;
            keepFrom = i;
            if (i >= len) break outer;
            const c0 = buf[i]!;
            if ((c0 | 0x20) === 0x64 /* d */) {
              const r = this.delimiterCommand(buf, i, final, true);
              if (r === NEED_MORE) {
                carryPos = i;
                break outer;
              }
              if (r >= 0) {
                i = r;
                keepFrom = i;
                continue outer;
              }
            }
            if (this.table[c0] === 0) {
              hasContent = true;
              i++;
            }
          }

          const table = this.table;
          while (i < len && table[buf[i]!] === 0) i++;
          if (i >= len) break outer;
          const c = buf[i]!;

          const delimiter = this.delimiter;
          if (c === delimiter[0]) {
            const m = matchAt(buf, i, delimiter, final);
            if (m === NEED_MORE) {
              carryPos = i;
              break outer;
            }
            if (m === 1) {
              this.hasContent = hasContent;
              this.finish(buf, keepFrom, i, out);
              hasContent = false;
              i += delimiter.length;
              keepFrom = i;
              continue outer;
            }
          }

          switch (c) {
            case 0x27: // '
              state = SQ;
              strReturn = NORMAL;
              hasContent = true;
              i++;
              continue outer;
            case 0x22: // "
              state = DQ;
              strReturn = NORMAL;
              hasContent = true;
              i++;
              continue outer;
            case 0x60: // `
              state = BT;
              strReturn = NORMAL;
              hasContent = true;
              i++;
              continue outer;
            case 0x0a: {
              // A line starting with a DELIMITER command ends the unfinished statement.
              let j = i + 1;
              while (j < len && (buf[j] === 0x20 || buf[j] === 0x09 || buf[j] === 0x0d)) j++;
              if (j >= len && !final) {
                carryPos = i;
                break outer;
              }
              if (j < len && (buf[j]! | 0x20) === 0x64 /* d */) {
                const r = this.delimiterCommand(buf, j, final, false);
                if (r === NEED_MORE) {
                  carryPos = i;
                  break outer;
                }
                if (r >= 0) {
                  this.hasContent = hasContent;
                  this.finish(buf, keepFrom, i, out);
                  hasContent = false;
                  i = r;
                  keepFrom = i;
                  continue outer;
                }
              }
              i++;
              continue outer;
            }
            case 0x23: // # comment
              if (keepFrom < i) this.pieces.push(buf.subarray(keepFrom, i));
              keepFrom = -1;
              state = LINE;
              i++;
              continue outer;
            case 0x2d: {
              // "-- " comment: two dashes followed by whitespace or the end of the input.
              if (i + 1 >= len) {
                if (!final) {
                  carryPos = i;
                  break outer;
                }
              } else if (buf[i + 1] === 0x2d) {
                let comment: boolean;
                if (i + 2 >= len) {
                  if (!final) {
                    carryPos = i;
                    break outer;
                  }
                  comment = true;
                } else {
                  comment = WS[buf[i + 2]!] === 1;
                }
                if (comment) {
                  if (keepFrom < i) this.pieces.push(buf.subarray(keepFrom, i));
                  keepFrom = -1;
                  state = LINE;
                  i += 2;
                  continue outer;
                }
              }
              hasContent = true;
              i++;
              continue outer;
            }
            case 0x2f: {
              // "/*" opens a comment: kept when executable ("/*!", "/*M!") or a hint ("/*+").
              if (i + 1 >= len) {
                if (!final) {
                  carryPos = i;
                  break outer;
                }
                hasContent = true;
                i++;
                continue outer;
              }
              if (buf[i + 1] !== 0x2a) {
                hasContent = true;
                i++;
                continue outer;
              }
              if (i + 2 >= len && !final) {
                carryPos = i;
                break outer;
              }
              const c2 = i + 2 < len ? buf[i + 2]! : -1;
              if (c2 === 0x21 /* ! */) {
                state = EXEC;
                hasContent = true;
                i += 3;
                continue outer;
              }
              if (c2 === 0x2b /* + */) {
                state = HINT;
                hasContent = true;
                i += 3;
                continue outer;
              }
              if (c2 === 0x4d /* M */) {
                if (i + 3 >= len && !final) {
                  carryPos = i;
                  break outer;
                }
                if (i + 3 < len && buf[i + 3] === 0x21 /* ! */) {
                  const m = matchAt(buf, i + 4, SANDBOX_TAIL, final);
                  if (m === NEED_MORE) {
                    carryPos = i;
                    break outer;
                  }
                  if (m !== 1) {
                    state = EXEC;
                    hasContent = true;
                    i += 4;
                    continue outer;
                  }
                  // MariaDB's sandbox-mode command: drop it like a plain comment.
                }
              }
              if (keepFrom < i) this.pieces.push(buf.subarray(keepFrom, i));
              keepFrom = -1;
              state = BLOCK;
              i += 2;
              continue outer;
            }
            default:
              // The delimiter's first byte, but not the whole delimiter.
              hasContent = true;
              i++;
              continue outer;
          }
        }

        case SQ:
        case DQ: {
          const q = state === SQ ? 0x27 : 0x22;
          const qqqq = state === SQ ? 0x27272727 : 0x22222222;
          while (i < len) {
            if (i >= wordsFrom && ((i - wordsFrom) & 3) === 0) {
              // Skip four bytes at a time while none of them is the quote or a backslash
              // ("has a zero byte" bit trick on the word XOR the repeated byte).
              while (i < wordsTo) {
                const w = words[(i - wordsFrom) >> 2]!;
                const x = w ^ qqqq;
                const y = w ^ 0x5c5c5c5c;
                if ((((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) break;
                i += 4;
              }
              if (i >= len) break;
            }
            const c = buf[i]!;
            if (c === q) break;
            i += c === 0x5c /* \ */ ? 2 : 1;
          }
          if (i < len) {
            i++;
            state = strReturn;
            continue outer;
          }
          if (i > len) {
            this.escPending = true;
            i = len;
          }
          break outer;
        }

        case BT: {
          const e = buf.indexOf(0x60, i);
          if (e < 0) {
            i = len;
            break outer;
          }
          i = e + 1;
          state = strReturn;
          continue outer;
        }

        case EXEC: {
          while (i < len) {
            const c = buf[i]!;
            if (c === 0x2a || c === 0x27 || c === 0x22 || c === 0x60) break;
            i++;
          }
          if (i >= len) break outer;
          const c = buf[i]!;
          if (c === 0x2a /* * */) {
            if (i + 1 >= len) {
              if (final) {
                i++;
                continue outer;
              }
              carryPos = i;
              break outer;
            }
            if (buf[i + 1] === 0x2f) {
              i += 2;
              state = NORMAL;
            } else {
              i++;
            }
            continue outer;
          }
          state = c === 0x27 ? SQ : c === 0x22 ? DQ : BT;
          strReturn = EXEC;
          i++;
          continue outer;
        }

        case HINT:
        case BLOCK: {
          const e = buf.indexOf(STAR_SLASH, i);
          if (e < 0) {
            if (!final && len - 1 >= i && buf[len - 1] === 0x2a) {
              carryPos = len - 1;
            } else {
              i = len;
            }
            break outer;
          }
          i = e + 2;
          if (state === BLOCK) {
            keepFrom = i;
            // The comment separated two tokens; keep them apart.
            if (hasContent) this.pieces.push(SPACE);
          }
          state = NORMAL;
          continue outer;
        }

        case LINE: {
          const nl = buf.indexOf(0x0a, i);
          if (nl < 0) {
            i = len;
            break outer;
          }
          i = nl;
          keepFrom = nl;
          state = NORMAL;
          continue outer;
        }

        default:
          throw new Error(`statement splitter: bad state ${state}`);
      }
    }

    const stop = carryPos >= 0 ? carryPos : len;
    if (keepFrom >= 0 && keepFrom < stop) this.pieces.push(buf.subarray(keepFrom, stop));
    if (carryPos >= 0) this.carry = buf.subarray(carryPos);
    this.state = state;
    this.strReturn = strReturn;
    this.hasContent = hasContent;
  }

  /**
   * A `DELIMITER xyz` command at `buf[i]`? If so, switches to the new
   * delimiter and returns the index after its line; otherwise NO_MATCH, or
   * NEED_MORE. At the start of a statement a bare `DELIMITER` is an error;
   * inside a statement the word must be followed by a space or tab to count.
   */
  private delimiterCommand(buf: Buffer, i: number, final: boolean, statementStart: boolean): number {
    const len = buf.length;
    for (let k = 0; k < DELIMITER_WORD.length; k++) {
      if (i + k >= len) return final ? NO_MATCH : NEED_MORE;
      if ((buf[i + k]! | 0x20) !== DELIMITER_WORD[k]) return NO_MATCH;
    }
    const p = i + DELIMITER_WORD.length;
    if (p >= len) {
      if (!final) return NEED_MORE;
      if (!statementStart) return NO_MATCH;
      throw new Error('DELIMITER must be followed by a delimiter character or string');
    }
    const c = buf[p]!;
    if (c !== 0x20 && c !== 0x09 && (!statementStart || (c !== 0x0d && c !== 0x0a))) return NO_MATCH;
    let nl = buf.indexOf(0x0a, p);
    if (nl < 0) {
      if (!final) return NEED_MORE;
      nl = len;
    }
    // The argument: the first word of the rest of the line, or a quoted string.
    let s = p;
    while (s < nl && WS[buf[s]!] === 1) s++;
    let e: number;
    const q = s < nl ? buf[s]! : -1;
    if (q === 0x27 || q === 0x22 || q === 0x60) {
      s++;
      e = buf.indexOf(q, s);
      if (e < 0 || e > nl) e = nl;
    } else {
      e = s;
      while (e < nl && WS[buf[e]!] !== 1) e++;
    }
    if (e <= s) throw new Error('DELIMITER must be followed by a delimiter character or string');
    const delimiter = Buffer.from(buf.subarray(s, e));
    if (delimiter.includes(0x5c)) throw new Error('DELIMITER cannot contain a backslash character');
    this.delimiter = delimiter;
    this.table = buildTable(delimiter);
    return nl < len ? nl + 1 : len;
  }

  /** Ends the current statement (its last kept bytes are `buf[from, to)`) and emits it if not blank. */
  private finish(buf: Buffer, from: number, to: number, out: (statement: string) => void): void {
    const pieces = this.pieces;
    if (!this.hasContent) {
      pieces.length = 0;
      return;
    }
    this.hasContent = false;
    let whole: Buffer;
    let s: number;
    let e: number;
    if (pieces.length === 0) {
      whole = buf;
      s = from;
      e = to;
    } else {
      if (from < to) pieces.push(buf.subarray(from, to));
      whole = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
      pieces.length = 0;
      this.pieces = [];
      s = 0;
      e = whole.length;
    }
    while (s < e && WS[whole[s]!] === 1) s++;
    while (e > s && WS[whole[e - 1]!] === 1) e--;
    if (e > s) out(whole.toString(this.encoding, s, e));
  }
}

/**
 * How statements are decoded. `latin1` maps each byte to one character, so a statement holds its
 * exact bytes even where a dump has raw binary inside a string literal (mysqldump without
 * --hex-blob); send such strings over a connection whose encoding is `binary` as well.
 */
export type StatementEncoding = 'utf8' | 'latin1';

/**
 * Object-mode Transform: input Buffer chunks of a SQL file (UTF-8, arbitrary
 * chunk boundaries, even inside a multi-byte character or a quote); output one
 * string per statement, WITHOUT the trailing delimiter, trimmed of surrounding
 * whitespace.
 */
export function createStatementSplitter(options: { encoding?: StatementEncoding } = {}): Transform {
  const scanner = new StatementScanner(options.encoding);
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
        scanner.write(buf, (statement) => {
          this.push(statement);
        });
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(this: Transform, callback: TransformCallback): void {
      try {
        scanner.end((statement) => {
          this.push(statement);
        });
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
