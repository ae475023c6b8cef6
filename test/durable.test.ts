import { readdirSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksum, count, dbConnect, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJob, type JobStateReply } from './helpers/nats.js';
import { isolatedEnv, startService, type RunningService, retire } from './helpers/service.js';

// Redelivery after a SIGKILL waits out the ack wait (the server cannot know the worker died).
const FAST_RETRY = { JOB_ACK_WAIT_SECONDS: '5', JOB_MAX_DELIVER: '3' };

let nc: NatsConnection;
let db: Db;
const started: RunningService[] = [];

async function start(env: Record<string, string>): Promise<RunningService> {
  const service = await startService({ ...FAST_RETRY, ...env });
  started.push(service);
  return service;
}

async function makeBackup(service: RunningService, tables: string): Promise<{ id: string; path: string; name: string }> {
  const reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${tables}`);
  const path = (JSON.parse(reply.body) as { futurefilename: string }).futurefilename;
  expect(path, reply.body).not.toBe('');
  return { id: reply.headers['Backup-Job-Id']!, path, name: path.split('/').pop()! };
}

/** SIGKILLs the service at its first progress event that shows work done (mid-job). */
function killOnProgress(service: RunningService): Promise<JobStateReply> {
  return new Promise((resolve) => {
    const sub = nc.subscribe(`${service.prefix}.events.>`, {
      callback: (_err, msg) => {
        const state = msg.json<JobStateReply>();
        if (state.status === 'running' && (state.progress?.bytesDone ?? 0) > 0) {
          service.child.kill('SIGKILL');
          sub.unsubscribe();
          resolve(state);
        }
      },
    });
  });
}

beforeAll(async () => {
  db = await dbConnect();
  await db.query(`
    DROP TABLE IF EXISTS dur_big, dur_small, dur_doomed;
    CREATE TABLE dur_big (id BIGINT AUTO_INCREMENT PRIMARY KEY, a VARCHAR(100), b DOUBLE, c TEXT);
    CREATE TABLE dur_small (id INT PRIMARY KEY, v VARCHAR(10));
    CREATE TABLE dur_doomed (id INT PRIMARY KEY);
    INSERT INTO dur_small VALUES (1, 'a'), (2, 'b');
    INSERT INTO dur_doomed VALUES (1);
  `);
  await db.query(`INSERT INTO dur_big (a, b, c) VALUES ${Array.from({ length: 1000 }, () => "(MD5(RAND()), RAND(), CONCAT(MD5(RAND()), MD5(RAND())))").join(',')}`);
  // 128k rows, ~40 MB of SQL: a few seconds of work each way.
  for (let i = 0; i < 7; i++) await db.query('INSERT INTO dur_big (a, b, c) SELECT MD5(RAND()), RAND(), CONCAT(MD5(RAND()), c) FROM dur_big');
  nc = await natsConnect();
}, 120_000);

afterAll(async () => {
  await retire(nc, ...started);
  await nc?.close();
  await db?.query('DROP TABLE IF EXISTS dur_big, dur_small, dur_doomed');
  await db?.end();
});

describe('a worker killed with SIGKILL', () => {
  const env = isolatedEnv();
  let archive = '';

  it('during a backup: the job is redelivered and the archive appears once, at the promised name', async () => {
    const original = await checksum(db, 'dur_big');
    const first = await start(env);
    const underway = killOnProgress(first);
    const job = await makeBackup(first, 'dur_big');
    const seen = await underway;
    expect(seen.progress!.bytesDone).toBeLessThan(seen.progress!.bytesTotal || Infinity);
    await first.stop();

    const second = await start(env);
    const state = await waitForJob(nc, second.prefix, job.id);
    expect(state.status, state.reason).toBe('done');
    expect(state.attempts).toBe(2);
    expect(state.result?.path).toBe(job.path);
    expect(readdirSync(env.BACKUP_DIR)).toEqual([job.name]);
    expect((await request(nc, `${second.prefix}.listbackups`, 'listfiles')).body).toBe(`{"0": "${job.name}"}`);
    expect((await request(nc, `${second.prefix}.archive`, `archivename=${job.name}`)).body).toBe('{"tables": "dur_big.sql"}');
    archive = job.name;

    await db.query('DELETE FROM dur_big WHERE id % 2 = 0');
    const restore = await request(nc, `${second.prefix}.restore`, `archive=${archive};tables=dur_big`);
    const restored = await waitForJob(nc, second.prefix, restore.headers['Backup-Job-Id']!);
    expect(restored.status, restored.reason).toBe('done');
    expect(await checksum(db, 'dur_big')).toBe(original);
    // Rows of a restore: the manifest's total, counted as each table is loaded.
    const rows = await count(db, 'dur_big');
    expect(restored.progress).toMatchObject({ tablesDone: 1, tablesTotal: 1, rowsDone: rows, rowsTotal: rows });
    await second.stop();
  }, 180_000);

  it('during a restore: after redelivery the table equals the archive', async () => {
    const original = await checksum(db, 'dur_big');
    await db.query("UPDATE dur_big SET a = 'changed' WHERE id < 1000");
    const first = await start(env);
    const underway = killOnProgress(first);
    const restore = await request(nc, `${first.prefix}.restore`, `archive=${archive};tables=dur_big.sql`);
    const id = restore.headers['Backup-Job-Id']!;
    const seen = await underway;
    expect(seen.id).toBe(id);
    expect(seen.progress!.bytesDone).toBeLessThan(seen.progress!.bytesTotal);
    await first.stop();

    const second = await start(env);
    const state = await waitForJob(nc, second.prefix, id);
    expect(state.status, state.reason).toBe('done');
    expect(state.attempts).toBe(2);
    expect(await checksum(db, 'dur_big')).toBe(original);
  }, 180_000);
});

it('two service processes share 10 backups: 10 archives, each made once, both did some', async () => {
  const env = isolatedEnv();
  const a = await start(env);
  const b = await start(env);
  const jobs = await Promise.all(Array.from({ length: 10 }, () => makeBackup(a, 'dur_small')));
  expect(new Set(jobs.map((j) => j.name)).size).toBe(10);
  for (const job of jobs) expect((await waitForJob(nc, a.prefix, job.id)).status).toBe('done');
  expect(readdirSync(env.BACKUP_DIR).sort()).toEqual(jobs.map((j) => j.name).sort());
  const doneBy = (s: RunningService) => s.logs.filter((l) => l.msg === 'job done').map((l) => l.job as string);
  // The state is written before the "job done" line, which then still has to cross the pipe.
  await expect.poll(() => doneBy(a).length + doneBy(b).length, { timeout: 5_000 }).toBe(10);
  expect(new Set([...doneBy(a), ...doneBy(b)]).size).toBe(10);
  expect(doneBy(a).length).toBeGreaterThan(0);
  expect(doneBy(b).length).toBeGreaterThan(0);
}, 120_000);

it('a backup whose table is dropped after the request ends failed, naming it', async () => {
  const service = await start({ ...isolatedEnv(), MAX_PARALLEL_JOBS: '1' });
  const busy = await makeBackup(service, 'dur_big');
  const doomed = await makeBackup(service, 'dur_small,dur_doomed');
  await db.query('DROP TABLE dur_doomed');
  const state = await waitForJob(nc, service.prefix, doomed.id);
  expect(state.status).toBe('failed');
  expect(state.reason).toContain('dur_doomed');
  expect(state.attempts).toBeLessThanOrEqual(3);
  expect((await waitForJob(nc, service.prefix, busy.id)).status).toBe('done');
  expect(readdirSync(service.backupDir)).toEqual([busy.name]);
}, 120_000);

it('publishes the events of one job in order: queued, running with progress, done', async () => {
  const service = await start(isolatedEnv());
  const events: JobStateReply[] = [];
  const sub = nc.subscribe(`${service.prefix}.events.>`, { callback: (_err, msg) => {
    events.push(msg.json<JobStateReply>());
  } });
  await nc.flush();
  const job = await makeBackup(service, 'dur_big,dur_small');
  const final = await waitForJob(nc, service.prefix, job.id);
  await nc.flush();
  sub.unsubscribe();
  const mine = events.filter((e) => e.id === job.id);
  const order = ['queued', 'running', 'done'];
  expect(mine.map((e) => order.indexOf(e.status))).toEqual([...mine.map((e) => order.indexOf(e.status))].sort());
  expect(mine[0]?.status).toBe('queued');
  expect(mine.at(-1)?.status).toBe('done');
  expect(mine.some((e) => e.status === 'running' && (e.progress?.rowsDone ?? 0) > 0 && e.progress!.rowsDone < e.progress!.rowsTotal)).toBe(true);
  expect(final.result?.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(mine.at(-1)?.progress?.tablesDone).toBe(2);
}, 120_000);
