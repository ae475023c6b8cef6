import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { sevenZipBinary } from '../src/archive/sevenzip.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checksum, count, dbConnect, ident, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJobsDrained } from './helpers/nats.js';
import { backupDone, startService, type RunningService, retire } from './helpers/service.js';

const ALL_TYPES = 'rt_all_types';
const SPACED = 'rt order items';
const CYRILLIC = 'rt_заказы';
/** The same values in NOT NULL columns: the dump formats those without a NULL test. */
const NOT_NULL = 'rt_not_null';
const TABLES = [ALL_TYPES, SPACED, CYRILLIC, NOT_NULL];
const STOCK_DB = 'test_stock_client';

let service: RunningService;
let nc: NatsConnection;
let db: Db;

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function createTables(): Promise<void> {
  await db.query(`SET SESSION sql_mode = '', time_zone = '+03:00'`);
  await db.query(`DROP TABLE IF EXISTS ${TABLES.map(ident).join(', ')}`);
  await db.query(`
    CREATE TABLE ${ident(ALL_TYPES)} (
      id INT AUTO_INCREMENT PRIMARY KEY,
      ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, bi BIGINT, bu BIGINT UNSIGNED,
      f FLOAT, d DOUBLE, dec65 DECIMAL(65,30), dec_small DECIMAL(5,2),
      b1 BIT(1), b64 BIT(64),
      bin BINARY(4), vbin VARBINARY(300), blb BLOB, lblb LONGBLOB,
      ch CHAR(10), vc VARCHAR(200), txt TEXT, lat VARCHAR(50) CHARACTER SET latin1,
      js JSON,
      dt DATETIME(6), dt0 DATETIME, ts TIMESTAMP(6) NULL DEFAULT NULL, dd DATE, tm TIME(3), yr YEAR,
      en ENUM('small', 'medium', 'large'), st SET('red', 'green', 'blue'),
      gv INT AS (ti * 2) VIRTUAL, gs VARCHAR(210) AS (CONCAT(vc, '!')) STORED,
      inv INT INVISIBLE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await db.query(`
    CREATE TRIGGER rt_all_types_bi BEFORE INSERT ON ${ident(ALL_TYPES)} FOR EACH ROW
    BEGIN
      IF NEW.ch IS NULL THEN SET NEW.ch = 'trigger;'; END IF;
    END`);
  await db.query(`CREATE TABLE ${ident(SPACED)} (\`order id\` INT PRIMARY KEY, \`qty \`\`x\`\`\` INT)`);
  await db.query(`CREATE TABLE ${ident(CYRILLIC)} (ид INT PRIMARY KEY, имя VARCHAR(30)) DEFAULT CHARSET=utf8mb4`);

  const random = prng(42);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const strings = ["it's", 'back\\slash', 'quote"d', 'new\nline\r\ttab', 'nul\u0000byte', 'emoji 😀🎉 和 ü', '', '\u001a ctrl-z', ';--', '/* not a comment */', 'crlf\r\nline'];
  const rows: unknown[][] = [];
  for (let i = 0; i < 2500; i++) {
    const nul = (v: unknown) => (i % 17 === 0 ? null : v);
    rows.push([
      nul(Math.floor(random() * 256) - 128),
      nul(Math.floor(random() * 65536)),
      nul(Math.floor(random() * 16777216) - 8388608),
      nul(`${Math.floor(random() * 2 ** 53) * (random() < 0.5 ? -1 : 1)}`),
      nul(i === 1 ? '18446744073709551615' : `${Math.floor(random() * 2 ** 53)}`),
      nul((random() - 0.5) * 10 ** Math.floor(random() * 30 - 15)),
      nul((random() - 0.5) * 10 ** Math.floor(random() * 600 - 300)),
      nul(`${i % 2 ? '-' : ''}${Math.floor(random() * 1e15)}${Math.floor(random() * 1e15)}.${String(Math.floor(random() * 1e15)).padStart(15, '0')}${String(Math.floor(random() * 1e15)).padStart(15, '0')}`),
      nul((random() * 999).toFixed(2)),
      nul(i % 2),
      nul(bytes(8)),
      nul(bytes(4)),
      nul(i % 5 === 0 ? Buffer.alloc(0) : bytes(Math.floor(random() * 300))),
      nul(bytes(Math.floor(random() * 1000))),
      nul(i === 3 ? bytes(2 * 1024 * 1024) : bytes(8)),
      i % 7 === 0 ? null : strings[i % strings.length]!.slice(0, 10),
      nul(strings[(i + 3) % strings.length]),
      nul(strings[(i + 5) % strings.length]!.repeat(3)),
      nul('café crème'),
      nul(JSON.stringify({ id: i, s: strings[i % strings.length], n: [1.5, null, true], e: '😀' })),
      nul(`20${10 + (i % 20)}-0${1 + (i % 9)}-1${i % 10} 1${i % 10}:2${i % 10}:3${i % 10}.${String(i).padStart(6, '0')}`),
      i % 11 === 0 ? '0000-00-00 00:00:00' : nul('2021-11-28 17:59:19'),
      nul(`2020-0${1 + (i % 9)}-15 12:00:00.${String(i).padStart(6, '0')}`),
      i % 13 === 0 ? '0000-00-00' : nul('1999-12-31'),
      nul(`${i % 2 ? '-' : ''}${i % 839}:59:59.${i % 1000}`),
      nul(1901 + (i % 255)),
      nul(['small', 'medium', 'large'][i % 3]),
      nul(['', 'red', 'green,blue', 'red,green,blue'][i % 4]),
    ]);
  }
  const columns = 'ti,si,mi,bi,bu,f,d,dec65,dec_small,b1,b64,bin,vbin,blb,lblb,ch,vc,txt,lat,js,dt,dt0,ts,dd,tm,yr,en,st';
  const placeholders = `(${columns.split(',').map((c) => (c === 'b1' ? 'CAST(? AS UNSIGNED)' : '?')).join(',')})`;
  for (let i = 0; i < rows.length; i += 100) {
    const chunk = rows.slice(i, i + 100);
    await db.query(`INSERT INTO ${ident(ALL_TYPES)} (${columns}) VALUES ${chunk.map(() => placeholders).join(',')}`, chunk.flat());
  }
  // An invisible column (MariaDB 10.3+, MySQL 8.0.23+): SELECT * leaves it out, the dump must not.
  await db.query(`UPDATE ${ident(ALL_TYPES)} SET inv = IF(id % 9 = 0, NULL, id * 3)`);
  const notNull = (c: string) => `${c} NOT NULL`;
  await db.query(`
    CREATE TABLE ${ident(NOT_NULL)} (
      id INT PRIMARY KEY,
      ${['ti TINYINT', 'bu BIGINT UNSIGNED', 'f FLOAT', 'd DOUBLE', 'dec65 DECIMAL(65,30)', 'b64 BIT(64)', 'bin BINARY(4)', 'blb BLOB',
        'ch CHAR(10)', 'vc VARCHAR(200)', 'txt TEXT', 'lat VARCHAR(50) CHARACTER SET latin1', 'u3 VARCHAR(50) CHARACTER SET utf8mb3',
        'js JSON', 'dt DATETIME(6)', 'dt0 DATETIME', 'ts TIMESTAMP(6)', 'dd DATE', 'tm TIME(3)', 'yr YEAR',
        "en ENUM('small', 'medium', 'large')", "st SET('red', 'green', 'blue')"].map(notNull).join(', ')}
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await db.query(`INSERT INTO ${ident(NOT_NULL)} SELECT id, ti, bu, f, d, dec65, b64, bin, blb, ch, vc, txt, lat, lat, js, dt, dt0, ts, dd, tm, yr, en, st
    FROM ${ident(ALL_TYPES)} WHERE ti IS NOT NULL`);
  await db.query(`INSERT INTO ${ident(SPACED)} VALUES (1, 10), (2, NULL)`);
  await db.query(`INSERT INTO ${ident(CYRILLIC)} VALUES (1, 'Пётр'), (2, '')`);
  await db.query(`SET SESSION time_zone = '+00:00'`);
}

beforeAll(async () => {
  db = await dbConnect();
  await createTables();
  // Every first table streams into 7-Zip, however small (DUMP_STREAM_MIN_MB defaults to 8).
  service = await startService({ DUMP_STREAM_MIN_MB: '0' });
  nc = await natsConnect();
}, 120_000);

afterAll(async () => {
  await retire(nc, service);
  await nc?.close();
  await db?.query(`DROP TABLE IF EXISTS ${TABLES.map(ident).join(', ')}`);
  await db?.query(`DROP DATABASE IF EXISTS ${STOCK_DB}`);
  await db?.end();
});

it('backs up every column type, a trigger and odd table names, and restores them to the same checksum', async () => {
  const before = new Map<string, string>();
  for (const table of TABLES) before.set(table, await checksum(db, table));
  const rowsBefore = await count(db, ALL_TYPES);
  const invisible = async () => {
    const [[sums]] = await db.query<import('mysql2').RowDataPacket[]>(`SELECT SUM(inv) AS s, COUNT(inv) AS n FROM ${ident(ALL_TYPES)}`);
    const [[column]] = await db.query<import('mysql2').RowDataPacket[]>(
      `SELECT EXTRA AS extra FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'inv'`,
      [ALL_TYPES],
    );
    return { sum: String(sums?.s), count: Number(sums?.n), extra: String(column?.extra) };
  };
  const invisibleBefore = await invisible();
  expect(invisibleBefore.extra).toMatch(/INVISIBLE/);

  const reply = await request(nc, `${service.prefix}.makebackup`, `makebackup=${TABLES.join(',')}`);
  const { futurefilename } = JSON.parse(reply.body) as { futurefilename: string };
  await waitForJobsDrained(nc, service.stream);
  const archive = futurefilename.split('/').pop()!;
  const listing = await request(nc, `${service.prefix}.archive`, `archivename=${archive}`);
  // The seed's JSON: ", " and ": " separators, non-ASCII as \uXXXX.
  expect(listing.body).toMatch(/^\{"tables": "[\x20-\x7e]+"\}$/);
  expect((JSON.parse(listing.body) as { tables: string }).tables.split(',').sort()).toEqual(TABLES.map((t) => `${t}.sql`).sort());

  await db.query(`DROP TABLE ${TABLES.map(ident).join(', ')}`);
  const restore = await request(nc, `${service.prefix}.restore`, '', { archivename: archive, tables: TABLES.join(',') });
  expect(restore.body).toBe('{"status": "ok"}');
  await waitForJobsDrained(nc, service.stream);

  for (const table of TABLES) expect(await checksum(db, table), table).toBe(before.get(table));
  expect(await count(db, ALL_TYPES)).toBe(rowsBefore);
  // Its values came back, and it is still invisible.
  expect(await invisible()).toEqual(invisibleBefore);
  const [triggers] = await db.query<import('mysql2').RowDataPacket[]>(`SHOW TRIGGERS LIKE 'rt_all_types'`);
  expect(triggers.map((t) => t.Trigger)).toEqual(['rt_all_types_bi']);
  await db.query(`INSERT INTO ${ident(ALL_TYPES)} (id, ch) VALUES (100000, NULL)`);
  const [fired] = await db.query<import('mysql2').RowDataPacket[]>(`SELECT ch FROM ${ident(ALL_TYPES)} WHERE id = 100000`);
  expect(fired[0]?.ch).toBe('trigger;');
  await db.query(`DELETE FROM ${ident(ALL_TYPES)} WHERE id = 100000`);

  // The manifest says what is inside, with per-table SHA-256 of the .sql text.
  const out = mkdtempSync(join(tmpdir(), 'extract-'));
  execFileSync(sevenZipBinary(), ['x', `-o${out}`, futurefilename], { stdio: 'ignore' });
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { format: number; tables: Record<string, { rows: number; sha256: string }> };
  expect(manifest.format).toBe(1);
  expect(manifest.tables[ALL_TYPES]?.rows).toBe(rowsBefore);
  const { createHash } = await import('node:crypto');
  expect(manifest.tables[ALL_TYPES]?.sha256).toBe(createHash('sha256').update(readFileSync(join(out, `${ALL_TYPES}.sql`))).digest('hex'));

  // A dumped .sql loads with the stock client too, to the same checksum.
  await db.query(`DROP DATABASE IF EXISTS ${STOCK_DB}; CREATE DATABASE ${STOCK_DB}`);
  for (const table of TABLES) {
    execFileSync('sh', ['-c', `mariadb -h 127.0.0.1 -uroot ${STOCK_DB} < "$1"`, 'sh', join(out, `${table}.sql`)]);
    const stock = await dbConnect(STOCK_DB);
    try {
      expect(await checksum(stock, table), `${table} via the mariadb client`).toBe(before.get(table));
    } finally {
      await stock.end();
    }
  }
}, 120_000);

it('streams the first table into 7-Zip, or spools a small one into one run with the rest: the same bytes either way', async () => {
  const spooling = await startService();
  try {
    const streamed = await backupDone(nc, service, TABLES.join(','));
    const spooled = await backupDone(nc, spooling, TABLES.join(','));
    const messages = (s: RunningService) => s.logs.filter((l) => typeof l.msg === 'string' && /^compressing/.test(l.msg)).map((l) => [l.msg, l.table ?? l.files]);
    expect(messages(service)).toContainEqual(['compressing a table as it is dumped', ALL_TYPES]);
    expect(messages(spooling)).toEqual([['compressing all spooled tables in one run', TABLES.length + 1]]);

    const tablesOf = (archive: string) => {
      const out = mkdtempSync(join(tmpdir(), 'extract-'));
      execFileSync(sevenZipBinary(), ['x', `-o${out}`, archive], { stdio: 'ignore' });
      return (JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { tables: Record<string, unknown> }).tables;
    };
    expect(tablesOf(spooled)).toEqual(tablesOf(streamed));
  } finally {
    await retire(nc, spooling);
  }
}, 120_000);

it('with SEVENZIP_METHOD=deflate, every entry is Deflate and the tables restore to the same checksum', async () => {
  const deflating = await startService({ SEVENZIP_METHOD: 'deflate', DUMP_STREAM_MIN_MB: '0' });
  try {
    const before = new Map<string, string>();
    for (const table of TABLES) before.set(table, await checksum(db, table));
    const archive = await backupDone(nc, deflating, TABLES.join(','));
    const listing = execFileSync(sevenZipBinary(), ['l', '-slt', archive], { encoding: 'utf8' });
    const entries = listing.slice(listing.indexOf('\n----------\n')); // past the archive's own properties
    const methods = [...entries.matchAll(/^Method = (.*)$/gm)].map((m) => m[1]);
    expect(methods).toHaveLength(TABLES.length + 1); // the tables and manifest.json
    expect(new Set(methods)).toEqual(new Set(['Deflate']));

    await db.query(`DROP TABLE ${TABLES.map(ident).join(', ')}`);
    const restore = await request(nc, `${deflating.prefix}.restore`, `archive=${archive.split('/').pop()!};tables=${TABLES.join(',')}`);
    expect(restore.body).toBe('{"status": "ok"}');
    await waitForJobsDrained(nc, deflating.stream);
    for (const table of TABLES) expect(await checksum(db, table), table).toBe(before.get(table));
  } finally {
    await retire(nc, deflating);
  }
}, 120_000);
