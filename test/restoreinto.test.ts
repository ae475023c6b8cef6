import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { RowDataPacket } from 'mysql2/promise';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRestoreIntoRequest } from '../src/api/restoreinto-request.js';
import { decodeJob, encodeJob, newRestoreJob, type RestoreJob } from '../src/job-kinds.js';
import { lockTargetsOf } from '../src/job-kinds.js';
import { applicableGrant } from '../src/mysql/target-database.js';
import { freshName, retargetTrigger } from '../src/mysql/retarget.js';
import { connect, disconnect } from '../src/mysql/connection.js';
import { deploymentTag } from '../src/mysql/swap-names.js';
import { recoverScratch } from '../src/mysql/swap-recovery.js';
import type { ArchiveName, DatabaseName, TableName } from '../src/names.js';
import { dbConnect, ident, numbers, TEST_DATABASE, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJob, type JobStateReply, type Reply } from './helpers/nats.js';
import { retire, startService, type RunningService } from './helpers/service.js';

const ORDERS = 'rinto_orders';
const CUSTOMERS = 'rinto_customers';
const ITEMS = 'rinto_items';
const TAG = randomBytes(3).toString('hex');
const STAGING = `rinto_staging_${TAG}`;
const EMPTY = `rinto_empty_${TAG}`;
const UNICODE = `rinto_ünicode_${TAG}`;
const USER = `rinto_u_${TAG}`;
const USER_PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const USER_HOSTS = ['127.0.0.1', 'localhost'];

type State = JobStateReply & { database?: string; rename?: Record<string, string> };

let nc: NatsConnection;
let db: Db;
let service: RunningService;
let limited: RunningService | undefined;
let archive: string;
const archived: Record<string, string> = {};
const live: Record<string, string> = {};

const sum = async (database: string, table: string) =>
  String((await db.query<RowDataPacket[]>(`CHECKSUM TABLE ${ident(database)}.${ident(table)} EXTENDED`))[0][0]?.Checksum);
const createOf = async (database: string, table: string) =>
  String((await db.query<RowDataPacket[]>(`SHOW CREATE TABLE ${ident(database)}.${ident(table)}`))[0][0]?.['Create Table']);
const triggersOf = async (database: string, table: string) =>
  (await db.query<RowDataPacket[]>('SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? ORDER BY 1', [database, table]))[0].map((r) => String(r.n));
const tablesOf = async (database: string) =>
  (await db.query<RowDataPacket[]>('SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1', [database]))[0].map((r) => String(r.n));

function restoreInto(body: unknown, target = service): Promise<Reply> {
  return request(nc, `${target.prefix}.restoreinto`, typeof body === 'string' ? body : JSON.stringify(body));
}

async function restoredInto(body: Record<string, unknown>, target = service): Promise<State> {
  const reply = await restoreInto({ archive, ...body }, target);
  expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
  expect(reply.headers['Backup-Job-Id']).toMatch(/^[0-9a-f-]{36}$/);
  return (await waitForJob(nc, target.prefix, reply.headers['Backup-Job-Id']!)) as State;
}

/** The source tables are exactly as the test left them. */
async function sourceUntouched(): Promise<void> {
  for (const table of [ORDERS, CUSTOMERS, ITEMS]) expect(await sum(TEST_DATABASE, table), table).toBe(live[table]);
  expect(await triggersOf(TEST_DATABASE, ORDERS)).toEqual(['rinto_orders_bi']);
  expect(await createOf(TEST_DATABASE, ITEMS)).toMatch(/REFERENCES `rinto_orders` \(`id`\)/);
}

/** Scratch schemas and set-aside tables of this file's services. */
async function leftovers(): Promise<string[]> {
  const tags = [service, limited].filter((s) => s !== undefined).map((s) => deploymentTag(`backup_jobs|${s.prefix}|test`));
  const [rows] = await db.query<RowDataPacket[]>(
    "SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\\_nmtb\\_%' UNION ALL SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME LIKE '\\_nmtb\\_%'",
  );
  return rows.map((r) => String(r.n)).filter((name) => tags.some((tag) => name.startsWith(`_nmtb_r${tag}`) || name.startsWith(`_nmtb_o${tag}`)));
}

