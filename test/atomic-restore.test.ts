import type { NatsConnection } from '@nats-io/transport-node';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentTag } from '../src/mysql/swap-names.js';
import { extract, packArchive } from './helpers/archives.js';
import { checksum, count, dbConnect, numbers, TEST_DATABASE, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJob } from './helpers/nats.js';
import { backupDone, isolatedEnv, restoreEnded, retire, startService, type RunningService } from './helpers/service.js';

const BIG = 'at_big';
const PARENT = 'at_parent';
const CHILD = 'at_child';

let nc: NatsConnection;
let db: Db;
const started: RunningService[] = [];

async function start(env: Record<string, string> = {}): Promise<RunningService> {
  const service = await startService({ JOB_MAX_DELIVER: '1', ...env });
  started.push(service);
  return service;
}

/** The tag in the scratch names of a service's restores (its job-state bucket, prefix and database). */
function deploymentOf(service: RunningService): string {
  return deploymentTag(`${service.stateBucket}|${service.prefix}|${TEST_DATABASE}`);
}

/** Scratch schemas and set-aside tables that this file's services left behind (other deployments' are theirs). */
async function leftovers(): Promise<string[]> {
  const tags = started.map(deploymentOf);
  const [schemas] = await db.query<RowDataPacket[]>("SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\\_nmtb\\_%'");
  const [tables] = await db.query<RowDataPacket[]>("SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\\_nmtb\\_%'", [TEST_DATABASE]);
  return [...schemas, ...tables].map((r) => String(r.n)).filter((name) => tags.some((tag) => name.startsWith(`_nmtb_r${tag}`) || name.startsWith(`_nmtb_o${tag}`)));
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await db.query('SET FOREIGN_KEY_CHECKS = 0');
  await db.query(`DROP TABLE IF EXISTS ${BIG}, ${CHILD}, ${PARENT}, at_counted`);
  await db.query('SET FOREIGN_KEY_CHECKS = 1');
  await db.query(`CREATE TABLE ${BIG} (id INT PRIMARY KEY, payload VARCHAR(200)) ENGINE=InnoDB`);
  await db.query(`INSERT INTO ${BIG} SELECT seq, REPEAT(SHA2(seq, 256), 3) FROM ${numbers(300000)}`);
  await db.query(`CREATE TABLE ${PARENT} (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB`);
  await db.query(`CREATE TABLE ${CHILD} (id INT PRIMARY KEY, parent_id INT NOT NULL,
    CONSTRAINT at_child_parent FOREIGN KEY (parent_id) REFERENCES ${PARENT} (id) ON DELETE CASCADE) ENGINE=InnoDB`);
  await db.query(`CREATE TRIGGER at_parent_bi BEFORE INSERT ON ${PARENT} FOR EACH ROW SET NEW.name = UPPER(NEW.name)`);
  await db.query(`INSERT INTO ${PARENT} SELECT seq, CONCAT('p', seq) FROM ${numbers(50)}`);
  await db.query(`INSERT INTO ${CHILD} SELECT seq, 1 + seq % 50 FROM ${numbers(500)}`);
}, 120_000);

afterAll(async () => {
  await retire(nc, ...started);
  await db?.query('SET FOREIGN_KEY_CHECKS = 0');
  await db?.query(`DROP TABLE IF EXISTS ${BIG}, ${CHILD}, ${PARENT}, at_counted`);
  await db?.end();
  await nc?.close();
});

