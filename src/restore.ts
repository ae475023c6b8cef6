import type { MysqlSettings } from './config.js';
import { extractEntry, inspectArchive } from './archive/reader.js';
import { madeByThisService, MANIFEST_ENTRY, readManifest } from './archive/manifest.js';
import { ConflictError, NotFoundError } from './errors.js';
import type { RestoreJob } from './job-kinds.js';
import { targetNameOf } from './job-kinds.js';
import { Progress } from './progress.js';
import type { Logger } from './log.js';
import { loadTable } from './mysql/table-load.js';
import { swapNames } from './mysql/swap-names.js';
import { TableSwap, type SwapTarget } from './mysql/swap.js';
import { entryNameOf, type TableName } from './names.js';

export interface RestoreSettings {
  mysql: MysqlSettings;
  restoreParallelism: number;
  /** Sessions one table's INSERTs are spread over (default 1: on 2 cores more only competed; see the README). */
  insertConnections?: number;
  /** Secondary indexes built after the rows (default on). */
  deferIndexes?: boolean;
  /** The rows of the service's own dumps loaded with LOAD DATA LOCAL INFILE where the server allows it (default on). */
  loadData?: boolean;
  /** Tells this deployment's scratch schemas apart from another's on the same server. */
  deployment: string;
  /** Tried in order on an encrypted archive. */
  archivePasswords?: readonly string[];
}

export interface ArchiveCopy {
  path: string;
  /** Fetched from the object store for this job (so never CRC-tested before): test it first. */
  fetched: boolean;
}

/**
 * Runs a restore job atomically: each requested `<table>.sql` streams out of the archive (7-Zip
 * `-so`) through the statement splitter into a scratch schema (tables in parallel); the row
 * counts are checked against the manifest; then ONE `RENAME TABLE` swaps all of them in, and
 * only then are the old tables dropped. Anything that fails before the swap leaves the live
 * tables untouched and the scratch schema removed. After the swap the scratch schema is left
 * for `removeScratch`, once the job's completion is recorded.
 */
export async function restoreTables(
  job: RestoreJob,
  archive: ArchiveCopy,
  settings: RestoreSettings,
  log: Logger,
  signal?: AbortSignal,
  progress = new Progress(),
): Promise<void> {
  const { path } = archive;
  // A local archive was tested when the request was answered, and extraction checks each CRC.
  const passwords = settings.archivePasswords ?? [];
  const inspection = await inspectArchive(path, { test: archive.fetched, passwords });
  if (!inspection.ok) throw new ConflictError(`archive ${job.archive} is unreadable: ${inspection.reason}`);
  const password = inspection.password === undefined ? undefined : passwords[inspection.password];
  const missing = job.tables.filter((t) => !inspection.entries.some((e) => e.name === entryNameOf(t)));
  if (missing.length > 0) throw new NotFoundError(`archive ${job.archive} does not hold ${missing.map(entryNameOf).join(', ')}`);
  const manifest = inspection.entries.some((e) => e.name === MANIFEST_ENTRY) ? await readManifest(path, password) : null;

  progress.tablesTotal = job.tables.length;
  const sizeOf = (table: TableName) => inspection.entries.find((e) => e.name === entryNameOf(table))?.size ?? 0;
  progress.bytesTotal = job.tables.reduce((sum, t) => sum + sizeOf(t), 0);
  // Rows are known from the manifest only (archives of the original tool have none), and counted per table loaded.
  progress.rowsTotal = job.tables.reduce((sum, t) => sum + (manifest?.tables[t]?.rows ?? 0), 0);

  const swap = await TableSwap.open(settings.mysql, swapNames(settings.deployment, job.id), job.tables, targetOf(job));
  try {
    if (await swap.swappedEarlier()) {
      progress.tablesDone = progress.tablesTotal;
      log.info({ tables: job.tables, database: swap.live }, 'an earlier attempt of this job swapped the tables in; nothing left to do');
      return;
    }
    const kept = await swap.prepare();
    const sessions = new Map<TableName, string[]>();
    for (const [table, loaded] of kept) {
      if (!job.tables.includes(table as TableName)) continue;
      sessions.set(table as TableName, loaded.deferred);
      progress.tablesDone++;
      progress.tablesKept++;
      progress.rowsDone += loaded.rows;
      progress.bytesDone += sizeOf(table as TableName);
    }
    if (sessions.size > 0) log.info({ kept: [...sessions.keys()] }, 'resuming: the tables an earlier attempt loaded are kept');
    const loadsFailed = new AbortController();
    const loadSignal = signal ? AbortSignal.any([signal, loadsFailed.signal]) : loadsFailed.signal;
    // Biggest first: the last table to finish is then a small one, not one that loads alone for long.
    const queue = job.tables.filter((table) => !sessions.has(table)).sort((a, b) => sizeOf(b) - sizeOf(a));
    const worker = async () => {
      for (let table = queue.shift(); table !== undefined; table = queue.shift()) {
        loadSignal.throwIfAborted();
        const loaded = await loadTable(
          settings.mysql,
          swap.names.scratch,
          entryNameOf(table),
          () => extractEntry(path, entryNameOf(table), password),
          { insertConnections: settings.insertConnections ?? 1, deferIndexes: settings.deferIndexes ?? true, loadData: (settings.loadData ?? true) && madeByThisService(manifest) },
          (bytes) => (progress.bytesDone += bytes),
          loadSignal,
        );
        sessions.set(table, loaded.deferred);
        // Checked while the other tables still load.
        const expected = manifest?.tables[table]?.rows;
        const rows = loaded.rows ?? (await swap.rowCount(table));
        if (expected !== undefined) {
          if (rows !== expected) throw new ConflictError(`${entryNameOf(table)} loaded ${rows} rows, the archive's manifest says ${expected}`);
          progress.rowsDone += rows;
        }
        await swap.markLoaded(table, { rows, deferred: loaded.deferred });
        progress.tablesDone++;
        log.info({ table, statements: loaded.statements, indexesDeferred: loaded.indexesDeferred, insertSessions: loaded.insertSessions, loadDataRuns: loaded.loadDataRuns }, 'table loaded into the scratch schema');
      }
    };
    const guarded = async () => {
      try {
        await worker();
      } catch (err) {
        queue.length = 0;
        loadsFailed.abort(err); // the other loads stop too
        throw err;
      }
    };
    // Settled, not raced: the scratch schema is dropped only once no load is still writing to it.
    const results = await Promise.allSettled(Array.from({ length: Math.min(settings.restoreParallelism, queue.length) }, guarded));
    // The first failure, not the aborts it caused in the other loads.
    if (loadsFailed.signal.aborted) throw loadsFailed.signal.reason;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    signal?.throwIfAborted();
    await swap.swap(job.tables.map((table) => sessions.get(table) ?? []));
    for (const warning of swap.warnings) log.warn({ warning }, 'restored with a warning');
    log.info({ tables: job.tables, database: swap.live, names: job.tables.map((t) => swap.nameOf(t)) }, 'tables swapped in');
  } catch (err) {
    await swap.abandon().catch((cleanupErr: unknown) => log.warn({ err: cleanupErr }, 'the scratch schema could not be removed; the next start removes it'));
    throw err;
  } finally {
    await swap.close();
  }
}

/** A `<p>.restoreinto` job's database and new names; a plain restore's are the service's own. */
function targetOf(job: RestoreJob): SwapTarget {
  return {
    ...(job.database !== undefined && { database: job.database }),
    ...(job.rename !== undefined && { names: new Map(job.tables.map((t) => [t, targetNameOf(job, t)])) }),
  };
}
