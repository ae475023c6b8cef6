/**
 * Checking a 7z archive and streaming one entry out of it.
 *
 * Every read passes `-p` with an empty password: 7-Zip then treats an encrypted archive as
 * "Wrong password?" at once instead of prompting (both 7-Zip 26 and p7zip 16.02), and stdin is
 * /dev/null besides. `-t7z` refuses anything that is not a 7z archive (a zip renamed .7z), `-spd`
 * disables wildcards in the archive path and entry name, `--` ends the switches.
 *
 * node-7z is not used here: its list parser rewrites names through normalize-path (`a\b.sql`
 * becomes `a/b.sql`, `//` collapses) and trims them, and it neither reports the exit code nor
 * closes stdin. The `-slt` output is parsed here, as `key = value` lines, which both 7-Zip 26 and
 * p7zip 16.02 print the same way.
 */
import type { ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { NotFoundError } from '../errors.js';
import { assertEntryName } from './entry-name.js';
import { SevenZipError, sevenZipBinary, startSevenZip, summarizeStderr, type SevenZipExit } from './sevenzip.js';

export interface ArchiveEntry {
  name: string;
  size: number;
  /** CRC32 of the entry's bytes as the header records it (8 hex digits, upper case), when it has one. */
  crc?: string;
}

export type Inspection =
  | {
      ok: true;
      entries: ArchiveEntry[];
      /** Set for an encrypted archive: which of the given passwords opened it (its index, never the password). */
      password?: number;
    }
  | { ok: false; reason: string };

export interface InspectOptions {
  /** false: the header listing only, no decompression. */
  test?: boolean;
  /** Passwords to try, in order, on an encrypted archive (fed on stdin: 7-Zip 23+). */
  passwords?: readonly string[];
}

/** The reason of an Inspection for an encrypted archive. */
export const ENCRYPTED = 'encrypted';

class EntryNotFoundError extends NotFoundError {
  readonly code = 'ENTRY_NOT_FOUND';
  constructor(
    readonly archivePath: string,
    readonly entryName: string,
  ) {
    super(`entry ${JSON.stringify(entryName)} not found in ${archivePath}`);
    this.name = 'EntryNotFoundError';
  }
}

const READ_SWITCHES = ['-t7z', '-spd', '-p', '-y', '-bsp0'];
const ENCRYPTED_MESSAGE = /wrong password|encrypted archive|encrypted file/i;

/**
 * Test every CRC (7z t) and list the entries (files only, not dirs). Never prompts: an encrypted
 * archive (content or header encryption) is { ok:false, reason:'encrypted' }; missing file, not a
 * 7z, truncated/corrupt, trailing garbage -> ok:false with a one-line reason.
 * Throws only when 7-Zip itself cannot be run properly (not found, out of memory, killed).
 */
export async function inspectArchive(archivePath: string, options: InspectOptions = {}): Promise<Inspection> {
  const plain = await inspectWith(archivePath, options.test, undefined);
  if (plain.ok || plain.reason !== ENCRYPTED) return plain;
  const passwords = options.passwords ?? [];
  for (const [index, password] of passwords.entries()) {
    const opened = await inspectWith(archivePath, options.test, password);
    if (opened.ok) return { ...opened, password: index };
    if (opened.reason !== ENCRYPTED) return opened;
  }
  return passwords.length === 0 ? plain : { ok: false, reason: `${ENCRYPTED}: none of the ${passwords.length} configured password(s) opens it` };
}

/** The listing and (unless `test` is false) the test, with no password or with `password` on stdin. */
async function inspectWith(archivePath: string, test: boolean | undefined, password: string | undefined): Promise<Inspection> {
  const abs = path.resolve(archivePath);
  try {
    if (!(await stat(abs)).isFile()) return { ok: false, reason: `not a regular file: ${abs}` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? `archive not found: ${abs}` : `cannot read ${abs}: ${code ?? String(err)}` };
  }
  const bin = sevenZipBinary();
  const omit = [abs, path.basename(abs)];

  // 1. The listing: reads the headers only, so a header-encrypted or non-7z file fails fast.
  const switches = readSwitches(password);
  const list = await startSevenZip(bin, ['l', '-slt', ...switches, '--', abs], { stdout: 'collect', password }).done;
  if (list.code !== 0 || list.signal !== null) return failed('list', list, abs, omit);
  const listing = parseTechListing(list.stdout);
  const offset = listing.archive.get('Offset');
  if (offset !== undefined && offset !== '0') {
    // -t7z also finds a 7z archive embedded in another file (an SFX, a zip storing one).
    return { ok: false, reason: `not a 7z archive: 7z data found only at offset ${offset}` };
  }
  if (listing.problems.length > 0) return { ok: false, reason: listing.problems.join('; ') };
  if (password === undefined && listing.items.some((item) => item.get('Encrypted') === '+')) return { ok: false, reason: ENCRYPTED };
  const entries: ArchiveEntry[] = [];
  for (const item of listing.items) {
    if (isDirectory(item)) continue;
    const name = item.get('Path') ?? '';
    const size = Number(item.get('Size'));
    if (name === '' || item.get('Size') === '' || !Number.isSafeInteger(size) || size < 0) {
      return { ok: false, reason: `unexpected 7-Zip listing for entry ${JSON.stringify(name)}` };
    }
    const crc = item.get('CRC');
    entries.push({ name, size, ...(crc && { crc: crc.toUpperCase() }) });
  }

  // 2. The test: decompresses every block and checks every CRC. Skipped (test: false) where the
  //    caller only needs the names and will read the entries anyway (extraction checks CRCs too).
  if (test === false) return { ok: true, entries };
  const tested = await startSevenZip(bin, ['t', ...switches, '-bso0', '--', abs], { password }).done;
  if (tested.code !== 0 || tested.signal !== null) return failed('test', tested, abs, omit);
  return { ok: true, entries };
}

/** `-p` with no value means "no password" (fail at once); with one, 7-Zip asks and reads stdin. */
function readSwitches(password: string | undefined): string[] {
  return password === undefined ? READ_SWITCHES : READ_SWITCHES.filter((s) => s !== '-p');
}

function failed(action: string, exit: SevenZipExit, abs: string, omit: string[]): Inspection {
  if (exit.signal !== null || (exit.code !== 1 && exit.code !== 2)) {
    // Command line error, out of memory, killed: not a verdict on the archive.
    throw new SevenZipError(`${action} ${abs}`, exit, omit);
  }
  if (ENCRYPTED_MESSAGE.test(exit.stderr)) return { ok: false, reason: ENCRYPTED };
  const detail = summarizeStderr(exit.stderr, { omit });
  return { ok: false, reason: `${action} failed${detail === '' ? ` (exit ${exit.code})` : `: ${detail}`}` };
}

interface TechListing {
  /** The archive's own properties (Path, Type, Offset, Physical Size, Solid, Blocks...). */
  archive: Map<string, string>;
  items: Map<string, string>[];
  /** ERRORS/WARNINGS that 7-Zip reported in the listing although it exited 0 (e.g. data after the end). */
  problems: string[];
}

/**
 * `7z l -slt` prints the archive's properties, a `----------` line, then one block of
 * `Key = value` lines per item (starting with `Path = `), blocks separated by blank lines.
 * Values are taken verbatim up to the end of the line (names may hold spaces, ` = `, trailing spaces).
 */
export function parseTechListing(stdout: string): TechListing {
  const lines = stdout.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const separator = lines.indexOf('----------');
  const problems: string[] = [];
  // Archive properties: only ERRORS:/WARNINGS: blocks matter (their lines have no " = ").
  const headerEnd = separator === -1 ? lines.length : separator;
  const archive = new Map<string, string>();
  let block: string | undefined;
  for (const line of lines.slice(0, headerEnd)) {
    const kv = splitProperty(line);
    if (kv !== undefined && !archive.has(kv[0])) archive.set(kv[0], kv[1]);
    const m = /^(?:Open )?(ERRORS?|WARNINGS?):\s*(.*)$/.exec(line);
    if (m !== null) {
      block = m[1]?.startsWith('ERROR') === true ? 'error' : 'warning';
      if (m[2] !== undefined && m[2] !== '') problems.push(`${block}: ${m[2]}`);
    } else if (block !== undefined && line !== '' && !line.includes(' = ')) {
      problems.push(`${block}: ${line.trim()}`);
    } else {
      block = undefined;
    }
  }
  const items: Map<string, string>[] = [];
  let current: Map<string, string> | undefined;
  for (const line of separator === -1 ? [] : lines.slice(separator + 1)) {
    if (line === '') {
      current = undefined;
      continue;
    }
    const kv = splitProperty(line);
    if (kv === undefined) {
      // Outside a block: the footer. `Errors: 1` / `Warnings: 1` mean trouble already described above or not.
      const counter = /^(Errors|Warnings): (\d+)$/.exec(line);
      if (current === undefined && counter !== null && counter[2] !== '0') {
        const what = `${counter[1]?.toLowerCase()}: ${counter[2]}`;
        if (problems.length === 0) problems.push(`7-Zip reported ${what}`);
      }
      continue;
    }
    const [key, value] = kv;
    if (key === 'Path' || current === undefined) {
      current = new Map();
      items.push(current);
    }
    current.set(key, value);
  }
  return { archive, items, problems };
}

function splitProperty(line: string): [string, string] | undefined {
  const i = line.indexOf(' = ');
  if (i > 0) return [line.slice(0, i), line.slice(i + 3)];
  if (line.endsWith(' =')) return [line.slice(0, -2), ''];
  return undefined;
}

function isDirectory(item: Map<string, string>): boolean {
  if (item.get('Folder') === '+') return true;
  // 7-Zip 26: `D drwxr-xr-x`; p7zip 16.02: `D_ drwxr-xr-x`; files: `A -rw-r--r--`, `A_ ...`, or empty.
  const attributes = (item.get('Attributes') ?? '').split(' ');
  return attributes.some((a) => /^[A-Z_]*D[A-Z_]*$/.test(a) || /^d[rwxsStT-]{9}$/.test(a));
}

/**
 * Stream one entry's bytes out with `7z x -so` (no extraction to disk). The Readable errors if
 * 7-Zip exits non-zero, if the entry does not exist (7-Zip itself exits 0 with empty output then),
 * or if the name matches something other than exactly one file. Destroying the Readable kills 7-Zip.
 * The data is only known to be intact (CRC checked) when the stream ends without error.
 */
export function extractEntry(archivePath: string, entryName: string, password?: string): Readable {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  let child: ChildProcess | undefined;
  out.once('close', () => {
    // The consumer gave up early: nothing of ours is left to finish.
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.stdout?.destroy();
      child.kill('SIGKILL');
    }
  });
  const run = async (): Promise<void> => {
    assertEntryName(entryName);
    const abs = path.resolve(archivePath);
    try {
      await stat(abs);
    } catch {
      throw new Error(`archive not found: ${abs}`);
    }
    const bin = sevenZipBinary();
    if (out.destroyed) return;
    // -bso2 -bb1: the report, one "- <name>" line per extracted item, goes to stderr (stdout carries the data).
    const started = startSevenZip(bin, ['x', '-so', ...readSwitches(password), '-bso2', '-bb1', `-i!${entryName}`, '--', abs], { stdout: 'pipe', password });
    child = started.child;
    child.stdout?.pipe(out, { end: false });
    const exit = await started.done;
    if (out.destroyed) return;
    const omit = [abs, path.basename(abs)];
    if (exit.code !== 0 || exit.signal !== null) {
      if (ENCRYPTED_MESSAGE.test(exit.stderr)) throw new Error(`cannot extract ${JSON.stringify(entryName)}: ${abs} is encrypted`);
      throw new SevenZipError(`extract ${JSON.stringify(entryName)} from ${abs}`, exit, omit);
    }
    const extracted = exit.stderr.split('\n').filter((l) => l.startsWith('- '));
    if (extracted.length === 0 || /^No files to process$/m.test(exit.stderr)) throw new EntryNotFoundError(abs, entryName);
    if (extracted.length !== 1 || extracted[0] !== `- ${entryName}`) {
      throw new Error(`${JSON.stringify(entryName)} in ${abs} is not a single file (7-Zip extracted ${extracted.length} items)`);
    }
    out.end();
  };
  run().catch((err: unknown) => {
    out.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return out;
}
