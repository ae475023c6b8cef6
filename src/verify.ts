import type { MysqlSettings } from './config.js';
import { extractEntry, inspectArchive } from './archive/reader.js';
import { dumpFormatOf, madeByThisService, MANIFEST_ENTRY, readManifest, type Manifest } from './archive/manifest.js';
import type { VerifyJob } from './job-kinds.js';
import type { Logger } from './log.js';
import { ConsistentSnapshot } from './mysql/dump.js';
import { DUMP_FORMAT } from './mysql/dump-sql.js';
import { createTriggersOnLoaded } from './mysql/scratch-triggers.js';
import { swapNames } from './mysql/swap-names.js';
import { TableSwap } from './mysql/swap.js';
import { loadTable } from './mysql/table-load.js';
import { entryNameOf, type TableName } from './names.js';
import { Progress } from './progress.js';
import { tablesOf } from './store/catalog-entry.js';
import { streamDigest } from './store/local.js';
import { ReportBuilder, type VerifyReport } from './verify/report.js';

export interface VerifySettings {
  mysql: MysqlSettings;
  /** Names the deep check's scratch schema, as a restore's (so a crashed one is cleaned up at start). */
  deployment: string;
  deferIndexes: boolean;
  /** The rows of the service's own dumps loaded with LOAD DATA LOCAL INFILE where the server allows it. */
  loadData: boolean;
  archivePasswords: readonly string[];
}

/** The copies of the archive, as the processor found them; `path` is the one checked. */
export interface VerifySource {
  path: string;
  /** The SHA-256 of the local file, read just now (absent: there is none). */
  localSha256?: string;
  /** The object's digest and what its metadata says the file's SHA-256 is (absent: no object). */
  object?: { sha256: string; metadataSha256?: string };
}

interface Digest {
  size: number;
  sha256: string;
}

/**
 * Checks an archive end to end. Shallow: the two copies are the same bytes, every CRC holds
 * (7-Zip's test), the manifest names exactly the archive's tables, and each `.sql` has the
 * manifest's size and SHA-256. Deep, also: every table is loaded into a scratch schema (with its
 * triggers), its rows counted against the manifest, dumped again and compared byte for byte with
 * the archived `.sql` (the service's dump is deterministic: dump(restore(dump)) == dump); the
 * scratch schema is dropped afterwards. Never throws for what it finds: that is in the report.
 */
export async function verifyArchive(
  job: VerifyJob,
  source: VerifySource,
  settings: VerifySettings,
  log: Logger,
  signal: AbortSignal,
  progress = new Progress(),
): Promise<VerifyReport> {
  const report = new ReportBuilder(job.archive, job.deep);
  checkCopies(report, source);

  const passwords = settings.archivePasswords;
  const inspection = await inspectArchive(source.path, { test: true, passwords });
  signal.throwIfAborted();
  if (!inspection.ok) {
    report.archiveCheck('crc', false, inspection.reason);
    return report.build();
  }
  report.archiveCheck('crc', true, `${inspection.entries.length} entries tested`);
  const listed = tablesOf(job.archive, inspection);
  if (!listed.ok) {
    report.archiveCheck('tables', false, listed.reason);
    return report.build();
  }
  const password = inspection.password === undefined ? undefined : passwords[inspection.password];
  const tables = listed.tables.map((entry) => entry.slice(0, -'.sql'.length) as TableName);
  const hasManifest = inspection.entries.some((e) => e.name === MANIFEST_ENTRY);
  const manifest = hasManifest ? await readManifest(source.path, password) : null;
  checkManifest(report, hasManifest, manifest, tables);

  const sizes = new Map(inspection.entries.map((e) => [e.name, e.size]));
  progress.tablesTotal = tables.length;
  progress.bytesTotal = tables.reduce((sum, t) => sum + (sizes.get(entryNameOf(t)) ?? 0), 0) * (job.deep ? 2 : 1);
  const digests = new Map<TableName, Digest>();
  for (const table of tables) {
    const digest = await streamDigest(extractEntry(source.path, entryNameOf(table), password), (n) => (progress.bytesDone += n));
    signal.throwIfAborted();
    digests.set(table, digest);
    const expected = manifest?.tables[table];
    if (!expected) report.tableCheck(table, 'sha256', null, 'the archive has no manifest to compare with');
    else if (expected.sha256 !== digest.sha256 || expected.bytes !== digest.size) {
      report.tableCheck(table, 'sha256', false, `${digest.size} bytes, SHA-256 ${digest.sha256}; the manifest says ${expected.bytes} bytes, SHA-256 ${expected.sha256}`);
    } else report.tableCheck(table, 'sha256', true);
    if (!job.deep) progress.tablesDone++;
  }
  if (job.deep) {
    progress.rowsTotal = tables.reduce((sum, t) => sum + (manifest?.tables[t]?.rows ?? 0), 0);
    await restoreAndRedump(job, { path: source.path, password, tables, manifest, digests }, settings, report, log, signal, progress);
  }
  const built = report.build();
  log.info({ ok: built.ok, failures: built.failures.length, tables: tables.length, deep: job.deep }, 'archive verified');
  return built;
}

