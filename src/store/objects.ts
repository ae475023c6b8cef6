import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, setSha256Backend, StorageType, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { ArchiveName } from '../names.js';
import { isPortableObjectName, metaSubjectOf, objectDigestOf, toStored, type ArchiveMetadata, type StoredArchive } from './stored-archive.js';
import type { Logger } from '../log.js';
import { retryWithBackoff } from '../retry.js';
import { SharedRun } from '../shared-run.js';

export interface BucketSettings {
  bucket: string;
  replicas: number;
  description?: string;
  watch?: { firstSyncMs: number };
}

/**
 * The client publishes one chunk at a time and waits for its ack: at its default 128 KiB chunks an
 * 85 MB archive took 2.8 s to store (680 round trips). The client caps it at the server's max_payload.
 */
const PUT_CHUNK_BYTES = 1024 * 1024;
/** How long an object get may stall (no chunk arriving) before it is abandoned and retried. */
const GET_STALL_MS = 10_000;
/** Gets, puts and deletes (job work) are retried with backoff until this much time has passed. */
const RETRY_FOR_MS = 60_000;
/** Listings and infos answer requests: they give up sooner. */
const RETRY_LOOKUP_FOR_MS = 5_000;
/** How long opening the bucket waits for the watch to read the bucket's history. */
const FIRST_SYNC_MS = 10_000;
const WATCH_FIRST_DELAY_MS = 250;
/** How long a listing waits for the server to say which objects the bucket holds. */
const CATCH_UP_MS = 500;
const WATCH_MAX_DELAY_MS = 10_000;

/**
 * The archives' bucket in the NATS Object Store: every finished `.7z` under its file name,
 * readable by any Object Store client (`nats obj get <bucket> <name>`).
 *
 * On servers up to 2.11 in a cluster with a node down, a get's temporary consumer may be placed on
 * the dead node and never deliver, and a put fails during a leader election: both are retried
 * with backoff (a get also when it stalls).
 */
export class ArchiveBucket {
  /** The bucket as the long-lived watch last reported it; null until its history is read once. */
  private view: Map<string, StoredArchive> | null = null;
  private watcher: { stop(): void } | null = null;
  private closed = false;
  /** Per object name, the last metadata entry the watch applied (`<nuid>:<deleted>`). */
  private readonly seen = new Map<string, string>();
  private readonly reconciliation = new SharedRun(() => this.reconcile());

  private constructor(
    private readonly os: ObjectStore,
    /** For the catch-up check only: its requests give up after CATCH_UP_MS. */
    private readonly jsm: JetStreamManager,
    readonly name: string,
    private readonly log: Logger,
  ) {}

  /** Opens the bucket, creating it only when it does not exist (never over another error). */
  static async open(nc: NatsConnection, settings: BucketSettings, log: Logger): Promise<ArchiveBucket> {
    // The client hashes each put and get in pure JS by default: 0.3 s of CPU for a 22 MB archive
    // (the bench's), against about 0.03 s through node:crypto. Process-wide; this process is Node.
    setSha256Backend('native');
    const os = await new Objm(nc).create(settings.bucket, {
      replicas: settings.replicas,
      storage: StorageType.File,
      description: settings.description,
    });
    const status = await os.status();
    if (status.replicas !== settings.replicas) {
      log.warn({ bucket: settings.bucket, replicas: status.replicas, wanted: settings.replicas }, 'the archive bucket exists with another replica count; leaving it as it is');
    }
    const bucket = new ArchiveBucket(os, await jetstreamManager(nc, { timeout: CATCH_UP_MS }), settings.bucket, log);
    void nc.closed().then(() => bucket.close());
    await bucket.follow(settings.watch?.firstSyncMs ?? FIRST_SYNC_MS);
    return bucket;
  }

  /**
   * Every archive object. From the long-lived watch once it has read the bucket's history, so a
   * listing is no round trip to the server (and works while a cluster node is down); before that
   * (the watch could not be set up yet), a one-off list().
   */
  async list(): Promise<StoredArchive[]> {
    if (this.view) {
      await this.caughtUp();
      return [...this.view.values()];
    }
    const infos = await retrying('listing the archive bucket', this.log, () => this.os.list(), RETRY_LOOKUP_FOR_MS);
    return infos.map(toStored).filter((s): s is StoredArchive => s !== null);
  }

  /** The object as the watch knows it (no round trip); info() before the watch has synced. */
  async lookup(name: ArchiveName): Promise<StoredArchive | null> {
    if (!this.view) return this.info(name);
    if (!this.view.has(name)) await this.caughtUp();
    return this.view.get(name) ?? null;
  }

