import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';

/** Passes bytes through, counting them and hashing them (SHA-256 and CRC32). */
export class DigestStream extends Transform {
  bytes = 0;
  crc32 = 0;
  private readonly hash = createHash('sha256');
  private digest: string | null = null;

  constructor(private readonly onBytes: (bytes: number) => void = () => undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(chunk.length);
    this.hash.update(chunk);
    this.crc32 = crc32(chunk, this.crc32);
    callback(null, chunk);
  }

  hex(): string {
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}
