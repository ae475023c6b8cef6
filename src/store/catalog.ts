import { randomUUID } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { ENCRYPTED, inspectArchive, type Inspection } from '../archive/reader.js';
import { MANIFEST_ENTRY, readManifest, type Manifest } from '../archive/manifest.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ArchiveName } from '../names.js';
import { compareArchives, fileDigest, type BackupDir, type LocalArchive } from './local.js';
import type { ArchiveBucket, StoredArchive } from './objects.js';
import { localKey, Verdicts } from './verdicts.js';
import type { KV } from '@nats-io/kv';

/** Where an archive is: the backup directory, the Object Store bucket, or both. */
type Place = 'local' | 'object' | 'both';

export interface CatalogEntry {
  name: ArchiveName;
  stored: Place;
  /** Bytes of the `.7z` (the local file's when there is one). */
  size: number;
  /** When the backup was made, ISO 8601. */
  created: string;
  local?: LocalArchive;
  object?: StoredArchive;
  /** Set when both places hold the name but not the same bytes: neither copy is used. */
  conflict?: string;
}

interface Description {
  tables: string[];
  stored: Place;
}

type TablesOf = { ok: true; tables: string[] } | { ok: false; reason: string };

const CACHE_LIMIT = 256;
/**
 * An untested local archive up to this size is CRC-tested within the request (about 30 ms): the
 * seed's `bad` for corrupt data holds there at once. A larger one is answered from its header
 * listing (7-Zip checks the header's CRC) and its data tested in the background.
 */
const INLINE_TEST_MAX_BYTES = 1024 * 1024;
/** The start-up pass over untested archives waits this long, leaving the first requests the CPU. */
const BACKGROUND_PASS_DELAY_MS = 10_000;

/** The table entries of a tested archive, in its own order, or why it is not a backup. */
export function tablesOf(name: string, inspection: Inspection): TablesOf {
  if (!inspection.ok) return { ok: false, reason: `archive ${name} is unreadable: ${inspection.reason}` };
  const tables = inspection.entries.filter((e) => e.name !== MANIFEST_ENTRY && e.name.endsWith('.sql'));
  const empty = tables.filter((e) => e.size === 0);
  if (empty.length > 0) return { ok: false, reason: `archive ${name} holds empty ${empty.map((e) => e.name).join(', ')}` };
  if (tables.length === 0) return { ok: false, reason: `archive ${name} holds no table` };
  return { ok: true, tables: tables.map((e) => e.name) };
}

/**
 * One view of the archives in the backup directory and in the Object Store bucket (as the
 * bucket's long-lived watch knows it: no request creates a consumer). Reading a
 * whole archive (a CRC test, a SHA-256) is slow, so each result is kept for as long as the local
 * file keeps its size, modification time and inode, or the object its digest.
 */
export class Catalog {
  /** Each local archive's tested verdict, kept across restarts (in the job-state bucket). */
  readonly verdicts: Verdicts;
  private backgroundTests: Promise<void> = Promise.resolve();
  private readonly queuedTests = new Set<string>();
  private readonly underway = new Map<string, Promise<unknown>>();
  private readonly localListings = new BoundedCache<Inspection>();
  private readonly localDigests = new BoundedCache<string>();
  private readonly objectTables = new BoundedCache<TablesOf>();

  constructor(
    readonly dir: BackupDir,
    readonly bucket: ArchiveBucket,
    private readonly log: Logger,
    verdictStore?: KV,
    /** Tried in order on encrypted archives (ARCHIVE_PASSWORD(S)); never logged or replied. */
    private readonly passwords: readonly string[] = [],
  ) {
    this.verdicts = new Verdicts(dir.root, verdictStore);
  }

  /** The password that opened an archive, from its inspection (undefined: not encrypted). */
  passwordOf(inspection: Inspection): string | undefined {
    return inspection.ok && inspection.password !== undefined ? this.passwords[inspection.password] : undefined;
  }

  /** Whether the archive is encrypted, as far as known without reading it (null: not known). */
  async encrypted(entry: CatalogEntry): Promise<boolean | null> {
    if (entry.local && !entry.conflict) {
      const listing = await this.listLocal(entry.local);
      return listing.ok ? listing.password !== undefined : listing.reason.startsWith(ENCRYPTED) ? true : null;
    }
    const flag = entry.object?.metadata.encrypted;
    return flag === undefined ? null : flag === 'true';
  }

