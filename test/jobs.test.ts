import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checksum, dbConnect, type Db } from './helpers/db.js';
import { deleteStream, natsConnect, request, waitForJob, type JobStateReply } from './helpers/nats.js';
import { isolatedEnv, startService, type RunningService, retire } from './helpers/service.js';

const ROOT = resolve(import.meta.dirname, '..');

let nc: NatsConnection;
let db: Db;
let service: RunningService;

beforeAll(async () => {
  db = await dbConnect();
  await db.query(`
    DROP TABLE IF EXISTS jobs_t;
    CREATE TABLE jobs_t (id BIGINT AUTO_INCREMENT PRIMARY KEY, a VARCHAR(100), c TEXT);
  `);
  await db.query(`INSERT INTO jobs_t (a, c) VALUES ${Array.from({ length: 1000 }, () => '(MD5(RAND()), REPEAT(MD5(RAND()), 3))').join(',')}`);
  for (let i = 0; i < 6; i++) await db.query('INSERT INTO jobs_t (a, c) SELECT MD5(RAND()), c FROM jobs_t');
  nc = await natsConnect();
  service = await startService({ MAX_PARALLEL_JOBS: '2' });
}, 120_000);

afterAll(async () => {
  await retire(nc, service);
  await nc?.close();
  await db?.query('DROP TABLE IF EXISTS jobs_t');
  await db?.end();
});

it('answers <prefix>.status by body or job header, and refuses unknown or malformed ids', async () => {
  const reply = await request(nc, `${service.prefix}.makebackup`, 'makebackup=jobs_t');
  const id = reply.headers['Backup-Job-Id']!;
  const done = await waitForJob(nc, service.prefix, id);
  expect(done).toMatchObject({ id, kind: 'backup', status: 'done', attempts: 1, tables: ['jobs_t'] });
  expect(done.result?.path).toBe((JSON.parse(reply.body) as { futurefilename: string }).futurefilename);
  const byHeader = await request(nc, `${service.prefix}.status`, '', { job: id });
  expect(JSON.parse(byHeader.body)).toEqual(done);

  const unknown = await request(nc, `${service.prefix}.status`, 'no-such-job');
  expect(unknown.body).toBe('{"status": "bad"}');
  expect(unknown.headers['Nats-Service-Error-Code']).toBe('404');
  const malformed = await request(nc, `${service.prefix}.status`, 'job id with spaces');
  expect(malformed.headers['Nats-Service-Error-Code']).toBe('400');
});

it('never runs two restores of the same table at once', async () => {
  const backup = await request(nc, `${service.prefix}.makebackup`, 'makebackup=jobs_t');
  const archive = (await waitForJob(nc, service.prefix, backup.headers['Backup-Job-Id']!)).archive;
  const expected = await checksum(db, 'jobs_t');
  const windows = new Map<string, { start?: number; end?: number }>();
  const sub = nc.subscribe(`${service.prefix}.events.>`, {
    callback: (_err, msg) => {
      const state = msg.json<JobStateReply>();
      const w = windows.get(state.id) ?? {};
      if (state.status === 'running' && (state.progress?.bytesDone ?? 0) > 0) w.start ??= Date.now();
      if (state.status === 'done') w.end = Date.now();
      windows.set(state.id, w);
    },
  });
  const ids = await Promise.all(
    [1, 2].map(async () => (await request(nc, `${service.prefix}.restore`, `archive=${archive};tables=jobs_t`)).headers['Backup-Job-Id']!),
  );
  for (const id of ids) expect((await waitForJob(nc, service.prefix, id)).status).toBe('done');
  await nc.flush();
  sub.unsubscribe();
  const [a, b] = ids.map((id) => windows.get(id)!);
  expect(a?.start && a.end && b?.start && b.end).toBeTruthy();
  // One loaded its rows only after the other was done.
  expect(a!.end! <= b!.start! || b!.end! <= a!.start!).toBe(true);
  expect(await checksum(db, 'jobs_t')).toBe(expected);
}, 120_000);

it('refuses to start, clearly, when the declared stream conflicts with an existing one', async () => {
  const env = isolatedEnv();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: env.JOBS_STREAM, subjects: [`${env.SUBJECT_PREFIX}.jobs.>`], retention: RetentionPolicy.Limits });
  try {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(`stream ${env.JOBS_STREAM} exists with retention \\"limits\\", but \\"workqueue\\" is declared`);
  } finally {
    await deleteStream(nc, env.JOBS_STREAM);
  }
});
