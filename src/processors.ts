import { hostname } from 'node:os';
import { rm } from 'node:fs/promises';
import type { Config } from './config.js';
import { makeBackup, type BackupResult } from './backup.js';
import type { JobQueue } from './job-queue.js';
import { lockTargetsOf, newVerifyJob, verifyJobIdAfter, type BackupJob, type Job, type JobResult, type RestoreJob, type VerifyJob } from './job-kinds.js';
import { JobFailure, type JobContext, type Processor } from './jobs/processor.js';
import type { Logger } from './log.js';
import { PermanentJobError } from './permanent-job-error.js';
import { restoreTables } from './restore.js';
import { swapNames } from './mysql/swap-names.js';
import { removeScratch } from './mysql/swap-recovery.js';
import type { Catalog } from './store/catalog.js';
import type { ArchiveBucket } from './store/objects.js';
import type { ArchiveMetadata, StoredArchive } from './store/stored-archive.js';
import type { ArchivePins } from './store/pins.js';
import type { Retention } from './store/retention.js';
import { fileDigest } from './store/local.js';
import { verifyArchive, type VerifySource } from './verify.js';
import type { VerifyReport } from './verify/report.js';

export interface ProcessorDeps {
  config: Config;
  /** Queues the verify that VERIFY_AFTER_BACKUP asks for. */
  queue: JobQueue;
  catalog: Catalog;
  bucket: ArchiveBucket;
  pins: ArchivePins;
  retention: Retention;
}

/**
 * What each kind of job does. A backup: dump → archive → the backup directory → the object store,
 * done only when both copies are in place and the object's digest is the file's. A restore: the
 * archive (fetched from the object store when this machine lacks it) → the tables, holding the
 * locks of the tables it writes.
 */
export function createProcessors(deps: ProcessorDeps): Processor<Job>[] {
  const backup: Processor<BackupJob> = {
    kind: 'backup',
    startingProgress: (job) => ({ tablesTotal: job.tables.length }),
    run: (job, context) => runBackup(job, context, deps),
  };
  const restore: Processor<RestoreJob> = {
    kind: 'restore',
    locks: lockTargetsOf,
    startingProgress: (job) => ({ tablesTotal: job.tables.length }),
    run: (job, context) => runRestore(job, context, deps),
    // Only now: until the completion is recorded, the scratch schema tells a redelivery that the swap happened.
    completed: (job) => removeScratch(deps.config.mysql, swapNames(deploymentOf(deps.config), job.id).scratch),
  };
  const verify: Processor<VerifyJob> = {
    kind: 'verify',
    startingProgress: (job) => ({ tablesTotal: job.tables.length }),
    run: (job, context) => runVerify(job, context, deps),
  };
  return [backup, restore, verify] as Processor<Job>[];
}

async function runBackup(job: BackupJob, { signal, log, progress }: JobContext, deps: ProcessorDeps): Promise<JobResult> {
  const { config, catalog, bucket } = deps;
  const started = Date.now();
  const earlier = await bucket.info(job.archive);
  if (earlier?.metadata.job === job.id) {
    // An earlier attempt (maybe on another instance) stored the object and then lost its ack, or
    // died before its local rename. The result names the local path: the file must be there.
    if (await catalog.dir.has(job.archive)) log.info('an earlier attempt of this job stored the archive; nothing left to do');
    else await fetchLocalCopy(job, earlier, catalog, log, signal);
    return { ...resultOf(job, catalog.dir.pathOf(job.archive), earlier, started), ...(await verifyAfter(job, deps, log)) };
  }
  if (earlier) throw new PermanentJobError(`the object store already holds another ${job.archive} (made by job ${earlier.metadata.job ?? 'unknown'})`);
  const settings = { mysql: config.mysql, dir: catalog.dir, sevenZipLevel: config.sevenZipLevel, sevenZipMethod: config.sevenZipMethod, dumpParallelism: config.dumpParallelism, streamMinBytes: config.dumpStreamMinBytes, archivePassword: config.archivePasswords[0] };
  let stored: StoredArchive | null = null;
  const backup = await makeBackup(job, settings, log, signal, progress, async (archive) => {
    const putStarted = Date.now();
    stored = await bucket.put(job.archive, archive.path, metadataOf(job, archive, config), signal);
    log.info({ bucket: bucket.name, digest: stored.sha256, ms: Date.now() - putStarted }, 'archive stored in the object store');
  });
  await catalog.remember(job.archive, backup.sha256, backup.listing);
  // An archive an earlier attempt published here before the object store copy existed: store it now.
  stored ??= await bucket.put(job.archive, backup.path, metadataOf(job, backup, config), signal);
  await deps.retention.prune().catch((err: unknown) => log.warn({ err }, 'retention failed; it runs again later'));
  return { ...resultOf(job, backup.path, stored, started), ...(await verifyAfter(job, deps, log)) };
}

/** The archive an earlier attempt stored only in the bucket, fetched (digest checked) to its promised local name. */
async function fetchLocalCopy(job: BackupJob, stored: StoredArchive, catalog: Catalog, log: Logger, signal: AbortSignal): Promise<void> {
  const temp = catalog.dir.fetchPath(job.id);
  try {
    const copy = await catalog.localCopy(job.archive, temp, signal);
    if (copy.fetched) await catalog.dir.publish(copy.path, job.archive);
  } finally {
    await rm(temp, { force: true });
  }
  await catalog.remember(job.archive, stored.sha256);
  log.info('an earlier attempt of this job stored the archive in the object store only; fetched its local copy');
}

