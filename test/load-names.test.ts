import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveStampOf } from '../src/backup/names.js';
import { dbConnect, type Db } from './helpers/db.js';
import { deleteStream, natsConnect, request } from './helpers/nats.js';
import { isolatedEnv, retire, startService, type RunningService } from './helpers/service.js';

const NAME = /^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})-backup(?:-(\d+))?\.7z$/;
const IN_FLIGHT = 100;

let nc: NatsConnection;
let db: Db;
let first: RunningService;
let second: RunningService;
const stateBucket = `load_jobs_${randomBytes(4).toString('hex')}`;
/** A file at one of the names the first test's backups would take, which is no archive. */
let squatter = '';

beforeAll(async () => {
  db = await dbConnect();
  await db.query('DROP TABLE IF EXISTS load_names; CREATE TABLE load_names (id INT PRIMARY KEY); INSERT INTO load_names VALUES (1)');
  nc = await natsConnect();
  // Two instances of one deployment: one queue, one bucket, one job-state bucket, one directory.
  const env = { ...isolatedEnv(), JOB_STATE_BUCKET: stateBucket, MAX_PARALLEL_JOBS: '1', LOG_LEVEL: 'info' };
  [first, second] = await Promise.all([startService(env), startService(env)]);
}, 60_000);

afterAll(async () => {
  await retire(nc, first, second);
  await deleteStream(nc, `KV_${stateBucket}`).catch(() => undefined);
  await nc?.close();
  await db?.query('DROP TABLE IF EXISTS load_names');
  await db?.end();
});

describe('same-second names under load', () => {
  it(`gives ${IN_FLIGHT} concurrent makebackups on two instances distinct names, numbered without gaps per second`, async () => {
    // Start just after a second begins, so most requests share a second; a file already holding
    // one of that second's names must be skipped.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    const stamp = archiveStampOf(new Date());
    squatter = `${stamp}-backup-3.7z`;
    writeFileSync(join(first.backupDir, squatter), 'not an archive of this test');

    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        const t0 = performance.now();
        const reply = await request(nc, `${first.prefix}.makebackup`, 'makebackup=load_names');
        return { ms: performance.now() - t0, body: JSON.parse(reply.body) as { status: string; futurefilename: string } };
      }),
    );
    const ms = replies.map((r) => r.ms).sort((a, b) => a - b);
    const p = (q: number) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)]!.toFixed(0);
    console.log(`makebackup x${IN_FLIGHT} in flight on 2 instances: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, all in ${Date.now() - started} ms`);

    expect(replies.every((r) => r.body.status === 'ok')).toBe(true);
    const names = replies.map((r) => r.body.futurefilename.split('/').pop()!);
    expect(new Set(names).size).toBe(IN_FLIGHT);
    expect(names).not.toContain(squatter);

    // Per second, the numbers used (with the squatter's) are exactly 1..k.
    const bySecond = new Map<string, number[]>();
    for (const name of [...names, squatter]) {
      const m = NAME.exec(name);
      expect(m, name).not.toBeNull();
      const list = bySecond.get(m![1]!) ?? [];
      list.push(Number(m![2] ?? 1));
      bySecond.set(m![1]!, list);
    }
    for (const [second, numbers] of bySecond) {
      expect(numbers.sort((a, b) => a - b), second).toEqual(numbers.map((_, i) => i + 1));
    }
    // Both instances answered some of them (one queue group).
    const served = (s: RunningService) => s.logs.filter((l) => l.msg === 'backup queued').length;
    for (let i = 0; i < 50 && served(first) + served(second) < IN_FLIGHT; i++) await new Promise((r) => setTimeout(r, 100));
    expect(served(first) + served(second)).toBe(IN_FLIGHT);
  }, 120_000);

  it('finds a table created just after a makebackup, though table lists are reused for a moment', async () => {
    await db.query('DROP TABLE IF EXISTS load_names_late');
    const ok = JSON.parse((await request(nc, `${first.prefix}.makebackup`, 'makebackup=load_names')).body) as { status: string };
    expect(ok.status).toBe('ok');
    const missing = await request(nc, `${first.prefix}.makebackup`, 'makebackup=load_names_late');
    expect(JSON.parse(missing.body)).toEqual({ status: 'bad', futurefilename: '' });
    await db.query('CREATE TABLE load_names_late (id INT PRIMARY KEY)');
    try {
      // Both instances, at once: a list either made before the table existed must not say it is missing.
      const replies = await Promise.all([0, 1, 2, 3].map(() => request(nc, `${first.prefix}.makebackup`, 'makebackup=load_names_late')));
      for (const reply of replies) expect((JSON.parse(reply.body) as { status: string }).status, reply.body).toBe('ok');
    } finally {
      await db.query('DROP TABLE IF EXISTS load_names_late');
    }
  }, 60_000);

  it(`answers ${IN_FLIGHT} listbackups and archive requests in flight, none failing`, async () => {
    // The backups queued above are being made meanwhile (two cores): the figures are pessimistic.
    let archive: string | undefined;
    for (let i = 0; i < 300 && !archive; i++) {
      const listed = Object.values(JSON.parse((await request(nc, `${first.prefix}.listbackups`, 'listfiles')).body) as Record<string, string>);
      archive = listed.find((name) => name !== squatter);
      if (!archive) await new Promise((r) => setTimeout(r, 100));
    }
    expect(archive).toBeDefined();
    for (const [subject, body] of [['listbackups', 'listfiles'], ['archive', `archivename=${archive}`]] as const) {
      const replies = await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          const t0 = performance.now();
          const reply = await request(nc, `${first.prefix}.${subject}`, body);
          return { ms: performance.now() - t0, reply };
        }),
      );
      const ms = replies.map((r) => r.ms).sort((a, b) => a - b);
      console.log(`${subject} x${IN_FLIGHT} in flight on 2 instances: p50 ${ms[49]!.toFixed(0)} ms, p99 ${ms[98]!.toFixed(0)} ms`);
      for (const { reply } of replies) expect(reply.headers['Nats-Service-Error'], subject).toBeUndefined();
    }
  }, 120_000);
});