  /**
   * Whether the watch has seen the object, with no catch-up (info() before the watch has synced).
   * Enough to keep a new backup's name off an old archive (names.ts); not to find one another
   * instance has just put, which lookup() is for.
   */
  async watched(name: ArchiveName): Promise<boolean> {
    if (!this.view) return (await this.info(name)) !== null;
    return this.view.has(name);
  }

  /**
   * Makes the view hold every object the bucket holds at the time of the call. nats-server 2.9
   * skips entries on a consumer filtered by a wildcard when puts run concurrently (four puts at
   * once: the watch never sees one or two of them, though a consumer made afterwards does), so
   * the watch alone cannot be trusted: one stream info lists the bucket's metadata subjects, and
   * each one the watch has not applied is read by itself. Concurrent callers share a pass (never
   * one that started before they asked). Gives up quietly (the view as it is) when the
   * server does not answer within CATCH_UP_MS, as while a cluster node is down.
   */
  private caughtUp(): Promise<void> {
    return this.reconciliation.run();
  }

  private async reconcile(): Promise<void> {
    const view = this.view;
    if (!view) return;
    try {
      const stream = `OBJ_${this.name}`;
      const info = await this.jsm.streams.info(stream, { subjects_filter: `$O.${this.name}.M.>` });
      const subjects = new Set(Object.keys(info.state.subjects ?? {}));
      const known = new Map([...this.seen.keys()].map((name) => [metaSubjectOf(this.name, name), name]));
      const missed = [...subjects].filter((subject) => !known.has(subject));
      for (const subject of missed) {
        const msg = await this.jsm.streams.getMessage(stream, { last_by_subj: subject });
        if (!msg) continue;
        const entry = msg.json<ObjectInfo>();
        applyTo(view, entry);
        this.seen.set(entry.name, entryKey(entry));
      }
      for (const [subject, name] of known) {
        if (subjects.has(subject)) continue;
        view.delete(name);
        this.seen.delete(name);
      }
      if (missed.length > 0) this.log.info({ bucket: this.name, missed: missed.length }, 'the archive bucket watch had missed entries; read them by themselves');
    } catch (err) {
      this.log.warn({ err: (err as Error).message, bucket: this.name }, 'could not check the archive bucket watch against the bucket; listing from it as it is');
    }
  }

  /** Whether listings come from the watch (false while it has not read the bucket once). */
  get watching(): boolean {
    return this.view !== null;
  }

  /** Stops the watch (the connection's close ends it too). */
  close(): void {
    this.closed = true;
    this.watcher?.stop();
  }

  /**
   * Keeps `view` current: one watch of the bucket's metadata (an ordered push consumer, which
   * re-creates itself after a gap). When the watch ends (its consumer lost for good, the
   * connection closed), a new one reads the history again, with backoff, while the old view
   * keeps answering. Resolves once the first history is read, or after `firstSyncMs` anyway.
   */
  private follow(firstSyncMs: number): Promise<void> {
    return new Promise((firstSynced) => {
      const giveUp = setTimeout(() => {
        this.log.warn({ bucket: this.name, waitedMs: firstSyncMs }, 'the archive bucket watch has not read the bucket yet; listing it per request until it has');
        firstSynced();
      }, firstSyncMs);
      const synced = () => {
        clearTimeout(giveUp);
        firstSynced();
      };
      void (async () => {
        let delayMs = WATCH_FIRST_DELAY_MS;
        while (!this.closed) {
          const started = Date.now();
          try {
            await this.watchOnce(synced);
          } catch (err) {
            this.log.warn({ err: (err as Error).message, bucket: this.name }, 'the archive bucket watch failed');
          }
          if (this.closed) break;
          if (Date.now() - started > WATCH_MAX_DELAY_MS) delayMs = WATCH_FIRST_DELAY_MS;
          this.log.info({ bucket: this.name, retryInMs: delayMs }, 'watching the archive bucket again');
          await new Promise((r) => setTimeout(r, delayMs).unref());
          delayMs = Math.min(delayMs * 2, WATCH_MAX_DELAY_MS);
        }
        synced();
      })();
    });
  }

  private async watchOnce(synced: () => void): Promise<void> {
    const iter = await this.os.watch({ includeHistory: true });
    this.watcher = iter;
    const fresh = new Map<string, StoredArchive>();
    let live = false;
    const goLive = () => {
      live = true;
      this.view = fresh;
      synced();
    };
    // The history's length, from the consumer the watch made (not exposed: an empty bucket sends nothing).
    const consumer = (iter as unknown as { _data?: { info(cached: boolean): Promise<{ num_pending: number }> } })._data;
    const pending = await consumer?.info(true).then((i) => i.num_pending).catch(() => null);
    if (pending === 0) goLive();
    for await (const info of iter) {
      const target = live ? (this.view as Map<string, StoredArchive>) : fresh;
      applyTo(target, info);
      this.seen.set(info.name, entryKey(info));
      if (!live && info.isUpdate) goLive();
    }
  }