/**
 * VERIFY_AFTER_BACKUP: a verify of the new archive, queued as a job of its own (the backup is
 * done either way; the verify's state says whether the archive holds). Its id follows from the
 * backup's, so a retried backup queues it once.
 */
async function verifyAfter(job: BackupJob, deps: ProcessorDeps, log: Logger): Promise<Pick<JobResult, 'verify'>> {
  const mode = deps.config.verifyAfterBackup;
  if (mode === 'off') return {};
  const verify = newVerifyJob(job.archive, job.tables, mode === 'deep', verifyJobIdAfter(job.id));
  const summary = { verify: { job: verify.id, deep: verify.deep } };
  try {
    // Queued by an earlier attempt of this backup already (its state must not go back to queued).
    if (await deps.queue.states.get(verify.id)) return summary;
    await deps.queue.enqueuePinned(verify, deps.pins, (name) => deps.catalog.has(name));
  } catch (err) {
    log.warn({ err }, 'could not queue the verify of the new archive');
    return {};
  }
  log.info({ verifyJob: verify.id, deep: verify.deep }, 'verify of the new archive queued');
  return summary;
}

async function runRestore(job: RestoreJob, { signal, log, progress }: JobContext, deps: ProcessorDeps): Promise<null> {
  const { config, catalog } = deps;
  const tempPath = catalog.dir.fetchPath(job.id);
  try {
    const copy = await catalog.localCopy(job.archive, tempPath, signal);
    const settings = {
      mysql: config.mysql,
      restoreParallelism: config.restoreParallelism,
      insertConnections: config.restoreInsertConnections,
      deferIndexes: config.restoreDeferIndexes,
      loadData: config.restoreLoadData,
      deployment: deploymentOf(config),
      archivePasswords: config.archivePasswords,
    };
    await restoreTables(job, copy, settings, log, signal, progress);
  } finally {
    await rm(tempPath, { force: true });
  }
  await deps.pins.unpin(job.archive, job.id).catch((err: unknown) => log.warn({ err }, 'unpinning the archive failed; retention clears it later'));
  return null;
}

/**
 * Checks the archive where it is: the local file (its digest read again, compared with the
 * object's), or the object fetched to a temporary file. A report with failures fails the job,
 * keeping the report as its result.
 */
async function runVerify(job: VerifyJob, { signal, log, progress }: JobContext, deps: ProcessorDeps): Promise<VerifyReport> {
  const { config, catalog } = deps;
  const tempPath = catalog.dir.fetchPath(job.id);
  let report: VerifyReport;
  try {
    const entry = await catalog.find(job.archive);
    if (!entry) throw new PermanentJobError(`archive ${job.archive} not found`);
    const object = entry.object && { sha256: entry.object.sha256, ...(entry.object.metadata.sha256 !== undefined && { metadataSha256: entry.object.metadata.sha256 }) };
    let source: VerifySource;
    if (entry.local) {
      const path = catalog.dir.pathOf(job.archive);
      source = { path, localSha256: (await fileDigest(path)).sha256, ...(object && { object }) };
    } else {
      source = { path: (await catalog.localCopy(job.archive, tempPath, signal)).path, ...(object && { object }) };
    }
    const settings = { mysql: config.mysql, deployment: deploymentOf(config), deferIndexes: config.restoreDeferIndexes, loadData: config.restoreLoadData, archivePasswords: config.archivePasswords };
    report = await verifyArchive(job, source, settings, log, signal, progress);
  } finally {
    await rm(tempPath, { force: true });
  }
  // A failed attempt keeps its pin for the retry; retention clears the pins of jobs that are over.
  await deps.pins.unpin(job.archive, job.id).catch((err: unknown) => log.warn({ err }, 'unpinning the archive failed; retention clears it later'));
  if (!report.ok) throw new JobFailure(`archive ${job.archive} failed verification: ${report.failures.join('; ')}`, report);
  return report;
}

/**
 * What the instances of one deployment share and another deployment on the same MySQL server
 * does not: names its scratch schemas, so each cleans up only its own.
 */
export function deploymentOf(config: Config): string {
  return `${config.jobStateBucket}|${config.subjectPrefix}|${config.mysql.database}`;
}

function metadataOf(job: BackupJob, backup: BackupResult, config: Config): ArchiveMetadata {
  // An encrypted archive's table names are not written next to it: the bucket has more readers.
  const encrypted = config.archivePasswords.length > 0;
  return {
    ...(encrypted ? { encrypted: 'true' } : { tables: backup.entries.join(',') }),
    size: String(backup.size),
    sha256: backup.sha256,
    created: new Date().toISOString(),
    host: `${config.mysql.host}:${config.mysql.port}`,
    database: config.mysql.database,
    job: job.id,
    instance: hostname(),
    ...(job.schedule !== undefined && { schedule: job.schedule }),
    ...(job.slot !== undefined && { slot: job.slot }),
  };
}

function resultOf(job: BackupJob, path: string, stored: StoredArchive, started: number): JobResult {
  return {
    archive: job.archive,
    path,
    size: stored.size,
    sha256: stored.sha256,
    durationMs: Date.now() - started,
    bucket: { name: stored.bucket, digest: stored.digest },
  };
}
