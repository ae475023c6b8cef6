import type { NatsConnection } from '@nats-io/transport-node';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { insertRows, loadDataSql } from '../src/mysql/load-data.js';
import { createStatementSplitter, type SplitStatement } from '../src/mysql/statements.js';
import { extract, packArchive } from './helpers/archives.js';
import { checksum, dbConnect, ident, type Db } from './helpers/db.js';
import { natsConnect } from './helpers/nats.js';
import { backupDone, restoreEnded, retire, startService, type RunningService } from './helpers/service.js';

const latin1 = (s: string) => Buffer.from(s, 'latin1').toString('latin1');
const rowsOf = (statement: string) => insertRows(latin1(statement))?.rows.toString('latin1') ?? null;

describe('the rows of an INSERT as LOAD DATA reads them', () => {
  it('plain literals pass as they are, a comma after the last row', () => {
    const r = insertRows("INSERT INTO `t` (`a`,`b c`,`d``e`) VALUES (1,'x'),(NULL,'it\\'s'),(-1.5e-7,'')")!;
    expect(r.table).toBe('t');
    expect(r.columns).toEqual(['a', 'b c', 'd`e']);
    expect(r.target).toBe('`t` (`a`,`b c`,`d``e`)');
    expect(r.rows.toString('latin1')).toBe("(1,'x'),(NULL,'it\\'s'),(-1.5e-7,'')");
    expect(insertRows('INSERT INTO `t` VALUES (1)')?.columns).toBeNull();
  });

  it('_binary introducers are cut out, and only where a value starts', () => {
    expect(rowsOf("INSERT INTO `t` (`a`,`b`) VALUES (_binary'\\0\\'x',_binary''),(NULL,'a,_binary'),(2,_binary'\\\\')")).toBe(
      "('\\0\\'x',''),(NULL,'a,_binary'),(2,'\\\\')",
    );
    // A string ending in a backslash, then a value that looks special only from inside it.
    expect(rowsOf("INSERT INTO `t` (`a`,`b`) VALUES ('x\\\\',_binary'y'),(',b\\'',1)")).toBe("('x\\\\','y'),(',b\\'',1)");
    // Looks like a literal LOAD DATA cannot read, but is inside a string: the rows are kept whole.
    expect(rowsOf("INSERT INTO `t` (`a`,`b`) VALUES ('a,b','(X'),('(b','c')")).toBe("('a,b','(X'),('(b','c')");
  });

  it('BIT and hex literals, and statements of another form, stay INSERTs', () => {
    expect(rowsOf("INSERT INTO `t` (`a`) VALUES (b'101')")).toBeNull();
    expect(rowsOf("INSERT INTO `t` (`a`,`b`) VALUES (1,X'00ff')")).toBeNull();
    expect(rowsOf("INSERT INTO `t` (`a`,`b`) VALUES (_binary'x',b'1')")).toBeNull();
    expect(rowsOf("INSERT INTO `t` (`a`) VALUES (_binary'x'),(POINT(1,1))")).toBeNull();
    expect(rowsOf("INSERT INTO `t` (`a`) VALUES (_binary'unterminated)")).toBeNull();
    expect(rowsOf('INSERT IGNORE INTO `t` VALUES (1)')).toBeNull();
    expect(rowsOf('REPLACE INTO `t` VALUES (1)')).toBeNull();
    expect(rowsOf('INSERT INTO t VALUES (1)')).toBeNull();
    expect(rowsOf('INSERT INTO `t` SELECT 1')).toBeNull();
    expect(rowsOf('INSERT INTO `t` (`a`) VALUES (1);')).toBeNull();
  });

  it('the splitter hands each statement with its bytes, across chunk boundaries; the rows are views of them', async () => {
    const sql = Buffer.from("SET NAMES utf8mb4;\nINSERT INTO `t` (`a`) VALUES (_binary'\xff\\'x'),('ж;');\n-- c\nINSERT INTO `t` (`a`) VALUES (1);\n", 'latin1');
    const statements: SplitStatement[] = [];
    await pipeline(
      Readable.from([sql.subarray(0, 30), sql.subarray(30, 61), sql.subarray(61)]),
      createStatementSplitter({ encoding: 'latin1', withBytes: true }),
      new Writable({
        objectMode: true,
        write: (s: SplitStatement, _e, cb) => {
          statements.push(s);
          cb();
        },
      }),
    );
    expect(statements.map((s) => s.text)).toEqual(['SET NAMES utf8mb4', "INSERT INTO `t` (`a`) VALUES (_binary'\xff\\'x'),('ж;')", 'INSERT INTO `t` (`a`) VALUES (1)'].map(latin1));
    for (const s of statements) expect(s.bytes.toString('latin1')).toBe(s.text);
    expect(insertRows(statements[1]!.text, statements[1]!.bytes)!.rows.toString('latin1')).toBe(latin1("('\xff\\'x'),('ж;')"));
    const plain = insertRows(statements[2]!.text, statements[2]!.bytes)!.rows;
    expect(plain.toString('latin1')).toBe('(1)');
    expect(plain.buffer).toBe(statements[2]!.bytes.buffer); // a view, not a copy
  });

  it('the LOAD DATA statement names the table and columns afresh, quoted', () => {
    const sql = loadDataSql({ table: 'a`b', columns: ['c', 'd`'] }, 'utf8mb4');
    expect(sql).toContain('INTO TABLE `a``b` CHARACTER SET utf8mb4 ');
    expect(sql).toMatch(/\(`c`,`d```\)$/);
    expect(() => loadDataSql({ table: 't', columns: null }, 'utf8mb4; DROP')).toThrow();
  });
});

