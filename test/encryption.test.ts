import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sevenZipBinary } from '../src/archive/sevenzip.js';
import { checksum, dbConnect, numbers, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJob } from './helpers/nats.js';
import { isolatedEnv, retire, startService, type RunningService } from './helpers/service.js';

// Archives encrypted at rest (ARCHIVE_PASSWORD / ARCHIVE_PASSWORDS_FILE), with 7-Zip 26 (`7zz`).
const TABLE = 'enc_orders';
const OLD = `old-${randomBytes(6).toString('hex')}`;
const NEW = `new ${randomBytes(6).toString('hex')};"x`;

let nc: NatsConnection;
let db: Db;
const env = isolatedEnv();
const started: RunningService[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'encryption-'));

async function start(extra: Record<string, string>): Promise<RunningService> {
  const service = await startService({ ...env, ...extra });
  started.push(service);
  return service;
}

async function backup(service: RunningService): Promise<string> {
  const reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${TABLE}`);
  const state = await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!);
  expect(state.status, state.reason).toBe('done');
  return state.archive;
}

async function verify(service: RunningService, archive: string): Promise<{ status: string; reason?: string; result?: { tables: Record<string, { check: string; ok: boolean | null }[]> } }> {
  const reply = await request(nc, `${service.prefix}.verify`, JSON.stringify({ archive, deep: true }));
  expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
  return (await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!)) as never;
}

async function restored(service: RunningService, archive: string): Promise<string> {
  await db.query(`UPDATE ${TABLE} SET label = 'changed' WHERE id <= 50`);
  const reply = await request(nc, `${service.prefix}.restore`, `archive=${archive};tables=${TABLE}`);
  expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
  const state = await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!);
  expect(state.status, state.reason).toBe('done');
  return checksum(db, TABLE);
}

/** `7zz l` of the archive, the password (if any) on stdin: its output and exit code. */
function list(path: string, password?: string): { out: string; code: number | null } {
  const run = spawnSync(sevenZipBinary(), ['l', '-slt', ...(password === undefined ? ['-p'] : []), '--', path], { input: password === undefined ? '' : `${password}\n`, encoding: 'utf8' });
  return { out: `${run.stdout}${run.stderr}`, code: run.status };
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (id INT PRIMARY KEY, label VARCHAR(40))`);
  await db.query(`INSERT INTO ${TABLE} SELECT seq, CONCAT('row ', seq) FROM ${numbers(2000)}`);
});

afterAll(async () => {
  await retire(nc, ...started);
  await db?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await db?.end();
  await nc?.close();
});

it('makes AES-256 archives nothing can read without the password, and restores them; rotated passwords still open old ones', async () => {
  const original = await checksum(db, TABLE);
  const first = await start({ ARCHIVE_PASSWORD: OLD });
  const oldArchive = await backup(first);
  const path = join(first.backupDir, oldArchive);

  // Without the password not even the table names can be read; with it, everything.
  const locked = list(path);
  expect(locked.code).not.toBe(0);
  expect(locked.out).not.toContain(TABLE);
  expect(list(path, OLD).out).toContain(`${TABLE}.sql`);
  const manifest = execFileSync(sevenZipBinary(), ['x', '-so', path, 'manifest.json'], { input: `${OLD}\n`, encoding: 'utf8' });
  expect(JSON.parse(manifest)).toMatchObject({ tables: { [TABLE]: { rows: 2000 } } });

  expect(JSON.parse((await request(nc, `${first.prefix}.archive`, `archivename=${oldArchive}`)).body)).toEqual({ tables: `${TABLE}.sql` });
  const detail = JSON.parse((await request(nc, `${first.prefix}.backups`, JSON.stringify({ archive: oldArchive }))).body) as { archive: { encrypted: boolean } };
  expect(detail.archive.encrypted).toBe(true);
  // No table name next to the object either.
  const info = await (await new Objm(nc).open(first.bucket)).info(oldArchive);
  expect(JSON.stringify(info)).not.toContain(TABLE);
  expect(info?.metadata).toMatchObject({ encrypted: 'true' });
  expect(await restored(first, oldArchive)).toBe(original);
  await first.stop();

  // Rotation: the new password writes, the old one still reads.
  const passwords = join(tmp, 'archive-passwords');
  writeFileSync(passwords, `${NEW}\n${OLD}\n`, { mode: 0o600 });
  const rotated = await start({ ARCHIVE_PASSWORDS_FILE: passwords });
  expect(await restored(rotated, oldArchive)).toBe(original);
  const newArchive = await backup(rotated);
  expect(list(join(rotated.backupDir, newArchive), NEW).code).toBe(0);
  expect(list(join(rotated.backupDir, newArchive), OLD).code).not.toBe(0);
  // A deep verify opens the old archive with the old password, and its re-dump is byte-equal.
  const verified = await verify(rotated, oldArchive);
  expect(verified.status, verified.reason).toBe('done');
  expect(verified.result?.tables[TABLE]?.map((c) => [c.check, c.ok])).toEqual([['sha256', true], ['rows', true], ['redump', true]]);
  await rotated.stop();

  // A password that opens neither: the archive is "bad", with the reason.
  const wrong = await start({ ARCHIVE_PASSWORD: 'neither of them' });
  const refused = await request(nc, `${wrong.prefix}.archive`, `archivename=${newArchive}`);
  expect(refused.body).toBe(`{"${newArchive}": "bad"}`);
  expect(refused.headers['Nats-Service-Error']).toMatch(/encrypted: none of the 1 configured password/);
  const restore = await request(nc, `${wrong.prefix}.restore`, `archive=${newArchive};tables=${TABLE}`);
  expect(restore.body).toBe('{"status": "bad"}');
  const unopened = await verify(wrong, newArchive);
  expect(unopened.status).toBe('failed');
  expect(unopened.reason).toMatch(/crc: encrypted: none of the 1 configured password/);

  for (const service of started) for (const secret of [OLD, NEW]) expect(JSON.stringify(service.logs) + service.stderr()).not.toContain(secret);
}, 120_000);
