import { hostname } from 'node:os';
import { connect } from '@nats-io/transport-node';
import { startApi } from './api/service.js';
import { readsPasswordFromStdin, sevenZipBinary, sevenZipVersion } from './archive/sevenzip.js';
import { ConfigError, describeConfig, loadConfig, type Config } from './config.js';
import { BackupNames } from './backup/names.js';
import { decodeJob, queuedState, type Job, type JobState } from './job-kinds.js';
import { JobQueue } from './job-queue.js';
import { openDeclaredBucket } from './jobs/declarations.js';
import { TableLocks } from './jobs/locks.js';
import { WorkQueue } from './jobs/queue.js';
import { JobLeases } from './jobs/job-lease.js';
import { retryTransient } from './transient.js';
import { JobRuntime } from './jobs/runtime.js';
import { JobStates } from './jobs/state.js';
import { createProcessors, deploymentOf } from './processors.js';
import { TableNames } from './mysql/table-names.js';
import { SessionPool } from './mysql/session-pool.js';
import { recoverAbandonedRestores } from './mysql/swap-recovery.js';
import { createLogger, type Logger } from './log.js';
import { natsConnectOptions } from './nats-options.js';
import { PACKAGE_DESCRIPTION, PACKAGE_NAME, PACKAGE_VERSION } from './package-info.js';
import { stopAllRetries } from './retry.js';
import { Catalog } from './store/catalog.js';
import { BackupDir } from './store/local.js';
import { ArchiveBucket } from './store/objects.js';
import { ArchivePins } from './store/pins.js';
import { Retention, retentionIsOn } from './store/retention.js';
import { Scheduler } from './schedules/scheduler.js';
import { SlotClaims } from './schedules/slots.js';

/** A temporary fetch this old belongs to no request still running (any instance sharing the dir). */
const STALE_FETCH_MS = 60 * 60_000;
/** How long a SIGTERM waits for the NATS connection to drain. */
const DRAIN_TIMEOUT_MS = 10_000;
/**
 * After a SIGTERM the process is gone by the grace period plus this, whatever is still waiting
 * (a drain that hangs, a write nobody answers): just under the 10 s the deployment promises.
 */
const EXIT_DEADLINE_AFTER_GRACE_MS = 9_500;
/** How often retention looks for old archives besides after each backup. */
const RETENTION_INTERVAL_MS = 5 * 60_000;
/** How long start-up waits out a cluster that moves (several leader elections of 4–9 s on 2.9). */
const STARTUP_RETRY_MS = 60_000;

/** Set once the service runs; a signal that comes earlier just ends the process. */
let shutdown: ((signal: string) => Promise<void>) | null = null;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => (shutdown ? void shutdown(signal) : process.exit(0)));
}

/**
 * A start-up step on JetStream, retried while the cluster moves: an instance started while a node
 * is down (a leader election under way) waits it out instead of exiting 1.
 */
function atStartup<T>(step: () => Promise<T>): Promise<T> {
  return retryTransient(step, { forMs: STARTUP_RETRY_MS });
}