async function dropAll(): Promise<void> {
  await db.query('SET FOREIGN_KEY_CHECKS = 0');
  await db.query(`DROP TABLE IF EXISTS ${ITEMS}, ${ORDERS}, ${CUSTOMERS}, rinto_orders_old, rinto_customers_old`);
  await db.query(`DROP DATABASE IF EXISTS ${STAGING}`);
  await db.query(`DROP DATABASE IF EXISTS ${EMPTY}`);
  await db.query(`DROP DATABASE IF EXISTS ${ident(UNICODE)}`);
  for (const host of USER_HOSTS) await db.query(`DROP USER IF EXISTS '${USER}'@'${host}'`);
  await db.query('SET FOREIGN_KEY_CHECKS = 1');
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await dropAll();
  await db.query(`CREATE TABLE ${CUSTOMERS} (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL) ENGINE=InnoDB`);
  await db.query(`CREATE TABLE ${ORDERS} (id INT PRIMARY KEY, customer_id INT NOT NULL, note VARCHAR(40),
    CONSTRAINT rinto_orders_customer FOREIGN KEY (customer_id) REFERENCES ${CUSTOMERS} (id)) ENGINE=InnoDB`);
  await db.query(`CREATE TABLE ${ITEMS} (id INT PRIMARY KEY, order_id INT NOT NULL,
    CONSTRAINT rinto_items_order FOREIGN KEY (order_id) REFERENCES ${ORDERS} (id) ON DELETE CASCADE) ENGINE=InnoDB`);
  await db.query(`CREATE TRIGGER rinto_orders_bi BEFORE INSERT ON ${ORDERS} FOR EACH ROW SET NEW.note = UPPER(NEW.note)`);
  await db.query(`INSERT INTO ${CUSTOMERS} SELECT seq, CONCAT('customer ', seq) FROM ${numbers(40)}`);
  await db.query(`INSERT INTO ${ORDERS} SELECT seq, 1 + seq % 40, CONCAT('note ', seq) FROM ${numbers(3000)}`);
  await db.query(`INSERT INTO ${ITEMS} SELECT seq, 1 + seq % 3000 FROM ${numbers(5000)}`);
  await db.query(`CREATE DATABASE ${STAGING}`);
  await db.query(`CREATE DATABASE ${EMPTY}`);
  await db.query(`CREATE DATABASE ${ident(UNICODE)}`);

  service = await startService({ JOB_MAX_DELIVER: '1' });
  const reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${ORDERS},${CUSTOMERS}`);
  const done = await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!);
  expect(done.status, done.reason).toBe('done');
  archive = done.archive;
  for (const table of [ORDERS, CUSTOMERS]) archived[table] = await sum(TEST_DATABASE, table);
  // The live tables move on after the backup: a restore over them would show.
  await db.query(`UPDATE ${ORDERS} SET note = 'CHANGED' WHERE id % 3 = 0`);
  await db.query(`DELETE FROM ${ORDERS} WHERE customer_id = 40`);
  await db.query(`DELETE FROM ${CUSTOMERS} WHERE id = 40`);
  for (const table of [ORDERS, CUSTOMERS, ITEMS]) live[table] = await sum(TEST_DATABASE, table);
  expect(live[ORDERS]).not.toBe(archived[ORDERS]);
}, 120_000);

afterAll(async () => {
  await retire(nc, service, limited);
  await dropAll();
  await db?.end();
  await nc?.close();
});

describe('restoreinto', () => {
  it('into another database: the tables, their trigger and their keys land there; the source is untouched', async () => {
    const state = await restoredInto({ tables: [ORDERS, `${CUSTOMERS}.sql`], database: STAGING });
    expect(state.status, state.reason).toBe('done');
    expect(state).toMatchObject({ kind: 'restore', database: STAGING, tables: [ORDERS, CUSTOMERS] });
    expect(await sum(STAGING, ORDERS)).toBe(archived[ORDERS]);
    expect(await sum(STAGING, CUSTOMERS)).toBe(archived[CUSTOMERS]);
    expect(await triggersOf(STAGING, ORDERS)).toEqual(['rinto_orders_bi']);
    // The key points at the parent in the target database, under its own name (free there).
    expect(await createOf(STAGING, ORDERS)).toMatch(/CONSTRAINT `rinto_orders_customer` FOREIGN KEY \(`customer_id`\) REFERENCES `rinto_customers` \(`id`\)/);
    await db.query(`INSERT INTO ${STAGING}.${ORDERS} VALUES (100000, 1, 'lower')`);
    expect((await db.query<RowDataPacket[]>(`SELECT note FROM ${STAGING}.${ORDERS} WHERE id = 100000`))[0][0]?.note).toBe('LOWER');
    await expect(db.query(`INSERT INTO ${STAGING}.${ORDERS} VALUES (100001, 4242, 'x')`)).rejects.toThrow(/foreign key constraint fails/);
    await db.query(`DELETE FROM ${STAGING}.${ORDERS} WHERE id = 100000`);
    await sourceUntouched();
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('into another database again, replacing its copy: a child there keeps pointing at the new table', async () => {
    await db.query(`CREATE TABLE ${STAGING}.${ITEMS} (id INT PRIMARY KEY, order_id INT NOT NULL,
      CONSTRAINT rinto_items_order FOREIGN KEY (order_id) REFERENCES ${ORDERS} (id)) ENGINE=InnoDB`);
    await db.query(`INSERT INTO ${STAGING}.${ITEMS} VALUES (1, 7)`);
    await db.query(`UPDATE ${STAGING}.${ORDERS} SET note = 'staged'`);
    const state = await restoredInto({ tables: [ORDERS], database: STAGING });
    expect(state.status, state.reason).toBe('done');
    expect(await sum(STAGING, ORDERS)).toBe(archived[ORDERS]);
    const child = await createOf(STAGING, ITEMS);
    expect(child).toMatch(/REFERENCES `rinto_orders` \(`id`\)/);
    expect(child).not.toMatch(/_nmtb_/);
    expect(await triggersOf(STAGING, ORDERS)).toEqual(['rinto_orders_bi']);
    await sourceUntouched();
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('under another name in the same database: triggers and keys follow the rename, under fresh names', async () => {
    const state = await restoredInto({ tables: [ORDERS, CUSTOMERS], rename: { [ORDERS]: 'rinto_orders_old', [CUSTOMERS]: 'rinto_customers_old' } });
    expect(state.status, state.reason).toBe('done');
    expect(state.database).toBeUndefined();
    expect(state.rename).toEqual({ [ORDERS]: 'rinto_orders_old', [CUSTOMERS]: 'rinto_customers_old' });
    expect(await sum(TEST_DATABASE, 'rinto_orders_old')).toBe(archived[ORDERS]);
    expect(await sum(TEST_DATABASE, 'rinto_customers_old')).toBe(archived[CUSTOMERS]);
    // Trigger and constraint names are per schema: the live table holds the old ones.
    expect(await triggersOf(TEST_DATABASE, 'rinto_orders_old')).toEqual(['rinto_orders_old_bi']);
    expect(await createOf(TEST_DATABASE, 'rinto_orders_old')).toMatch(
      /CONSTRAINT `rinto_orders_old_customer` FOREIGN KEY \(`customer_id`\) REFERENCES `rinto_customers_old` \(`id`\)/,
    );
    await db.query("INSERT INTO rinto_orders_old VALUES (100000, 40, 'lower')");
    expect((await db.query<RowDataPacket[]>('SELECT note FROM rinto_orders_old WHERE id = 100000'))[0][0]?.note).toBe('LOWER');
    await sourceUntouched();
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('into another database under another name: the key goes to the parent there', async () => {
    const state = await restoredInto({ tables: [ORDERS], database: STAGING, rename: { [ORDERS]: 'orders_2020' } });
    expect(state.status, state.reason).toBe('done');
    expect(state).toMatchObject({ database: STAGING, rename: { [ORDERS]: 'orders_2020' } });
    expect(await sum(STAGING, 'orders_2020')).toBe(archived[ORDERS]);
    expect(await createOf(STAGING, 'orders_2020')).toMatch(/FOREIGN KEY \(`customer_id`\) REFERENCES `rinto_customers` \(`id`\)/);
    // rinto_orders_bi is taken in staging by rinto_orders' trigger.
    expect(await triggersOf(STAGING, 'orders_2020')).toEqual(['orders_2020_bi']);
    expect(await sum(STAGING, ORDERS)).toBe(archived[ORDERS]);
    expect(await triggersOf(STAGING, ORDERS)).toEqual(['rinto_orders_bi']);
    await sourceUntouched();
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('names outside ASCII: the database, the new names, the trigger and the key', async () => {
    const state = await restoredInto({ tables: [ORDERS, CUSTOMERS], database: UNICODE, rename: { [ORDERS]: 'bestellungen_ü', [CUSTOMERS]: 'kunden_ü' } });
    expect(state.status, state.reason).toBe('done');
    expect(await sum(UNICODE, 'bestellungen_ü')).toBe(archived[ORDERS]);
    expect(await triggersOf(UNICODE, 'bestellungen_ü')).toEqual(['rinto_orders_bi']);
    expect(await createOf(UNICODE, 'bestellungen_ü')).toMatch(/REFERENCES `kunden_ü` \(`id`\)/);
    await db.query(`INSERT INTO ${ident(UNICODE)}.${ident('bestellungen_ü')} VALUES (100000, 1, 'ünicode')`);
    expect((await db.query<RowDataPacket[]>(`SELECT note FROM ${ident(UNICODE)}.${ident('bestellungen_ü')} WHERE id = 100000`))[0][0]?.note).toBe('ÜNICODE');
    await sourceUntouched();
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('a table whose parent the target database lacks fails before the swap, changing nothing', async () => {
    const state = await restoredInto({ tables: [ORDERS], database: EMPTY });
    expect(state.status).toBe('failed');
    expect(state.attempts, 'a ConflictError is permanent: no retry').toBe(1);
    expect(state.reason).toMatch(/rinto_orders has foreign key rinto_orders_customer to rinto_customers, which database rinto_empty_\w+ does not have/);
    expect(await tablesOf(EMPTY)).toEqual([]);
    await sourceUntouched();
    expect(await leftovers()).toEqual([]);
  });

  it('refuses bad requests before queuing anything', async () => {
    const cases: [unknown, number, RegExp][] = [
      ['', 400, /empty request/],
      ['{"archive": ', 400, /not JSON/],
      ['[1]', 400, /JSON object/],
      [{ archive, tables: [ORDERS], database: STAGING, extra: 1 }, 400, /unknown key "extra"/],
      [{ archive, tables: [], database: STAGING }, 400, /"tables" is empty/],
      [{ archive, tables: ORDERS, database: STAGING }, 400, /list of table names/],
      [{ archive, tables: [ORDERS, `${ORDERS}.sql`], database: STAGING }, 400, /named twice/],
      [{ archive, tables: [ORDERS] }, 400, /give "database", "rename" or both/],
      [{ archive: '../x.7z', tables: [ORDERS], database: STAGING }, 400, /plain file name/],
      [{ archive, tables: [ORDERS], database: 'a/b' }, 400, /database name "a\/b" holds a path separator/],
      [{ archive, tables: [ORDERS], database: 'mysql' }, 400, /system schema/],
      [{ archive, tables: [ORDERS], database: '_nmtb_x' }, 400, /_nmtb_/],
      [{ archive, tables: [ORDERS], database: 7 }, 400, /"database" must be a string/],
      [{ archive, tables: [ORDERS], rename: { [CUSTOMERS]: 'x' } }, 400, /not in "tables"/],
      [{ archive, tables: [ORDERS, CUSTOMERS], database: STAGING, rename: { [ORDERS]: 'same', [CUSTOMERS]: 'same' } }, 400, /would both be restored as "same"/],
      [{ archive, tables: [ORDERS, CUSTOMERS], database: STAGING, rename: { [ORDERS]: CUSTOMERS } }, 400, /would both be restored as "rinto_customers"/],
      [{ archive, tables: [ORDERS], rename: { [ORDERS]: 'bad`/name' } }, 400, /path separator/],
      [{ archive, tables: [ORDERS], rename: { [ORDERS]: ORDERS } }, 400, /its own name/],
      [{ archive, tables: [ORDERS], rename: [] }, 400, /"rename" must be an object/],
      // The service's own database: without a new name for every table it would be a plain restore.
      [{ archive, tables: [ORDERS], database: TEST_DATABASE }, 400, new RegExp(`would replace the live table of the same name in ${TEST_DATABASE}`)],
      [{ archive, tables: [ORDERS, CUSTOMERS], rename: { [ORDERS]: 'rinto_orders_old' } }, 400, /rinto_customers would replace the live table/],
      [{ archive, tables: [ORDERS, CUSTOMERS], rename: { [ORDERS]: 'rinto_x', [CUSTOMERS]: ORDERS } }, 400, /rinto_customers would be restored as rinto_orders, a table of this restore/],
      [{ archive, tables: [ORDERS], database: `rinto_nowhere_${TAG}` }, 404, /database rinto_nowhere_\w+ not found/],
      [{ archive, tables: ['rinto_nope'], database: STAGING }, 404, /does not hold rinto_nope\.sql/],
      [{ archive: '2000-01-01_00-00-00-backup.7z', tables: [ORDERS], database: STAGING }, 404, /not found/],
    ];
    const before = await tablesOf(STAGING);
    for (const [body, code, reason] of cases) {
      const reply = await restoreInto(body);
      expect(reply.body, JSON.stringify(body)).toBe('{"status": "bad"}');
      expect(reply.headers['Nats-Service-Error-Code'], JSON.stringify(body)).toBe(String(code));
      expect(reply.headers['Nats-Service-Error'], JSON.stringify(body)).toMatch(reason);
      expect(reply.headers['Backup-Job-Id']).toBeUndefined();
    }
    const headersForm = await request(nc, `${service.prefix}.restoreinto`, 'archive', { archivename: archive, tables: ORDERS });
    expect(headersForm.headers['Nats-Service-Error-Code']).toBe('400');
    expect(await tablesOf(STAGING)).toEqual(before);
    await sourceUntouched();
  });

  it('a restore that died after its swap is finished in the target database, not the service\'s own', async () => {
    // What a process killed right after the RENAME leaves: a scratch schema holding only the plan.
    const scratch = `_nmtb_r${deploymentTag(`rinto-recovery-${TAG}`)}_${'0'.repeat(32)}`;
    await db.query(`CREATE DATABASE ${scratch}`);
    await db.query(`CREATE TABLE ${scratch}._nmtb_plan (id INT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(16) NOT NULL,
      target_table VARCHAR(64) NULL, target_name VARCHAR(64) NULL, session INT NULL, statement LONGBLOB NOT NULL)`);
    await db.query(`CREATE TABLE ${STAGING}.rinto_recovered (id INT PRIMARY KEY, order_id INT NOT NULL, KEY (order_id))`);
    const steps: [string, string | null, string | null, number | null, string][] = [
      ['database', null, null, null, STAGING],
      ['add-fk', 'rinto_recovered', 'rinto_recovered_order', null, `ALTER TABLE ${STAGING}.rinto_recovered ADD CONSTRAINT rinto_recovered_order FOREIGN KEY (order_id) REFERENCES ${STAGING}.${ORDERS} (id)`],
      ['session', null, null, 0, `USE ${STAGING}`],
      ['session', null, null, 0, 'CREATE TRIGGER rinto_recovered_bi BEFORE INSERT ON rinto_recovered FOR EACH ROW SET NEW.id = NEW.id + 1'],
    ];
    for (const step of steps) await db.query(`INSERT INTO ${scratch}._nmtb_plan (kind, target_table, target_name, session, statement) VALUES (?, ?, ?, ?, ?)`, step);
    const settings = { host: '127.0.0.1', port: 3306, user: 'root', password: undefined, database: TEST_DATABASE };
    const admin = await connect(settings);
    try {
      // The plan runs against the target database, then the scratch schema is gone for good.
      expect(await recoverScratch(admin, settings, scratch)).toBe('finished');
      expect(await recoverScratch(admin, settings, scratch)).toBe('none');
    } finally {
      await disconnect(admin);
    }
    expect(await createOf(STAGING, 'rinto_recovered')).toMatch(/CONSTRAINT `rinto_recovered_order` FOREIGN KEY \(`order_id`\) REFERENCES `rinto_orders`/);
    expect(await triggersOf(STAGING, 'rinto_recovered')).toEqual(['rinto_recovered_bi']);
    expect(await tablesOf(scratch)).toEqual([]);
    await db.query(`DROP TABLE ${STAGING}.rinto_recovered`);
  });

  it('403 when the service\'s MySQL user may not write the target database, and works once granted', async () => {
    for (const host of USER_HOSTS) {
      await db.query(`CREATE USER '${USER}'@'${host}' IDENTIFIED BY '${USER_PASSWORD}'`);
      await db.query(`GRANT ALL PRIVILEGES ON \`${TEST_DATABASE}\`.* TO '${USER}'@'${host}'`);
      await db.query(`GRANT ALL PRIVILEGES ON \`\\_nmtb\\_%\`.* TO '${USER}'@'${host}'`);
      // A pattern grant that would allow it, but the exact one applies (grants are not added up).
      await db.query(`GRANT ALL PRIVILEGES ON \`rinto\\_staging\\_%\`.* TO '${USER}'@'${host}'`);
      await db.query(`GRANT SELECT, INSERT ON \`${STAGING}\`.* TO '${USER}'@'${host}'`);
    }
    // The same archives (directory and bucket) as the first service; its own subjects and stream.
    limited = await startService({ JOB_MAX_DELIVER: '1', BACKUP_DIR: service.backupDir, OBJECT_BUCKET: service.bucket, MYSQL_URL: `mysql://${USER}@127.0.0.1:3306/${TEST_DATABASE}`, MYSQL_PASSWORD: USER_PASSWORD });
    // Customers: a trigger (DEFINER root) could not be created by this user at all.
    const refused = await restoreInto({ archive, tables: [CUSTOMERS], database: STAGING }, limited);
    expect(refused.body).toBe('{"status": "bad"}');
    expect(refused.headers['Nats-Service-Error-Code']).toBe('403');
    expect(refused.headers['Nats-Service-Error']).toMatch(new RegExp(`user ${USER}@\\S+ may not restore into database ${STAGING}: it lacks CREATE, DROP, ALTER, REFERENCES, TRIGGER`));
    expect(refused.headers['Nats-Service-Error']).not.toContain(USER_PASSWORD);
    // No privilege at all: the server does not even show the database.
    const hidden = await restoreInto({ archive, tables: [CUSTOMERS], database: EMPTY }, limited);
    expect(hidden.headers['Nats-Service-Error-Code']).toBe('404');
    expect(hidden.headers['Nats-Service-Error']).toMatch(/database rinto_empty_\w+ not found/);

    for (const host of USER_HOSTS) await db.query(`GRANT CREATE, DROP, ALTER, INSERT, REFERENCES, TRIGGER ON \`${STAGING}\`.* TO '${USER}'@'${host}'`);
    await db.query(`UPDATE ${STAGING}.${CUSTOMERS} SET name = 'staged'`);
    const state = await restoredInto({ tables: [CUSTOMERS], database: STAGING }, limited);
    expect(state.status, state.reason).toBe('done');
    expect(await sum(STAGING, CUSTOMERS)).toBe(archived[CUSTOMERS]);
    // Both copies of orders in staging still point at the (new) customers there.
    for (const table of [ORDERS, 'orders_2020']) expect(await createOf(STAGING, table)).toMatch(/REFERENCES `rinto_customers` \(`id`\)/);

    // Orders' trigger names DEFINER root, which this user may not: refused before the swap.
    const stagedOrders = await sum(STAGING, ORDERS);
    const triggerRefused = await restoredInto({ tables: [ORDERS], database: STAGING }, limited);
    expect(triggerRefused.status).toBe('failed');
    expect(triggerRefused.attempts, 'a ForbiddenError is permanent: no retry').toBe(1);
    expect(triggerRefused.reason).toMatch(/rinto_orders\.sql: the server refuses its triggers \(nothing was changed\): .*(SUPER|SET USER)/);
    expect(await sum(STAGING, ORDERS)).toBe(stagedOrders);
    expect(await triggersOf(STAGING, ORDERS)).toEqual(['rinto_orders_bi']);
    await sourceUntouched();
    expect(await leftovers()).toEqual([]);
  }, 60_000);
});

