import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { extractEntry, inspectArchive, parseTechListing, type ArchiveEntry } from '../src/archive/reader.js';
import { readsPasswordFromStdin, sevenZipBinary, sevenZipVersion, summarizeStderr } from '../src/archive/sevenzip.js';
import { ArchiveWriter } from '../src/archive/writer.js';
import { checkWritten, crc32Hex } from '../src/archive/written.js';
import { crc32 } from 'node:zlib';

const require = createRequire(import.meta.url);
const bundledP7zip = (require('7zip-bin') as { path7za: string }).path7za;
const originalEnv = process.env['SEVENZIP_BIN'];

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'archive-test-'));
});
afterAll(async () => {
  restoreEnv();
  await rm(root, { recursive: true, force: true });
});

function restoreEnv(): void {
  if (originalEnv === undefined) delete process.env['SEVENZIP_BIN'];
  else process.env['SEVENZIP_BIN'] = originalEnv;
}

let dirCount = 0;
async function freshDir(): Promise<string> {
  dirCount += 1;
  const dir = path.join(root, `case-${dirCount}`);
  await mkdir(dir);
  return dir;
}

/** Deterministic SQL-dump-like text: multi-row INSERTs with numbers, quoted strings and hex. */
function* sqlLike(totalBytes: number, seed: number): Generator<Buffer> {
  let s = seed >>> 0 || 1;
  const rnd = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  const words = ['alpha', 'beta', "O'Brien", 'Zürich', 'заказ', 'delta', 'échelle', 'omega', 'NULL', 'x\\ny'];
  let produced = 0;
  let id = 1;
  while (produced < totalBytes) {
    const rows: string[] = [];
    for (let r = 0; r < 200; r += 1) {
      const word = words[rnd() % words.length] ?? 'w';
      const hex = (rnd().toString(16) + rnd().toString(16)).padStart(16, '0');
      rows.push(`(${id++},'${word.replace(/'/g, "\\'")}-${rnd() % 100000}',${(rnd() % 1000000) / 100},0x${hex},'2024-0${(rnd() % 9) + 1}-1${rnd() % 9} 12:${rnd() % 60}:00')`);
    }
    const chunk = Buffer.from(`INSERT INTO \`orders\` VALUES ${rows.join(',')};\n`);
    const piece = chunk.subarray(0, Math.min(chunk.length, totalBytes - produced));
    produced += piece.length;
    yield piece;
  }
}

function sha256Of(chunks: Iterable<Buffer>): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

async function sha256OfStream(stream: Readable): Promise<{ sha: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha: h.digest('hex'), bytes };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `7z l -slt` of the binary under test, raw. */
function listRaw(archive: string): string {
  return execFileSync(sevenZipBinary(), ['l', '-slt', '-p', '-spd', '--', archive], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function byName(entries: ArchiveEntry[]): Record<string, number> {
  return Object.fromEntries(entries.map((e) => [e.name, e.size]));
}

/** A source that yields `goodBytes` of data, then fails. */
function failingSource(goodBytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= goodBytes) {
        this.destroy(new Error('mysqldump died'));
        return;
      }
      const n = Math.min(64 * 1024, goodBytes - sent);
      sent += n;
      this.push(Buffer.alloc(n, 0x41));
    },
  });
}

const binaries = [
  { label: 'system 7-Zip', env: undefined as string | undefined },
  { label: 'p7zip 16.02 from 7zip-bin', env: bundledP7zip },
];

