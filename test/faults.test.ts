import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbConnect, numbers, type Db } from './helpers/db.js';
import { freePort, startMariaDb, type TestMariaDb } from './helpers/mariadb-server.js';
import { natsConnect, readJobState, request, waitForJob, type JobStateReply } from './helpers/nats.js';
import { retire, startService, type RunningService } from './helpers/service.js';

const BIG = 'ft_big';
const FAST_RETRY = { JOB_ACK_WAIT_SECONDS: '5' };

let nc: NatsConnection;
let db: Db;
const started: RunningService[] = [];

async function start(env: Record<string, string>): Promise<RunningService> {
  const service = await startService({ ...FAST_RETRY, ...env });
  started.push(service);
  return service;
}

async function requestBackup(service: RunningService, tables = BIG, connection = nc): Promise<string> {
  const reply = await request(connection, `${service.prefix}.makebackup`, `makebackup=${tables}`);
  expect(reply.body, reply.headers['Nats-Service-Error']).toMatch(/"status": "ok"/);
  return reply.headers['Backup-Job-Id']!;
}

/** Resolves at the first event of the job that shows work done. */
function whenRunning(service: RunningService, id: string, connection = nc): Promise<JobStateReply> {
  return new Promise((resolve) => {
    const sub = connection.subscribe(`${service.prefix}.events.${id}`, {
      callback: (_err, msg) => {
        const state = msg.json<JobStateReply>();
        if (state.status === 'running' && (state.progress?.bytesDone ?? 0) > 0) {
          sub.unsubscribe();
          resolve(state);
        }
      },
    });
  });
}

async function fillBigTable(conn: mysql.Connection): Promise<void> {
  await conn.query(`DROP TABLE IF EXISTS ${BIG}`);
  await conn.query(`CREATE TABLE ${BIG} (id INT PRIMARY KEY, payload VARCHAR(300)) ENGINE=InnoDB`);
  // ~40 MB of hex: takes a few seconds to dump and compress, and does not fit 4 MB compressed.
  await conn.query(`INSERT INTO ${BIG} SELECT seq, CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512)) FROM ${numbers(150000)}`);
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await fillBigTable(db);
}, 120_000);

afterAll(async () => {
  await retire(nc, ...started);
  await db?.query(`DROP TABLE IF EXISTS ${BIG}`);
  await db?.end();
  await nc?.close();
}, 120_000);

describe('disk full while writing an archive', () => {
  let mountPoint: string | null = null;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'small-disk-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
      mountPoint = dir;
    } catch {
      // Not allowed to mount here: the test below says so and is skipped.
    }
  });

  afterAll(() => {
    if (mountPoint) execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
  });

  it('ends failed with a clear reason, lists nothing and leaves no temp file', async (context) => {
    if (!mountPoint) return context.skip();
    const backupDir = join(mountPoint, 'backups');
    mkdirSync(backupDir);
    const service = await start({ BACKUP_DIR: backupDir, JOB_MAX_DELIVER: '2' });
    const state = await waitForJob(nc, service.prefix, await requestBackup(service));
    expect(state.status).toBe('failed');
    expect(state.reason).toMatch(/no space left|disk is full|ENOSPC/i);
    expect(state.attempts).toBe(2);
    expect((await request(nc, `${service.prefix}.listbackups`, 'listfiles')).body).toBe('{}');
    expect(readdirSync(backupDir)).toEqual([]);
  }, 120_000);
});

