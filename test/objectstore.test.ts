import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksum, dbConnect, numbers, TEST_DATABASE, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJob } from './helpers/nats.js';
import { objectGet, objectList } from './helpers/objget.js';
import { isolatedEnv, retire, startService, type RunningService } from './helpers/service.js';

const NATS = 'nats://127.0.0.1:4222';
const SMALL = 'os_small';
const WIDE = 'os_wide';

let nc: NatsConnection;
let db: Db;
const started: RunningService[] = [];

interface ListedArchive {
  name: string;
  stored: 'local' | 'object' | 'both';
  size: number;
  created: string;
  tables: string[] | null;
  sha256: string | null;
  digest?: string;
  conflict?: string;
}

async function start(env: Record<string, string> = {}): Promise<RunningService> {
  const service = await startService(env);
  started.push(service);
  return service;
}

async function backup(service: RunningService, tables: string): Promise<{ name: string; path: string; id: string }> {
  const reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${tables}`);
  const path = (JSON.parse(reply.body) as { futurefilename: string }).futurefilename;
  expect(path, reply.body).not.toBe('');
  const id = reply.headers['Backup-Job-Id']!;
  const state = await waitForJob(nc, service.prefix, id);
  expect(state.status, state.reason).toBe('done');
  return { name: path.split('/').pop()!, path, id };
}

async function restore(service: RunningService, archive: string, tables: string): Promise<string> {
  const reply = await request(nc, `${service.prefix}.restore`, `archive=${archive};tables=${tables}`);
  expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
  return reply.headers['Backup-Job-Id']!;
}

async function listNames(service: RunningService): Promise<string[]> {
  return Object.values(JSON.parse((await request(nc, `${service.prefix}.listbackups`, 'listfiles')).body) as Record<string, string>);
}

async function details(service: RunningService): Promise<ListedArchive[]> {
  const reply = await request(nc, `${service.prefix}.backups`, '');
  return (JSON.parse(reply.body) as { archives: ListedArchive[] }).archives;
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function localArchives(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.7z')).sort();
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${SMALL}, ${WIDE}`);
  await db.query(`CREATE TABLE ${SMALL} (id INT PRIMARY KEY, label VARCHAR(40))`);
  await db.query(`INSERT INTO ${SMALL} SELECT seq, CONCAT('row ', seq) FROM ${numbers(500)}`);
  // ~3 MB of poorly compressible text, so the archive spans many 128 KiB object chunks.
  await db.query(`CREATE TABLE ${WIDE} (id INT PRIMARY KEY, payload TEXT)`);
  await db.query(`INSERT INTO ${WIDE} SELECT seq, SHA2(seq, 512) FROM ${numbers(20000)}`);
});

afterAll(async () => {
  await retire(nc, ...started);
  await db?.query(`DROP TABLE IF EXISTS ${SMALL}, ${WIDE}`);
  await db?.end();
  await nc?.close();
});