describe('restoreinto, the parts', () => {
  const parts = (body: string) => ({ body, header: () => undefined });

  it('a rename key must be one of the tables, even one called __proto__', () => {
    const parsed = parseRestoreIntoRequest(parts('{"archive": "a.7z", "tables": ["__proto__"], "rename": {"__proto__": "p"}}'));
    expect(parsed.ok && Object.entries(parsed.value.rename ?? {})).toEqual([['__proto__', 'p']]);
    const job = decodeJob(encodeJob(newRestoreJob('a.7z' as ArchiveName, ['__proto__' as TableName], { rename: parsed.ok ? parsed.value.rename! : {} })));
    expect(lockTargetsOf(job as RestoreJob)).toEqual([{ table: 'p' }]);
  });

  it('a job locks the tables it writes: the target database and the new names', () => {
    const job = newRestoreJob('a.7z' as ArchiveName, ['o', 'c'] as TableName[], { database: 'staging' as DatabaseName, rename: { o: 'o_old' as TableName } });
    expect(lockTargetsOf(job)).toEqual([{ database: 'staging', table: 'o_old' }, { database: 'staging', table: 'c' }]);
    expect(lockTargetsOf(newRestoreJob('a.7z' as ArchiveName, ['o'] as TableName[]))).toEqual([{ table: 'o' }]);
  });

  it('a job message with a bad target is refused', () => {
    const good = newRestoreJob('a.7z' as ArchiveName, ['o'] as TableName[], { database: 'staging' as DatabaseName, rename: { o: 'n' as TableName } });
    expect(decodeJob(encodeJob(good))).toEqual(good);
    const wire = JSON.parse(new TextDecoder().decode(encodeJob(good))) as Record<string, unknown>;
    const bad = (patch: Record<string, unknown>) => () => decodeJob(new TextEncoder().encode(JSON.stringify({ ...wire, ...patch })));
    expect(bad({ database: 'mysql' })).toThrow(/system schema/);
    expect(bad({ rename: { x: 'n' } })).toThrow(/rename/);
    expect(bad({ rename: 'n' })).toThrow(/rename/);
    expect(bad({ tables: ['o', 'n'] })).toThrow(/two tables one name/);
    expect(bad({ kind: 'backup' })).toThrow(/of kind restoreinto/);
    expect(bad({ kind: 'restore' })).toThrow(/of kind restoreinto/);
    // What an instance from before restoreinto sees: not a restore it would run over the live tables.
    expect(wire).toMatchObject({ kind: 'restoreinto', database: 'staging' });
  });

  it('the schema grant that applies: an exact name, else the most specific pattern', () => {
    expect(applicableGrant(['rinto\\_staging\\_%', 'rinto_staging_x'], 'rinto_staging_x')).toBe('rinto_staging_x');
    expect(applicableGrant(['r%', 'rinto\\_%'], 'rinto_a')).toBe('rinto\\_%');
    expect(applicableGrant(['rinto\\_%'], 'rintoXa')).toBeUndefined();
    expect(applicableGrant(['rinto_%'], 'rintoXa')).toBe('rinto_%');
    expect(applicableGrant(['other'], 'rinto')).toBeUndefined();
  });

  it('a trigger is moved to the new table; its name changes only when taken', () => {
    const dumped = "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `orders_bi` BEFORE INSERT ON `orders` FOR EACH ROW SET NEW.note = (SELECT COUNT(*) FROM orders) */";
    const moved = retargetTrigger(dumped, 'orders', 'orders_old', new Set(['orders_bi']), new Map());
    expect(moved?.statement).toBe("/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `orders_old_bi` BEFORE INSERT ON `orders_old` FOR EACH ROW SET NEW.note = (SELECT COUNT(*) FROM orders) */");
    expect(moved?.bodyNamesOldTable).toBe(true);
    const own = 'CREATE DEFINER=`root`@`%` TRIGGER t1 AFTER UPDATE ON test.orders FOR EACH ROW FOLLOWS t0 INSERT INTO log VALUES (1)';
    const renamed = new Map([['t0', 't0_2']]);
    expect(retargetTrigger(own, 'orders', 'orders', new Set(), renamed)?.statement).toBe(
      'CREATE DEFINER=`root`@`%` TRIGGER t1 AFTER UPDATE ON `orders` FOR EACH ROW FOLLOWS `t0_2` INSERT INTO log VALUES (1)',
    );
    // Non-ASCII names go in as the latin1 string of their UTF-8 bytes, as the dump's bytes are.
    const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    const unicode = retargetTrigger(latin1('CREATE TRIGGER `tü` BEFORE DELETE ON `bestellungen` FOR EACH ROW SET @x = 1'), 'bestellungen', 'bestellungen_alt', new Set(['tü']), new Map());
    expect(Buffer.from(unicode!.statement, 'latin1').toString('utf8')).toBe('CREATE TRIGGER `bestellungen_alt_tü` BEFORE DELETE ON `bestellungen_alt` FOR EACH ROW SET @x = 1');
  });

  it('any body: a 400 with a reason, or a request whose new names are distinct and never _nmtb_', () => {
    const name = fc.oneof(fc.constantFrom('o', 'c', 'o.sql', '_nmtb_x', 'mysql', '', ' ', 'a/b', '__proto__', 'constructor'), fc.string({ maxLength: 8 }));
    const body = fc.oneof(
      fc.json(),
      fc.record(
        {
          archive: fc.oneof(fc.constant('a.7z'), fc.string({ maxLength: 8 })),
          tables: fc.oneof(fc.array(name, { maxLength: 4 }), fc.anything()),
          database: fc.oneof(name, fc.anything()),
          rename: fc.oneof(fc.dictionary(name, name, { maxKeys: 4 }), fc.anything()),
        },
        { requiredKeys: [] },
      ).map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(body, (text) => {
        const parsed = parseRestoreIntoRequest(parts(text));
        if (!parsed.ok) return parsed.error.kind === 'bad-request' && parsed.error.message.length > 0;
        const { tables, rename, database } = parsed.value;
        const targets = tables.map((t) => (rename && Object.hasOwn(rename, t) ? rename[t]! : t));
        return tables.length > 0 && new Set(targets).size === targets.length && (database !== undefined || rename !== undefined) &&
          !Object.values(rename ?? {}).some((t) => t.startsWith('_nmtb_'));
      }),
      { numRuns: 2000 },
    );
  });

  it('fresh names stay within 64 characters and never repeat', () => {
    const taken = new Set(['fk']);
    expect(freshName('fk', 'a', 'b'.repeat(70), taken)).toHaveLength(64);
    const long = 'b'.repeat(70);
    const second = freshName('fk', 'a', long, taken);
    expect(second).toMatch(/_2$/);
    expect(second).toHaveLength(64);
  });
});
