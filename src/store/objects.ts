import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, StorageType, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import { checkArchiveName, type ArchiveName } from '../names.js';
import type { Logger } from '../log.js';
import { retryWithBackoff } from '../retry.js';

/** What the service writes next to each archive object (all values are strings). */
export interface ArchiveMetadata {
  /** Table entries, comma-separated, in the archive's own order (`orders.sql,customers.sql`). */
  tables: string;
  size: string;
  /** Hex SHA-256 of the `.7z` file. */
  sha256: string;
  created: string;
  host: string;
  database: string;
  job: string;
  /** The host name of the service instance that made it. */
  instance: string;
  /** A scheduled backup: the schedule's name and the slot's time (ISO 8601, UTC). */
  schedule?: string;
  slot?: string;
}

export interface StoredArchive {
  name: ArchiveName;
  bucket: string;
  size: number;
  /** The Object Store's digest (`SHA-256=…`), as `nats obj info` shows it. */
  digest: string;
  /** Hex SHA-256 of the object's bytes, from that digest. */
  sha256: string;
  mtime: string;
  metadata: Partial<ArchiveMetadata>;
}

export interface BucketSettings {
  bucket: string;
  replicas: number;
  description?: string;
}

/** The Object Store writes `SHA-256=` + base64url WITH padding. */
export function objectDigestOf(hexSha256: string): string {
  const b64 = Buffer.from(hexSha256, 'hex').toString('base64');
  return `SHA-256=${b64.replace(/\+/g, '-').replace(/\//g, '_')}`;
}

export function hexOfObjectDigest(digest: string): string | null {
  if (!digest.startsWith('SHA-256=')) return null;
  const bytes = Buffer.from(digest.slice('SHA-256='.length), 'base64url');
  return bytes.length === 32 ? bytes.toString('hex') : null;
}

/** How long an object get may stall (no chunk arriving) before it is abandoned and retried. */
const GET_STALL_MS = 10_000;
/** Gets, puts and deletes (job work) are retried with backoff until this much time has passed. */
const RETRY_FOR_MS = 60_000;
/** Listings and infos answer requests: they give up sooner. */
const RETRY_LOOKUP_FOR_MS = 5_000;

/**
 * The archives' bucket in the NATS Object Store: every finished `.7z` under its file name,
 * readable by any Object Store client (`nats obj get <bucket> <name>`).
 *
 * On servers up to 2.11 in a cluster with a node down, a get's temporary consumer may be placed on
 * the dead node and never deliver, and a put fails during a leader election: both are retried
 * with backoff (a get also when it stalls).
 */
export class ArchiveBucket {
  private constructor(
    private readonly os: ObjectStore,
    readonly name: string,
    private readonly log: Logger,
  ) {}

  /** Opens the bucket, creating it only when it does not exist (never over another error). */
  static async open(nc: NatsConnection, settings: BucketSettings, log: Logger): Promise<ArchiveBucket> {
    const os = await new Objm(nc).create(settings.bucket, {
      replicas: settings.replicas,
      storage: StorageType.File,
      description: settings.description,
    });
    const status = await os.status();
    if (status.replicas !== settings.replicas) {
      log.warn({ bucket: settings.bucket, replicas: status.replicas, wanted: settings.replicas }, 'the archive bucket exists with another replica count; leaving it as it is');
    }
    return new ArchiveBucket(os, settings.bucket, log);
  }

  async list(): Promise<StoredArchive[]> {
    const infos = await retrying('listing the archive bucket', this.log, () => this.os.list(), RETRY_LOOKUP_FOR_MS);
    return infos.map(toStored).filter((s): s is StoredArchive => s !== null);
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
  async put(name: ArchiveName, path: string, metadata: ArchiveMetadata): Promise<StoredArchive> {
    if (!isPortableObjectName(name)) throw new Error(`${name} cannot be an object name that every client reads the same way`);
    return retrying(`putting ${name} into the archive bucket`, this.log, async () => {
      const info = await this.os.put({ name, description: `backup of ${metadata.tables}`, metadata: { ...metadata } }, Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>);
      const stored = toStored(info);
      if (!stored || stored.sha256 !== metadata.sha256) {
        throw new Error(`the object ${name} has digest ${info.digest}, the file ${objectDigestOf(metadata.sha256)}`);
      }
      return stored;
    });
  }

  /**
   * Writes the object to `path`, checking its bytes against the object's digest (the client
   * checks too). Returns null when the bucket has no such object.
   */
  async fetchTo(name: ArchiveName, path: string): Promise<StoredArchive | null> {
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
    });
  }

  async delete(name: ArchiveName): Promise<void> {
    if (!isPortableObjectName(name)) return;
    await retrying(`deleting ${name} from the archive bucket`, this.log, async () => {
      if (await this.os.info(name)) await this.os.delete(name);
    });
  }
}

/**
 * @nats-io/obj 3.4 encodes an object's name into its subject as Latin-1 (btoa), nats.go and the
 * CLI as UTF-8: only ASCII names mean the same object to both, and a name beyond Latin-1 throws.
 * The service's own archive names are ASCII; any other name is simply never in the bucket.
 */
function isPortableObjectName(name: string): boolean {
  return /^[\x20-\x7e]+$/.test(name);
}

function toStored(info: ObjectInfo): StoredArchive | null {
  const name = checkArchiveName(info.name);
  const sha256 = hexOfObjectDigest(info.digest);
  if (!name.ok || info.deleted || !sha256 || !info.name.endsWith('.7z')) return null;
  return { name: name.value, bucket: info.bucket, size: info.size, digest: info.digest, sha256, mtime: info.mtime, metadata: (info.metadata ?? {}) as Partial<ArchiveMetadata> };
}

function retrying<T>(what: string, log: Logger, attempt: () => Promise<T>, forMs = RETRY_FOR_MS): Promise<T> {
  return retryWithBackoff(attempt, {
    forMs,
    firstDelayMs: 250,
    maxDelayMs: 5_000,
    onRetry: (err, delayMs) => log.warn({ err: (err as Error).message, retryInMs: delayMs }, `${what} failed; retrying`),
  });
}
