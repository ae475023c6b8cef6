import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { expect, inject } from 'vitest';
import { deleteStream, request, waitForJob, type JobStateReply } from './nats.js';

export interface RunningService {
  prefix: string;
  stream: string;
  bucket: string;
  stateBucket: string;
  backupDir: string;
  child: ChildProcess;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  /** Everything written to stderr so far. */
  stderr(): string;
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

const ROOT = resolve(import.meta.dirname, '../..');

/** A unique prefix, stream, buckets and backup dir, so test files never see each other's jobs. */
export function isolatedEnv(): { SUBJECT_PREFIX: string; JOBS_STREAM: string; OBJECT_BUCKET: string; JOB_STATE_BUCKET: string; BACKUP_DIR: string } {
  const tag = randomBytes(4).toString('hex');
  return {
    SUBJECT_PREFIX: `test${tag}`,
    JOBS_STREAM: `TEST_${tag}`,
    OBJECT_BUCKET: `test_${tag}`,
    JOB_STATE_BUCKET: `test_jobs_${tag}`,
    BACKUP_DIR: mkdtempSync(join(tmpdir(), 'backups-')),
  };
}

/** Starts the real service (src/main.ts, built by test/setup/build-service.ts) as a child process and waits until it serves. */
export async function startService(env: Record<string, string> = {}): Promise<RunningService> {
  const fullEnv: Record<string, string> & ReturnType<typeof isolatedEnv> = { ...isolatedEnv(), LOG_LEVEL: 'debug', JOB_PULL_SECONDS: '1', ...env };
  const child = spawn(process.execPath, [inject('serviceEntry')], {
    cwd: ROOT,
    env: { ...process.env, ...fullEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
      for (const wake of waiters) wake();
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  const waitForLog: RunningService['waitForLog'] = (match, timeoutMs = 30_000) =>
    new Promise((resolveLine, reject) => {
      const check = () => {
        const found = logs.find(match);
        if (found) {
          cleanup();
          resolveLine(found);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`log line not seen in ${timeoutMs} ms; stderr: ${stderr}; last logs: ${JSON.stringify(logs.slice(-5))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      void exited.then(() => {
        if (waiters.has(check)) {
          cleanup();
          reject(new Error(`service exited; stderr: ${stderr}; last logs: ${JSON.stringify(logs.slice(-5))}`));
        }
      });
      check();
    });

  await waitForLog((line) => line.msg === 'service ready');
  return {
    prefix: fullEnv.SUBJECT_PREFIX,
    stream: fullEnv.JOBS_STREAM,
    bucket: fullEnv.OBJECT_BUCKET,
    stateBucket: fullEnv.JOB_STATE_BUCKET,
    backupDir: fullEnv.BACKUP_DIR,
    child,
    logs,
    stderr: () => stderr,
    waitForLog,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Stops the services (SIGTERM) and deletes the job streams and buckets they made. */
export async function retire(nc: NatsConnection, ...services: (RunningService | undefined)[]): Promise<void> {
  await Promise.all(services.map((service) => service?.stop()));
  for (const stream of new Set(services.map((s) => s?.stream))) if (stream) await deleteStream(nc, stream);
  for (const bucket of new Set(services.map((s) => s?.bucket))) if (bucket) await deleteStream(nc, `OBJ_${bucket}`);
  for (const bucket of new Set(services.map((s) => s?.stateBucket))) if (bucket) await deleteStream(nc, `KV_${bucket}`);
}

/** Asks `service` for a backup of `tables` (comma-separated), waits until its job is done, and returns the archive's path. */
export async function backupDone(nc: NatsConnection, service: RunningService, tables: string): Promise<string> {
  const reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${tables}`);
  const path = (JSON.parse(reply.body) as { futurefilename: string }).futurefilename;
  const state = await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!);
  expect(state.status, state.reason).toBe('done');
  return path;
}

/** Asks `service` to restore `tables` (comma-separated) from `archive` and returns the job's final state. */
export async function restoreEnded(nc: NatsConnection, service: RunningService, archive: string, tables: string): Promise<JobStateReply> {
  const reply = await request(nc, `${service.prefix}.restore`, `archive=${archive};tables=${tables}`);
  expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
  return waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!);
}
