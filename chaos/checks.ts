/** The end-of-run checks: jobs run twice, archives, leftovers. */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { Exit, LogLine } from './instances.js';
import type { TrackedJob } from './workload.js';

/**
 * A job "ran twice" when its work COMPLETED twice — two `job done` lines, a backup's archive
 * published twice (`archive published`; a retry that finds its own published file logs another
 * line), a restore's tables swapped in twice — or when two runs of it overlapped in time (on two
 * instances, or twice on one). A run lasts from its `job started` to the next line of that job
 * that ends a run (done, failed, retried, handed back) in the same process, or to the process's
 * exit. A redelivery after a crash whose first run never completed is not running twice.
 * (pino's last lines before a SIGKILL can be lost, so a completion right before a kill may be missed.)
 */
export function jobsRunTwice(lines: LogLine[], exits: Exit[], now: number): { job: string; why: string }[] {
  const ENDS = new Set(['job done', 'job failed', 'job attempt failed; it will be retried', 'job interrupted; handing it back for redelivery']);
  const COMPLETES = ['job done', 'archive published', 'tables swapped in'];
  const byJob = new Map<string, LogLine[]>();
  for (const line of lines) if (line.job) byJob.set(line.job, [...(byJob.get(line.job) ?? []), line]);
  const found: { job: string; why: string }[] = [];
  for (const [job, own] of byJob) {
    own.sort((a, b) => a.time - b.time);
    const twice = COMPLETES.filter((msg) => own.filter((l) => l.msg === msg).length > 1);
    if (twice.length > 0) {
      found.push({ job, why: `${twice.join(', ')} more than once (instances ${own.filter((l) => twice.includes(l.msg)).map((l) => `${l.instance}.${l.incarnation}`).join(', ')})` });
      continue;
    }
    const runs = own
      .filter((l) => l.msg === 'job started')
      .map((start) => {
        const end = own.find((l) => l.time >= start.time && l.instance === start.instance && l.incarnation === start.incarnation && ENDS.has(l.msg));
        const exit = exits.find((e) => e.instance === start.instance && e.incarnation === start.incarnation);
        return { start, until: Math.min(end?.time ?? Infinity, exit?.at ?? Infinity, now) };
      });
    for (let i = 0; i < runs.length; i++) {
      for (let k = i + 1; k < runs.length; k++) {
        const [a, b] = [runs[i]!, runs[k]!];
        if (a.start.time < b.until && b.start.time < a.until) {
          found.push({ job, why: `attempt ${a.start.attempt} on instance ${a.start.instance}.${a.start.incarnation} and attempt ${b.start.attempt} on ${b.start.instance}.${b.start.incarnation} overlapped` });
        }
      }
    }
  }
  return found;
}

export interface ArchiveProblem {
  archive: string;
  job: string;
  problem: string;
}

/**
 * Every backup that ended done must be at its promised name: the reply's `futurefilename` names
 * the job's archive; the bucket holds an object of that name whose bytes hash to its digest, to
 * the `sha256` in its metadata and to the job's result; and every local copy of that name (in any
 * instance's backup directory) is byte-identical, the runner's one at the result's path.
 */
export async function checkArchives(nc: NatsConnection, bucketName: string, jobs: TrackedJob[], backupDirs: string[]): Promise<{ problems: ArchiveProblem[]; checked: number; digestMismatches: number }> {
  const os = await new Objm(nc).open(bucketName);
  const problems: ArchiveProblem[] = [];
  let checked = 0;
  let digestMismatches = 0;
  for (const job of jobs.filter((j) => j.kind === 'backup' && j.state?.status === 'done')) {
    checked++;
    const fail = (problem: string) => problems.push({ archive: job.archive, job: job.id, problem });
    const result = job.state!.result;
    if (!result || result.archive !== job.archive || job.state!.archive !== job.archive) {
      fail(`the job's archive ${job.state!.archive} / result ${result?.archive} is not the promised ${job.archive}`);
      continue;
    }
    if (!backupDirs.some((dir) => job.futurefilename === join(dir, job.archive))) fail(`futurefilename ${job.futurefilename} is in no backup directory`);
    const info = await retry(() => os.info(job.archive));
    if (!info || info.deleted) {
      fail('not in the bucket');
      continue;
    }
    const bytes = await retry(() => os.getBlob(job.archive)).catch((err: unknown) => {
      fail(`reading it from the bucket failed: ${String(err)}`);
      return null;
    });
    if (!bytes) continue;
    const sha = createHash('sha256').update(bytes).digest();
    const digest = `SHA-256=${sha.toString('base64url')}${'='.repeat((4 - (sha.toString('base64url').length % 4)) % 4)}`;
    const hex = sha.toString('hex');
    if (info.digest !== digest) {
      digestMismatches++;
      fail(`object digest ${info.digest}, its bytes ${digest}`);
    }
    if (info.metadata?.sha256 !== hex) fail(`metadata sha256 ${info.metadata?.sha256}, bytes ${hex}`);
    if (result.sha256 !== hex) fail(`the job's result sha256 ${result.sha256}, bytes ${hex}`);
    if (!existsSync(result.path)) fail(`no local copy at the result's path ${result.path}`);
    for (const dir of backupDirs) {
      const path = join(dir, job.archive);
      if (existsSync(path) && createHash('sha256').update(readFileSync(path)).digest('hex') !== hex) fail(`the local copy ${path} differs from the bucket's`);
    }
  }
  return { problems, checked, digestMismatches };
}

async function retry<T>(call: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (err) {
      if (i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 1_000 * i));
    }
  }
}

/** Hidden temp files (`.job-…`, `.fetch-…`) in the backup directories; scratch schemas and set-aside tables in MariaDB. */
export async function leftovers(conn: Connection, backupDirs: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const dir of backupDirs) {
    for (const entry of readdirSync(dir)) if (entry.startsWith('.job-') || entry.startsWith('.fetch-')) found.push(join(dir, entry));
  }
  const [schemas] = await conn.query<RowDataPacket[]>("SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\\_nmtb\\_%'");
  for (const row of schemas) found.push(`schema ${String(row.n)}`);
  const [tables] = await conn.query<RowDataPacket[]>("SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_NAME LIKE '\\_nmtb\\_%'");
  for (const row of tables) found.push(`table ${String(row.s)}.${String(row.n)}`);
  return found;
}
