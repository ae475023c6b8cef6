// Times the service: backup at its default level, restore, and backup at 7-Zip level 5.
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { config } from './config.js';
import { deleteJobsStream, jobsLastSeq, openClient, requestBackup, requestRestore, waitForBackup, waitForJobsDrained } from './client.js';
import type { Client } from './client.js';
import { checksums, connect, mismatches } from './db.js';
import { fileSize, timed } from './measure.js';
import { buildService, startService } from './service.js';
import type { Service } from './service.js';

export interface BackupTiming {
  seconds: number;
  bytes: number;
  file: string;
}

export interface ServiceResult {
  backupDefault: BackupTiming;
  backupLevel5: BackupTiming;
  restoreSeconds: number;
  restoreCheck: 'OK' | 'MISMATCH';
  /** VmHWM of the node process, per service instance. */
  peakRssBytes: { default: number; level5: number };
}

export async function runServiceTimings(
  tables: readonly string[],
  expected: Record<string, string | null>,
  workDir: string,
): Promise<ServiceResult> {
  await buildService();
  const client = await openClient();
  try {
    await deleteJobsStream(client.jsm);

    const first = startService({ label: 'default', backupDir: await dir(workDir, 'default') });
    const backupDefault = await backup(client, first, tables, join(workDir, 'default'));
    const restoreSeconds = await restore(client, first, basename(backupDefault.file), tables);
    const rssDefault = await first.stop();
    const bad = await compare(expected, tables);

    const second = startService({ label: 'level5', backupDir: await dir(workDir, 'level5'), level: 5 });
    const backupLevel5 = await backup(client, second, tables, join(workDir, 'level5'));
    const rssLevel5 = await second.stop();

    return {
      backupDefault,
      backupLevel5,
      restoreSeconds,
      restoreCheck: bad.length === 0 ? 'OK' : 'MISMATCH',
      peakRssBytes: { default: rssDefault, level5: rssLevel5 },
    };
  } finally {
    await client.nc.close();
  }
}

async function dir(workDir: string, name: string): Promise<string> {
  const path = join(workDir, name);
  await mkdir(path, { recursive: true });
  return path;
}

async function backup(client: Client, service: Service, tables: readonly string[], backupDir: string): Promise<BackupTiming> {
  const waitOpts = { timeoutMs: config.jobTimeoutMs, alive: service.alive };
  const { seconds, result: file } = await timed(async () => {
    const file = await requestBackup(client.nc, tables, backupDir, service.alive);
    await waitForBackup(file, waitOpts);
    return file;
  });
  await waitForJobsDrained(client.jsm, waitOpts); // let the service settle before the next step
  return { seconds, bytes: fileSize(file), file };
}

async function restore(client: Client, service: Service, archiveName: string, tables: readonly string[]): Promise<number> {
  const sinceSeq = await jobsLastSeq(client.jsm);
  const { seconds } = await timed(async () => {
    await requestRestore(client.nc, archiveName, tables, service.alive);
    await waitForJobsDrained(client.jsm, { sinceSeq, timeoutMs: config.jobTimeoutMs, alive: service.alive });
  });
  return seconds;
}

/** The service restored into `bench` itself: compare its tables with the data set's checksums. */
async function compare(expected: Record<string, string | null>, tables: readonly string[]): Promise<string[]> {
  const conn = await connect();
  try {
    const bad = mismatches(expected, await checksums(conn, config.database, tables));
    if (bad.length > 0) console.error(`service restore: checksum MISMATCH in ${bad.join(', ')}`);
    return bad;
  } finally {
    await conn.end();
  }
}