  /** Oldest first, each name once. Fast: compares sizes only, not digests. */
  async list(): Promise<CatalogEntry[]> {
    const [locals, objects] = await Promise.all([this.dir.list(), this.bucket.list()]);
    const byName = new Map<string, { local?: LocalArchive; object?: StoredArchive }>();
    for (const local of locals) byName.set(local.name, { local });
    for (const object of objects) byName.set(object.name, { ...byName.get(object.name), object });
    const entries = [...byName.values()].map(({ local, object }) => entryOf(local, object));
    return entries.sort((a, b) => compareArchives(sortable(a), sortable(b)));
  }

  /**
   * Like list(), and every name held in both places is checked byte for byte (by SHA-256); with
   * `from`/`count`, only that slice of the list is returned (and checked).
   */
  async details(from = 0, count = Infinity): Promise<CatalogEntry[]> {
    const entries = (await this.list()).slice(from, from + count);
    for (const entry of entries) await this.checkCopies(entry);
    return entries;
  }

  async find(name: ArchiveName): Promise<CatalogEntry | null> {
    const [local, object] = await Promise.all([this.dir.stat(name), this.bucket.lookup(name)]);
    if (!local && !object) return null;
    const entry = entryOf(local ?? undefined, object ?? undefined);
    await this.checkCopies(entry);
    return entry;
  }

  /** Whether either place holds the name (a new backup must not take it). */
  async has(name: ArchiveName): Promise<boolean> {
    return (await this.dir.has(name)) || (await this.bucket.lookup(name)) !== null;
  }

  /**
   * The tables an archive holds. A local copy is answered from its kept verdict; an untested one
   * is tested at once when small, else answered from its header listing and tested in the
   * background (a restore job's extraction checks every CRC it reads). An archive only in the bucket is
   * described by the table list the service stored with it; one without (put there by hand) is
   * fetched to a temporary file, checked and tested. Throws NotFoundError when neither place holds
   * it, ConflictError when it is unreadable, holds no usable table or its two copies differ.
   */
  async describe(name: ArchiveName): Promise<Description> {
    const entry = await this.existing(name);
    if (entry.local) return { tables: usable(tablesOf(name, await this.verdictOf(entry.local))), stored: entry.stored };
    const object = entry.object as StoredArchive;
    if (object.metadata.tables && object.metadata.sha256 === object.sha256) {
      return { tables: object.metadata.tables.split(','), stored: 'object' };
    }
    let tables = this.objectTables.get(object.sha256);
    if (!tables) {
      const temp = this.dir.fetchPath(randomUUID());
      try {
        tables = tablesOf(name, await inspectArchive(await this.fetch(object, temp), { passwords: this.passwords }));
        this.objectTables.set(object.sha256, tables);
      } finally {
        await rm(temp, { force: true });
      }
    }
    return { tables: usable(tables), stored: 'object' };
  }

  /**
   * A local path of the archive, for reading: the backup directory's own file, or the bucket's
   * object fetched to `tempPath` with its digest checked (`fetched` tells which).
   */
  async localCopy(name: ArchiveName, tempPath: string, signal?: AbortSignal): Promise<{ path: string; fetched: boolean }> {
    const entry = await this.existing(name);
    if (entry.local) return { path: this.dir.pathOf(name), fetched: false };
    return { path: await this.fetch(entry.object as StoredArchive, tempPath, signal), fetched: true };
  }

  /**
   * The table entries as listed, without a CRC test: the service's own metadata for an object,
   * else the local file's listing, else what describe() found; null when nothing says.
   */
  async tablesListed(entry: CatalogEntry): Promise<string[] | null> {
    if (entry.object?.metadata.tables && !entry.conflict) return entry.object.metadata.tables.split(',');
    if (!entry.local) {
      // An object without the service's metadata is known once `archive` has fetched and tested it.
      const described = entry.object && this.objectTables.get(entry.object.sha256);
      return described?.ok ? described.tables : null;
    }
    const tables = tablesOf(entry.name, await this.listLocal(entry.local));
    return tables.ok ? tables.tables : null;
  }

