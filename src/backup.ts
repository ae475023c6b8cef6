import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import type { MysqlSettings } from './config.js';
import { ArchiveWriter, type CompressionMethod } from './archive/writer.js';
import { inspectArchive, type Inspection } from './archive/reader.js';
import { DigestStream } from './backup/digest-stream.js';
import { checkWritten, crc32Hex, type WrittenEntry } from './archive/written.js';
import { buildManifest, MANIFEST_ENTRY, type TableSummary } from './archive/manifest.js';
import type { BackupJob } from './job-kinds.js';
import { Progress } from './progress.js';
import { ConsistentSnapshot } from './mysql/dump.js';
import type { Logger } from './log.js';
import { entryNameOf, type TableName } from './names.js';
import { tablesOf } from './store/catalog-entry.js';
import { fileDigest, type BackupDir } from './store/local.js';

export interface BackupSettings {
  mysql: MysqlSettings;
  dir: BackupDir;
  sevenZipLevel: number;
  /** 7-Zip's method (LZMA2 when omitted). */
  sevenZipMethod?: CompressionMethod;
  dumpParallelism: number;
  /** A table streams into 7-Zip once its dump is past this many bytes (default 8 MiB; held in memory until then). */
  streamMinBytes?: number;
  /** Encrypts the archive (AES-256, headers too); undefined: a plain archive. */
  archivePassword?: string;
}

export interface BackupResult {
  path: string;
  /** Bytes and SHA-256 of the archive file itself. */
  size: number;
  sha256: string;
  /** The table entries as the archive lists them (what `archive` replies). */
  entries: string[];
  /** The header listing the new archive was checked with (absent for one an earlier attempt published). */
  listing?: Inspection;
}

/**
 * Runs a backup job: one snapshot → table dumps → one archive under a temp name → checked →
 * `beforePublish` (the object store copy) → renamed to the promised name. A retried job starts from its own clean temp files; one whose
 * earlier attempt already published the archive (the name is reserved for this job) uses it.
 */
export async function makeBackup(
  job: BackupJob,
  settings: BackupSettings,
  log: Logger,
  signal?: AbortSignal,
  progress = new Progress(),
  /**
   * Runs on the checked archive at its temp path, before it takes its promised name: the object
   * store copy goes first, so a process that dies in between leaves only a temp file (removed at
   * its next start) and never a local archive that a retry elsewhere would make again differently.
   */
  beforePublish: (archive: BackupResult) => Promise<void> = async () => undefined,
): Promise<BackupResult> {
  const { dir } = settings;
  if (await dir.has(job.archive)) return publishedEarlier(job, dir, log, settings.archivePassword);
  const tempPath = dir.tempArchivePath(job.id);
  await dir.removeJobFiles(job.id);
  const password = settings.archivePassword;
  const writer = new ArchiveWriter(tempPath, { level: settings.sevenZipLevel, method: settings.sevenZipMethod, password });
  const onAbort = () => writer.abort();
  signal?.addEventListener('abort', onAbort);
  try {
    const phases = new PhaseClock();
    const snapshot = await ConsistentSnapshot.open(settings.mysql, job.tables, settings.dumpParallelism);
    phases.end('snapshot');
    progress.tablesTotal = job.tables.length;
    progress.rowsTotal = snapshot.estimatedRows;
    let packed: Packed;
    try {
      // 7-Zip reads an archive's password from the stdin a streamed table would come through.
      const streamMinBytes = settings.sevenZipLevel <= STREAMING_MAX_LEVEL && password === undefined ? (settings.streamMinBytes ?? STREAMING_MIN_BYTES) : null;
      packed = await packTables(job.tables, snapshot, writer, dir.spoolDir(job.id), settings.dumpParallelism, streamMinBytes, progress, log, (tables) =>
        JSON.stringify(buildManifest(settings.mysql.database, snapshot.info, tables, scheduledOf(job)), null, 2),
      );
    } finally {
      await snapshot.close();
    }
    const { summaries } = packed;
    phases.end('dumpAndCompress');
    signal?.throwIfAborted();
    const inspection = await checkWritten(tempPath, packed.written, password);
    phases.end('check');
    const tables = tablesOf(job.archive, inspection);
    if (!tables.ok) throw new Error(tables.reason);
    const { size, sha256 } = await fileDigest(tempPath);
    phases.end('digest');
    signal?.throwIfAborted();
    await beforePublish({ path: tempPath, size, sha256, entries: tables.tables });
    phases.end('beforePublish');
    await dir.publish(tempPath, job.archive);
    log.info({ size, tables: Object.fromEntries([...summaries].map(([t, s]) => [t, s.rows])), phasesMs: phases.ms }, 'archive published');
    return { path: dir.pathOf(job.archive), size, sha256, entries: tables.tables, listing: inspection };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await dir.removeJobFiles(job.id);
  }
}