describe.each(binaries)('archive layer with $label', ({ env }) => {
  beforeAll(() => {
    if (env === undefined) delete process.env['SEVENZIP_BIN'];
    else process.env['SEVENZIP_BIN'] = env;
  });
  afterAll(restoreEnv);

  it('reports the binary and its version', async () => {
    const bin = sevenZipBinary();
    if (env !== undefined) expect(bin).toBe(env);
    expect(await sevenZipVersion(bin)).toMatch(/^7-Zip .*\d+\.\d+/);
  });

  it('streams two entries, adds two files, lists and extracts them byte for byte, non-solid', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'backup.7z');
    const bigSize = 6 * 1024 * 1024 + 123;
    const bigSha = sha256Of(sqlLike(bigSize, 1));
    const smallSize = 700 * 1024;
    const smallSha = sha256Of(sqlLike(smallSize, 2));

    await new ArchiveWriter(archive, { level: 1 }).addStream('big table.sql', Readable.from(sqlLike(bigSize, 1)));
    const afterFirst = readFileSync(archive);
    const firstListing = parseTechListing(listRaw(archive)).items;
    const firstPacked = firstListing[0]?.get('Packed Size');
    const firstMethod = firstListing[0]?.get('Method');
    expect(Number(firstPacked)).toBeGreaterThan(0);

    // Append with another level: the first entry's block must be copied, not recompressed.
    const writer = new ArchiveWriter(archive, { level: 9, threads: 2 });
    await writer.addStream('заказы.sql', Readable.from(sqlLike(smallSize, 2)));
    const fileA = path.join(dir, 'manifest.json');
    const fileB = path.join(dir, 'notes.txt');
    writeFileSync(fileA, JSON.stringify({ tables: ['big table', 'заказы'] }));
    writeFileSync(fileB, 'x'.repeat(5000));
    await writer.addFiles([fileA, fileB]);

    const raw = listRaw(archive);
    expect(raw).toMatch(/^Solid = -$/m);
    expect(raw).toMatch(/^Blocks = 4$/m);
    const items = parseTechListing(raw).items;
    const first = items.find((i) => i.get('Path') === 'big table.sql');
    expect(first?.get('Packed Size')).toBe(firstPacked);
    expect(first?.get('Method')).toBe(firstMethod);
    // The old packed stream sits right after the 32-byte signature header, unchanged.
    const packed = Number(firstPacked);
    expect(readFileSync(archive).subarray(32, 32 + packed).equals(afterFirst.subarray(32, 32 + packed))).toBe(true);

    const inspection = await inspectArchive(archive);
    expect(inspection.ok).toBe(true);
    if (!inspection.ok) return;
    expect(byName(inspection.entries)).toEqual({
      'big table.sql': bigSize,
      'заказы.sql': smallSize,
      'manifest.json': readFileSync(fileA).length,
      'notes.txt': 5000,
    });

    expect(await sha256OfStream(extractEntry(archive, 'big table.sql'))).toEqual({ sha: bigSha, bytes: bigSize });
    expect(await sha256OfStream(extractEntry(archive, 'заказы.sql'))).toEqual({ sha: smallSha, bytes: smallSize });
    expect((await readAll(extractEntry(archive, 'manifest.json'))).equals(readFileSync(fileA))).toBe(true);
    expect((await readAll(extractEntry(archive, 'notes.txt'))).toString()).toBe('x'.repeat(5000));
  });

  it('stores and finds names with spaces, Cyrillic, *, ?, !, backslash, leading - and @ literally', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'names*?.7z');
    const decoy = path.join(dir, 'namesXY.7z');
    const writer = new ArchiveWriter(archive, { level: 1 });
    const names = ['with space.sql', 'заказы.sql', 'star*and?.sql', 'starXandY.sql', '-leading-dash.sql', '@listfile.sql', '!bang.sql', 'back\\slash.sql', ' padded .sql'];
    for (const name of names) await writer.addStream(name, Readable.from([Buffer.from(`content of ${name}\n`)]));
    const fileNames = ['-dash file*.txt', '@at file?.txt', 'тест.txt'];
    const files = fileNames.map((n) => path.join(dir, n));
    files.forEach((f, i) => writeFileSync(f, `file ${i}`));
    await writer.addFiles(files);
    // No wildcard expansion of the archive path: a second archive matching names*?.7z stays untouched.
    await new ArchiveWriter(decoy, { level: 1 }).addStream('decoy.sql', Readable.from(['decoy']));

    const inspection = await inspectArchive(archive);
    expect(inspection.ok).toBe(true);
    if (!inspection.ok) return;
    expect(inspection.entries.map((e) => e.name).sort()).toEqual([...names, ...fileNames].sort());
    for (const name of names) {
      expect((await readAll(extractEntry(archive, name))).toString()).toBe(`content of ${name}\n`);
    }
    for (const [i, name] of fileNames.entries()) {
      expect((await readAll(extractEntry(archive, name))).toString()).toBe(`file ${i}`);
    }
    const decoyInspection = await inspectArchive(decoy);
    expect(decoyInspection.ok && decoyInspection.entries.map((e) => e.name)).toEqual(['decoy.sql']);
  });

  it('writes exactly the given path, even without a .7z extension', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'backup-2024-01-01');
    await new ArchiveWriter(archive, { level: 0 }).addStream('t.sql', Readable.from(['data']));
    expect(await readdir(dir)).toEqual(['backup-2024-01-01']);
    const inspection = await inspectArchive(archive);
    // The header's CRC is the CRC32 zlib computes of the same bytes.
    expect(inspection).toEqual({ ok: true, entries: [{ name: 't.sql', size: 4, crc: crc32Hex(crc32('data')) }] });
  });

  it('checkWritten accepts an archive holding exactly what was sent, and names the entry that differs', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'written.7z');
    const first = randomBytes(300_000);
    const second = Buffer.from('INSERT INTO t VALUES (1);\n');
    const writer = new ArchiveWriter(archive, { level: 1 });
    await writer.addStream('a.sql', Readable.from([first.subarray(0, 1000), first.subarray(1000)]));
    await writer.addStream('b.sql', Readable.from([second]));
    const sent = new Map([
      ['a.sql', { bytes: first.length, crc: crc32Hex(crc32(first)) }],
      ['b.sql', { bytes: second.length, crc: crc32Hex(crc32(second)) }],
    ]);
    expect(await checkWritten(archive, sent)).toMatchObject({ ok: true });
    const changed = Buffer.from(second);
    changed[5] = 0x78;
    await expect(checkWritten(archive, new Map([...sent, ['b.sql', { bytes: changed.length, crc: crc32Hex(crc32(changed)) }]]))).rejects.toThrow(/wrong b\.sql/);
    await expect(checkWritten(archive, new Map([...sent, ['c.sql', sent.get('b.sql')!]]))).rejects.toThrow(/wrong c\.sql \(missing/);
    await expect(checkWritten(path.join(dir, 'none.7z'), sent)).rejects.toThrow(/cannot be read/);
  });

  it('stores an empty stream as an empty entry', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'empty.7z');
    await new ArchiveWriter(archive, { level: 5 }).addStream('empty.sql', Readable.from([]));
    expect(await inspectArchive(archive)).toEqual({ ok: true, entries: [{ name: 'empty.sql', size: 0 }] });
    expect((await readAll(extractEntry(archive, 'empty.sql'))).length).toBe(0);
  });

  it('reports encrypted archives (content or header encryption) as encrypted, without prompting', async () => {
    const dir = await freshDir();
    const secretFile = path.join(dir, 'secret.sql');
    writeFileSync(secretFile, 'top secret');
    const bin = sevenZipBinary();
    const contentEnc = path.join(dir, 'content.7z');
    const headerEnc = path.join(dir, 'header.7z');
    execFileSync(bin, ['a', '-pSecret', contentEnc, secretFile], { stdio: 'ignore' });
    execFileSync(bin, ['a', '-pSecret', '-mhe=on', headerEnc, secretFile], { stdio: 'ignore' });

    expect(await inspectArchive(contentEnc)).toEqual({ ok: false, reason: 'encrypted' });
    expect(await inspectArchive(headerEnc)).toEqual({ ok: false, reason: 'encrypted' });
    await expect(readAll(extractEntry(contentEnc, 'secret.sql'))).rejects.toThrow(/encrypted/);
    await expect(readAll(extractEntry(headerEnc, 'secret.sql'))).rejects.toThrow(/encrypted/);
    // Appending to a header-encrypted archive would need its password: 7-Zip fails instead of waiting.
    await expect(new ArchiveWriter(headerEnc, { level: 1 }).addStream('more.sql', Readable.from(['x\n']))).rejects.toThrow(/7-Zip failed/);
    await expect(new ArchiveWriter(headerEnc, { level: 1 }).addFiles([secretFile])).rejects.toThrow(/7-Zip failed/);
  }, 60_000);

  it('rejects missing, truncated, corrupted and non-7z files with a one-line reason', async () => {
    const dir = await freshDir();
    const good = path.join(dir, 'good.7z');
    await new ArchiveWriter(good, { level: 1 }).addStream('t.sql', Readable.from(sqlLike(300_000, 3)));
    const size = readFileSync(good).length;

    const truncated = path.join(dir, 'truncated.7z');
    writeFileSync(truncated, readFileSync(good));
    await truncate(truncated, Math.floor(size / 2));

    const corrupted = path.join(dir, 'corrupted.7z');
    const bytes = readFileSync(good);
    bytes.writeUInt32LE(0xdeadbeef, 1000);
    writeFileSync(corrupted, bytes);

    const text = path.join(dir, 'text.7z');
    writeFileSync(text, 'this is not an archive\n');

    const zip = path.join(dir, 'zip.7z');
    execFileSync(sevenZipBinary(), ['a', '-tzip', zip, text], { stdio: 'ignore' });
    // A zip that stores a 7z archive: -t7z finds the 7z inside, at an offset.
    const zipOf7z = path.join(dir, 'zip-of-7z.7z');
    execFileSync(sevenZipBinary(), ['a', '-tzip', '-mx=0', zipOf7z, good], { stdio: 'ignore' });

    const trailing = path.join(dir, 'trailing.7z');
    writeFileSync(trailing, Buffer.concat([readFileSync(good), Buffer.from('garbage after the end')]));

    for (const file of [path.join(dir, 'missing.7z'), truncated, corrupted, text, zip, zipOf7z, trailing, dir]) {
      const inspection = await inspectArchive(file);
      expect(inspection.ok, file).toBe(false);
      if (inspection.ok) continue;
      expect(inspection.reason).not.toBe('encrypted');
      expect(inspection.reason).not.toMatch(/\n/);
      expect(inspection.reason.length).toBeGreaterThan(5);
    }
    expect(await inspectArchive(zipOf7z)).toEqual({ ok: false, reason: expect.stringMatching(/offset/) });
    expect(await inspectArchive(trailing)).toEqual({ ok: false, reason: expect.stringMatching(/data after the end/) });
    const missing = await inspectArchive(path.join(dir, 'missing.7z'));
    expect(!missing.ok && missing.reason).toMatch(/not found/);
    const corrupt = await inspectArchive(corrupted);
    expect(!corrupt.ok && corrupt.reason).toMatch(/CRC|Data Error|Headers Error/i);
    // Extracting the corrupted entry errors too, after streaming whatever came out.
    await expect(readAll(extractEntry(corrupted, 't.sql'))).rejects.toThrow(/7-Zip failed/);
  });

  it('errors on a missing entry instead of returning an empty stream', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'a.7z');
    await new ArchiveWriter(archive, { level: 1 }).addStream('present.sql', Readable.from(['x']));
    await expect(readAll(extractEntry(archive, 'absent.sql'))).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND' });
    // A wildcard-looking name does not match "present.sql".
    await expect(readAll(extractEntry(archive, 'pres*.sql'))).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND' });
    await expect(readAll(extractEntry(path.join(dir, 'nope.7z'), 'present.sql'))).rejects.toThrow(/not found/);
    await expect(readAll(extractEntry(archive, '../etc/passwd'))).rejects.toThrow(/segment/);
  });

  it('a failing source rejects, and leaves neither a partial entry nor a partial archive', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'a.7z');
    const writer = new ArchiveWriter(archive, { level: 1 });
    await writer.addStream('kept.sql', Readable.from(['kept\n']));
    const before = readFileSync(archive);

    const source = failingSource(3 * 1024 * 1024);
    await expect(writer.addStream('broken.sql', source)).rejects.toThrow(/mysqldump died/);
    expect(readFileSync(archive).equals(before)).toBe(true);
    expect(await readdir(dir)).toEqual(['a.7z']);
    // The writer is still usable afterwards.
    await writer.addStream('next.sql', Readable.from(['next\n']));
    const inspection = await inspectArchive(archive);
    expect(inspection.ok && byName(inspection.entries)).toEqual({ 'kept.sql': 5, 'next.sql': 5 });

    // Failing on the very first entry: no archive is left behind.
    const fresh = path.join(dir, 'fresh.7z');
    await expect(new ArchiveWriter(fresh, { level: 1 }).addStream('broken.sql', failingSource(1024 * 1024))).rejects.toThrow(/mysqldump died/);
    expect(existsSync(fresh)).toBe(false);
    expect(existsSync(`${fresh}.tmp`)).toBe(false);
  });

  it('abort() stops a running 7-Zip, and later calls reject', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'a.7z');
    const writer = new ArchiveWriter(archive, { level: 1 });
    await writer.addStream('kept.sql', Readable.from(['kept\n']));
    const before = readFileSync(archive);

    const endless = new PassThrough();
    endless.write(Buffer.alloc(256 * 1024, 0x42));
    const pending = writer.addStream('endless.sql', endless);
    const queued = writer.addStream('queued.sql', Readable.from(['never']));
    await new Promise((r) => setTimeout(r, 300));
    writer.abort();
    await expect(pending).rejects.toThrow(/aborted/);
    await expect(queued).rejects.toThrow(/aborted/);
    await expect(writer.addFiles([archive])).rejects.toThrow(/aborted/);
    expect(endless.destroyed).toBe(false); // the caller's stream is left alone
    endless.destroy();
    expect(readFileSync(archive).equals(before)).toBe(true);
    expect(await readdir(dir)).toEqual(['a.7z']);
  });

  it('addStream lets 7-Zip pace the source (backpressure)', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'a.7z');
    const source = new PassThrough({ highWaterMark: 64 * 1024 });
    const done = new ArchiveWriter(archive, { level: 9, threads: 1 }).addStream('random.bin', source);
    // Random data at -mx9 on one thread: 7-Zip takes it in at a few MB/s. Without backpressure the
    // source would be drained into the child's stdin buffer as fast as we can write.
    let accepted = 0;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline && accepted < 64 * 1024 * 1024) {
      accepted += 256 * 1024;
      if (!source.write(randomBytes(256 * 1024))) {
        await Promise.race([once(source, 'drain'), new Promise((r) => setTimeout(r, deadline - Date.now()))]);
      }
    }
    expect(accepted).toBeLessThan(48 * 1024 * 1024);
    source.end();
    await done;
    const inspection = await inspectArchive(archive);
    expect(inspection.ok && inspection.entries[0]?.size).toBe(accepted);
  });

  it('runs 7-Zip at a lower CPU priority than the service (niceness 10 above its own)', async () => {
    const dir = await freshDir();
    const source = new PassThrough();
    const done = new ArchiveWriter(path.join(dir, 'a.7z'), { level: 1 }).addStream('t.sql', source);
    // While it waits for its stdin: this process's children, their niceness from /proc (field 19).
    const childNiceness = () =>
      readdirSync('/proc')
        .filter((pid) => /^\d+$/.test(pid))
        .map((pid) => {
          try {
            return readFileSync(`/proc/${pid}/stat`, 'utf8');
          } catch {
            return '';
          }
        })
        .map((stat) => stat.slice(stat.lastIndexOf(')') + 2).split(' '))
        .filter((fields) => Number(fields[1]) === process.pid)
        .map((fields) => Number(fields[16]));
    await expect.poll(childNiceness, { timeout: 5_000 }).toEqual([Math.min(19, os.getPriority() + 10)]);
    source.end('SELECT 1;\n');
    await done;
  });

  it('extractEntry is paced by its reader and can be abandoned', async () => {
    const dir = await freshDir();
    const archive = path.join(dir, 'a.7z');
    await new ArchiveWriter(archive, { level: 1 }).addStream('big.sql', Readable.from(sqlLike(8 * 1024 * 1024, 4)));
    const stream = extractEntry(archive, 'big.sql');
    await once(stream, 'readable');
    await new Promise((r) => setTimeout(r, 1000));
    // Not read for a second: only the stream's own buffer (plus one chunk) is filled, not 8 MB.
    expect(stream.readableLength).toBeLessThan(1024 * 1024);
    stream.destroy();
    await once(stream, 'close');
  });
});