describe('a restore that breaks half-way leaves the live table as it was', () => {
  let service: RunningService;
  let archivePath: string;
  let liveChecksum: string;

  beforeAll(async () => {
    service = await start();
    archivePath = await backupDone(nc, service, BIG);
    // The live table moves on after the backup: a restore would change it.
    await db.query(`DELETE FROM ${BIG} WHERE id % 10 = 0`);
    liveChecksum = await checksum(db, BIG);
  }, 120_000);

  it('a corrupt statement late in the .sql', async () => {
    const sql = extract(archivePath, `${BIG}.sql`).toString('latin1');
    const lastInsert = sql.lastIndexOf('INSERT INTO');
    const broken = `${sql.slice(0, lastInsert)}INSERT INTO ${BIG} VALUES (1, 'duplicate key, late in the file');\n${sql.slice(lastInsert)}`;
    packArchive(service.backupDir, '2000-01-01_00-00-01-backup.7z', { [`${BIG}.sql`]: Buffer.from(broken, 'latin1') });

    const state = await restoreEnded(nc, service, '2000-01-01_00-00-01-backup.7z', BIG);
    expect(state.status).toBe('failed');
    expect(state.reason).toMatch(/Duplicate entry/);
    expect(await checksum(db, BIG)).toBe(liveChecksum);
    expect(await leftovers()).toEqual([]);
  });

  it('one bad table of two: neither is swapped in', async () => {
    const good = extract(archivePath, `${BIG}.sql`);
    const bad = "DROP TABLE IF EXISTS at_other;\nCREATE TABLE at_other (id INT PRIMARY KEY);\nINSERT INTO at_other VALUES (1), (1);\n";
    packArchive(service.backupDir, '2000-01-01_00-00-03-backup.7z', { [`${BIG}.sql`]: good, 'at_other.sql': bad });

    const state = await restoreEnded(nc, service, '2000-01-01_00-00-03-backup.7z', `${BIG},at_other`);
    expect(state.status).toBe('failed');
    expect(state.reason).toMatch(/at_other\.sql: .*Duplicate entry/);
    expect(await checksum(db, BIG)).toBe(liveChecksum);
    const [other] = await db.query<RowDataPacket[]>("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'at_other'", [TEST_DATABASE]);
    expect(other).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it('a row count that disagrees with the manifest', async () => {
    const sql = extract(archivePath, `${BIG}.sql`);
    const manifest = JSON.parse(extract(archivePath, 'manifest.json').toString('utf8')) as { tables: Record<string, { rows: number }> };
    manifest.tables[BIG]!.rows += 1;
    packArchive(service.backupDir, '2000-01-01_00-00-02-backup.7z', { [`${BIG}.sql`]: sql, 'manifest.json': JSON.stringify(manifest) });

    const state = await restoreEnded(nc, service, '2000-01-01_00-00-02-backup.7z', BIG);
    expect(state.status).toBe('failed');
    expect(state.reason).toMatch(/loaded 300000 rows, the archive's manifest says 300001/);
    expect(await checksum(db, BIG)).toBe(liveChecksum);
    expect(await leftovers()).toEqual([]);
  });

  // The rows are counted from the INSERTs' replies; where those cannot tell, the table is counted.
  it.each([
    ['a duplicate updated (ON DUPLICATE KEY UPDATE)', 'INSERT INTO at_counted (id) VALUES (3),(4) ON DUPLICATE KEY UPDATE n = n + 1;'],
    ['a duplicate ignored (INSERT IGNORE)', 'INSERT IGNORE INTO at_counted (id) VALUES (3),(4);'],
    ['a row deleted after the INSERTs', 'INSERT INTO at_counted (id) VALUES (4),(5);\nDELETE FROM at_counted WHERE id = 5;'],
  ])("a manifest's row count checked against the table's rows: %s", async (_what, statements) => {
    const sql = `DROP TABLE IF EXISTS at_counted;\nCREATE TABLE at_counted (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 0);\nINSERT INTO at_counted (id) VALUES (1),(2),(3);\n${statements}\n`;
    const manifest = JSON.parse(extract(archivePath, 'manifest.json').toString('utf8')) as Record<string, unknown>;
    const pack = (name: string, rows: number) =>
      packArchive(service.backupDir, name, {
        'at_counted.sql': sql,
        'manifest.json': JSON.stringify({ ...manifest, tables: { at_counted: { entry: 'at_counted.sql', rows, bytes: sql.length, sha256: '' } } }),
      });
    // 4 rows in each case; a sum of the plain INSERTs' affected rows would say 6, 3 and 5.
    pack('2000-01-01_00-00-11-backup.7z', 4);
    expect((await restoreEnded(nc, service, '2000-01-01_00-00-11-backup.7z', 'at_counted')).status).toBe('done');
    expect(await count(db, 'at_counted')).toBe(4);
    pack('2000-01-01_00-00-12-backup.7z', 5);
    const state = await restoreEnded(nc, service, '2000-01-01_00-00-12-backup.7z', 'at_counted');
    expect(state.reason).toMatch(/loaded 4 rows, the archive's manifest says 5/);
    await db.query('DROP TABLE at_counted');
  });

  it('its MySQL connection killed during the load', async () => {
    const reply = await request(nc, `${service.prefix}.restore`, `archive=${archivePath.split('/').pop()!};tables=${BIG}`);
    const id = reply.headers['Backup-Job-Id']!;
    let killed = 0;
    // This job's own scratch schema: a session of the job before may still be closing.
    const scratch = `_nmtb_r${deploymentOf(service)}_${id.replace(/-/g, '')}`;
    for (let i = 0; i < 600 && killed === 0; i++) {
      const [rows] = await db.query<RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?', [scratch]);
      for (const row of rows) {
        await db.query(`KILL CONNECTION ${Number(row.ID)}`).catch(() => undefined);
        killed++;
      }
      if (killed === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(killed).toBeGreaterThan(0);
    const state = await waitForJob(nc, service.prefix, id);
    expect(state.status).toBe('failed');
    expect(await checksum(db, BIG)).toBe(liveChecksum);
    expect(await leftovers()).toEqual([]);
  });

  it('and a good restore swaps the archive in', async () => {
    expect(await count(db, BIG)).toBe(270000);
    const state = await restoreEnded(nc, service, archivePath.split('/').pop()!, BIG);
    expect(state.status, state.reason).toBe('done');
    expect(await count(db, BIG)).toBe(300000);
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });
});

describe('foreign keys and triggers survive the swap', () => {
  let service: RunningService;
  let archive: string;
  const parentSum = () => checksum(db, PARENT);
  const childSum = () => checksum(db, CHILD);
  const createOf = async (table: string) => String((await db.query<RowDataPacket[]>(`SHOW CREATE TABLE ${table}`))[0][0]?.['Create Table']);

  beforeAll(async () => {
    service = await start();
    archive = (await backupDone(nc, service, `${PARENT},${CHILD}`)).split('/').pop()!;
  });

  it('restoring the parent alone keeps the child pointing at it', async () => {
    const original = await parentSum();
    await db.query(`UPDATE ${PARENT} SET name = 'changed'`);
    const state = await restoreEnded(nc, service, archive, PARENT);
    expect(state.status, state.reason).toBe('done');
    expect(await parentSum()).toBe(original);
    expect(await createOf(CHILD)).toMatch(new RegExp(`CONSTRAINT \`at_child_parent\` FOREIGN KEY \\(\`parent_id\`\\) REFERENCES \`${PARENT}\` \\(\`id\`\\) ON DELETE CASCADE`));
    // The trigger is on the new table.
    await db.query(`INSERT INTO ${PARENT} VALUES (1000, 'lower')`);
    expect(String((await db.query<RowDataPacket[]>(`SELECT name FROM ${PARENT} WHERE id = 1000`))[0][0]?.name)).toBe('LOWER');
    // The key is enforced against the new parent.
    await expect(db.query(`INSERT INTO ${CHILD} VALUES (9999, 4242)`)).rejects.toThrow(/foreign key constraint fails/);
    await db.query(`DELETE FROM ${PARENT} WHERE id = 1000`);
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('restoring the child alone points its key at the live parent, not the scratch schema', async () => {
    const original = await childSum();
    await db.query(`DELETE FROM ${CHILD} WHERE id > 250`);
    const state = await restoreEnded(nc, service, archive, CHILD);
    expect(state.status, state.reason).toBe('done');
    expect(await childSum()).toBe(original);
    const create = await createOf(CHILD);
    expect(create).toMatch(new RegExp(`REFERENCES \`${PARENT}\` \\(\`id\`\\) ON DELETE CASCADE`));
    expect(create).not.toMatch(/_nmtb_/);
    await db.query(`DELETE FROM ${PARENT} WHERE id = 1`);
    expect(await count(db, CHILD)).toBe(490);
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('restoring both at once', async () => {
    const state = await restoreEnded(nc, service, archive, `${CHILD},${PARENT}`);
    expect(state.status, state.reason).toBe('done');
    expect(await count(db, PARENT)).toBe(50);
    expect(await count(db, CHILD)).toBe(500);
    expect(await createOf(CHILD)).toMatch(new RegExp(`REFERENCES \`${PARENT}\``));
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });
});

it('a restore whose process died after its swap is finished by its retry, and its tables are not swapped in again', async () => {
  const env = { ...isolatedEnv(), JOB_ACK_WAIT_SECONDS: '5', JOB_MAX_DELIVER: '3', LOG_LEVEL: 'info' };
  const first = await start(env);
  const archive = (await backupDone(nc, first, PARENT)).split('/').pop()!;
  const archived = await checksum(db, PARENT);
  await db.query(`UPDATE ${PARENT} SET name = 'changed'`);
  // The child's key follows the parent aside in the RENAME; pointing it back is the plan's first
  // step, and it waits for this lock: the process dies there, after the swap, before its job is
  // recorded done. (MariaDB's RENAME does not wait for a lock on a referencing table.)
  const locker = await dbConnect();
  await locker.query(`LOCK TABLES ${CHILD} READ`);
  let blocked: number | undefined;
  let id = '';
  try {
    const reply = await request(nc, `${first.prefix}.restore`, `archive=${archive};tables=${PARENT}`);
    expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
    id = reply.headers['Backup-Job-Id']!;
    for (let i = 0; i < 1_500 && blocked === undefined; i++) {
      const [rows] = await db.query<RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE ?', [TEST_DATABASE, `ALTER TABLE %${CHILD}% DROP FOREIGN KEY %`]);
      blocked = rows[0]?.ID as number | undefined;
      if (blocked === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    expect(blocked, 'the plan never reached the child\'s key').toBeDefined();
    first.child.kill('SIGKILL');
    await first.stop();
    await db.query(`KILL ${blocked}`);
  } finally {
    await locker.query('UNLOCK TABLES');
    await locker.end();
  }
  // The archive's rows are in; a write made since must survive the retry.
  expect(await checksum(db, PARENT)).toBe(archived);
  expect(await leftovers()).not.toEqual([]);
  await db.query(`INSERT INTO ${PARENT} VALUES (1000, 'written since')`);

  const second = await start(env);
  const state = await waitForJob(nc, second.prefix, id, undefined, 120_000);
  expect(state.status, state.reason).toBe('done');
  expect(state.attempts).toBe(2);
  expect(second.logs.some((l) => l.msg === 'an earlier attempt of this job swapped the tables in; nothing left to do')).toBe(true);
  expect(second.logs.some((l) => l.msg === 'tables swapped in')).toBe(false);
  expect(String((await db.query<RowDataPacket[]>(`SELECT name FROM ${PARENT} WHERE id = 1000`))[0][0]?.name)).toBe('written since');
  await db.query(`DELETE FROM ${PARENT} WHERE id = 1000`);
  expect(await checksum(db, PARENT)).toBe(archived);
  // The rest of the plan ran: the key points at the new parent, its trigger is on it.
  const createChild = String((await db.query<RowDataPacket[]>(`SHOW CREATE TABLE ${CHILD}`))[0][0]?.['Create Table']);
  expect(createChild).toMatch(new RegExp(`REFERENCES \`${PARENT}\``));
  const [triggers] = await db.query<RowDataPacket[]>('SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?', [TEST_DATABASE, PARENT]);
  expect(triggers.map((t) => String(t.n))).toEqual(['at_parent_bi']);
  await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
}, 180_000);

it('a crashed restore is finished by its retry, and an orphaned scratch schema is removed at start', async () => {
  const env = { ...isolatedEnv(), JOB_ACK_WAIT_SECONDS: '5', JOB_MAX_DELIVER: '3' };
  const first = await start(env);
  const archivePath = await backupDone(nc, first, BIG);
  await db.query(`DELETE FROM ${BIG} WHERE id % 7 = 0`);
  const reply = await request(nc, `${first.prefix}.restore`, `archive=${archivePath.split('/').pop()!};tables=${BIG}`);
  const id = reply.headers['Backup-Job-Id']!;
  for (let i = 0; i < 600; i++) {
    const [rows] = await db.query<RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE DB LIKE ?', [`\\_nmtb\\_r${deploymentOf(first)}%`]);
    if (rows.length > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  first.child.kill('SIGKILL');
  await first.stop();
  expect((await leftovers()).length).toBeGreaterThan(0);

  // A scratch schema of this deployment whose job is unknown: removed when the next process starts.
  const tag = deploymentTag(`${env.JOB_STATE_BUCKET}|${env.SUBJECT_PREFIX}|${TEST_DATABASE}`);
  const orphan = `_nmtb_r${tag}_${'0'.repeat(32)}`;
  await db.query(`CREATE DATABASE ${orphan}`);
  await db.query(`CREATE TABLE ${orphan}.half_loaded (id INT)`);

  const second = await start(env);
  const state = await waitForJob(nc, second.prefix, id);
  expect(state.status, state.reason).toBe('done');
  expect(state.attempts).toBe(2);
  expect(await count(db, BIG)).toBe(300000);
  await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
}, 180_000);