function scheduledOf(job: BackupJob): { schedule?: string; slot?: string } {
  return { ...(job.schedule !== undefined && { schedule: job.schedule }), ...(job.slot !== undefined && { slot: job.slot }) };
}

async function publishedEarlier(job: BackupJob, dir: BackupDir, log: Logger, password: string | undefined): Promise<BackupResult> {
  const path = dir.pathOf(job.archive);
  const tables = tablesOf(job.archive, await inspectArchive(path, { passwords: password === undefined ? [] : [password] }));
  if (!tables.ok) throw new Error(`an earlier attempt left ${tables.reason}`);
  const { size, sha256 } = await fileDigest(path);
  log.info({ size }, 'an earlier attempt of this job published the archive; using it');
  return { path, size, sha256, entries: tables.tables };
}

/**
 * Up to this 7-Zip level the first table streams into 7-Zip while the others are dumped. Above
 * it compression is so much slower than the dump that overlapping gains little, and 7-Zip reads
 * files faster than its stdin (level 5, 60 MB of the bench's SQL: 48.8 s as files in one run,
 * 52.7 s streamed and then added), so every table is spooled and compressed in one run.
 */
const STREAMING_MAX_LEVEL = 3;

/**
 * The table 7-Zip waits for is read into memory up to this many bytes (DUMP_STREAM_MIN_MB) before
 * it streams in. A table whose whole dump is smaller spools instead and goes in with the tables
 * after it and the manifest in ONE 7-Zip run: streaming it would overlap nothing and cost another
 * run, which copies the archive written so far. A backup of one small table then starts 7-Zip
 * twice instead of three times (500 queued one-table backups: 8.6 s instead of 10.2 s on the
 * bench machine). The dump itself decides, not the server's size estimate, which MySQL 8 caches
 * for a day (information_schema_stats_expiry): a table that grew since would spool whole.
 */
const STREAMING_MIN_BYTES = 8 * 1024 * 1024;

interface TableSlot {
  table: TableName;
  state: 'pending' | 'direct' | 'spooling' | 'spooled';
  spoolPath: string;
  spooled?: Promise<void>;
}

/**
 * Dumps up to `parallelism` tables at once while 7-Zip compresses. With `streamMinBytes` (not
 * null), the table the compressor waits for streams straight into it once its dump is past that
 * size; the others spool to disk until the compressor is free, and then go in together in one
 * 7-Zip run. So a single big table is never written twice, and with several tables the dump hides
 * behind compression (or the other way round). Without it, all tables spool and go in together.
 */
