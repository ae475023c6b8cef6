import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dbConnect, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJobsDrained } from './helpers/nats.js';
import { startService, type RunningService, retire } from './helpers/service.js';

const TABLES = ['cons_accounts', 'cons_ledger', 'cons_audit'];

let service: RunningService;
let nc: NatsConnection;
let db: Db;

beforeAll(async () => {
  db = await dbConnect();
  await db.query(`
    DROP TABLE IF EXISTS cons_accounts, cons_ledger, cons_audit;
    CREATE TABLE cons_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL);
    CREATE TABLE cons_ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, account INT, amount BIGINT, pad VARCHAR(200));
    CREATE TABLE cons_audit (id BIGINT AUTO_INCREMENT PRIMARY KEY, ledger_rows BIGINT);
  `);
  const accounts = Array.from({ length: 100 }, (_, i) => `(${i}, 1000)`).join(',');
  await db.query(`INSERT INTO cons_accounts VALUES ${accounts}`);
  // Enough rows that dumping takes a while, so the writer below really runs alongside it.
  await db.query(`INSERT INTO cons_ledger (account, amount, pad) VALUES ${Array.from({ length: 100 }, (_, i) => `(${i}, 0, REPEAT('x', 150))`).join(',')}`);
  for (let i = 0; i < 10; i++) await db.query('INSERT INTO cons_ledger (account, amount, pad) SELECT account, amount, pad FROM cons_ledger');
  // Level 5: every table spools and goes into 7-Zip in one run (the other path streams the first).
  service = await startService({ DUMP_PARALLELISM: '3', SEVENZIP_LEVEL: '5' });
  nc = await natsConnect();
}, 120_000);

afterAll(async () => {
  await retire(nc, service);
  await nc?.close();
  await db?.query('DROP TABLE IF EXISTS cons_accounts, cons_ledger, cons_audit');
  await db?.end();
});

it('backs up 3 tables from one instant while another connection keeps writing to all of them', async () => {
  const writer = await dbConnect();
  let writing = true;
  let transfers = 0;
  const load = (async () => {
    // Each transaction moves money between accounts, logs it in the ledger and records the
    // ledger's size in the audit table: invariants that hold only at a transaction boundary.
    while (writing) {
      const from = transfers % 100;
      const to = (transfers * 7 + 3) % 100;
      await writer.query('START TRANSACTION');
      await writer.query('UPDATE cons_accounts SET balance = balance - 5 WHERE id = ?', [from]);
      await writer.query('UPDATE cons_accounts SET balance = balance + 5 WHERE id = ?', [to]);
      await writer.query("INSERT INTO cons_ledger (account, amount, pad) VALUES (?, -5, 'w'), (?, 5, 'w')", [from, to]);
      await writer.query('INSERT INTO cons_audit (ledger_rows) SELECT COUNT(*) FROM cons_ledger');
      await writer.query('COMMIT');
      transfers++;
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  const reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${TABLES.join(',')}`);
  const archive = (JSON.parse(reply.body) as { futurefilename: string }).futurefilename.split('/').pop()!;
  await waitForJobsDrained(nc, service.stream, 120_000);
  writing = false;
  await load;
  await writer.end();
  expect(transfers).toBeGreaterThan(10);

  const restore = await request(nc, `${service.prefix}.restore`, `archive=${archive};tables=${TABLES.join(',')}`);
  expect(restore.body).toBe('{"status": "ok"}');
  await waitForJobsDrained(nc, service.stream, 120_000);

  const [[sums]] = await db.query<import('mysql2').RowDataPacket[]>(
    `SELECT (SELECT SUM(balance) FROM cons_accounts) AS total,
            (SELECT COUNT(*) FROM cons_ledger) AS ledger,
            (SELECT COALESCE(SUM(amount), 0) FROM cons_ledger) AS moved,
            (SELECT COUNT(*) FROM cons_audit) AS audits,
            (SELECT MAX(ledger_rows) FROM cons_audit) AS last_audit`,
  );
  const restoredTransfers = Number(sums?.audits);
  // Money is conserved, and ledger and audit agree on how many transfers were committed.
  expect(Number(sums?.total)).toBe(100 * 1000);
  expect(Number(sums?.moved)).toBe(0);
  expect(Number(sums?.ledger)).toBe(100 * 2 ** 10 + 2 * restoredTransfers);
  if (restoredTransfers > 0) expect(Number(sums?.last_audit)).toBe(Number(sums?.ledger));
  // The snapshot was taken mid-load: some transfers are in it, later ones are not.
  expect(restoredTransfers).toBeLessThan(transfers);
}, 180_000);