describe('the object store mirror', () => {
  let service: RunningService;
  let archive: { name: string; path: string; id: string };
  let original: string;

  beforeAll(async () => {
    service = await start();
    original = await checksum(db, WIDE);
    archive = await backup(service, `${WIDE},${SMALL}`);
  });

  it('stores a byte-identical copy that another Object Store client (nats.go) reads back', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'objget-')), archive.name);
    const fetched = await objectGet(NATS, service.bucket, archive.name, out);
    const localSha = sha256Of(archive.path);
    expect(fetched.sha256).toBe(localSha);
    expect(fetched.size).toBe(readFileSync(archive.path).length);
    expect(fetched.size).toBeGreaterThan(1024 * 1024);
    expect(fetched.digest).toBe(`SHA-256=${Buffer.from(localSha, 'hex').toString('base64url')}=`);
    expect(fetched.metadata).toMatchObject({ sha256: localSha, database: TEST_DATABASE, job: archive.id });
    // In the archive's order: 7-Zip's (by name), but for a first table streamed in as it was dumped.
    expect(fetched.metadata?.tables?.split(',').sort()).toEqual([`${SMALL}.sql`, `${WIDE}.sql`]);
    const state = await waitForJob(nc, service.prefix, archive.id);
    expect(state.result).toMatchObject({ sha256: localSha, bucket: { name: service.bucket, digest: fetched.digest } });
  });

  it('lists, describes and restores an archive whose local file is gone', async () => {
    expect((await details(service)).find((a) => a.name === archive.name)?.stored).toBe('both');
    const localSha = sha256Of(archive.path);
    rmSync(archive.path);
    expect(await listNames(service)).toContain(archive.name);
    const listed = (await details(service)).find((a) => a.name === archive.name);
    expect(listed).toMatchObject({ stored: 'object', sha256: localSha });
    expect([...(listed?.tables ?? [])].sort()).toEqual([`${SMALL}.sql`, `${WIDE}.sql`]);
    const described = await request(nc, `${service.prefix}.archive`, `archivename=${archive.name}`);
    expect(JSON.parse(described.body)).toEqual({ tables: listed?.tables?.join(',') });

    await db.query(`DELETE FROM ${WIDE} WHERE id % 3 = 0`);
    expect(await checksum(db, WIDE)).not.toBe(original);
    const job = await restore(service, archive.name, WIDE);
    const state = await waitForJob(nc, service.prefix, job);
    expect(state.status, state.reason).toBe('done');
    expect(await checksum(db, WIDE)).toBe(original);
    // The fetched copy was temporary: the backup directory holds no file of it.
    expect(readdirSync(service.backupDir)).toEqual([]);
  });

  it('reports a name whose two copies differ, and uses neither', async () => {
    const other = await backup(service, SMALL);
    const third = await backup(service, SMALL);
    // Same size (same table), different bytes: the copy under `other` is now `third`'s file.
    copyFileSync(third.path, other.path);
    const listed = (await details(service)).find((a) => a.name === other.name);
    expect(listed?.stored).toBe('both');
    expect(listed?.conflict).toMatch(/differs between the backup directory .* and the object store/);
    const described = await request(nc, `${service.prefix}.archive`, `archivename=${other.name}`);
    expect(JSON.parse(described.body)).toEqual({ [other.name]: 'bad' });
    expect(described.headers['Nats-Service-Error-Code']).toBe('409');
    const restored = await request(nc, `${service.prefix}.restore`, `archive=${other.name};tables=${SMALL}`);
    expect(restored.body).toBe('{"status": "bad"}');
    expect(restored.headers['Nats-Service-Error']).toMatch(/differs/);
  });
});

it('a backup redelivered after its first attempt stored the object but died before the local rename fetches the local copy', async () => {
  const service = await start();
  const made = await backup(service, SMALL);
  const sha256 = sha256Of(made.path);
  // What the dead attempt left: the object (with this job's id in its metadata), no local file,
  // no final state, and the job's message delivered again.
  rmSync(made.path);
  const kv = await new Kvm(nc).open(service.stateBucket);
  await kv.delete(`job.${made.id}`);
  const job = { kind: 'backup', id: made.id, archive: made.name, tables: [SMALL], requestedAt: new Date().toISOString() };
  await jetstream(nc).publish(`${service.prefix}.jobs.backup`, JSON.stringify(job), { msgID: `redelivered:${made.id}` });

  const state = await waitForJob(nc, service.prefix, made.id);
  expect(state.status, state.reason).toBe('done');
  expect((state.result as { path: string }).path).toBe(made.path);
  expect(sha256Of(made.path)).toBe(sha256);
  expect((await details(service)).find((a) => a.name === made.name)?.stored).toBe('both');
  expect(readdirSync(service.backupDir).filter((f) => f.startsWith('.'))).toEqual([]);
});

