/**
 * What the statement scanner knows: the scanner state that carries over from chunk to chunk, and
 * its position in the chunk being scanned. The scanning steps (quoted.ts, comments.ts, the
 * scanner's own code step) each read and advance one Cursor.
 *
 * A step returns true to go on scanning the chunk, false to stop: the chunk is used up, or a
 * token at `carryPos` cannot be decided without the next chunk.
 */
import { Buffer } from 'node:buffer';

// Scanner states.
export const NORMAL = 0;
/** In '...'. */
export const SQ = 1;
/** In "...". */
export const DQ = 2;
/** In `...`. */
export const BT = 3;
/** In an executable comment (kept): strings are tracked, the delimiter is not. */
export const EXEC = 4;
/** In an optimizer hint (kept): opaque up to the closing star-slash. */
export const HINT = 5;
/** In a `-- ` or `#` comment (dropped) up to the end of the line. */
export const LINE = 6;
/** In a plain block comment (dropped). */
export const BLOCK = 7;

/** Result of a look-ahead that ran out of bytes before it could decide. */
export const NEED_MORE = -2;
/** Result of a look-ahead that did not match. */
export const NO_MATCH = -1;

export const EMPTY = Buffer.alloc(0);
const NO_WORDS: Int32Array = new Int32Array(0);

/** 1 for the bytes the client counts as whitespace. */
export const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]) WS[c] = 1;

/**
 * Does `pattern` occur at `buf[at]`? Returns 1, NO_MATCH, or NEED_MORE when
 * the buffer ends while the bytes so far match (only when not `final`).
 */
export function matchAt(buf: Buffer, at: number, pattern: Buffer, final: boolean): number {
  const len = buf.length;
  const n = pattern.length;
  for (let k = 0; k < n; k++) {
    if (at + k >= len) return final ? NO_MATCH : NEED_MORE;
    if (buf[at + k] !== pattern[k]) return NO_MATCH;
  }
  return 1;
}

export class Cursor {
  state = NORMAL;
  /** The state a string returns to when it closes (NORMAL or EXEC). */
  strReturn = NORMAL;
  /** Whether the current statement has anything besides whitespace and dropped comments. */
  hasContent = false;
  /** A backslash ended the previous chunk inside a string: the next byte is escaped. */
  escPending = false;
  /** Kept bytes of the current statement seen so far (slices of earlier chunks). */
  pieces: Buffer[] = [];

  /** The chunk being scanned (with any carried-over bytes in front). */
  buf: Buffer = EMPTY;
  len = 0;
  /** No more input follows this chunk: look-aheads decide on what there is. */
  final = false;
  i = 0;
  /** Where the kept bytes of this chunk start, or -1 inside a dropped comment. */
  keepFrom = 0;
  /** Where the undecided token that is carried to the next chunk starts, or -1. */
  carryPos = -1;

  // A 32-bit view of the 4-byte-aligned middle of buf, for skipping through strings.
  words = NO_WORDS;
  wordsFrom = 0;
  wordsTo = 0;

  /** Starts on a chunk at `buf[i]`. */
  begin(buf: Buffer, final: boolean, i: number): void {
    const len = buf.length;
    this.buf = buf;
    this.len = len;
    this.final = final;
    this.i = i;
    this.keepFrom = this.state === LINE || this.state === BLOCK ? -1 : i;
    this.carryPos = -1;
    const wordsFrom = (4 - (buf.byteOffset & 3)) & 3;
    const wordCount = len > wordsFrom ? (len - wordsFrom) >> 2 : 0;
    this.words = wordCount > 0 ? new Int32Array(buf.buffer, buf.byteOffset + wordsFrom, wordCount) : NO_WORDS;
    this.wordsFrom = wordsFrom;
    this.wordsTo = wordsFrom + wordCount * 4;
  }

  /** Done with the chunk: keeps its last kept bytes; returns the bytes to carry over, if any. */
  end(): Buffer | null {
    const { buf, keepFrom, carryPos } = this;
    const stop = carryPos >= 0 ? carryPos : this.len;
    if (keepFrom >= 0 && keepFrom < stop) this.pieces.push(buf.subarray(keepFrom, stop));
    this.buf = EMPTY;
    this.words = NO_WORDS;
    return carryPos >= 0 ? buf.subarray(carryPos) : null;
  }

  /** Stops the chunk: the token from `pos` on is scanned again with the next chunk. */
  carryFrom(pos: number): false {
    this.carryPos = pos;
    return false;
  }

  /** The byte at `i` is part of the statement. */
  keepByte(): true {
    this.hasContent = true;
    this.i++;
    return true;
  }
}