const TEXTS = 'ld_texts';
const NUMBERS = 'ld_numbers';
const TABLES = [TEXTS, NUMBERS];

describe('a restore loads the rows of its own dumps with LOAD DATA', () => {
  let nc: NatsConnection;
  let db: Db;
  let loading: RunningService;
  let inserting: RunningService;
  let archive: string;
  const original: Record<string, string> = {};

  const tricky = ["it's", 'back\\slash\\', "end\\'", 'a,b', ',_binary', "x,b'", '),(', "'),('", 'new\nline', 'cr\rlf\r\n', 'nul\u0000', '\u001a', '\\N', 'NULL', '', '😀 ü ж', 'tab\tz', '\\\\\'\\'];

  beforeAll(async () => {
    nc = await natsConnect();
    db = await dbConnect();
    await db.query(`DROP TABLE IF EXISTS ${TABLES.map(ident).join(', ')}`);
    await db.query(`CREATE TABLE ${TEXTS} (
      id INT PRIMARY KEY, txt TEXT, lat VARCHAR(40) CHARACTER SET latin1, bin VARBINARY(64), blb BLOB, js JSON,
      dt DATETIME(6), ts TIMESTAMP NULL, KEY k_txt (txt(8))
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    const rows: unknown[][] = [];
    for (let i = 0; i < 3000; i++) {
      const text = tricky[i % tricky.length]!;
      const bytes = Buffer.from(Array.from({ length: i % 64 }, (_, j) => (i * 31 + j * 7) % 256));
      rows.push([i, i % 23 === 0 ? null : text, i % 2 ? 'café' : text.replace(/[^\x20-\x7e]/g, ''), bytes, i % 5 ? Buffer.from(text + ',_binary\'', 'utf8') : null, JSON.stringify({ s: text, i }), `2024-02-29 12:34:56.${String(i).padStart(6, '0')}`, i % 3 ? '2030-01-01 00:00:00' : null]);
    }
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await db.query(`INSERT INTO ${TEXTS} VALUES ${chunk.map(() => '(?,?,?,?,?,?,?,?)').join(',')}`, chunk.flat());
    }
    await db.query(`CREATE TABLE ${NUMBERS} (id BIGINT UNSIGNED PRIMARY KEY, f FLOAT, d DOUBLE, dec65 DECIMAL(65,30), y YEAR, t TIME(3), e ENUM('a','b'), s SET('x','y')) ENGINE=InnoDB`);
    await db.query(`INSERT INTO ${NUMBERS} VALUES (18446744073709551615, 1234567.1, -1.5e-300, -12345678901234567890.000000000000000000000000000001, 2155, '-838:59:59.999', 'b', 'x,y'), (0, NULL, NULL, NULL, NULL, NULL, NULL, ''), (1, -0, 1e308, 0, 1901, '00:00:00', 'a', 'y')`);
    for (const t of TABLES) original[t] = await checksum(db, t);

    loading = await startService({ JOB_MAX_DELIVER: '1' });
    inserting = await startService({ JOB_MAX_DELIVER: '1', RESTORE_LOAD_DATA: 'off', BACKUP_DIR: loading.backupDir });
    archive = (await backupDone(nc, loading, TABLES.join(','))).split('/').pop()!;
  }, 120_000);

  afterAll(async () => {
    await retire(nc, loading, inserting);
    await db?.query(`DROP TABLE IF EXISTS ${TABLES.map(ident).join(', ')}`);
    await db?.end();
    await nc?.close();
  });

  /** Changes the live tables, restores them with `service`, checks they are as before the backup; the LOAD DATA runs per table. */
  async function restoredAsBefore(service: RunningService, deleteEvery: number): Promise<Record<string, unknown>> {
    for (const t of TABLES) await db.query(`DELETE FROM ${t} WHERE id % ${deleteEvery} = 0`);
    const before = service.logs.length;
    const state = await restoreEnded(nc, service, archive, TABLES.join(','));
    expect(state.status, state.reason).toBe('done');
    for (const t of TABLES) expect(await checksum(db, t), t).toBe(original[t]);
    const loaded = service.logs.slice(before).filter((l) => l.msg === 'table loaded into the scratch schema');
    return Object.fromEntries(loaded.map((l) => [l.table, l.loadDataRuns]));
  }

  it('the same CHECKSUM TABLE as before the backup, every table loaded by LOAD DATA', async () => {
    expect(await restoredAsBefore(loading, 2)).toEqual({ [TEXTS]: 1, [NUMBERS]: 1 });
  });

  it('with RESTORE_LOAD_DATA=off the rows go in as INSERTs, to the same checksum', async () => {
    expect(await restoredAsBefore(inserting, 3)).toEqual({ [TEXTS]: 0, [NUMBERS]: 0 });
  });

  it('a server that does not allow LOAD DATA LOCAL (local_infile off, as MySQL 8 ships) gets INSERTs, to the same checksum', async () => {
    const [[setting]] = await db.query<RowDataPacket[]>('SELECT @@GLOBAL.local_infile AS allowed');
    await db.query('SET GLOBAL local_infile = 0');
    try {
      expect(await restoredAsBefore(loading, 5)).toEqual({ [TEXTS]: 0, [NUMBERS]: 0 });
    } finally {
      await db.query('SET GLOBAL local_infile = ?', [Number(setting?.allowed)]);
    }
  });

  it('a duplicate primary key, which LOAD DATA LOCAL would skip, fails the restore and leaves the live table as it was', async () => {
    await db.query(`DELETE FROM ${TEXTS} WHERE id % 4 = 0`);
    const live = await checksum(db, TEXTS);
    const path = `${loading.backupDir}/${archive}`;
    const sql = extract(path, `${TEXTS}.sql`).toString('latin1');
    const at = sql.lastIndexOf('INSERT INTO');
    const dup = `INSERT INTO \`${TEXTS}\` (\`id\`,\`txt\`,\`lat\`,\`bin\`,\`blb\`,\`js\`,\`dt\`,\`ts\`) VALUES (1,'dup',NULL,NULL,NULL,'{}',NULL,NULL);\n`;
    packArchive(loading.backupDir, '2000-01-01_00-00-08-backup.7z', {
      [`${TEXTS}.sql`]: Buffer.from(sql.slice(0, at) + dup + sql.slice(at), 'latin1'),
      'manifest.json': extract(path, 'manifest.json'),
    });
    const state = await restoreEnded(nc, loading, '2000-01-01_00-00-08-backup.7z', TEXTS);
    expect(state.status).toBe('failed');
    expect(state.reason).toMatch(/did not load cleanly \(1 skipped.*Duplicate entry '1'/);
    expect(await checksum(db, TEXTS)).toBe(live);
    const [scratch] = await db.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_NAME = ? AND TABLE_SCHEMA LIKE '\\_nmtb\\_r%'", [TEXTS]);
    expect(Number(scratch[0]?.n)).toBe(0);
  });
});
