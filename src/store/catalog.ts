import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { ENCRYPTED, inspectArchive, type Inspection } from '../archive/reader.js';
import { MANIFEST_ENTRY, readManifest, type Manifest } from '../archive/manifest.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ArchiveName } from '../names.js';
import { compareArchives, fileDigest, type BackupDir, type LocalArchive } from './local.js';
import type { ArchiveBucket } from './objects.js';
import type { StoredArchive } from './stored-archive.js';
import { localKey, Verdicts } from './verdicts.js';
import type { KV } from '@nats-io/kv';
import { BackgroundTests } from './background-tests.js';
import { BoundedCache } from './bounded-cache.js';
import { conflictOf, entryOf, sortable, tablesOf, usable, type CatalogEntry, type Place, type TablesOf } from './catalog-entry.js';

interface Description {
  tables: string[];
  stored: Place;
}

/**
 * An untested local archive up to this size is CRC-tested within the request (about 30 ms): the
 * seed's `bad` for corrupt data holds there at once. A larger one is answered from its header
 * listing (7-Zip checks the header's CRC) and its data tested in the background.
 */
const INLINE_TEST_MAX_BYTES = 1024 * 1024;
/** The start-up pass over untested archives waits this long, leaving the first requests the CPU. */
const BACKGROUND_PASS_DELAY_MS = 10_000;

/**
 * One view of the archives in the backup directory and in the Object Store bucket (as the
 * bucket's long-lived watch knows it: no request creates a consumer). Reading a
 * whole archive (a CRC test, a SHA-256) is slow, so each result is kept for as long as the local
 * file keeps its size, modification time and inode, or the object its digest.
 */
export class Catalog {
  /** Each local archive's tested verdict, kept across restarts (in the job-state bucket). */
  readonly verdicts: Verdicts;
  private readonly backgroundTests: BackgroundTests;
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
    this.backgroundTests = new BackgroundTests(dir, this.verdicts, (local) => this.testLocal(local), log);
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

  /** Whether either place holds the name. */
  async has(name: ArchiveName): Promise<boolean> {
    return (await this.dir.has(name)) || (await this.bucket.lookup(name)) !== null;
  }

  /**
   * Whether a new backup must not take the name: the directory holds it, or the bucket as its
   * watch knows it. No round trip: names come from a shared counter (names.ts), so only an
   * archive from before the counter (wiped with its bucket, or expired) can hold a new name, and
   * the watch read those when it started.
   */
  async nameTaken(name: ArchiveName): Promise<boolean> {
    return (await this.dir.has(name)) || (await this.bucket.watched(name));
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
    this.backgroundTests.startPass(delayMs);
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
    if (listing.ok) this.backgroundTests.add(local);
    return listing;
  }

  private async testLocal(local: LocalArchive): Promise<Inspection> {
    const inspection = await inspectArchive(this.dir.pathOf(local.name), { passwords: this.passwords });
    this.verdicts.set(local, inspection, 'tested', (err) => this.log.warn({ err, archive: local.name }, 'could not keep an archive\'s verdict'), this.localDigests.get(localKey(local)));
    return inspection;
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

