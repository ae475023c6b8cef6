/**
 * Finding the 7-Zip binary and running it.
 *
 * Every 7-Zip process of the archive layer is started by `startSevenZip` here, so they all share:
 * - `LC_ALL=C.UTF-8`: p7zip 16.02 under the C locale stores non-ASCII names byte by byte
 *   (`заказы.sql` becomes mojibake); 7-Zip 26 is UTF-8 either way. It also keeps messages parseable.
 * - no idle stdin: stdin is either `ignore` (/dev/null) or the data pipe of `-si`, so a password
 *   prompt can only ever read EOF (or data) and fail, never wait for a human.
 * - not detached: a Ctrl-C or a SIGTERM sent to our process group reaches 7-Zip too, which then
 *   aborts ("Break signaled") instead of seeing EOF on `-si` and committing a truncated entry.
 * - a process `exit` hook that SIGKILLs any 7-Zip still running, for the same reason.
 * - a lower CPU priority than the service's own (niceness 10 higher).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getPriority, setPriority } from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

let cachedBinary: { key: string | undefined; bin: string } | undefined;

/**
 * The 7-Zip binary to run: `SEVENZIP_BIN` if set (a path, or a command name looked up on PATH; it
 * must exist and be executable), else the system's 7-Zip (`7zz`, `7za`, `7z` on PATH), else the
 * p7zip 16.02 bundled by 7zip-bin (made executable if the install lost its exec bit).
 * Cached per value of `SEVENZIP_BIN`.
 */
export function sevenZipBinary(): string {
  const key = nonEmpty(process.env['SEVENZIP_BIN']);
  if (cachedBinary !== undefined && cachedBinary.key === key) return cachedBinary.bin;
  const bin = key !== undefined ? fromEnv(key) : (findOnPath(['7zz', '7za', '7z']) ?? bundled());
  cachedBinary = { key, bin };
  return bin;
}

function fromEnv(value: string): string {
  if (!value.includes('/')) {
    const found = findOnPath([value]);
    if (found === undefined) throw new Error(`SEVENZIP_BIN=${value}: no executable of that name on PATH`);
    return found;
  }
  const abs = path.resolve(value);
  let isFile: boolean;
  try {
    isFile = statSync(abs).isFile();
  } catch {
    throw new Error(`SEVENZIP_BIN=${value}: no such file`);
  }
  if (!isFile) throw new Error(`SEVENZIP_BIN=${value}: not a regular file`);
  if (!isExecutable(abs)) throw new Error(`SEVENZIP_BIN=${value}: not executable (chmod +x it)`);
  return abs;
}

