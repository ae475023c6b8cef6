import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checksum, dbConnect, type Db } from './helpers/db.js';
import { request, waitForJob } from './helpers/nats.js';
import { startNatsServer, type TestNatsServer } from './helpers/nats-server.js';
import { startService, type RunningService } from './helpers/service.js';

/**
 * The service under the minimal NATS permissions of docs/security.md: the config block there is
 * used verbatim (its default names: prefix `backup`, stream BACKUP_JOBS, consumer `workers`,
 * buckets backup_jobs and backups), on a nats-server of this file's own.
 */

const ROOT = resolve(import.meta.dirname, '..');
const TABLE = 'perm_t';
// Digits, spaces, '#': nats-server parses an environment variable as a config value, so the docs
// say to put the password in double quotes; these prove that works.
const password = () => `${randomBytes(3).readUIntBE(0, 3)} #${randomBytes(9).toString('base64url')}`;
const PASSWORDS = { service: password(), operator: password(), admin: password() };
const SERVER_ENV = {
  BACKUP_SERVICE_PASSWORD: `"${PASSWORDS.service}"`,
  BACKUP_OPERATOR_PASSWORD: `"${PASSWORDS.operator}"`,
  BACKUP_ADMIN_PASSWORD: `"${PASSWORDS.admin}"`,
};

/** The first ```conf block after the "minimal permissions" marker of docs/security.md. */
export function documentedPermissions(): string {
  const doc = readFileSync(join(ROOT, 'docs/security.md'), 'utf8');
  const block = /<!-- permissions-block -->\s*```(?:conf|hcl)?\n([\s\S]*?)```/.exec(doc);
  if (!block?.[1]) throw new Error('docs/security.md has no permissions block');
  return block[1];
}

let server: TestNatsServer;
let db: Db;
let service: RunningService | undefined;
let operator: NatsConnection;
let admin: NatsConnection;

const serviceEnv = (extra: Record<string, string> = {}) => ({
  NATS_URL: server.url,
  NATS_USER: 'backup-service',
  NATS_PASSWORD: PASSWORDS.service,
  SUBJECT_PREFIX: 'backup',
  JOBS_STREAM: 'BACKUP_JOBS',
  QUEUE_GROUP: 'workers',
  OBJECT_BUCKET: 'backups',
  JOB_STATE_BUCKET: 'backup_jobs',
  KEEP_LAST: '1',
  // Jobs of several seconds under a 5 s ack wait: working() acks a job more than once.
  JOB_ACK_WAIT_SECONDS: '5',
  SEVENZIP_LEVEL: '9',
  ...extra,
});

beforeAll(async () => {
  server = await startNatsServer(`jetstream { store_dir: "\${DIR}/js" }\n${documentedPermissions()}`, { env: SERVER_ENV });
  db = await dbConnect();
  // ~4 MB that 7-Zip cannot shrink: the object get needs JetStream flow control.
  await db.query(`DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, b VARBINARY(1024))`);
  for (let i = 0; i < 4; i++) await db.query(`INSERT INTO ${TABLE} (b) VALUES ${Array.from({ length: 1000 }, () => '(RANDOM_BYTES(1024))').join(',')}`);
  // The job-state bucket exists already, as `nats kv add` makes it (direct gets allowed), with
  // another TTL: the service updates it at start ($JS.API.STREAM.UPDATE).
  const nc = await connect({ servers: server.url, user: 'backup-service', pass: PASSWORDS.service });
  await new Kvm(nc).create('backup_jobs', { history: 1, ttl: 3_600_000, allow_direct: true });
  await nc.close();
  service = await startService(serviceEnv());
  operator = await connect({ servers: server.url, user: 'backup-operator', pass: PASSWORDS.operator });
  admin = await connect({ servers: server.url, user: 'backup-admin', pass: PASSWORDS.admin });
}, 60_000);

afterAll(async () => {
  await service?.stop();
  await operator?.close();
  await admin?.close();
  await server?.stop();
  await db?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await db?.end();
});