function checkCopies(report: ReportBuilder, source: VerifySource): void {
  const { localSha256, object } = source;
  if (!object) {
    return report.archiveCheck('copies', null, `only in the backup directory (SHA-256 ${localSha256 ?? 'unknown'}): no object to compare with`);
  }
  const problems: string[] = [];
  if (localSha256 !== undefined && localSha256 !== object.sha256) problems.push(`the file has SHA-256 ${localSha256}, the object in the bucket ${object.sha256}: the copies differ`);
  if (object.metadataSha256 !== undefined && object.metadataSha256 !== object.sha256) {
    problems.push(`the object's digest is SHA-256 ${object.sha256}, its metadata says the archive's is ${object.metadataSha256}`);
  }
  if (problems.length > 0) return report.archiveCheck('copies', false, problems.join('; '));
  if (localSha256 === undefined) return report.archiveCheck('copies', null, `only in the bucket; fetched with its digest checked (SHA-256 ${object.sha256})`);
  report.archiveCheck('copies', true, `the file and the object are the same bytes (SHA-256 ${localSha256})`);
}

function checkManifest(report: ReportBuilder, present: boolean, manifest: Manifest | null, tables: TableName[]): void {
  if (!present) return report.archiveCheck('manifest', null, 'the archive has no manifest.json (made by the original tool?): sizes, digests and rows cannot be compared');
  if (!manifest) return report.archiveCheck('manifest', false, 'manifest.json is not a readable manifest');
  const named = Object.keys(manifest.tables);
  const unlisted = tables.filter((t) => !Object.hasOwn(manifest.tables, t));
  const absent = named.filter((t) => !tables.includes(t as TableName));
  const problems = [
    ...(unlisted.length > 0 ? [`it does not list ${unlisted.map(entryNameOf).join(', ')}`] : []),
    ...(absent.length > 0 ? [`it lists ${absent.join(', ')}, which the archive does not hold`] : []),
  ];
  report.archiveCheck('manifest', problems.length === 0, problems.length === 0 ? `${named.length} tables listed` : problems.join('; '));
}

interface Archived {
  path: string;
  password: string | undefined;
  tables: TableName[];
  manifest: Manifest | null;
  digests: Map<TableName, Digest>;
}

/** The deep part: load → count → dump again → compare, in a scratch schema dropped at the end. */
async function restoreAndRedump(
  job: VerifyJob,
  archived: Archived,
  settings: VerifySettings,
  report: ReportBuilder,
  log: Logger,
  signal: AbortSignal,
  progress: Progress,
): Promise<void> {
  const { tables, manifest } = archived;
  const swap = await TableSwap.open(settings.mysql, swapNames(settings.deployment, job.id), tables);
  try {
    // Nothing an earlier attempt loaded is kept: its triggers may be half created.
    await swap.abandon();
    await swap.prepare();
    const scratch = swap.names.scratch;
    const sessions: string[][] = [];
    const loaded: TableName[] = [];
    for (const table of tables) {
      signal.throwIfAborted();
      let deferred: string[] = [];
      try {
        // One INSERT session: a table without a primary key keeps its rows in the dump's order.
        const result = await loadTable(
          settings.mysql,
          scratch,
          entryNameOf(table),
          () => extractEntry(archived.path, entryNameOf(table), archived.password),
          { insertConnections: 1, deferIndexes: settings.deferIndexes, loadData: settings.loadData && madeByThisService(manifest) },
          (bytes) => (progress.bytesDone += bytes),
          signal,
        );
        deferred = result.deferred;
      } catch (err) {
        signal.throwIfAborted();
        report.tableCheck(table, 'load', false, (err as Error).message);
        sessions.push([]);
        continue;
      }
      sessions.push(deferred);
      const rows = await swap.rowCount(table);
      progress.rowsDone += rows;
      const expected = manifest?.tables[table]?.rows;
      if (expected === undefined) report.tableCheck(table, 'rows', null, `${rows} rows loaded; no manifest to compare with`);
      else report.tableCheck(table, 'rows', rows === expected, rows === expected ? `${rows} rows` : `${rows} rows loaded, the manifest says ${expected}`);
      loaded.push(table);
    }
    await createTriggersOnLoaded(settings.mysql, scratch, tables, sessions).catch((err: unknown) => {
      report.archiveCheck('triggers', false, (err as Error).message);
    });
    if (loaded.length > 0) await redump(loaded, archived, { ...settings.mysql, database: scratch }, report, signal, progress);
    log.info({ scratch, tables: loaded.length }, 'archive restored into a scratch schema and dumped again');
  } finally {
    await swap.abandon().catch((err: unknown) => log.warn({ err }, 'the scratch schema could not be removed; the next start removes it'));
    await swap.close();
  }
}

async function redump(tables: TableName[], archived: Archived, scratch: MysqlSettings, report: ReportBuilder, signal: AbortSignal, progress: Progress): Promise<void> {
  const snapshot = await ConsistentSnapshot.open(scratch, tables, 1);
  try {
    for (const table of tables) {
      const again = await streamDigest(snapshot.dumpTable(table), (n) => (progress.bytesDone += n));
      signal.throwIfAborted();
      const before = archived.digests.get(table) as Digest;
      if (!archived.manifest) {
        // The original tool's dumps are mysqldump's: another format, so no byte comparison.
        report.tableCheck(table, 'redump', null, 'not a dump of this service: loaded, not compared byte for byte');
      } else if (dumpFormatOf(archived.manifest) !== DUMP_FORMAT) {
        report.tableCheck(table, 'redump', null, `dumped by an earlier version of the service (dump format ${dumpFormatOf(archived.manifest)}, now ${DUMP_FORMAT}): loaded, not compared byte for byte`);
      } else if (again.sha256 === before.sha256 && again.size === before.size) {
        report.tableCheck(table, 'redump', true, `dumped again: the same ${again.size} bytes`);
      } else {
        report.tableCheck(table, 'redump', false, `dumped again after the restore: ${again.size} bytes, SHA-256 ${again.sha256}; the archive's ${before.size} bytes, SHA-256 ${before.sha256}`);
      }
      progress.tablesDone++;
    }
  } finally {
    await snapshot.close();
  }
}