  async info(name: ArchiveName): Promise<StoredArchive | null> {
    if (!isPortableObjectName(name)) return null;
    const info = await retrying(`reading the info of ${name}`, this.log, () => this.os.info(name), RETRY_LOOKUP_FOR_MS);
    return info && !info.deleted ? toStored(info) : null;
  }

  /**
   * Streams the file into the bucket and checks that the stored digest is the file's. A failed
   * put leaves no chunks behind (the client purges them) and is retried from the start.
   */
  async put(name: ArchiveName, path: string, metadata: ArchiveMetadata, signal?: AbortSignal): Promise<StoredArchive> {
    if (!isPortableObjectName(name)) throw new Error(`${name} cannot be an object name that every client reads the same way`);
    return retrying(`putting ${name} into the archive bucket`, this.log, async () => {
      const description = metadata.tables === undefined ? 'an encrypted backup' : `backup of ${metadata.tables}`;
      const meta = { name, description, metadata: { ...metadata } as Record<string, string>, options: { max_chunk_size: PUT_CHUNK_BYTES } };
      const info = await this.os.put(meta, Readable.toWeb(createReadStream(path, { highWaterMark: PUT_CHUNK_BYTES })) as ReadableStream<Uint8Array>);
      const stored = toStored(info);
      if (!stored || stored.sha256 !== metadata.sha256) {
        throw new Error(`the object ${name} has digest ${info.digest}, the file ${objectDigestOf(metadata.sha256)}`);
      }
      // This process's own listings show it at once; the watch confirms it a moment later.
      this.view?.set(name, stored);
      this.seen.set(name, entryKey(info));
      return stored;
    }, RETRY_FOR_MS, signal);
  }

  /**
   * Writes the object to `path`, checking its bytes against the object's digest (the client
   * checks too). Returns null when the bucket has no such object.
   */
  async fetchTo(name: ArchiveName, path: string, signal?: AbortSignal): Promise<StoredArchive | null> {
    if (!isPortableObjectName(name)) return null;
    return retrying(`fetching ${name} from the archive bucket`, this.log, async () => {
      const result = await this.os.get(name);
      if (!result) return null;
      const stored = toStored(result.info);
      if (!stored) throw new Error(`the object ${name} has an unknown digest ${result.info.digest}`);
      const hash = createHash('sha256');
      let stall: NodeJS.Timeout | undefined;
      const source = Readable.fromWeb(result.data as import('node:stream/web').ReadableStream<Uint8Array>);
      const watch = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          stall?.refresh();
          callback(null, chunk);
        },
      });
      stall = setTimeout(() => source.destroy(new Error(`no data for ${GET_STALL_MS / 1000} s`)), GET_STALL_MS);
      try {
        await pipeline(source, watch, createWriteStream(path));
      } catch (err) {
        await rm(path, { force: true });
        throw err;
      } finally {
        clearTimeout(stall);
      }
      const sha256 = hash.digest('hex');
      if (sha256 !== stored.sha256) {
        await rm(path, { force: true });
        throw new Error(`the fetched ${name} has SHA-256 ${sha256}, the object's digest says ${stored.sha256}`);
      }
      return stored;
    }, RETRY_FOR_MS, signal);
  }

  async delete(name: ArchiveName): Promise<void> {
    if (!isPortableObjectName(name)) return;
    await retrying(`deleting ${name} from the archive bucket`, this.log, async () => {
      if (await this.os.info(name)) await this.os.delete(name);
      this.view?.delete(name);
    });
  }
}

function entryKey(info: Pick<ObjectInfo, 'nuid' | 'deleted'>): string {
  return `${info.nuid}:${info.deleted === true}`;
}

/** One watch entry: an object put (or replaced) or deleted. */
function applyTo(view: Map<string, StoredArchive>, info: ObjectInfo): void {
  const stored = toStored(info);
  if (stored) view.set(stored.name, stored);
  else view.delete(info.name);
}

function retrying<T>(what: string, log: Logger, attempt: () => Promise<T>, forMs = RETRY_FOR_MS, signal?: AbortSignal): Promise<T> {
  return retryWithBackoff(attempt, {
    forMs,
    signal,
    firstDelayMs: 250,
    maxDelayMs: 5_000,
    onRetry: (err, delayMs) => log.warn({ err: (err as Error).message, retryInMs: delayMs }, `${what} failed; retrying`),
  });
}