async function packTables(
  tables: TableName[],
  snapshot: ConsistentSnapshot,
  writer: ArchiveWriter,
  spoolDir: string,
  parallelism: number,
  streamMinBytes: number | null,
  progress: Progress,
  log: Logger,
  manifestFor: (tables: Map<string, TableSummary & { entry: string }>) => string,
): Promise<Packed> {
  await mkdir(spoolDir, { recursive: true });
  const summaries = new Map<string, TableSummary & { entry: string }>();
  const written = new Map<string, WrittenEntry>();
  const manifest = async (): Promise<string> => {
    const text = Buffer.from(manifestFor(summaries));
    written.set(MANIFEST_ENTRY, { bytes: text.length, crc: crc32Hex(crc32(text)) });
    return writeManifest(spoolDir, text);
  };
  const slots: TableSlot[] = tables.map((table) => ({ table, state: 'pending', spoolPath: join(spoolDir, entryNameOf(table)) }));
  let nextToStart = 0;
  let busy = 0;
  let compressorWaitsFor = -1;
  let handOver: ((stream: Readable) => void) | null = null;
  let failure: Error | null = null;
  let wakeCompressor: (() => void) | null = null;

  const dumpOf = (slot: TableSlot): Readable => {
    const dump = snapshot.dumpTable(slot.table);
    const digest = new DigestStream((bytes) => (progress.bytesDone += bytes));
    dump.on('rows', (rows: number) => (progress.rowsDone += rows));
    dump.on('error', (err) => digest.destroy(err));
    digest.on('finish', () => {
      summaries.set(slot.table, { entry: entryNameOf(slot.table), rows: dump.rows, bytes: digest.bytes, sha256: digest.hex() });
      written.set(entryNameOf(slot.table), { bytes: digest.bytes, crc: crc32Hex(digest.crc32) });
      progress.tablesDone++;
    });
    return dump.pipe(digest);
  };

  const fail = (err: Error) => {
    failure ??= err;
    wakeCompressor?.();
  };

  const startDumps = () => {
    while (busy < parallelism && nextToStart < slots.length && !failure) {
      const index = nextToStart++;
      const slot = slots[index] as TableSlot;
      busy++;
      const stream = dumpOf(slot);
      const finished = () => {
        busy--;
        startDumps();
      };
      if (index === compressorWaitsFor && handOver) {
        slot.state = 'direct';
        stream.once('end', finished);
        stream.once('error', finished);
        handOver(stream);
        handOver = null;
      } else {
        slot.state = 'spooling';
        slot.spooled = pipeline(stream, createWriteStream(slot.spoolPath)).then(
          () => {
            log.debug({ table: slot.table }, 'table spooled');
            slot.state = 'spooled';
            finished();
            wakeCompressor?.();
          },
          (err: Error) => {
            finished();
            fail(err);
            throw err;
          },
        );
        slot.spooled.catch(() => undefined);
      }
    }
  };

  /** The tables from `from` on, all spooled (or spooling), with the manifest in one 7-Zip run. */
  const addSpooledFrom = async (from: number): Promise<Packed> => {
    const rest = slots.slice(from);
    // In order: by the time one has spooled, the dump after it has started.
    for (const slot of rest) {
      await slot.spooled;
      if (failure) throw failure;
    }
    log.debug({ files: rest.length + 1 }, 'compressing all spooled tables in one run');
    await writer.addFiles([...rest.map((slot) => slot.spoolPath), await manifest()]);
    return { summaries, written };
  };

  if (streamMinBytes === null) {
    startDumps();
    return addSpooledFrom(0);
  }
  // No dump starts before the compressor asks for its first table: that one streams straight in.
  for (let index = 0; index < slots.length; ) {
    if (failure) throw failure;
    const slot = slots[index] as TableSlot;
    if (slot.state === 'spooled') {
      const batch: string[] = [];
      while (index < slots.length && slots[index]?.state === 'spooled') batch.push((slots[index++] as TableSlot).spoolPath);
      if (index === slots.length) batch.push(await manifest());
      log.debug({ files: batch.length }, 'compressing spooled tables');
      await writer.addFiles(batch);
    } else if (slot.state === 'spooling') {
      await slot.spooled;
    } else if (slot.state === 'pending') {
      compressorWaitsFor = index;
      const stream = await new Promise<Readable>((resolve, reject) => {
        handOver = resolve;
        wakeCompressor = () => failure && reject(failure);
        startDumps();
      });
      wakeCompressor = null;
      const head = await readHead(stream, streamMinBytes);
      if (head.ended) {
        slot.spooled = writeFile(slot.spoolPath, Buffer.concat(head.chunks));
        slot.state = 'spooled';
        return addSpooledFrom(index);
      }
      if (head.chunks.length > 0) stream.unshift(Buffer.concat(head.chunks));
      log.debug({ table: slot.table }, 'compressing a table as it is dumped');
      await writer.addStream(entryNameOf(slot.table), stream);
      index++;
      if (index === slots.length) await writer.addFiles([await manifest()]);
    }
  }
  return { summaries, written };
}

/**
 * Reads `stream` (paused) until `limit` bytes or its end, whichever comes first. Not ended: the
 * caller puts the chunks back (`unshift`) and reads on.
 */
async function readHead(stream: Readable, limit: number): Promise<{ chunks: Buffer[]; ended: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < limit) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      size += chunk.length;
      continue;
    }
    if (stream.readableEnded) return { chunks, ended: true };
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        stream.off('readable', onReadable).off('end', onEnd).off('error', settle).off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onReadable = () => settle();
      const onEnd = () => settle();
      // Destroyed without an error: it will never end.
      const onClose = () => settle(stream.readableEnded ? undefined : new Error('the dump stream closed before its end'));
      stream.on('readable', onReadable).on('end', onEnd).on('error', settle).on('close', onClose);
    });
  }
  return { chunks, ended: false };
}

interface Packed {
  summaries: Map<string, TableSummary & { entry: string }>;
  written: Map<string, WrittenEntry>;
}

async function writeManifest(spoolDir: string, text: Buffer): Promise<string> {
  const path = join(spoolDir, MANIFEST_ENTRY);
  await writeFile(path, text);
  return path;
}

/** How long each step of a backup took, for the log (where the time goes). */
class PhaseClock {
  readonly ms: Record<string, number> = {};
  private last = Date.now();

  end(phase: string): void {
    const now = Date.now();
    this.ms[phase] = now - this.last;
    this.last = now;
  }
}
