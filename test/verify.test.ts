import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentTag } from '../src/mysql/swap-names.js';
import type { VerifyReport } from '../src/verify/report.js';
import { extract, packArchive } from './helpers/archives.js';
import { dbConnect, numbers, TEST_DATABASE, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJob } from './helpers/nats.js';
import { backupDone, retire, startService, type RunningService } from './helpers/service.js';

// `<p>.verify` and `nmtb verify` against the real service: a good archive passes every check,
// also deep (restored into a scratch schema and dumped again byte for byte); an archive whose
// .sql was changed inside, and one whose object differs from the file, fail naming what differs.
const PARENT = 'vf_parent';
const CHILD = 'vf_child';
const NOPK = 'vf_nopk';
const TYPES = 'vf_types';
const TABLES = [PARENT, CHILD, NOPK, TYPES];
const BIN = join(resolve(import.meta.dirname, '..'), 'bin/nmtb.js');

let nc: NatsConnection;
let db: Db;
let service: RunningService;
let archive: string;
let backupState: Awaited<ReturnType<typeof waitForJob>>;

interface VerifyState {
  status: string;
  reason?: string;
  deep?: boolean;
  result?: VerifyReport;
}

async function verify(name: string, deep: boolean): Promise<VerifyState> {
  const reply = await request(nc, `${service.prefix}.verify`, JSON.stringify({ archive: name, deep }));
  expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
  return (await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!, undefined, 120_000)) as unknown as VerifyState;
}

const checksOf = (report: VerifyReport, table: string) => Object.fromEntries(report.tables[table]!.map((c) => [c.check, c.ok]));

/** This service's scratch schemas (other test files' restores on the same server have their own). */
async function scratchSchemas(): Promise<string[]> {
  const tag = deploymentTag(`${service.stateBucket}|${service.prefix}|${TEST_DATABASE}`);
  const [rows] = await db.query('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [`\\_nmtb\\_r${tag}\\_%`]);
  return (rows as { name: string }[]).map((r) => r.name);
}

async function nmtb(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, SUBJECT_PREFIX: service.prefix, OBJECT_BUCKET: service.bucket },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${[CHILD, PARENT, NOPK, TYPES].join(', ')}`);
  // What a re-dump could get wrong: secondary and unique indexes (built after the rows), a foreign
  // key, a trigger, an AUTO_INCREMENT counter past the last row, rows without a primary key (in
  // their insert order, duplicates too), and values of many types.
  await db.query(`CREATE TABLE ${PARENT} (id INT AUTO_INCREMENT PRIMARY KEY, code VARCHAR(20) NOT NULL, label VARCHAR(100), UNIQUE KEY u_code (code), KEY k_label (label))`);
  await db.query(`INSERT INTO ${PARENT} (id, code, label) SELECT seq, CONCAT('c', seq), CONCAT('parent ', seq % 97) FROM ${numbers(3000)}`);
  await db.query(`DELETE FROM ${PARENT} WHERE id > 2990`);
  await db.query(`CREATE TABLE ${CHILD} (id INT PRIMARY KEY, parent_id INT NOT NULL, note TEXT, touched INT NOT NULL DEFAULT 0,
    KEY k_parent (parent_id), CONSTRAINT fk_vf_parent FOREIGN KEY (parent_id) REFERENCES ${PARENT} (id))`);
  await db.query(`CREATE TRIGGER vf_child_bi BEFORE INSERT ON ${CHILD} FOR EACH ROW SET NEW.touched = NEW.touched + 1`);
  await db.query(`INSERT INTO ${CHILD} (id, parent_id, note) SELECT seq, 1 + seq % 2990, CONCAT('note ', SHA2(seq, 256)) FROM ${numbers(5000)}`);
  await db.query(`CREATE TABLE ${NOPK} (a INT, b VARCHAR(20)) ENGINE=InnoDB`);
  await db.query(`INSERT INTO ${NOPK} SELECT 1000 - seq, IF(seq % 10 = 0, NULL, CONCAT('v', seq % 7)) FROM ${numbers(1000)}`);
  await db.query(`INSERT INTO ${NOPK} VALUES (5, 'dup'), (5, 'dup')`);
  await db.query(`CREATE TABLE ${TYPES} (id INT PRIMARY KEY, f FLOAT, d DOUBLE, dec1 DECIMAL(20,6), bits BIT(12), bin VARBINARY(64), blb BLOB,
    js JSON, dt DATETIME(6), ts TIMESTAMP NULL, en ENUM('x','y'), gen INT AS (id * 3) STORED, txt TEXT CHARACTER SET latin1)`);
  await db.query(`INSERT INTO ${TYPES} (id, f, d, dec1, bits, bin, blb, js, dt, ts, en, txt)
    SELECT seq, seq / 7, PI() * seq, seq / 3, seq % 4096, UNHEX(SHA2(seq, 256)), IF(seq % 5 = 0, NULL, REPEAT(UNHEX('00FF27'), seq % 50)),
      JSON_OBJECT('n', seq, 's', CONCAT('it''s ', seq)), '2026-01-02 03:04:05.123456' + INTERVAL seq MINUTE, IF(seq % 3 = 0, NULL, '2026-05-06 07:08:09'),
      IF(seq % 2 = 0, 'x', 'y'), CONCAT('caf', CHAR(233 USING latin1), ' ', seq) FROM ${numbers(800)}`);
  service = await startService({ LOG_LEVEL: 'info', VERIFY_AFTER_BACKUP: 'deep' });
  const reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${TABLES.join(',')}`);
  backupState = await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!);
  expect(backupState.status, backupState.reason).toBe('done');
  archive = backupState.result!.archive;
}, 180_000);

