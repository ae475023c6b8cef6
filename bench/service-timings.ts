// Times the service at one scale: backup, restore, one small table, first replies after restarts,
// latencies with requests in flight, and (optionally) a backup at 7-Zip level 5.
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { config } from './config.js';
import type { Scale } from './config.js';
import { deleteBenchStreams, jobsLastSeq, openClient, requestBackup, requestRestore, waitForBackup, waitForJobsDrained } from './client.js';
import type { Client } from './client.js';
import { checkRestored, connect } from './db.js';
import { firstReply, waitUntilAnswering } from './first-replies.js';
import { measureLatency, probes } from './latency.js';
import type { SubjectLatency } from './latency.js';
import { fileSize, medianOf, sleep, timed } from './measure.js';
import { startService } from './service.js';
import type { Service } from './service.js';
import { timeSmallTableRestore } from './small-table.js';
import type { SmallTableRestore } from './small-table.js';

interface BackupTiming {
  /** Request → job done (archive in the backup directory and in the object store). */
  seconds: number;
  /** Request → archive in the backup directory. */
  fileSeconds: number;
  bytes: number;
  file: string;
}

export interface ServiceResult {
  /** At the service's default level. */
  backup: BackupTiming;
  /** All tables from that archive, extraction included. */
  restoreSeconds: number;
  restoreCheck: 'OK' | 'MISMATCH';
  smallTable: SmallTableRestore;
  /** Each measured on a freshly started service (one restart each), the archive being the big one. */
  firstReplyMs: { archive: number; restore: number };
  latency: SubjectLatency[];
  /** How long the queued tiny backups of the makebackup rounds took to finish after the last reply. */
  makebackupDrainSeconds: number;
  /** At SEVENZIP_LEVEL=5, when measured at this scale. */
  backupLevel5: BackupTiming | null;
  /** VmHWM of the node process of each service instance. */
  peakRssBytes: Record<string, number>;
}

const QUIET_MS = 1_000;

export async function runServiceTimings(
  scale: Scale,
  tables: readonly string[],
  expected: Record<string, string | null>,
  workDir: string,
  withLevel5: boolean,
): Promise<ServiceResult> {
  const client = await openClient();
  const rss: Record<string, number> = {};
  const backupDir = await dir(workDir, 'default');
  const start = (label: string, level?: number, dirOverride?: string): Service =>
    startService({ label, logDir: scale.outDir, backupDir: dirOverride ?? backupDir, database: scale.database, level });
  try {
    await deleteBenchStreams(client.jsm);

    console.log('service: backup, restore, one small table ...');
    const first = start('default');
    const backup = await medianOf(config.repeats, 'service backup', () => backupOf(client, first, tables, backupDir), (b) => b.seconds);
    const archiveName = basename(backup.file);
    const restoreSeconds = await medianOf(config.repeats, 'service restore', () => restore(client, first, archiveName, tables), (seconds) => seconds);
    const restoreCheck = await compare(scale.database, expected);
    const smallTable = await timeSmallTableRestore(client, first, archiveName, scale.database, config.smallTable, expected[config.smallTable] ?? null);
    rss['default'] = await first.stop();

    console.log('service: first replies after a restart ...');
    const forArchive = start('restart-archive');
    await waitUntilAnswering(client.nc, forArchive.alive);
    const archiveMs = await firstReply(client.nc, 'archive', `archivename=${archiveName}`, (r) => typeof r['tables'] === 'string');
    rss['restart-archive'] = await forArchive.stop();

    const restarted = start('restart-restore');
    await waitUntilAnswering(client.nc, restarted.alive);
    const sinceSeq = await jobsLastSeq(client.jsm);
    const restoreMs = await firstReply(client.nc, 'restore', `archive=${archiveName};tables=${config.smallTable}.sql`, (r) => r['status'] === 'ok');
    await waitForJobsDrained(client.jsm, { sinceSeq, timeoutMs: config.jobTimeoutMs, alive: restarted.alive });

    console.log(`service: latencies, ${config.latencyRounds} rounds of ${config.inFlight} requests in flight per subject ...`);
    const { reads, makebackup } = probes(archiveName, config.smallTable);
    const latency: SubjectLatency[] = [];
    for (const probe of reads) latency.push(await measureLatency(client.nc, probe));
    // Last: these queue real backups, which must not run under the other measurements.
    const queuedSince = await jobsLastSeq(client.jsm);
    latency.push(await measureLatency(client.nc, makebackup));
    const makebackupDrainSeconds = await waitForQuietQueue(client, restarted, queuedSince);
    rss['restart-restore'] = await restarted.stop();

    let backupLevel5: BackupTiming | null = null;
    if (withLevel5) {
      console.log('service: backup at SEVENZIP_LEVEL=5 ...');
      const level5Dir = await dir(workDir, 'level5');
      const level5 = start('level5', 5, level5Dir);
      backupLevel5 = await backupOf(client, level5, tables, level5Dir);
      rss['level5'] = await level5.stop();
    }

    return {
      backup,
      restoreSeconds,
      restoreCheck,
      smallTable,
      firstReplyMs: { archive: archiveMs, restore: restoreMs },
      latency,
      makebackupDrainSeconds,
      backupLevel5,
      peakRssBytes: rss,
    };
  } finally {
    // Free the bucket's copies (up to hundreds of MB at 4×); the archives' files go with workDir.
    await deleteBenchStreams(client.jsm).catch((err: unknown) => console.error('could not delete the bench streams:', err));
    await client.nc.close();
  }
}