  /**
   * The archive's manifest (rows, bytes and SHA-256 per table), extracted from the local copy
   * without a CRC test of the rest; null for archives without one (the original tool's), in
   * conflict, or only in the bucket (that would mean fetching the whole object).
   */
  async manifestOf(entry: CatalogEntry): Promise<Manifest | null> {
    if (!entry.local || entry.conflict) return null;
    const listing = await this.listLocal(entry.local);
    if (!listing.ok || !listing.entries.some((e) => e.name === MANIFEST_ENTRY)) return null;
    return readManifest(this.dir.pathOf(entry.name), this.passwordOf(listing));
  }

  /**
   * A backup that just published `name` knows its digest (no need to read the file again) and
   * that its header was checked as it was written (its listing): that is its verdict.
   */
  async remember(name: ArchiveName, sha256: string, checked?: Inspection): Promise<void> {
    const local = await this.dir.stat(name);
    if (!local) return;
    this.localDigests.set(localKey(local), sha256);
    // The rename kept the file's inode and mtime: the listing it was checked with still describes it.
    if (checked) this.localListings.set(local.name, checked, localKey(local));
    const listing = checked ?? (await this.listLocal(local));
    if (listing.ok) this.verdicts.set(local, listing, 'written', (err) => this.log.warn({ err, archive: name }, 'could not keep the verdict of a new archive'), sha256);
  }

  /** Removes the archive from both places. */
  async remove(name: ArchiveName): Promise<void> {
    await this.dir.remove(name);
    this.verdicts.forget(name);
    await this.bucket.delete(name);
  }

  /**
   * Tests, one after another in the background, every local archive without a kept verdict
   * (archives from before verdicts were kept, copied in by hand), after a short delay.
   */
  startBackgroundTests(delayMs = BACKGROUND_PASS_DELAY_MS): void {
    setTimeout(() => {
      void this.dir.list().then(
        (locals) => locals.forEach((local) => this.testLater(local)),
        (err: unknown) => this.log.warn({ err }, 'could not list the backup directory for the background tests'),
      );
    }, delayMs).unref();
  }

  private async fetch(object: StoredArchive, tempPath: string, signal?: AbortSignal): Promise<string> {
    this.log.info({ archive: object.name, size: object.size }, 'fetching the archive from the object store');
    const fetched = await this.bucket.fetchTo(object.name, tempPath, signal);
    if (!fetched) throw new NotFoundError(`archive ${object.name} not found`);
    return tempPath;
  }

  /** The entry of an archive that can be used: NotFoundError when neither place holds it, ConflictError when its copies differ. */
  private async existing(name: ArchiveName): Promise<CatalogEntry> {
    const entry = await this.find(name);
    if (!entry) throw new NotFoundError(`archive ${name} not found`);
    if (entry.conflict) throw new ConflictError(entry.conflict);
    return entry;
  }

  private async checkCopies(entry: CatalogEntry): Promise<void> {
    if (!entry.local || !entry.object || entry.conflict) return;
    const localSha = await this.localDigest(entry.local);
    if (localSha !== entry.object.sha256) {
      entry.conflict = conflictOf(entry.name, `SHA-256 ${localSha}`, `SHA-256 ${entry.object.sha256}`);
      this.log.warn({ archive: entry.name, local: localSha, object: entry.object.sha256 }, 'the two copies of an archive differ');
    }
  }