describe('encrypted archives (7-Zip 23+, the password on stdin)', () => {
  const password = 'pa ss;word"1 ü';

  it('knows which 7-Zip reads a password from stdin', () => {
    expect(readsPasswordFromStdin('7-Zip (z) 26.02 (x64)')).toBe(true);
    expect(readsPasswordFromStdin('7-Zip (z) 23.01 (x64)')).toBe(true);
    expect(readsPasswordFromStdin('7-Zip 22.01 (x64)')).toBe(false);
    expect(readsPasswordFromStdin('7-Zip (a) [64] 16.02 (p7zip Version 16.02)')).toBe(false);
  });

  it('writes AES-256 with encrypted headers: no name readable without the password, all with it', async () => {
    restoreEnv();
    expect(readsPasswordFromStdin(await sevenZipVersion(sevenZipBinary())), 'the test command installs 7-Zip 26').toBe(true);
    const dir = await freshDir();
    const archive = path.join(dir, 'secret.7z');
    const data = randomBytes(100_000);
    writeFileSync(path.join(dir, 'orders_secret.sql'), data);
    writeFileSync(path.join(dir, 'manifest.json'), '{"tables": {}}');
    const writer = new ArchiveWriter(archive, { level: 1, password });
    await writer.addFiles([path.join(dir, 'orders_secret.sql'), path.join(dir, 'manifest.json')]);
    await expect(writer.addStream('more.sql', Readable.from(['x']))).rejects.toThrow(/files only/);

    // Neither the names nor the data are readable without it.
    let listed = '';
    try {
      listed = execFileSync(sevenZipBinary(), ['l', '-slt', '-p', '--', archive], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      listed = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
    }
    expect(listed).not.toContain('orders_secret');
    expect(readFileSync(archive).includes(Buffer.from('orders_secret'))).toBe(false);
    expect(await inspectArchive(archive)).toEqual({ ok: false, reason: 'encrypted' });

    // Passwords are tried in order; the inspection says which opened it, never the password.
    const opened = await inspectArchive(archive, { passwords: ['old one', password] });
    expect(opened).toMatchObject({ ok: true, password: 1 });
    expect(JSON.stringify(opened)).not.toContain(password);
    expect(opened.ok && opened.entries.map((e) => [e.name, e.size])).toEqual([['manifest.json', 14], ['orders_secret.sql', data.length]]);
    expect(await inspectArchive(archive, { passwords: ['old one'] })).toEqual({ ok: false, reason: 'encrypted: none of the 1 configured password(s) opens it' });
    expect((await readAll(extractEntry(archive, 'orders_secret.sql', password))).equals(data)).toBe(true);
    await expect(readAll(extractEntry(archive, 'orders_secret.sql', 'old one'))).rejects.toThrow(/encrypted/);
  });
});

describe('sevenZipBinary', () => {
  afterEach(restoreEnv);

  it('uses SEVENZIP_BIN, and refuses a missing or non-executable one', async () => {
    const dir = await freshDir();
    process.env['SEVENZIP_BIN'] = path.join(dir, 'no-such-7z');
    expect(() => sevenZipBinary()).toThrow(/SEVENZIP_BIN=.*no such file/);
    const notExec = path.join(dir, 'not-exec');
    writeFileSync(notExec, '#!/bin/sh\n');
    chmodSync(notExec, 0o644);
    process.env['SEVENZIP_BIN'] = notExec;
    expect(() => sevenZipBinary()).toThrow(/not executable/);
    process.env['SEVENZIP_BIN'] = bundledP7zip;
    expect(sevenZipBinary()).toBe(bundledP7zip);
    delete process.env['SEVENZIP_BIN'];
    expect(path.isAbsolute(sevenZipBinary())).toBe(true);
  });

  it('summarizes 7-Zip stderr into one line', () => {
    const stderr = 'ERROR: /x/t.7z\n/x/t.7z\nOpen ERROR: Cannot open the file as [7z] archive\n\n\nERRORS:\nUnexpected end of archive\n';
    expect(summarizeStderr(stderr, { omit: ['/x/t.7z'] })).toBe('Cannot open the file as [7z] archive; Unexpected end of archive');
    expect(summarizeStderr('\nCommand Line Error:\nUnsupported switch:\n-zz\n')).toBe('Unsupported switch:; -zz');
  });
});
