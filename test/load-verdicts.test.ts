import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { sevenZipBinary } from '../src/archive/sevenzip.js';
import type { ArchiveName } from '../src/names.js';
import { fileOf, verdictKeyOf } from '../src/store/verdicts.js';
import { dbConnect, type Db } from './helpers/db.js';
import { deleteStream, natsConnect, request, waitForJob } from './helpers/nats.js';
import { isolatedEnv, retire, startService, type RunningService } from './helpers/service.js';

// Archives above the 1 MiB inline-test size: stored (-mx0), so a byte flipped in the middle
// breaks the data's CRC while the header (at the end) still lists.
const GOOD = '2001-01-01_00-00-01-backup.7z';
const CORRUPT = '2001-01-01_00-00-02-backup.7z';

let nc: NatsConnection;
let db: Db;
let env: ReturnType<typeof isolatedEnv> & { JOB_STATE_BUCKET: string };
let service: RunningService | undefined;
const services: RunningService[] = [];

function makeArchive(name: string, corrupt: boolean): void {
  const work = mkdtempSync(join(tmpdir(), 'load-verdicts-'));
  const sql = join(work, 'load_big.sql');
  writeFileSync(sql, `-- ${randomBytes(1024 * 1024).toString('hex')}\n`);
  const archive = join(env.BACKUP_DIR, name);
  execFileSync(sevenZipBinary(), ['a', '-t7z', '-mx0', archive, sql], { stdio: 'ignore' });
  if (corrupt) {
    const fd = openSync(archive, 'r+');
    writeSync(fd, Buffer.from('XXXXXXXX'), 0, 8, Math.floor(statSync(archive).size / 2));
    closeSync(fd);
  }
  rmSync(work, { recursive: true, force: true });
}

async function start(): Promise<RunningService> {
  service = await startService({ ...env, LOG_LEVEL: 'info' });
  services.push(service);
  return service;
}

/** The verdict the service keeps for a local archive, read from the job-state bucket. */
async function keptVerdict(name: string): Promise<unknown> {
  const info = statSync(join(env.BACKUP_DIR, name));
  const key = verdictKeyOf(fileOf(env.BACKUP_DIR, { name: name as ArchiveName, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino }));
  const kv = await new Kvm(nc).open(env.JOB_STATE_BUCKET);
  for (let i = 0; i < 50; i++) {
    const entry = await kv.get(key);
    if (entry?.operation === 'PUT') return entry.json();
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

async function askArchive(name: string): Promise<{ body: string; ms: number; code?: string }> {
  const t0 = performance.now();
  const reply = await request(nc, `${service!.prefix}.archive`, `archivename=${name}`);
  return { body: reply.body, ms: performance.now() - t0, code: reply.headers['Nats-Service-Error-Code'] };
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await db.query('DROP TABLE IF EXISTS load_verdict; CREATE TABLE load_verdict (id INT PRIMARY KEY); INSERT INTO load_verdict VALUES (1), (2)');
  env = { ...isolatedEnv(), JOB_STATE_BUCKET: `load_verdicts_${randomBytes(4).toString('hex')}` };
  makeArchive(GOOD, false);
  makeArchive(CORRUPT, true);
  expect(statSync(join(env.BACKUP_DIR, GOOD)).size).toBeGreaterThan(1024 * 1024);
  await start();
}, 60_000);

afterAll(async () => {
  await retire(nc, ...services);
  await deleteStream(nc, `KV_${env.JOB_STATE_BUCKET}`).catch(() => undefined);
  await nc?.close();
  await db?.query('DROP TABLE IF EXISTS load_verdict, load_big');
  await db?.end();
});

describe('archive verdicts', () => {
  it('answers an untested large archive from its header at once, then tests it in the background and keeps the verdict', async () => {
    const first = await askArchive(CORRUPT);
    console.log(`untested ${statSync(join(env.BACKUP_DIR, CORRUPT)).size} B archive, first reply in ${first.ms.toFixed(0)} ms: ${first.body}`);
    // Until its data is tested, the header listing answers.
    expect(first.body).toBe('{"tables": "load_big.sql"}');
    await service!.waitForLog((l) => l.msg === 'archive failed its background test: it is answered bad from now on' && l.archive === CORRUPT, 30_000);
    const after = await askArchive(CORRUPT);
    expect(after.body).toBe(`{"${CORRUPT}": "bad"}`);
    expect(after.code).toBe('409');

    expect((await askArchive(GOOD)).body).toBe('{"tables": "load_big.sql"}');
    await service!.waitForLog((l) => l.msg === 'archive tested in the background' && l.archive === GOOD, 30_000);
    expect(await keptVerdict(GOOD)).toMatchObject({ source: 'tested', inspection: { ok: true } });
  }, 90_000);

  it('keeps verdicts across a restart: the first replies come from them, no test waited for', async () => {
    await service!.stop();
    await start();
    const corrupt = await askArchive(CORRUPT);
    const good = await askArchive(GOOD);
    console.log(`after a restart: first archive replies in ${corrupt.ms.toFixed(0)} ms (corrupt) and ${good.ms.toFixed(0)} ms (good)`);
    expect(corrupt.body).toBe(`{"${CORRUPT}": "bad"}`);
    expect(good.body).toBe('{"tables": "load_big.sql"}');
    expect(service!.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('tested in the background'))).toBe(false);
  }, 60_000);

  it('a restore of a large damaged archive not yet tested is accepted and its job fails on the CRC', async () => {
    const name = '2001-01-01_00-00-03-backup.7z';
    makeArchive(name, true);
    const reply = await request(nc, `${service!.prefix}.restore`, `archive=${name};tables=load_big.sql`);
    expect(reply.body).toBe('{"status": "ok"}');
    const state = await waitForJob(nc, service!.prefix, reply.headers['Backup-Job-Id']!, undefined, 60_000);
    console.log(`restore of a damaged untested archive: ${state.status}: ${state.reason}`);
    expect(state.status).toBe('failed');
    await service!.waitForLog((l) => l.msg === 'archive failed its background test: it is answered bad from now on' && l.archive === name, 30_000);
    expect((await request(nc, `${service!.prefix}.restore`, `archive=${name};tables=load_big.sql`)).body).toBe('{"status": "bad"}');
  }, 90_000);

  it('a backup the service makes keeps the verdict of its own test as written', async () => {
    const reply = await request(nc, `${service!.prefix}.makebackup`, 'makebackup=load_verdict');
    const state = await waitForJob(nc, service!.prefix, reply.headers['Backup-Job-Id']!, undefined, 60_000);
    expect(state.status, state.reason).toBe('done');
    // With the file's SHA-256, so the first listing or `archive` after a restart compares it with
    // the object's digest without reading the file.
    const sha256 = createHash('sha256').update(readFileSync(join(env.BACKUP_DIR, state.archive))).digest('hex');
    expect(await keptVerdict(state.archive)).toMatchObject({ source: 'written', inspection: { ok: true }, sha256 });
    expect(readdirSync(env.BACKUP_DIR).filter((f) => f.startsWith('.'))).toEqual([]);
    const listed = Object.values(JSON.parse((await request(nc, `${service!.prefix}.listbackups`, 'listfiles')).body) as Record<string, string>);
    expect(listed).toEqual([GOOD, CORRUPT, '2001-01-01_00-00-03-backup.7z', state.archive]);
  }, 90_000);
});
