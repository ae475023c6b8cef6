/**
 * The statement splitter's scanner (the rules it follows: ../statements.ts).
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
import type { StatementEncoding } from '../statements.js';
import { atDash, atHash, atSlash, scanExecutableComment, skipBlockComment, skipLineComment } from './comments.js';
import { BLOCK, BT, Cursor, DQ, EMPTY, EXEC, HINT, LINE, matchAt, NEED_MORE, NORMAL, SQ, WS } from './cursor.js';
import { Delimiter } from './delimiter.js';
import { openQuote, skipBackquoted, skipQuoted } from './quoted.js';

/** A statement's text, and its bytes (a view of the input, or of the pieces it was joined from). */
type Out = (statement: string, bytes: Buffer) => void;

export class StatementScanner {
  constructor(private readonly encoding: StatementEncoding = 'utf8') {}

  private readonly cur = new Cursor();
  private readonly delimiter = new Delimiter();
  /** Bytes of an undecided token at the end of the previous chunk. */
  private carry: Buffer | null = null;
  private atStart = true;

  write(chunk: Buffer, out: Out): void {
    let buf = chunk;
    if (this.carry !== null) {
      buf = chunk.length === 0 ? this.carry : Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    this.scan(buf, false, out);
  }

  end(out: Out): void {
    const buf = this.carry ?? EMPTY;
    this.carry = null;
    this.scan(buf, true, out);
    this.finish(EMPTY, 0, 0, out);
    const cur = this.cur;
    cur.state = NORMAL;
    cur.strReturn = NORMAL;
    cur.escPending = false;
    this.atStart = true;
  }

  private scan(buf: Buffer, final: boolean, out: Out): void {
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

    const cur = this.cur;
    cur.begin(buf, final, i);
    if (cur.escPending && len > 0) {
      // The first byte is the one escaped by the backslash that ended the last chunk.
      cur.escPending = false;
      cur.i = 1;
    }
    while (cur.i < len && this.step(cur, out));
    this.carry = cur.end();
  }

  private step(cur: Cursor, out: Out): boolean {
    switch (cur.state) {
      case NORMAL:
        return this.scanCode(cur, out);
      case SQ:
      case DQ:
        return skipQuoted(cur);
      case BT:
        return skipBackquoted(cur);
      case EXEC:
        return scanExecutableComment(cur);
      case HINT:
      case BLOCK:
        return skipBlockComment(cur);
      case LINE:
        return skipLineComment(cur);
      default:
        throw new Error(`statement splitter: bad state ${cur.state}`);
    }
  }

  /** Outside strings and comments: up to the next byte that needs a closer look, and that byte. */
  private scanCode(cur: Cursor, out: Out): boolean {
    const { buf, len } = cur;
    let i = cur.i;
    if (!cur.hasContent) {
      // Start of a statement: drop leading whitespace, look for DELIMITER.
      while (i < len && WS[buf[i]!] === 1) i++;
      cur.keepFrom = i;
      if (i >= len) return false;
      const c0 = buf[i]!;
      if ((c0 | 0x20) === 0x64 /* d */) {
        const r = this.delimiter.command(buf, i, cur.final, true);
        if (r === NEED_MORE) return cur.carryFrom(i);
        if (r >= 0) {
          cur.i = r;
          cur.keepFrom = r;
          return true;
        }
      }
      if (this.delimiter.table[c0] === 0) {
        cur.hasContent = true;
        i++;
      }
    }

    const table = this.delimiter.table;
    while (i < len && table[buf[i]!] === 0) i++;
    if (i >= len) return false;
    cur.i = i;
    const c = buf[i]!;

    const delimiter = this.delimiter.bytes;
    if (c === delimiter[0]) {
      const m = matchAt(buf, i, delimiter, cur.final);
      if (m === NEED_MORE) return cur.carryFrom(i);
      if (m === 1) return this.endStatement(cur, i + delimiter.length, out);
    }

    switch (c) {
      case 0x27: // '
      case 0x22: // "
      case 0x60: // `
        return openQuote(cur, c, NORMAL);
      case 0x0a: {
        // A line starting with a DELIMITER command ends the unfinished statement.
        const r = this.delimiter.commandOnNextLine(buf, i, cur.final);
        if (r === NEED_MORE) return cur.carryFrom(i);
        if (r >= 0) return this.endStatement(cur, r, out);
        cur.i = i + 1;
        return true;
      }
      case 0x23:
        return atHash(cur);
      case 0x2d:
        return atDash(cur);
      case 0x2f:
        return atSlash(cur);
      default:
        // The delimiter's first byte, but not the whole delimiter.
        return cur.keepByte();
    }
  }

  /** The statement ends at `cur.i`; the next one starts at `next`. */
  private endStatement(cur: Cursor, next: number, out: Out): true {
    this.finish(cur.buf, cur.keepFrom, cur.i, out);
    cur.i = next;
    cur.keepFrom = next;
    return true;
  }

  /** Ends the current statement (its last kept bytes are `buf[from, to)`) and emits it if not blank. */
  private finish(buf: Buffer, from: number, to: number, out: Out): void {
    const cur = this.cur;
    const pieces = cur.pieces;
    if (!cur.hasContent) {
      pieces.length = 0;
      return;
    }
    cur.hasContent = false;
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
      cur.pieces = [];
      s = 0;
      e = whole.length;
    }
    while (s < e && WS[whole[s]!] === 1) s++;
    while (e > s && WS[whole[e - 1]!] === 1) e--;
    if (e > s) out(whole.toString(this.encoding, s, e), whole.subarray(s, e));
  }
}