async function dir(workDir: string, name: string): Promise<string> {
  const path = join(workDir, name);
  await mkdir(path, { recursive: true });
  return path;
}

/** Timed to the job's end: the service's backup is done once the object store holds its copy too. */
async function backupOf(client: Client, service: Service, tables: readonly string[], backupDir: string): Promise<BackupTiming> {
  const waitOpts = { timeoutMs: config.jobTimeoutMs, alive: service.alive };
  const sinceSeq = await jobsLastSeq(client.jsm);
  const started = performance.now();
  const file = await requestBackup(client.nc, tables, backupDir, service.alive);
  await waitForBackup(file, waitOpts);
  const fileSeconds = (performance.now() - started) / 1000;
  await waitForJobsDrained(client.jsm, { ...waitOpts, sinceSeq });
  return { seconds: (performance.now() - started) / 1000, fileSeconds, bytes: fileSize(file), file };
}

/**
 * Drained, and no job added for a second: a makebackup whose reply timed out may still be in the
 * service's hands and queue its job after the others finished. Returns the seconds to the drain.
 */
async function waitForQuietQueue(client: Client, service: Service, sinceSeq: number): Promise<number> {
  const started = performance.now();
  let seen = sinceSeq;
  for (;;) {
    await waitForJobsDrained(client.jsm, { sinceSeq: seen, timeoutMs: config.jobTimeoutMs, alive: service.alive });
    const drainedAt = performance.now();
    seen = await jobsLastSeq(client.jsm);
    await sleep(QUIET_MS);
    if ((await jobsLastSeq(client.jsm)) === seen) return (drainedAt - started) / 1000;
  }
}

async function restore(client: Client, service: Service, archiveName: string, tables: readonly string[]): Promise<number> {
  const sinceSeq = await jobsLastSeq(client.jsm);
  const { seconds } = await timed(async () => {
    await requestRestore(client.nc, archiveName, tables, service.alive);
    await waitForJobsDrained(client.jsm, { sinceSeq, timeoutMs: config.jobTimeoutMs, alive: service.alive });
  });
  return seconds;
}

/** The service restored into the data set's database itself: compare with its checksums. */
async function compare(database: string, expected: Record<string, string | null>): Promise<'OK' | 'MISMATCH'> {
  const conn = await connect();
  try {
    return await checkRestored(conn, database, expected, 'service restore');
  } finally {
    await conn.end();
  }
}
