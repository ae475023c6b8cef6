/**
 * Comments: plain ones (`-- `, `#`, `/* *\/`) are dropped; executable comments (`/*!...*\/`,
 * `/*M!...*\/`) and optimizer hints (`/*+ ...*\/`) are kept because the server interprets them;
 * MariaDB's sandbox-mode line (`/*M!999999\- ... *\/`) is a client command and is dropped. A
 * delimiter inside a comment does not end a statement.
 */
import { Buffer } from 'node:buffer';
import { BLOCK, type Cursor, EXEC, HINT, LINE, matchAt, NEED_MORE, NORMAL, WS } from './cursor.js';
import { openQuote } from './quoted.js';

const SPACE = Buffer.from(' ');
const STAR_SLASH = Buffer.from('*/');
/** What follows `/*M!` in MariaDB's sandbox-mode line. */
const SANDBOX_TAIL = Buffer.from('999999\\-');

/** A dropped comment of `state` starts at `i`, its opening `length` bytes long. */
function dropComment(cur: Cursor, state: number, length: number): true {
  const i = cur.i;
  if (cur.keepFrom < i) cur.pieces.push(cur.buf.subarray(cur.keepFrom, i));
  cur.keepFrom = -1;
  cur.state = state;
  cur.i = i + length;
  return true;
}

/** A kept comment of `state` starts at `i`, its opening `length` bytes long. */
function keepComment(cur: Cursor, state: number, length: number): true {
  cur.state = state;
  cur.hasContent = true;
  cur.i += length;
  return true;
}

/** At `#`. */
export function atHash(cur: Cursor): true {
  return dropComment(cur, LINE, 1);
}

/** At `-`: a "-- " comment is two dashes followed by whitespace or the end of the input. */
export function atDash(cur: Cursor): boolean {
  const { buf, len, final, i } = cur;
  if (i + 1 >= len) {
    if (!final) return cur.carryFrom(i);
  } else if (buf[i + 1] === 0x2d) {
    let comment: boolean;
    if (i + 2 >= len) {
      if (!final) return cur.carryFrom(i);
      comment = true;
    } else {
      comment = WS[buf[i + 2]!] === 1;
    }
    if (comment) return dropComment(cur, LINE, 2);
  }
  return cur.keepByte();
}

/** At `/`: "/*" opens a comment, kept when executable ("/*!", "/*M!") or a hint ("/*+"). */
export function atSlash(cur: Cursor): boolean {
  const { buf, len, final, i } = cur;
  if (i + 1 >= len) {
    if (!final) return cur.carryFrom(i);
    return cur.keepByte();
  }
  if (buf[i + 1] !== 0x2a) return cur.keepByte();
  if (i + 2 >= len && !final) return cur.carryFrom(i);
  const c2 = i + 2 < len ? buf[i + 2]! : -1;
  if (c2 === 0x21 /* ! */) return keepComment(cur, EXEC, 3);
  if (c2 === 0x2b /* + */) return keepComment(cur, HINT, 3);
  if (c2 === 0x4d /* M */) {
    if (i + 3 >= len && !final) return cur.carryFrom(i);
    if (i + 3 < len && buf[i + 3] === 0x21 /* ! */) {
      const m = matchAt(buf, i + 4, SANDBOX_TAIL, final);
      if (m === NEED_MORE) return cur.carryFrom(i);
      if (m !== 1) return keepComment(cur, EXEC, 4);
      // MariaDB's sandbox-mode command: drop it like a plain comment.
    }
  }
  return dropComment(cur, BLOCK, 2);
}

/** In an executable comment: up to its end, through the strings in it. */
export function scanExecutableComment(cur: Cursor): boolean {
  const { buf, len } = cur;
  let i = cur.i;
  while (i < len) {
    const c = buf[i]!;
    if (c === 0x2a || c === 0x27 || c === 0x22 || c === 0x60) break;
    i++;
  }
  if (i >= len) return false;
  const c = buf[i]!;
  if (c === 0x2a /* * */) {
    if (i + 1 >= len) {
      if (cur.final) {
        cur.i = i + 1;
        return true;
      }
      return cur.carryFrom(i);
    }
    if (buf[i + 1] === 0x2f) {
      cur.i = i + 2;
      cur.state = NORMAL;
    } else {
      cur.i = i + 1;
    }
    return true;
  }
  cur.i = i;
  return openQuote(cur, c, EXEC);
}

/** In an optimizer hint or a plain block comment: up to and past the closing star-slash. */
export function skipBlockComment(cur: Cursor): boolean {
  const { buf, len, i } = cur;
  const e = buf.indexOf(STAR_SLASH, i);
  if (e < 0) {
    if (!cur.final && len - 1 >= i && buf[len - 1] === 0x2a) cur.carryFrom(len - 1);
    return false;
  }
  cur.i = e + 2;
  if (cur.state === BLOCK) {
    cur.keepFrom = cur.i;
    // The comment separated two tokens; keep them apart.
    if (cur.hasContent) cur.pieces.push(SPACE);
  }
  cur.state = NORMAL;
  return true;
}

/** In a line comment: up to the newline, which is kept (a DELIMITER command may start the next line). */
export function skipLineComment(cur: Cursor): boolean {
  const nl = cur.buf.indexOf(0x0a, cur.i);
  if (nl < 0) return false;
  cur.i = nl;
  cur.keepFrom = nl;
  cur.state = NORMAL;
  return true;
}