function findOnPath(names: string[]): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.resolve(dir, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

function bundled(): string {
  let p: string;
  try {
    p = (require('7zip-bin') as { path7za: string }).path7za;
  } catch (err) {
    throw new Error(`no 7-Zip found: none of 7zz, 7za, 7z is on PATH and 7zip-bin cannot be loaded (${String(err)})`);
  }
  if (!path.isAbsolute(p)) {
    // 7zip-bin returns a bare "7za" when USE_SYSTEM_7ZA=true.
    const found = findOnPath([p]);
    if (found === undefined) throw new Error(`no 7-Zip found: 7zip-bin points at "${p}", which is not on PATH`);
    return found;
  }
  try {
    if (!statSync(p).isFile()) throw new Error('not a file');
  } catch {
    throw new Error(`no 7-Zip found: not on PATH, and 7zip-bin's binary ${p} is missing (unsupported platform?)`);
  }
  if (!isExecutable(p)) {
    try {
      chmodSync(p, statSync(p).mode | 0o111);
    } catch (err) {
      throw new Error(`7zip-bin's binary ${p} is not executable and chmod failed: ${String(err)}`);
    }
  }
  return p;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function isExecutableFile(p: string): boolean {
  try {
    return statSync(p).isFile() && isExecutable(p);
  } catch {
    return false;
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

/**
 * A one-line version for logs, e.g. `7-Zip (z) 26.02 (x64)` or
 * `7-Zip (a) [64] 16.02 (p7zip Version 16.02)`.
 */
export async function sevenZipVersion(bin: string): Promise<string> {
  // With no arguments 7-Zip prints its banner and usage, and exits 0.
  const run = startSevenZip(bin, [], { stdout: 'collect' });
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 10_000);
  const exit = await run.done.finally(() => clearTimeout(timer));
  const lines = exit.stdout.split(/\r?\n/).map((l) => l.trim());
  const banner = lines.find((l) => /^7-Zip\b/.test(l));
  if (banner === undefined) throw new SevenZipError('print its version', exit);
  const version = banner.split(' : ')[0]?.trim() ?? banner;
  const p7zip = lines.find((l) => l.startsWith('p7zip Version'))?.match(/^p7zip Version \S+/)?.[0];
  return p7zip === undefined ? version : `${version} (${p7zip})`;
}

/**
 * Whether this 7-Zip reads a password from stdin: 7-Zip 23 and later do; p7zip 16.02 reads it
 * from /dev/tty only (a service has none), so it cannot make or open encrypted archives here.
 */
export function readsPasswordFromStdin(version: string): boolean {
  if (/p7zip/i.test(version)) return false;
  const major = /^7-Zip\b.*?\b(\d+)\.\d+\b/.exec(version)?.[1];
  return major !== undefined && Number(major) >= 23;
}

// ---------------------------------------------------------------------------------------------
// Running 7-Zip (internal to src/archive)

export interface SevenZipExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** At most STDERR_LIMIT characters. */
  stderr: string;
  /** Only with `stdout: 'collect'`. */
  stdout: string;
}

export interface SevenZipRun {
  child: ChildProcess;
  /** Settles when the process has exited and its stdio closed; rejects only if it could not be spawned. */
  done: Promise<SevenZipExit>;
}

export interface StartOptions {
  /** `pipe` for `-si`; otherwise stdin is /dev/null so a password prompt reads EOF. */
  stdin?: 'ignore' | 'pipe';
  /** `pipe`: the caller reads child.stdout; `collect`: gathered into `SevenZipExit.stdout`. */
  stdout?: 'ignore' | 'pipe' | 'collect';
  /**
   * Written to 7-Zip's stdin, which is then closed: 7-Zip 23+ reads a password there when `-p`
   * has no value (`a`) or an archive asks for one (`l`, `t`, `x` without `-p`). Never in argv or
   * the environment. Not with `stdin: 'pipe'`, whose data would be read as the password.
   */
  password?: string;
}

const STDERR_LIMIT = 64 * 1024;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** @internal Spawn 7-Zip with `args` (no shell). */
export function startSevenZip(bin: string, args: string[], options: StartOptions = {}): SevenZipRun {
  const stdoutMode = options.stdout ?? 'ignore';
  if (options.password !== undefined && options.stdin === 'pipe') throw new Error('7-Zip reads a password and -si data from the same stdin: not both');
  const child = spawn(bin, args, {
    stdio: [options.password !== undefined ? 'pipe' : (options.stdin ?? 'ignore'), stdoutMode === 'ignore' ? 'ignore' : 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
    windowsHide: true,
  });
  track(child);
  lowerPriority(child);
  if (options.password !== undefined) {
    // EPIPE when 7-Zip exits without reading it; its exit code says why.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(`${options.password}\n`);
  }
  let stderr = '';
  let stdout = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk.slice(0, STDERR_LIMIT - stderr.length);
  });
  if (stdoutMode === 'collect') {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      stdout += chunk;
    });
  }
  const done = new Promise<SevenZipExit>((resolve, reject) => {
    child.once('error', (err) => {
      live.delete(child);
      reject(new Error(`cannot run 7-Zip (${bin}): ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal, stderr, stdout });
    });
  });
  return { child, done };
}

/**
 * 7-Zip runs at a lower CPU priority than the service: compression and extraction are the bulk
 * of a job's CPU, and on a busy machine the replies to requests must not queue behind them. On an
 * idle machine a job runs as fast as before (niceness only matters when the cores are contended).
 */
const SEVENZIP_NICENESS_ADDED = 10;

function lowerPriority(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    setPriority(child.pid, Math.min(19, getPriority() + SEVENZIP_NICENESS_ADDED));
  } catch {
    // It exited already, or the system refuses: it runs at our priority.
  }
}

function track(child: ChildProcess): void {
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      // A 7-Zip reading `-si` that outlives us would see EOF and store a truncated entry.
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

const EXIT_CODES: Record<number, string> = {
  1: 'warning (non-fatal error)',
  2: 'fatal error',
  7: 'command line error',
  8: 'not enough memory',
  255: 'stopped (signal or user break)',
};

/** How 7-Zip ended, in words: `fatal error (exit 2)`, `killed by SIGKILL`. */
function describeExit(exit: Pick<SevenZipExit, 'code' | 'signal'>): string {
  if (exit.signal !== null) return `killed by ${exit.signal}`;
  const code = exit.code ?? -1;
  return `${EXIT_CODES[code] ?? 'unknown exit code'} (exit ${code})`;
}

export class SevenZipError extends Error {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** The gist of 7-Zip's ERROR/WARNING lines, '' if none. */
  readonly detail: string;

  /** `omit`: stderr lines not worth repeating, such as the archive path already named in `action`. */
  constructor(action: string, exit: Pick<SevenZipExit, 'code' | 'signal' | 'stderr'>, omit: string[] = []) {
    const detail = summarizeStderr(exit.stderr, { omit });
    super(`7-Zip failed to ${action}: ${describeExit(exit)}${detail === '' ? '' : `: ${detail}`}`);
    this.name = 'SevenZipError';
    this.exitCode = exit.code;
    this.signal = exit.signal;
    this.stderr = exit.stderr;
    this.detail = detail;
  }
}

/**
 * One line out of 7-Zip's stderr: the text of `ERROR:`, `Open ERROR:`, `System ERROR:`,
 * `Command Line Error:`, `ERRORS:` and `WARNINGS:` blocks (a header's own text and the lines
 * under it up to a blank line), deduplicated, without the `omit` lines (e.g. the archive's path).
 * Falls back to the last stderr lines.
 * Example: `trunc.7z; Cannot open the file as [7z] archive; Unexpected end of archive`.
 */
export function summarizeStderr(stderr: string, options: { omit?: string[]; maxParts?: number } = {}): string {
  const omit = options.omit ?? [];
  const maxParts = options.maxParts ?? 6;
  const lines = stderr.split(/\r?\n|\r/).map((l) => l.replace(/^Enter password \(will not be echoed\):\s*/, '').trim());
  const parts: string[] = [];
  const add = (raw: string): void => {
    let text = raw;
    // `ERROR: /x/a.7z : Cannot open encrypted archive...` names the archive first.
    for (const o of omit) if (text.startsWith(`${o} : `)) text = text.slice(o.length + 3);
    if (text !== '' && !parts.includes(text) && !omit.includes(text)) parts.push(text);
  };
  // Case-sensitive: 7-Zip's headers are upper case; `Errors: 1` is a counter in list output.
  const header = /^(?:(?:Open|System) )?(?:ERRORS?|WARNINGS?|Command Line Error)\s*:\s*(.*)$/;
  let inBlock = false;
  for (const line of lines) {
    const m = header.exec(line);
    if (m !== null) {
      inBlock = true;
      add(m[1] ?? '');
    } else if (line === '') {
      inBlock = false;
    } else if (inBlock) {
      add(line);
    }
  }
  if (parts.length === 0) {
    for (const line of lines.filter((l) => l !== '').slice(-3)) add(line);
  }
  const shown = parts.slice(0, maxParts);
  const more = parts.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; (+${more} more)` : '');
}
