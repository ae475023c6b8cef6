import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkArchiveName, type ArchiveName } from '../names.js';

export interface LocalArchive {
  name: ArchiveName;
  size: number;
  mtimeMs: number;
  ino: number;
}

const ARCHIVE_NAME = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})-backup(?:-(\d+))?\.7z$/;

/** Oldest first: by the time in the name (then its sequence), else by modification time. */
export function compareArchives(a: Pick<LocalArchive, 'name' | 'mtimeMs'>, b: Pick<LocalArchive, 'name' | 'mtimeMs'>): number {
  const ka = sortKey(a);
  const kb = sortKey(b);
  return ka.time - kb.time || ka.sequence - kb.sequence || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function sortKey(archive: Pick<LocalArchive, 'name' | 'mtimeMs'>): { time: number; sequence: number } {
  const m = ARCHIVE_NAME.exec(archive.name);
  if (!m) return { time: archive.mtimeMs, sequence: 0 };
  const [, y, mo, d, h, mi, s, seq] = m;
  return { time: Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)), sequence: Number(seq ?? 1) };
}

/**
 * The backup directory. Finished archives are plain `*.7z` files; everything in progress is
 * hidden (a leading dot) and named after its job, so a retried job reuses its own temp files and
 * a listing never shows half-written work.
 */
export class BackupDir {
  /** The last listing and the directory's modification time it was read at. */
  private listed: { dirMtimeMs: number; archives: LocalArchive[] } | null = null;
  private listing: Promise<LocalArchive[]> | null = null;

  constructor(readonly root: string) {}

  async ensure(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  pathOf(name: ArchiveName): string {
    return join(this.root, name);
  }

  async has(name: ArchiveName): Promise<boolean> {
    return (await this.stat(name)) !== null;
  }

  async stat(name: ArchiveName): Promise<LocalArchive | null> {
    try {
      // Synchronous, and no error for a missing file: each makebackup asks for a name that is not
      // there, and an async stat's thrown ENOENT cost more than the rest of its lookup.
      const info = statSync(this.pathOf(name), { throwIfNoEntry: false });
      return info?.isFile() ? { name, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino } : null;
    } catch {
      return null;
    }
  }

  async remove(name: ArchiveName): Promise<void> {
    await rm(this.pathOf(name), { force: true });
  }

  /**
   * The archives, oldest first. Finished archives are never rewritten in place (a new one is
   * renamed in, an old one removed: both change the directory's mtime), so the last listing is
   * reused while the directory's mtime stays what it was, unless that mtime is under a second old
   * (two changes within one timestamp tick must not hide the second). Concurrent calls share one read.
   */
  async list(): Promise<LocalArchive[]> {
    const dirMtimeMs = (await stat(this.root)).mtimeMs;
    if (this.listed?.dirMtimeMs === dirMtimeMs && Date.now() - dirMtimeMs > 1000) return [...this.listed.archives];
    this.listing ??= this.read(dirMtimeMs).finally(() => (this.listing = null));
    return [...(await this.listing)];
  }

  private async read(dirMtimeMs: number): Promise<LocalArchive[]> {
    const archives: LocalArchive[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.toLowerCase().endsWith('.7z')) continue;
      const checked = checkArchiveName(entry.name);
      if (!checked.ok) continue;
      try {
        const info = await stat(join(this.root, entry.name));
        archives.push({ name: checked.value, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino });
      } catch {
        // Removed between readdir and stat.
      }
    }
    archives.sort(compareArchives);
    this.listed = { dirMtimeMs, archives };
    return archives;
  }

  /** Where a job writes its archive before the atomic rename. */
  tempArchivePath(jobId: string): string {
    return join(this.root, `.job-${jobId}.7z.partial`);
  }

  /** Where a job spools table dumps that wait for the compressor. */
  spoolDir(jobId: string): string {
    return join(this.root, `.job-${jobId}.spool`);
  }

  /** Where an archive only the object store holds is fetched to, for one job or request. */
  fetchPath(tag: string): string {
    return join(this.root, `.fetch-${tag}.7z.partial`);
  }

  /** Moves a finished archive to its promised name in one step (same file system). */
  async publish(tempPath: string, name: ArchiveName): Promise<void> {
    await rename(tempPath, this.pathOf(name));
  }

  /**
   * Hidden leftovers of work that died with its process: job files (`.job-<id>…`) whose job
   * `isLive` says is over, a job's fetch (`.fetch-<job id>…`) once `isOver` says its job ended,
   * and any other temporary fetch (a request's) once older than `fetchMaxAgeMs`.
   */
  async removeLeftovers(
    isLive: (jobId: string) => Promise<boolean>,
    fetchMaxAgeMs: number,
    now = Date.now(),
    isOver: (jobId: string) => Promise<boolean> = async () => false,
  ): Promise<string[]> {
    const removed: string[] = [];
    for (const entry of await readdir(this.root)) {
      const job = /^\.job-([A-Za-z0-9-]{1,64})\./.exec(entry);
      const path = join(this.root, entry);
      if (job) {
        if (await isLive(job[1] as string)) continue;
      } else if (entry.startsWith('.fetch-')) {
        const id = /^\.fetch-([A-Za-z0-9-]{1,64})\./.exec(entry)?.[1];
        if (id === undefined || !(await isOver(id))) {
          const info = await stat(path).catch(() => null);
          if (!info || now - info.mtimeMs < fetchMaxAgeMs) continue;
        }
      } else {
        continue;
      }
      await rm(path, { recursive: true, force: true });
      removed.push(entry);
    }
    return removed;
  }

  async removeJobFiles(jobId: string): Promise<void> {
    await rm(this.tempArchivePath(jobId), { force: true });
    await rm(`${this.tempArchivePath(jobId)}.tmp`, { force: true });
    await rm(this.spoolDir(jobId), { recursive: true, force: true });
    await rm(this.fetchPath(jobId), { force: true });
  }
}

/** Bytes and hex SHA-256 of a file, read as a stream. */
export function fileDigest(path: string): Promise<{ size: number; sha256: string }> {
  return streamDigest(createReadStream(path));
}

/** The size and hex SHA-256 of what `stream` yields; `onBytes` hears each chunk's length. */
export async function streamDigest(stream: AsyncIterable<unknown>, onBytes?: (bytes: number) => void): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
    onBytes?.((chunk as Buffer).length);
  }
  return { size, sha256: hash.digest('hex') };
}
