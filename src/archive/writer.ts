/**
 * Writing a 7z archive one entry at a time.
 *
 * Switches used on every `7z a` run:
 * - `-t7z -sae`: always the 7z format, and the archive file gets exactly the given name
 *   (by default 7-Zip appends `.7z` to a name without an extension).
 * - `-ms=off`: non-solid, each entry is its own block, so one table is extracted without
 *   decompressing the others; appending copies the old blocks as they are ("Keep old data").
 * - `-mx=<level>`, `-mmt=on` (or `-mmt=<threads>`); at level 1 also `-m0=LZMA2:mc=4:fb=24` (see
 *   FAST_LZMA2), or `-m0=Deflate` at any level but 0 for the `deflate` method.
 * - `-spd`: no wildcard matching, so `*` and `?` in names and paths are literal.
 * - `-y`, `-bsp0`; without a password no `-p`, and stdin is never an idle pipe (see sevenzip.ts), so
 *   a password prompt fails fast; with one, `-p -mhe=on` and the password on stdin (then closed).
 * - `--` before the archive path and the file paths: nothing after it is read as a switch or @listfile.
 *   The entry name of a stream travels inside `-si<name>`, which takes the rest of the argument literally.
 */
import type { ChildProcess } from 'node:child_process';
import { lstat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import Seven from 'node-7z';
import { assertEntryName } from './entry-name.js';
import { SevenZipError, sevenZipBinary, startSevenZip, type SevenZipExit } from './sevenzip.js';

/** The compression method: 7-Zip's LZMA2 (the default), or Deflate, which decodes about 3× faster. */
export type CompressionMethod = 'lzma2' | 'deflate';

export interface ArchiveWriterOptions {
  /** 0..9, 7-Zip's -mx (0 = store). */
  level: number;
  /** LZMA2 when omitted. */
  method?: CompressionMethod;
  /** 7-Zip's -mmt=<n>; multithreading is on (all cores) when omitted. */
  threads?: number;
  /**
   * Encrypts the archive (AES-256, headers too: `-mhe=on`), the password fed on stdin (7-Zip 23+,
   * see readsPasswordFromStdin). Such an archive takes files only: `-si` data would share stdin.
   */
  password?: string;
}

/** Between SIGTERM and closing `-si`'s pipe: 7-Zip must see the break before it sees EOF. */
const TERM_GRACE_MS = 200;
const KILL_AFTER_MS = 10_000;

type Source = NodeJS.ReadableStream | Readable;

/**
 * Level 1, the default, with fewer match-finder cycles (7-Zip's -mx1 has mc=16, fb=32): on the
 * bench's 80 MB of SQL, 2.2 s of 7-Zip CPU instead of 3.5 s, for an archive 2.8% larger (still
 * 1.24× what the original tool's default level makes). 7-Zip is most of a backup's CPU.
 */
const FAST_LZMA2 = '-m0=LZMA2:mc=4:fb=24';

/** The method switch for a level (none at level 0, which stores). */
function methodArgs(method: CompressionMethod, level: number): string[] {
  if (level === 0) return [];
  if (method === 'deflate') return ['-m0=Deflate'];
  return level === 1 ? [FAST_LZMA2] : [];
}

export class ArchiveWriter {
  readonly archivePath: string;
  private readonly level: number;
  private readonly method: CompressionMethod;
  private readonly threads: number | undefined;
  private readonly password: string | undefined;
  /** Runs one 7-Zip at a time on this archive; calls made meanwhile wait their turn. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopCurrent: ((reason: Error) => void) | undefined;
  private aborted = false;

  constructor(archivePath: string, options: ArchiveWriterOptions) {
    if (!path.isAbsolute(archivePath)) throw new Error(`archive path must be absolute: ${archivePath}`);
    if (!Number.isInteger(options.level) || options.level < 0 || options.level > 9) {
      throw new Error(`compression level must be an integer 0..9, got ${String(options.level)}`);
    }
    if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
      throw new Error(`threads must be a positive integer, got ${String(options.threads)}`);
    }
    this.archivePath = path.normalize(archivePath);
    this.level = options.level;
    this.method = options.method ?? 'lzma2';
    this.threads = options.threads;
    if (options.password !== undefined && (options.password === '' || /[\r\n]/.test(options.password))) {
      throw new Error('an archive password must be non-empty and on one line');
    }
    this.password = options.password;
  }

  /**
   * Stream one entry from a Readable into the archive via `-si<entryName>` (creates the archive or
   * appends to it; an entry of the same name is replaced). Resolves when 7-Zip has exited 0.
   * On failure (source error, source closed early, 7-Zip error, abort) 7-Zip is stopped before it
   * can store a partial entry, a partially written new archive or 7-Zip's `<archive>.tmp` is
   * removed, the source is unpiped (not destroyed: it is the caller's), and the promise rejects.
   */
  addStream(entryName: string, data: Source): Promise<void> {
    try {
      assertEntryName(entryName);
      if (this.password !== undefined) throw new Error('an encrypted archive takes files only: 7-Zip reads its password from the stdin -si would stream from');
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.enqueue(() => this.runStream(entryName, data as NodeJS.ReadableStream));
  }

  /** Add regular files (absolute paths), each stored under its base name, in one 7-Zip run. */
  addFiles(paths: string[]): Promise<void> {
    try {
      const seen = new Set<string>();
      for (const p of paths) {
        if (!path.isAbsolute(p)) throw new Error(`file path must be absolute: ${p}`);
        const base = path.basename(p);
        assertEntryName(base);
        if (seen.has(base)) throw new Error(`two files would be stored as "${base}"`);
        seen.add(base);
      }
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (paths.length === 0) return Promise.resolve();
    return this.enqueue(() => this.runFiles([...paths]));
  }

  /** Stop the running 7-Zip (its call rejects) and make this writer reject every later call. */
  abort(): void {
    this.aborted = true;
    this.stopCurrent?.(new Error(`writing ${this.archivePath} was aborted`));
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => {
      if (this.aborted) throw new Error(`writing ${this.archivePath} was aborted`);
      return task();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private commonArgs(): string[] {
    return [
      'a',
      '-t7z',
      '-sae',
      '-spd',
      '-y',
      '-bsp0',
      `-mx=${this.level}`,
      ...methodArgs(this.method, this.level),
      '-ms=off',
      this.threads === undefined ? '-mmt=on' : `-mmt=${this.threads}`,
      ...(this.password === undefined ? [] : ['-p', '-mhe=on']),
    ];
  }

  private async runStream(entryName: string, source: NodeJS.ReadableStream): Promise<void> {
    const maybeReadable = source as Partial<Readable>;
    if (maybeReadable.readableEnded === true || maybeReadable.destroyed === true) {
      throw new Error(`the data stream for "${entryName}" has already ended or been destroyed`);
    }
    const bin = sevenZipBinary();
    const before = await this.leftoverCandidates();
    const run = startSevenZip(bin, [...this.commonArgs(), '-bso0', `-si${entryName}`, '--', this.archivePath], { stdin: 'pipe' });
    const stdin = run.child.stdin as Writable;
    // EPIPE when 7-Zip exits early; its exit code and stderr say why.
    stdin.on('error', () => undefined);

    let failure: Error | undefined;
    let ended = false;
    const stop = (reason: Error): void => {
      if (failure !== undefined) return;
      failure = reason;
      source.unpipe(stdin);
      terminate(run.child, stdin);
    };
    const onError = (err: unknown): void =>
      stop(new Error(`reading the data for "${entryName}" failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    const onEnd = (): void => {
      ended = true;
    };
    const onClose = (): void => {
      if (!ended) stop(new Error(`the data stream for "${entryName}" closed before its end`));
    };
    source.on('error', onError);
    source.on('end', onEnd);
    source.on('close', onClose);
    this.stopCurrent = stop;
    source.pipe(stdin);

    let exit: SevenZipExit;
    try {
      exit = await run.done;
    } finally {
      this.stopCurrent = undefined;
      source.removeListener('error', onError);
      source.removeListener('end', onEnd);
      source.removeListener('close', onClose);
      source.unpipe(stdin);
    }
    if (exit.code === 0 && exit.signal === null) {
      // 7-Zip reads until EOF, which only the source's end gives it: the entry is complete.
      if (failure !== undefined) throw failure;
      return;
    }
    await this.removeLeftovers(before);
    if (failure !== undefined) throw failure;
    throw new SevenZipError(`add "${entryName}" to ${this.archivePath}`, exit);
  }

  private async runFiles(paths: string[]): Promise<void> {
    for (const p of paths) {
      let st;
      try {
        st = await lstat(p);
      } catch {
        throw new Error(`cannot add ${p}: no such file`);
      }
      // p7zip stores a symlink as a link (its target path), 7-Zip 26 follows it: refuse both.
      if (st.isSymbolicLink()) throw new Error(`cannot add ${p}: it is a symbolic link`);
      if (!st.isFile()) throw new Error(`cannot add ${p}: not a regular file`);
    }
    const bin = sevenZipBinary();
    const before = await this.leftoverCandidates();
    // We spawn (stdin /dev/null, not detached, exit code known) and let node-7z's add stream parse
    // 7-Zip's report ("+ name" / "U name" with -bb1), via its documented $defer/$childProcess/listen.
    const run = startSevenZip(bin, [...this.commonArgs(), '-bb1', '--', this.archivePath, ...paths], { stdout: 'pipe', password: this.password });
    const report = Seven.add(this.archivePath, paths, { $defer: true, $childProcess: run.child, $bin: bin });
    const reported: string[] = [];
    report.on('data', (d: { file?: string }) => {
      if (typeof d.file === 'string') reported.push(d.file);
    });
    // node-7z turns any stderr output into an 'error' event (message "unknown error"); the exit code decides.
    report.on('error', () => undefined);
    Seven.listen(report);

    let failure: Error | undefined;
    this.stopCurrent = (reason) => {
      if (failure !== undefined) return;
      failure = reason;
      terminate(run.child, null);
    };
    let exit: SevenZipExit;
    try {
      exit = await run.done;
    } finally {
      this.stopCurrent = undefined;
    }
    if (exit.code === 0 && exit.signal === null) {
      if (failure !== undefined) throw failure;
      return;
    }
    await this.removeLeftovers(before);
    if (failure !== undefined) throw failure;
    const err = new SevenZipError(`add ${paths.length} file(s) to ${this.archivePath}`, exit);
    if (reported.length > 0) err.message += ` (7-Zip had reported: ${reported.join(', ')})`;
    throw err;
  }

  /** Which of the archive and 7-Zip's `<archive>.tmp` do not exist yet, so are ours to remove on failure. */
  private async leftoverCandidates(): Promise<string[]> {
    const candidates = [this.archivePath, `${this.archivePath}.tmp`];
    const absent: string[] = [];
    for (const c of candidates) {
      try {
        await lstat(c);
      } catch {
        absent.push(c);
      }
    }
    return absent;
  }

  private async removeLeftovers(paths: string[]): Promise<void> {
    for (const p of paths) {
      await unlink(p).catch(() => undefined);
    }
  }
}

/**
 * Stop 7-Zip without letting it commit: SIGTERM first (7-Zip then aborts at its next check and
 * deletes what it was writing), then close its stdin so a read blocked on `-si` returns, and
 * SIGKILL if it is still alive after KILL_AFTER_MS.
 */
function terminate(child: ChildProcess, stdin: Writable | null): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const closeStdin = setTimeout(() => stdin?.destroy(), TERM_GRACE_MS);
  const kill = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  child.once('exit', () => {
    clearTimeout(closeStdin);
    clearTimeout(kill);
    stdin?.destroy();
  });
}
