import type { ObjectInfo } from '@nats-io/obj';
import { checkArchiveName, type ArchiveName } from '../names.js';

/*
 * An archive as the Object Store holds it: the metadata the service writes next to it, and how
 * an object's info, digest and subjects translate to the service's terms.
 */

/** What the service writes next to each archive object (all values are strings). */
export interface ArchiveMetadata {
  /** Table entries, comma-separated, in the archive's own order (`orders.sql,customers.sql`); not for an encrypted archive. */
  tables?: string;
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
  /** `true` for an archive encrypted with ARCHIVE_PASSWORD(S) (never the password). */
  encrypted?: string;
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

/** The Object Store writes `SHA-256=` + base64url WITH padding. */
export function objectDigestOf(hexSha256: string): string {
  const b64 = Buffer.from(hexSha256, 'hex').toString('base64');
  return `SHA-256=${b64.replace(/\+/g, '-').replace(/\//g, '_')}`;
}

function hexOfObjectDigest(digest: string): string | null {
  if (!digest.startsWith('SHA-256=')) return null;
  const bytes = Buffer.from(digest.slice('SHA-256='.length), 'base64url');
  return bytes.length === 32 ? bytes.toString('hex') : null;
}

/**
 * @nats-io/obj 3.4 encodes an object's name into its subject as Latin-1 (btoa), nats.go and the
 * CLI as UTF-8: only ASCII names mean the same object to both, and a name beyond Latin-1 throws.
 * The service's own archive names are ASCII; any other name is simply never in the bucket.
 */
export function isPortableObjectName(name: string): boolean {
  return /^[\x20-\x7e]+$/.test(name);
}

/** The subject of an object's metadata entry (the client's padded base64url of its name). */
export function metaSubjectOf(bucket: string, name: string): string {
  return `$O.${bucket}.M.${Buffer.from(name, 'latin1').toString('base64url')}${'='.repeat((3 - (name.length % 3)) % 3)}`;
}

export function toStored(info: ObjectInfo): StoredArchive | null {
  const name = checkArchiveName(info.name);
  const sha256 = hexOfObjectDigest(info.digest);
  if (!name.ok || info.deleted || !sha256 || !info.name.endsWith('.7z')) return null;
  return { name: name.value, bucket: info.bucket, size: info.size, digest: info.digest, sha256, mtime: info.mtime, metadata: (info.metadata ?? {}) as Partial<ArchiveMetadata> };
}