/** The values the `streams/` declarations may use as `${NAME}`. */
function declarationSettings(config: Config): Record<string, string | number> {
  return {
    JOBS_STREAM: config.jobsStream,
    SUBJECT_PREFIX: config.subjectPrefix,
    QUEUE_GROUP: config.queueGroup,
    JS_REPLICAS: config.jsReplicas,
    JOB_ACK_WAIT: config.jobAckWaitMs,
    // One delivery more than attempts: the last, to record that the last attempt died (runtime.ts).
    JOB_DELIVERIES: config.jobMaxDeliver + 1,
    JOB_STATE_BUCKET: config.jobStateBucket,
    JOB_STATE_TTL: config.jobStateTtlMs,
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  try {
    await run(config, log);
  } catch (err) {
    log.fatal({ err }, 'service stopped on an error');
    process.exit(1);
  }
}

async function run(config: Config, log: Logger): Promise<void> {
  const bin = sevenZipBinary();
  const version = await sevenZipVersion(bin);
  log.info({ config: describeConfig(config), sevenZip: { bin, version } }, 'starting');
  if (config.archivePasswords.length > 0 && !readsPasswordFromStdin(version)) {
    throw new ConfigError(`ARCHIVE_PASSWORD(S) needs 7-Zip 23 or later, which reads passwords from stdin (${bin} is ${version}; install Debian's 7zip, or point SEVENZIP_BIN at 7zz)`);
  }

  const dir = new BackupDir(config.backupDir);
  await dir.ensure();
  const nc = await connect(natsConnectOptions(config));
  (async () => {
    for await (const status of nc.status()) log.info({ status: status.type }, 'NATS connection status');
  })().catch(() => undefined);

  // One KV bucket, several key spaces, each with one owner that gets the bucket here and is the
  // only one to read or write its keys: job. (JobStates), lock.table. (TableLocks), lock.job. (JobLeases), pin. and
  // prune. (ArchivePins), seq. (BackupNames), sched. (SlotClaims), verdict. (the catalog's Verdicts).
  const stateBucket = await atStartup(() => openDeclaredBucket(nc, 'job-state.kv.json', declarationSettings(config)));
  const work = await atStartup(() => WorkQueue.open(nc, {
    stream: config.jobsStream,
    subjectPrefix: config.subjectPrefix,
    consumer: config.queueGroup,
    ackWaitMs: config.jobAckWaitMs,
    maxDeliver: config.jobMaxDeliver,
  }, declarationSettings(config)));
  const states = new JobStates<JobState>(nc, stateBucket, config.subjectPrefix);
  const queue = new JobQueue(work, states, new BackupNames(stateBucket));
  const bucket = await atStartup(() => ArchiveBucket.open(nc, { bucket: config.objectBucket, replicas: config.jsReplicas, description: 'nats-mysql-tables-backup: the .7z archives' }, log));
  const catalog = new Catalog(dir, bucket, log, stateBucket, config.archivePasswords);
  catalog.startBackgroundTests();
  const pins = new ArchivePins(stateBucket);
  const isLiveJob = async (id: string) => ['queued', 'running'].includes((await states.get(id))?.status ?? '');
  const retention = new Retention(catalog, pins, isLiveJob, { keepLast: config.keepLast, maxAgeMs: config.maxAgeMs }, log);
  const isOverJob = async (id: string) => ['done', 'failed'].includes((await states.get(id))?.status ?? '');
  await dir.removeLeftovers(isLiveJob, STALE_FETCH_MS, Date.now(), isOverJob).then(
    (removed) => removed.length > 0 && log.info({ removed }, 'removed temporary files of work that died with its process'),
    (err: unknown) => log.warn({ err }, 'could not look for leftover temporary files'),
  );
  await recoverAbandonedRestores(config.mysql, deploymentOf(config), isLiveJob).then(
    (recovered) => recovered.length > 0 && log.info({ recovered }, 'cleaned up after restores of a crashed process'),
    (err: unknown) => log.warn({ err }, 'could not look for the leftovers of crashed restores; the next start looks again'),
  );
  const codec = { decode: decodeJob, queuedState, logFields: (job: Job) => ({ archive: job.archive }) };
  const locks = new TableLocks(stateBucket, 2 * config.jobAckWaitMs);
  const leases = new JobLeases(stateBucket, 2 * config.jobAckWaitMs);
  const runtime = new JobRuntime(work, states, codec, locks, leases, { slots: config.maxParallelJobs, pullExpiresMs: config.jobPullMs, log });
  for (const processor of createProcessors({ config, queue, catalog, bucket, pins, retention })) runtime.register(processor);
  await atStartup(() => runtime.start());
  const sessions = new SessionPool(config.mysql);
  const subscriptions = startApi(nc, { config, catalog, queue, pins, sessions, tables: new TableNames(sessions), log }, {
    name: PACKAGE_NAME,
    version: PACKAGE_VERSION,
    description: PACKAGE_DESCRIPTION,
    metadata: { prefix: config.subjectPrefix, database: config.mysql.database, host: hostname(), pid: String(process.pid) },
  });
  const scheduler = new Scheduler(config.schedules, {
    queue,
    claims: new SlotClaims(stateBucket, config.subjectPrefix),
    isTaken: (name) => catalog.nameTaken(name),
    subjectPrefix: config.subjectPrefix,
    log,
  });
  await scheduler.start();
  let retentionTimer: NodeJS.Timeout | undefined;
  if (retentionIsOn(retention.policy)) {
    const prune = () => void retention.prune().catch((err: unknown) => log.warn({ err }, 'retention failed; it runs again later'));
    prune();
    retentionTimer = setInterval(prune, RETENTION_INTERVAL_MS).unref();
  }
  // Ready means the server knows the subscriptions: a request sent now finds a responder.
  await nc.flush();
  log.info({ servers: config.natsServers, prefix: config.subjectPrefix }, 'service ready');

  let stopping = false;
  shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: no new requests or jobs; letting running jobs finish');
    setTimeout(() => {
      log.warn('the shutdown did not finish in time; exiting anyway');
      process.exit(0);
    }, config.shutdownGraceMs + EXIT_DEADLINE_AFTER_GRACE_MS).unref();
    clearInterval(retentionTimer);
    await scheduler.stop();
    for (const sub of subscriptions) sub.unsubscribe();
    await runtime.stop(config.shutdownGraceMs);
    stopAllRetries();
    await sessions.close();
    // With the server unreachable a drain never completes: give up after a while and close.
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      nc.drain().then(() => true, () => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (!drained) {
      log.warn('the NATS connection did not drain; closing it');
      await nc.close().catch(() => undefined);
    }
    log.info('stopped');
    process.exit(0);
  };
  await nc.closed();
}

void main();
