/**
 * The statement delimiter and the client's `DELIMITER xyz` command, which switches it
 * (multi-character delimiters are fine) and is not itself a statement. It is recognised where a
 * statement starts and, like the client does, at the start of a line inside an unfinished
 * statement, which then ends there.
 */
import { Buffer } from 'node:buffer';
import { NEED_MORE, NO_MATCH, WS } from './cursor.js';

const DELIMITER_WORD = Buffer.from('delimiter');

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

export class Delimiter {
  bytes: Buffer = Buffer.from(';');
  /** 1 for the bytes the scanner must stop at outside strings and comments. */
  table: Uint8Array = buildTable(this.bytes);

  /**
   * A `DELIMITER xyz` command at `buf[i]`? If so, switches to the new
   * delimiter and returns the index after its line; otherwise NO_MATCH, or
   * NEED_MORE. At the start of a statement a bare `DELIMITER` is an error;
   * inside a statement the word must be followed by a space or tab to count.
   */
  command(buf: Buffer, i: number, final: boolean, statementStart: boolean): number {
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
    this.bytes = delimiter;
    this.table = buildTable(delimiter);
    return nl < len ? nl + 1 : len;
  }

  /**
   * At the newline `buf[i]` inside a statement: does the next line start with a DELIMITER
   * command? Returns what command() does.
   */
  commandOnNextLine(buf: Buffer, i: number, final: boolean): number {
    const len = buf.length;
    let j = i + 1;
    while (j < len && (buf[j] === 0x20 || buf[j] === 0x09 || buf[j] === 0x0d)) j++;
    if (j >= len && !final) return NEED_MORE;
    if (j < len && (buf[j]! | 0x20) === 0x64 /* d */) return this.command(buf, j, final, false);
    return NO_MATCH;
  }
}