it('backs up, lists, prunes, fetches from the bucket and restores with only the documented permissions', async () => {
  expect((await request(operator, 'backup.listbackups', 'listfiles')).body).toBe('{}');
  const first = await request(operator, 'backup.makebackup', `makebackup=${TABLE}`);
  expect(JSON.parse(first.body)).toMatchObject({ status: 'ok' });
  // attempts 1: every ack and working() went through (a denied ack means a redelivery).
  expect(await waitForJob(operator, 'backup', first.headers['Backup-Job-Id']!)).toMatchObject({ status: 'done', attempts: 1 });
  const second = await request(operator, 'backup.makebackup', `makebackup=${TABLE}`);
  const done = await waitForJob(operator, 'backup', second.headers['Backup-Job-Id']!);
  expect(done).toMatchObject({ status: 'done', attempts: 1 });

  // KEEP_LAST=1: retention (object list, pins in the key-value bucket, object delete) leaves one.
  const deadline = Date.now() + 15_000;
  let listing = '';
  while (Date.now() < deadline && listing !== `{"0": "${done.archive}"}`) {
    listing = (await request(operator, 'backup.listbackups', 'listfiles')).body;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(listing).toBe(`{"0": "${done.archive}"}`);

  // Only the bucket holds it now: the restore fetches it (an object get, with flow control).
  rmSync(join(service!.backupDir, done.archive));
  expect((await request(operator, 'backup.archive', `archivename=${done.archive}`)).body).toBe(`{"tables": "${TABLE}.sql"}`);
  const before = await checksum(db, TABLE);
  await db.query(`DELETE FROM ${TABLE} WHERE id % 2 = 0`);
  const restore = await request(admin, 'backup.restore', `archive=${done.archive};tables=${TABLE}.sql`);
  expect(restore.body).toBe('{"status": "ok"}');
  expect(await waitForJob(admin, 'backup', restore.headers['Backup-Job-Id']!)).toMatchObject({ status: 'done', attempts: 1 });
  expect(await checksum(db, TABLE)).toBe(before);

  const detailed = JSON.parse((await request(operator, 'backup.backups', '')).body) as { status: string; archives: { name: string; stored: string }[] };
  expect(detailed).toMatchObject({ status: 'ok', archives: [{ name: done.archive, stored: 'object' }] });
  expect(JSON.parse((await request(operator, 'backup.status', done.id)).body)).toMatchObject({ id: done.id, status: 'done' });

  // What an operator does besides the requests: `nats micro ls`, and `nmtb get` (an object get).
  const ping = await operator.request('$SRV.PING.nats-mysql-tables-backup', '', { timeout: 5_000 });
  expect(ping.json()).toMatchObject({ type: 'io.nats.micro.v1.ping_response', metadata: { prefix: 'backup' } });
  const object = await (await new Objm(operator).open('backups')).getBlob(done.archive);
  expect(createHash('sha256').update(object!).digest('hex')).toBe(done.result!.sha256);
}, 150_000);

it('lets the operator list and back up, but not restore', async () => {
  expect((await request(operator, 'backup.listbackups', 'listfiles')).body).toMatch(/^\{/);
  const denied = await request(operator, 'backup.restore', 'archive=x.7z;tables=t').catch((err: unknown) => err);
  // nats.js v3 fails the request at once with the server's -ERR (no timeout, no reply).
  // (a RequestError whose cause is the PermissionViolationError).
  expect(isPermissionError(denied), String(denied)).toBe(true);
  expect((denied as Error).cause).toMatchObject({ operation: 'publish', subject: 'backup.restore' });
  // The connection survives a permission error.
  expect((await request(operator, 'backup.listbackups', 'listfiles')).body).toMatch(/^\{/);
});

it('allows the API calls of rarer paths: a failed job deleted, an ordered consumer reset', async () => {
  // The service's own credentials, for requests the normal flow does not make. A permission
  // denial would throw PermissionViolationError; "not found" means the server let it through.
  const nc = await connect({ servers: server.url, user: 'backup-service', pass: PASSWORDS.service });
  try {
    const jsm = await jetstreamManager(nc);
    const notFound = (p: Promise<unknown>) => p.then(() => 'ok', (err: Error) => (isPermissionError(err) ? `denied: ${err.message}` : `not found: ${err.message}`));
    expect(await notFound(jsm.streams.deleteMessage('BACKUP_JOBS', 999_999, false))).toMatch(/^not found/);
    expect(await notFound(jsm.consumers.delete('KV_backup_jobs', 'no-such-consumer'))).toMatch(/^not found/);
    expect(await notFound(jsm.consumers.delete('OBJ_backups', 'no-such-consumer'))).toMatch(/^not found/);
    // …and nothing beyond its own streams.
    expect(await notFound(jsm.streams.info('OTHER'))).toMatch(/^denied/);
  } finally {
    await nc.close();
  }
});

it('starts again, updating its declarations, under the same permissions', async () => {
  await service!.stop();
  service = await startService(serviceEnv({ JOB_STATE_TTL_SECONDS: '3600', JOB_MAX_DELIVER: '4', BACKUP_DIR: service!.backupDir }));
  expect((await request(operator, 'backup.listbackups', 'listfiles')).body).toMatch(/^\{"0"/);
});

function isPermissionError(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof PermissionViolationError) return true;
  return false;
}

it('never met a permission violation on the service side', () => {
  const violations = server.output().split('\n').filter((l) => /Violation/i.test(l) && l.includes('backup-service'));
  expect(violations.filter((l) => !l.includes('"OTHER"') && !l.includes('.OTHER'))).toEqual([]);
  expect(service!.logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
});