describe('MariaDB stopped during a job', () => {
  let server: TestMariaDb;

  beforeAll(async () => {
    server = await startMariaDb();
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root', database: 'test' });
    await fillBigTable(conn);
    await conn.end();
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('fails the attempt, keeps answering (503 while it is down), and the retry finishes the job', async () => {
    const service = await start({ MYSQL_URL: server.url, JOB_MAX_DELIVER: '6' });
    const id = await requestBackup(service);
    await whenRunning(service, id);
    await server.kill();

    const list = await request(nc, `${service.prefix}.listbackups`, 'listfiles');
    expect(list.body).toBe('{}');
    const refused = await request(nc, `${service.prefix}.makebackup`, `makebackup=${BIG}`);
    expect(refused.body).toBe('{"status": "bad", "futurefilename": ""}');
    expect(refused.headers['Nats-Service-Error-Code']).toBe('503');
    const retrying = await waitForJob(nc, service.prefix, id, (s) => s.status === 'queued' && (s.reason ?? '') !== '');
    expect(retrying.reason).toMatch(/attempt 1 failed/);

    await server.start();
    const state = await waitForJob(nc, service.prefix, id);
    expect(state.status, state.reason).toBe('done');
    expect(state.attempts).toBeGreaterThanOrEqual(2);
    // The request paths' pooled sessions died with the server: new ones answer the next request.
    const again = await request(nc, `${service.prefix}.makebackup`, `makebackup=${BIG}`);
    expect(JSON.parse(again.body), again.headers['Nats-Service-Error']).toMatchObject({ status: 'ok' });
    expect((await waitForJob(nc, service.prefix, again.headers['Backup-Job-Id']!)).status).toBe('done');
    expect(readdirSync(service.backupDir).filter((f) => f.startsWith('.'))).toEqual([]);
  }, 150_000);
});

describe('NATS restarted under the service', () => {
  let port: number;
  let storeDir: string;
  let server: ChildProcess | null = null;

  const startNats = async () => {
    server = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        const probe = await natsConnect(`nats://127.0.0.1:${port}`);
        await probe.close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error('nats-server did not come back');
  };
  const killNats = async () => {
    const current = server;
    server = null;
    if (!current) return;
    const exited = new Promise((done) => current.once('exit', done));
    current.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    port = await freePort();
    storeDir = mkdtempSync(join(tmpdir(), 'nats-store-'));
    await startNats();
  });

  afterAll(async () => {
    await killNats();
  });

  it('reconnects and goes on: the backup running across the outage finishes, new requests work', async () => {
    const url = `nats://127.0.0.1:${port}`;
    const own = await natsConnect(url);
    try {
      const service = await start({ NATS_URL: url, JOB_MAX_DELIVER: '5' });
      const id = await requestBackup(service, BIG, own);
      await whenRunning(service, id, own);
      await killNats();
      await new Promise((r) => setTimeout(r, 2_000));
      await startNats();
      await service.waitForLog((line) => line.msg === 'NATS connection status' && line.status === 'reconnect', 30_000);

      const state = await waitForJob(own, service.prefix, id, undefined, 120_000);
      expect(state.status, state.reason).toBe('done');
      const second = await waitForJob(own, service.prefix, await requestBackup(service, BIG, own));
      expect(second.status, second.reason).toBe('done');
      const listed = JSON.parse((await request(own, `${service.prefix}.listbackups`, 'listfiles')).body) as Record<string, string>;
      expect(Object.values(listed)).toHaveLength(2);
      expect(await service.stop()).toBe(0);
    } finally {
      await own.close();
    }
  }, 180_000);
});

describe('SIGTERM', () => {
  it('lets the running job finish within the grace period, then exits 0', async () => {
    const service = await start({ SHUTDOWN_GRACE_SECONDS: '60' });
    const id = await requestBackup(service);
    await whenRunning(service, id);
    const code = await service.stop();
    expect(code).toBe(0);
    expect((await readJobState(nc, id, service.stateBucket))?.status).toBe('done');
    expect(service.logs.some((l) => l.msg === 'stopped')).toBe(true);
  }, 120_000);

  it('hands a job that outlasts the grace period back for redelivery, drains and exits 0', async () => {
    const first = await start({ SHUTDOWN_GRACE_SECONDS: '0' });
    const id = await requestBackup(first);
    await whenRunning(first, id);
    const code = await first.stop();
    expect(code).toBe(0);
    const handedBack = await readJobState(nc, id, first.stateBucket);
    expect(handedBack?.status).toBe('queued');
    expect(handedBack?.reason).toMatch(/shutdown/);
    expect(readdirSync(first.backupDir)).toEqual([]);

    const second = await start({ SUBJECT_PREFIX: first.prefix, JOBS_STREAM: first.stream, OBJECT_BUCKET: first.bucket, BACKUP_DIR: first.backupDir });
    const state = await waitForJob(nc, second.prefix, id);
    expect(state.status, state.reason).toBe('done');
    expect(state.attempts).toBe(2);
  }, 120_000);
});

it('removes at start the temporary files of work that died with its process, and keeps a fresh fetch', async () => {
  const backupDir = mkdtempSync(join(tmpdir(), 'leftovers-'));
  const deadJob = '0f0f0f0f-0000-4000-8000-000000000000';
  writeFileSync(join(backupDir, `.job-${deadJob}.7z.partial`), 'half an archive');
  mkdirSync(join(backupDir, `.job-${deadJob}.spool`));
  writeFileSync(join(backupDir, `.job-${deadJob}.spool`, 'orders.sql'), 'INSERT');
  writeFileSync(join(backupDir, '.fetch-old.7z.partial'), 'old');
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  utimesSync(join(backupDir, '.fetch-old.7z.partial'), twoHoursAgo, twoHoursAgo);
  writeFileSync(join(backupDir, '.fetch-fresh.7z.partial'), 'someone is fetching this now');
  writeFileSync(join(backupDir, 'notes.txt'), 'not ours');
  // A restore's fetch, fresh, whose job has ended (its process died mid-fetch, another finished it).
  const endedJob = '1e1e1e1e-0000-4000-8000-000000000000';
  writeFileSync(join(backupDir, `.fetch-${endedJob}.7z.partial`), 'half a fetch');
  const stateBucket = `leftovers_${endedJob.slice(0, 8)}`;
  const kv = await new Kvm(nc).create(stateBucket);
  await kv.put(`job.${endedJob}`, JSON.stringify({ id: endedJob, kind: 'restore', archive: 'x.7z', tables: ['t'], status: 'done', attempts: 1, updatedAt: new Date().toISOString() }));
  const service = await start({ BACKUP_DIR: backupDir, JOB_STATE_BUCKET: stateBucket });
  expect(readdirSync(backupDir).sort()).toEqual(['.fetch-fresh.7z.partial', 'notes.txt']);
  expect(service.logs.some((l) => l.msg === 'removed temporary files of work that died with its process')).toBe(true);
});
