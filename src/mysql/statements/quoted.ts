/**
 * Quoted strings and identifiers: '...' and "..." (backslash escapes the next byte, doubled
 * quotes work because they scan as two adjacent strings) and `...` (no backslash escapes). A
 * delimiter inside them does not end a statement.
 */
import { BT, type Cursor, DQ, SQ } from './cursor.js';

/** At the opening quote `c` (' " or `): enters the string, which goes back to `returnTo` when it closes. */
export function openQuote(cur: Cursor, c: number, returnTo: number): true {
  cur.state = c === 0x27 ? SQ : c === 0x22 ? DQ : BT;
  cur.strReturn = returnTo;
  cur.hasContent = true;
  cur.i++;
  return true;
}

/** In '...' or "...": up to and past the closing quote. */
export function skipQuoted(cur: Cursor): boolean {
  const { buf, len, words, wordsFrom, wordsTo } = cur;
  const q = cur.state === SQ ? 0x27 : 0x22;
  const qqqq = cur.state === SQ ? 0x27272727 : 0x22222222;
  let i = cur.i;
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
    cur.i = i + 1;
    cur.state = cur.strReturn;
    return true;
  }
  // The chunk ends inside the string, maybe right after a backslash.
  if (i > len) cur.escPending = true;
  return false;
}

/** In `...`: up to and past the closing backtick. */
export function skipBackquoted(cur: Cursor): boolean {
  const e = cur.buf.indexOf(0x60, cur.i);
  if (e < 0) return false;
  cur.i = e + 1;
  cur.state = cur.strReturn;
  return true;
}