afterAll(async () => {
  await retire(nc, service);
  await db?.query(`DROP TABLE IF EXISTS ${[CHILD, PARENT, NOPK, TYPES].join(', ')}`);
  await db?.end();
  await nc?.close();
});

describe('verify', () => {
  it('VERIFY_AFTER_BACKUP=deep queues a deep verify of each new archive, named in the backup\'s result', async () => {
    const queued = (backupState.result as { verify?: { job: string; deep: boolean } }).verify;
    expect(queued?.deep).toBe(true);
    const state = (await waitForJob(nc, service.prefix, queued!.job, undefined, 120_000)) as unknown as VerifyState;
    expect(state.status, state.reason).toBe('done');
    expect(state).toMatchObject({ deep: true, result: { archive, ok: true, deep: true } });
    for (const table of TABLES) expect(checksOf(state.result!, table), table).toEqual({ sha256: true, rows: true, redump: true });
  }, 180_000);

  it('passes a good archive, shallow and deep: copies, CRCs, manifest, each SHA-256, rows, and a byte-equal re-dump; no scratch schema left', async () => {
    const shallow = await verify(archive, false);
    expect(shallow.status, shallow.reason).toBe('done');
    expect(shallow.result).toMatchObject({ ok: true, deep: false, failures: [] });
    expect(Object.fromEntries(shallow.result!.archiveChecks.map((c) => [c.check, c.ok]))).toEqual({ copies: true, crc: true, manifest: true });
    for (const table of TABLES) expect(checksOf(shallow.result!, table), table).toEqual({ sha256: true });

    const deep = await verify(archive, true);
    expect(deep.status, deep.reason).toBe('done');
    expect(deep.result?.failures).toEqual([]);
    for (const table of TABLES) expect(checksOf(deep.result!, table), table).toEqual({ sha256: true, rows: true, redump: true });
    expect(deep.result!.tables[CHILD]!.find((c) => c.check === 'rows')?.detail).toBe('5000 rows');
    // The scratch schema was this deployment's (so the check below looks for the right names), and is gone.
    const used = service.logs.find((l) => l.msg === 'archive restored into a scratch schema and dumped again')?.scratch;
    expect(used).toMatch(new RegExp(`^_nmtb_r${deploymentTag(`${service.stateBucket}|${service.prefix}|${TEST_DATABASE}`)}_`));
    expect(await scratchSchemas()).toEqual([]);
  }, 240_000);

  it('names the table whose .sql was changed inside a re-packed archive, and the check that failed', async () => {
    const work = mkdtempSync(join(tmpdir(), 'verify-'));
    const entries: Record<string, Buffer> = {};
    for (const entry of ['manifest.json', ...TABLES.map((t) => `${t}.sql`)]) entries[entry] = extract(join(service.backupDir, archive), entry);
    const original = entries[`${CHILD}.sql`]!.toString('latin1');
    const changed = original.replace("'note ", "'NOTE ");
    expect(changed).not.toBe(original);
    entries[`${CHILD}.sql`] = Buffer.from(changed, 'latin1');
    const altered = archive.replace('-backup.7z', '-altered.7z');
    packArchive(work, altered, entries);
    copyFileSync(join(work, altered), join(service.backupDir, altered));

    const state = await verify(altered, true);
    expect(state.status).toBe('failed');
    expect(state.reason).toContain(`${CHILD}.sql sha256`);
    expect(state.result?.ok).toBe(false);
    expect(checksOf(state.result!, CHILD).sha256).toBe(false);
    // The others are untouched, and the changed row still loads and dumps to what the archive holds.
    for (const table of [PARENT, NOPK, TYPES]) expect(checksOf(state.result!, table).sha256, table).toBe(true);
    expect(state.result!.failures).toHaveLength(1);
    expect(await scratchSchemas()).toEqual([]);

    const cli = await nmtb('verify', altered, '--wait');
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stdout).toMatch(new RegExp(`${CHILD}\\.sql\\s+sha256\\s+FAILED`));
    expect(cli.stderr).toContain(`${CHILD}.sql sha256`);
  }, 240_000);

  it('does not compare the re-dump of an archive in an earlier dump format, and passes it', async () => {
    const work = mkdtempSync(join(tmpdir(), 'verify-'));
    const entries: Record<string, Buffer> = {};
    for (const entry of ['manifest.json', ...TABLES.map((t) => `${t}.sql`)]) entries[entry] = extract(join(service.backupDir, archive), entry);
    const manifest = JSON.parse(entries['manifest.json']!.toString('utf8')) as Record<string, unknown>;
    expect(manifest.dumpFormat).toBe(2);
    delete manifest.dumpFormat;
    entries['manifest.json'] = Buffer.from(JSON.stringify(manifest, null, 2));
    const older = archive.replace('-backup.7z', '-format1.7z');
    packArchive(work, older, entries);
    copyFileSync(join(work, older), join(service.backupDir, older));

    const state = await verify(older, true);
    expect(state.status, state.reason).toBe('done');
    for (const table of TABLES) {
      const redump = state.result!.tables[table]!.find((c) => c.check === 'redump');
      expect(redump, table).toMatchObject({ ok: null, detail: 'dumped by an earlier version of the service (dump format 1, now 2): loaded, not compared byte for byte' });
    }
  }, 240_000);

  it('fails an archive whose object in the bucket is not the file', async () => {
    const other = (await backupDone(nc, service, NOPK)).split('/').pop()!;
    const os = await new Objm(nc).open(service.bucket);
    const info = await os.info(other);
    // The object replaced by other bytes (of the same size, so only the digest tells).
    const bytes = readFileSync(join(service.backupDir, other));
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    await os.delete(other);
    await os.put({ name: other, ...(info?.metadata && { metadata: info.metadata }) }, Readable.toWeb(Readable.from([bytes])) as ReadableStream<Uint8Array>);

    const state = await verify(other, false);
    expect(state.status).toBe('failed');
    expect(state.result?.archiveChecks.find((c) => c.check === 'copies')).toMatchObject({ ok: false });
    expect(state.reason).toMatch(/copies: .*differ/);
  }, 120_000);

  it('refuses a bad request with the seed body and changes nothing; a good one from nmtb passes', async () => {
    for (const [body, code] of [
      ['', '400'],
      ['{"archive": "../etc/passwd.7z"}', '400'],
      [`{"archive": "${archive}", "deep": "yes"}`, '400'],
      [`{"archive": "${archive}", "tables": ["x"]}`, '400'],
      ['{"archive": "2001-01-01_00-00-00-backup.7z"}', '404'],
    ] as const) {
      const reply = await request(nc, `${service.prefix}.verify`, body);
      expect(reply.body, body).toBe('{"status": "bad"}');
      expect(reply.headers['Nats-Service-Error-Code'], body).toBe(code);
    }
    const cli = await nmtb('verify', archive, '--deep', '--wait');
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`${archive}: verified (deep)`);
    expect(cli.stdout).toMatch(new RegExp(`${TYPES}\\.sql\\s+redump\\s+ok`));
    expect(await scratchSchemas()).toEqual([]);
  }, 240_000);
});
