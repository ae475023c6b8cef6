// The service as a child process: build, start with the bench's env, peak RSS, stop.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { config, mysqlUrl } from './config.js';
import type { AliveCheck } from './client.js';
import { peakRss, run, sleep } from './measure.js';

export interface Service {
  pid: number;
  logFile: string;
  /** Throws when the service has exited. */
  alive: AliveCheck;
  /** Reads the peak RSS (bytes) of the node process, then stops it with SIGTERM. */
  stop: () => Promise<number>;
}

export function buildService(): Promise<void> {
  return run('npm', ['run', 'build']);
}

export interface ServiceOptions {
  /** Names the log file, `service-<label>.log` in logDir. */
  label: string;
  logDir: string;
  backupDir: string;
  /** The database the service backs up and restores. */
  database: string;
  level?: number;
}

export function startService(opts: ServiceOptions): Service {
  const logFile = join(opts.logDir, `service-${opts.label}.log`);
  const log = openSync(logFile, 'w');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NATS_URL: config.natsUrl,
    MYSQL_URL: mysqlUrl(opts.database),
    BACKUP_DIR: opts.backupDir,
    SUBJECT_PREFIX: config.subjectPrefix,
    JOBS_STREAM: config.jobsStream,
    OBJECT_BUCKET: config.objectBucket,
    JOB_STATE_BUCKET: config.jobStateBucket,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
  };
  delete env['SEVENZIP_LEVEL'];
  if (opts.level !== undefined) env['SEVENZIP_LEVEL'] = String(opts.level);
  // node itself (not npm or a shell), so the pid is the service's own process.
  const child = spawn(process.execPath, ['dist/main.js'], { env, stdio: ['ignore', log, log] });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the service (node dist/main.js)');

  let exited: string | null = null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = signal ?? `exit code ${code}`;
      resolve();
    });
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const alive: AliveCheck = () => {
    if (exited !== null) throw new Error(`the service exited (${exited}); see ${logFile}`);
  };
  const stop = async (): Promise<number> => {
    alive();
    const rss = await peakRss(pid);
    child.kill('SIGTERM');
    const stopped = await Promise.race([exitedPromise.then(() => true), sleep(15_000).then(() => false)]);
    process.off('exit', killOnExit);
    if (!stopped) {
      child.kill('SIGKILL');
      throw new Error(`the service did not stop within 15 s of SIGTERM; see ${logFile}`);
    }
    return rss;
  };
  return { pid, logFile, alive, stop };
}
