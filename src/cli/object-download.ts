import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { Objm } from '@nats-io/obj';
import type { ServiceClient } from './client.js';
import { CliError, EXIT } from './errors.js';

/** A get whose chunks stop arriving this long is abandoned (a consumer stuck on a dead node). */
const STALL_MS = 30_000;

export interface Downloaded {
  path: string;
  size: number;
  sha256: string;
  digest: string;
}

/** The Object Store writes `SHA-256=` + base64url WITH padding; this gives the hex, or null. */
function hexOfDigest(digest: string): string | null {
  if (!digest.startsWith('SHA-256=')) return null;
  const bytes = Buffer.from(digest.slice('SHA-256='.length), 'base64url');
  return bytes.length === 32 ? bytes.toString('hex') : null;
}

/**
 * Reads the archive straight from the Object Store bucket into a temporary file beside `output`,
 * checks its SHA-256 against the object's digest and the `sha256` metadata the service stored,
 * and only then renames it into place. A mismatch leaves nothing behind.
 */
export async function downloadArchive(client: ServiceClient, name: string, output: string, overwrite: boolean): Promise<Downloaded> {
  const path = resolve(output);
  if (!overwrite && (await exists(path))) throw new CliError(EXIT.failed, `${path} already exists (use --force to replace it)`);
  const bucket = client.config.objectBucket;
  let os;
  try {
    os = await new Objm(client.nc).open(bucket);
  } catch (err) {
    throw new CliError(EXIT.failed, `cannot open the object store bucket ${bucket}: ${(err as Error).message}`);
  }
  const result = await os.get(name);
  if (!result || result.info.deleted) throw new CliError(EXIT.failed, `archive ${name} is not in the bucket ${bucket}`);
  const expected = hexOfDigest(result.info.digest);
  if (!expected) throw new CliError(EXIT.failed, `the object ${name} has a digest this tool cannot check: ${result.info.digest}`);
  const metadataSha = result.info.metadata?.sha256;

  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.partial`);
  const hash = createHash('sha256');
  let size = 0;
  const source = Readable.fromWeb(result.data as WebReadableStream<Uint8Array>);
  const stall = setTimeout(() => source.destroy(new Error(`no data for ${STALL_MS / 1000} s`)), STALL_MS);
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      stall.refresh();
      callback(null, chunk);
    },
  });
  try {
    await pipeline(source, tap, createWriteStream(temp, { flags: 'wx' }));
    const clientError = await result.error;
    if (clientError) throw clientError;
    const sha256 = hash.digest('hex');
    if (sha256 !== expected) throw new CliError(EXIT.failed, `${name}: the bytes read have SHA-256 ${sha256}, the object's digest says ${expected}; nothing written`);
    if (metadataSha !== undefined && metadataSha !== sha256) {
      throw new CliError(EXIT.failed, `${name}: SHA-256 ${sha256}, but the service recorded ${metadataSha} in the object's metadata; nothing written`);
    }
    await rename(temp, path);
    return { path, size, sha256, digest: result.info.digest };
  } catch (err) {
    await rm(temp, { force: true });
    if (err instanceof CliError) throw err;
    throw new CliError(EXIT.failed, `reading ${name} from the bucket ${bucket} failed: ${(err as Error).message}`);
  } finally {
    clearTimeout(stall);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
