import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { ENCRYPTED, type Inspection } from '../archive/reader.js';
import type { ArchiveName } from '../names.js';
import type { LocalArchive } from './local.js';

/** How an archive's verdict was reached: it passed its test as it was written, or a later full test. */
export type VerdictSource = 'written' | 'tested';

export interface StoredVerdict {
  /** The file the verdict is about (directory, name, size, mtime, inode): a replaced file has none. */
  file: string;
  source: VerdictSource;
  at: string;
  inspection: Inspection;
  /** The archive is encrypted: a verdict holds only while one of the configured passwords opens it. */
  encrypted?: true;
  /** Hex SHA-256 of the file, when it was known: after a restart no request reads a large file to compare it with the object. */
  sha256?: string;
}

/** Identifies one version of a local archive file. */
export function localKey(local: LocalArchive): string {
  return `${local.name}:${local.size}:${local.mtimeMs}:${local.ino}`;
}

/**
 * The result of each local archive's whole-archive CRC test, kept across restarts in the
 * job-state KV bucket (`verdict.<hash of the file's identity>`: instances with their own disks
 * never share one), so no request after a restart waits for a test. A verdict counts for as long
 * as the file keeps its size, modification time and inode; it expires with the bucket's TTL, and
 * the archive is then tested again in the background. Without the bucket (NATS unreachable) the
 * verdicts of this process's life are kept in memory only.
 */
export class Verdicts {
  private readonly known = new Map<string, StoredVerdict>();

  constructor(
    private readonly root: string,
    private readonly kv?: KV,
  ) {}

  async get(local: LocalArchive): Promise<Inspection | null> {
    return (await this.lookup(local))?.inspection ?? null;
  }

  /** Whether the kept verdict is about an encrypted archive. */
  async encrypted(local: LocalArchive): Promise<boolean> {
    return (await this.lookup(local))?.encrypted === true;
  }

  /** The file's SHA-256 kept with its verdict, if any. */
  async digest(local: LocalArchive): Promise<string | null> {
    return (await this.lookup(local))?.sha256 ?? null;
  }

  private async lookup(local: LocalArchive): Promise<StoredVerdict | null> {
    const file = this.fileOf(local);
    const cached = this.known.get(local.name);
    if (cached?.file === file) return cached;
    if (!this.kv) return null;
    let stored: StoredVerdict | null = null;
    try {
      const entry = await withTimeout(this.kv.get(verdictKeyOf(file)), LOOKUP_TIMEOUT_MS);
      if (entry?.operation === 'PUT') stored = entry.json<StoredVerdict>();
    } catch {
      return null;
    }
    if (stored?.file !== file || typeof stored.inspection?.ok !== 'boolean') return null;
    this.known.set(local.name, stored);
    return stored;
  }

  /** Keeps the verdict; the bucket's copy is written in the background (`onStoreError` if that fails). */
  set(local: LocalArchive, found: Inspection, source: VerdictSource, onStoreError: (err: unknown) => void, sha256?: string): void {
    // An archive no configured password opens may open under the next configuration: no verdict.
    if (!found.ok && found.reason.startsWith(ENCRYPTED)) return;
    // Which password opened it is an index into this process's list, which may change: not kept.
    const inspection: Inspection = found.ok ? { ok: true, entries: found.entries } : found;
    const encrypted = found.ok && found.password !== undefined;
    const stored: StoredVerdict = { file: this.fileOf(local), source, at: new Date().toISOString(), inspection, ...(encrypted && { encrypted: true as const }), ...(sha256 && { sha256 }) };
    this.known.set(local.name, stored);
    this.kv?.put(verdictKeyOf(stored.file), JSON.stringify(stored)).catch(onStoreError);
  }

  forget(name: ArchiveName): void {
    this.known.delete(name);
  }

  private fileOf(local: LocalArchive): string {
    return fileOf(this.root, local);
  }
}

/** A lookup that would wait longer (a cluster in an election) counts as no verdict. */
const LOOKUP_TIMEOUT_MS = 1_000;

export function fileOf(root: string, local: LocalArchive): string {
  return `${root}/${localKey(local)}`;
}

export function verdictKeyOf(file: string): string {
  return `verdict.${createHash('sha256').update(file).digest('hex').slice(0, 40)}`;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