  /** Runs `work` once for concurrent callers with the same key: 100 requests, one 7-Zip or hash. */
  private shared<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.underway.get(key);
    if (running) return running as Promise<T>;
    const started = work().finally(() => this.underway.delete(key));
    this.underway.set(key, started);
    return started;
  }

  private listLocal(local: LocalArchive): Promise<Inspection> {
    return this.shared(`list:${localKey(local)}`, () => this.listLocalOnce(local));
  }

  private async listLocalOnce(local: LocalArchive): Promise<Inspection> {
    const key = localKey(local);
    const cached = this.localListings.get(local.name);
    if (cached && this.localListings.keyOf(local.name) === key) return cached;
    const listing = await inspectArchive(this.dir.pathOf(local.name), { test: false, passwords: this.passwords });
    this.localListings.set(local.name, listing, key);
    return listing;
  }

  private verdictOf(local: LocalArchive): Promise<Inspection> {
    return this.shared(`verdict:${localKey(local)}`, () => this.verdictOfOnce(local));
  }

  private async verdictOfOnce(local: LocalArchive): Promise<Inspection> {
    const known = await this.verdicts.get(local);
    if (known) {
      // Kept from a process with other passwords maybe: this one must open it too (a header listing).
      if (known.ok && (await this.verdicts.encrypted(local))) {
        const listing = await this.listLocal(local);
        if (!listing.ok) return listing;
      }
      return known;
    }
    if (local.size <= INLINE_TEST_MAX_BYTES) return this.testLocal(local);
    const listing = await this.listLocal(local);
    if (listing.ok) this.testLater(local);
    return listing;
  }

  private async testLocal(local: LocalArchive): Promise<Inspection> {
    const inspection = await inspectArchive(this.dir.pathOf(local.name), { passwords: this.passwords });
    this.verdicts.set(local, inspection, 'tested', (err) => this.log.warn({ err, archive: local.name }, 'could not keep an archive\'s verdict'), this.localDigests.get(localKey(local)));
    return inspection;
  }

  /** Queues a whole-archive test of a local archive not yet tested (one test runs at a time). */
  private testLater(local: LocalArchive): void {
    if (this.queuedTests.has(local.name)) return;
    this.queuedTests.add(local.name);
    this.backgroundTests = this.backgroundTests.then(async () => {
      try {
        const current = await this.dir.stat(local.name);
        if (!current || (await this.verdicts.get(current))) return;
        const started = Date.now();
        const inspection = await this.testLocal(current);
        const log = { archive: local.name, size: current.size, ms: Date.now() - started };
        if (inspection.ok) this.log.info(log, 'archive tested in the background');
        else this.log.warn({ ...log, reason: inspection.reason }, 'archive failed its background test: it is answered bad from now on');
      } catch (err) {
        this.log.warn({ err, archive: local.name }, 'background test of an archive failed to run');
      } finally {
        this.queuedTests.delete(local.name);
      }
    });
  }

  private localDigest(local: LocalArchive): Promise<string> {
    return this.shared(`digest:${localKey(local)}`, () => this.localDigestOnce(local));
  }

  private async localDigestOnce(local: LocalArchive): Promise<string> {
    const key = localKey(local);
    const cached = this.localDigests.get(key) ?? (await this.verdicts.digest(local));
    if (cached) {
      this.localDigests.set(key, cached);
      return cached;
    }
    const { sha256 } = await fileDigest(this.dir.pathOf(local.name));
    this.localDigests.set(key, sha256);
    return sha256;
  }
}

/** An archive that is not a usable backup exists but cannot be used: ConflictError. */
function usable(tables: TablesOf): string[] {
  if (!tables.ok) throw new ConflictError(tables.reason);
  return tables.tables;
}

function entryOf(local: LocalArchive | undefined, object: StoredArchive | undefined): CatalogEntry {
  const name = (local?.name ?? object?.name) as ArchiveName;
  const created = object?.metadata.created ?? new Date(local?.mtimeMs ?? Date.parse(object?.mtime ?? '')).toISOString();
  const entry: CatalogEntry = {
    name,
    stored: local && object ? 'both' : local ? 'local' : 'object',
    size: local?.size ?? object?.size ?? 0,
    created,
    ...(local && { local }),
    ...(object && { object }),
  };
  if (local && object && local.size !== object.size) {
    entry.conflict = conflictOf(name, `${local.size} bytes`, `${object.size} bytes`);
  }
  return entry;
}

function conflictOf(name: string, local: string, object: string): string {
  return `archive ${name} differs between the backup directory (${local}) and the object store (${object}); remove the wrong copy`;
}

function sortable(entry: CatalogEntry): { name: ArchiveName; size: number; mtimeMs: number } {
  return { name: entry.name, size: entry.size, mtimeMs: entry.local?.mtimeMs ?? Date.parse(entry.created) };
}

/** A small insertion-ordered cache that forgets the oldest entry beyond CACHE_LIMIT. */
class BoundedCache<T> {
  private readonly entries = new Map<string, { value: T; key: string }>();

  get(id: string): T | undefined {
    return this.entries.get(id)?.value;
  }

  keyOf(id: string): string | undefined {
    return this.entries.get(id)?.key;
  }

  set(id: string, value: T, key = id): void {
    this.entries.delete(id);
    if (this.entries.size >= CACHE_LIMIT) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(id, { value, key });
  }
}
