import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checksum, dbConnect, TEST_DATABASE, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJobsDrained } from './helpers/nats.js';
import { startService, type RunningService, retire } from './helpers/service.js';

// The original tool: mysqldump output per table, compressed with py7zr (Debian's python3-py7zr).
const ARCHIVE = '2021-11-28_17-59-19-backup.7z';
const TABLES = ['seed_orders', 'seed_customers'];

let service: RunningService;
let nc: NatsConnection;
let db: Db;
const checksums = new Map<string, string>();

beforeAll(async () => {
  db = await dbConnect();
  await db.query(`
    DROP TABLE IF EXISTS seed_orders, seed_customers;
    CREATE TABLE seed_customers (id INT PRIMARY KEY, name VARCHAR(50), photo BLOB) DEFAULT CHARSET=utf8mb4;
    CREATE TABLE seed_orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT, total DECIMAL(10,2), note TEXT,
      FOREIGN KEY (customer) REFERENCES seed_customers (id));
    INSERT INTO seed_customers VALUES (1, 'Анна 😀', 0x00ff10), (2, 'O''Brien; -- not a comment', NULL);
    INSERT INTO seed_orders (customer, total, note) VALUES (1, 10.50, 'line1\\nline2'), (2, 0.01, '/* x */ ;'), (1, 99.99, NULL);
    CREATE TRIGGER seed_orders_bi BEFORE INSERT ON seed_orders FOR EACH ROW SET NEW.note = IFNULL(NEW.note, 'none');
  `);
  for (const table of TABLES) checksums.set(table, await checksum(db, table));

  service = await startService();
  const work = mkdtempSync(join(tmpdir(), 'seed-'));
  for (const table of TABLES) {
    execFileSync('sh', ['-c', `mariadb-dump -h 127.0.0.1 -uroot "$1" "$2" > "$3"`, 'sh', TEST_DATABASE, table, join(work, `${table}.sql`)]);
  }
  expect(readFileSync(join(work, 'seed_orders.sql'), 'utf8')).toContain('DELIMITER ;;');
  const script = [
    'import py7zr, sys',
    'with py7zr.SevenZipFile(sys.argv[1], "w") as z:',
    '    for path, name in zip(sys.argv[2::2], sys.argv[3::2]):',
    '        z.write(path, name)',
  ].join('\n');
  execFileSync('/usr/bin/python3', ['-c', script, join(service.backupDir, ARCHIVE), ...TABLES.flatMap((t) => [join(work, `${t}.sql`), `${t}.sql`])]);
  nc = await natsConnect();
}, 120_000);

afterAll(async () => {
  await retire(nc, service);
  await nc?.close();
  await db?.query('DROP TABLE IF EXISTS seed_orders, seed_customers');
  await db?.end();
});

it('lists an archive made by the original tool', async () => {
  expect((await request(nc, `${service.prefix}.listbackups`, 'listfiles')).body).toBe(`{"0": "${ARCHIVE}"}`);
  const reply = await request(nc, `${service.prefix}.archive`, `archivename=${ARCHIVE}`);
  expect((JSON.parse(reply.body) as { tables: string }).tables.split(',').sort()).toEqual(['seed_customers.sql', 'seed_orders.sql']);
});

it('restores an archive made by the original tool to the same checksums', async () => {
  await db.query('DROP TABLE seed_orders, seed_customers');
  const reply = await request(nc, `${service.prefix}.restore`, `archive=${ARCHIVE};tables=seed_customers.sql,seed_orders.sql`);
  expect(reply.body).toBe('{"status": "ok"}');
  await waitForJobsDrained(nc, service.stream);
  for (const table of TABLES) expect(await checksum(db, table), table).toBe(checksums.get(table));
  const [triggers] = await db.query<import('mysql2').RowDataPacket[]>(`SHOW TRIGGERS LIKE 'seed_orders'`);
  expect(triggers).toHaveLength(1);
});