it('describes and restores an archive put into the bucket by hand, without the service\'s metadata', async () => {
  const service = await start();
  const made = await backup(service, SMALL);
  const original = await checksum(db, SMALL);
  const byHand = '2001-01-01_00-00-00-backup.7z';
  const os = await new Objm(nc).open(service.bucket);
  await os.put({ name: byHand }, Readable.toWeb(createReadStream(made.path)) as ReadableStream<Uint8Array>);

  const described = await request(nc, `${service.prefix}.archive`, `archivename=${byHand}`);
  expect(JSON.parse(described.body)).toEqual({ tables: `${SMALL}.sql` });
  // Known from the fetch and test that `archive` made.
  expect((await details(service)).find((a) => a.name === byHand)).toMatchObject({ stored: 'object', tables: [`${SMALL}.sql`] });
  await db.query(`DELETE FROM ${SMALL} WHERE id > 10`);
  const state = await waitForJob(nc, service.prefix, await restore(service, byHand, SMALL));
  expect(state.status, state.reason).toBe('done');
  expect(await checksum(db, SMALL)).toBe(original);
  expect(readdirSync(service.backupDir).filter((f) => f.startsWith('.'))).toEqual([]);
});

it('lists and restores an archive that another instance, with another backup dir, put only into the bucket', async () => {
  const shared = isolatedEnv();
  const first = await start({ OBJECT_BUCKET: shared.OBJECT_BUCKET });
  const second = await start({ OBJECT_BUCKET: shared.OBJECT_BUCKET });
  expect(first.backupDir).not.toBe(second.backupDir);
  const original = await checksum(db, SMALL);
  const made = await backup(second, SMALL);
  expect(localArchives(first.backupDir)).toEqual([]);
  expect(await listNames(first)).toEqual([made.name]);
  expect(await details(first)).toMatchObject([{ name: made.name, stored: 'object', tables: [`${SMALL}.sql`] }]);

  await db.query(`UPDATE ${SMALL} SET label = 'changed' WHERE id < 100`);
  const state = await waitForJob(nc, first.prefix, await restore(first, made.name, SMALL));
  expect(state.status, state.reason).toBe('done');
  expect(await checksum(db, SMALL)).toBe(original);
  expect(readdirSync(first.backupDir)).toEqual([]);
});

it('lists at once every archive other clients put into the bucket concurrently (nats-server 2.9\'s watch misses some)', async () => {
  const service = await start();
  const made = await backup(service, SMALL);
  const bytes = readFileSync(made.path);
  const others = [await natsConnect(), await natsConnect()];
  try {
    const names = [1, 2, 3, 4, 5, 6].map((n) => `2002-02-02_00-00-0${n}-backup.7z`);
    const stores = await Promise.all(others.map((c) => new Objm(c).open(service.bucket)));
    await Promise.all(names.map((name, i) => stores[i % 2]!.putBlob({ name }, bytes)));
    expect((await listNames(service)).sort()).toEqual([...names, made.name].sort());
    const described = await request(nc, `${service.prefix}.archive`, `archivename=${names[0]}`);
    expect(JSON.parse(described.body)).toEqual({ tables: `${SMALL}.sql` });
  } finally {
    for (const c of others) await c.close();
  }
});

it('retention keeps exactly the newest KEEP_LAST archives in both places, and never one a queued restore needs', async () => {
  const service = await start({ KEEP_LAST: '2', MAX_PARALLEL_JOBS: '1' });
  const b1 = await backup(service, SMALL);
  const b2 = await backup(service, SMALL);
  expect(await listNames(service)).toEqual([b1.name, b2.name]);

  // One slot: the restore of b1 waits in the queue while b3 is made and retention runs.
  const b3Reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${WIDE}`);
  const b3Id = b3Reply.headers['Backup-Job-Id']!;
  const restoreId = await restore(service, b1.name, SMALL);
  const b3 = await waitForJob(nc, service.prefix, b3Id);
  expect(b3.status, b3.reason).toBe('done');
  const afterB3 = await listNames(service);
  expect(afterB3).toContain(b1.name);
  expect(afterB3).toHaveLength(3);
  expect((await waitForJob(nc, service.prefix, restoreId)).status).toBe('done');

  const b4 = await backup(service, SMALL);
  const newest = [b3.archive, b4.name];
  expect(await listNames(service)).toEqual(newest);
  expect(localArchives(service.backupDir)).toEqual([...newest].sort());
  expect((await objectList(NATS, service.bucket)).map((o) => o.name).sort()).toEqual([...newest].sort());
});
