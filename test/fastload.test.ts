import type { NatsConnection } from '@nats-io/transport-node';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extract, packArchive } from './helpers/archives.js';
import { checksum, dbConnect, numbers, type Db } from './helpers/db.js';
import { natsConnect } from './helpers/nats.js';
import { backupDone, restoreEnded, retire, startService, type RunningService } from './helpers/service.js';

// Restore at speed (deferred indexes, INSERTs over several sessions) must give what a plain load gives.
const KINDS = 'fl_kinds';
const NOPK = 'fl_nopk';
const AUTO = 'fl_auto';
const TABLES = [KINDS, NOPK, AUTO];

let nc: NatsConnection;
let db: Db;
const started: RunningService[] = [];

async function start(env: Record<string, string> = {}): Promise<RunningService> {
  const service = await startService({ JOB_MAX_DELIVER: '1', ...env });
  started.push(service);
  return service;
}

async function showCreate(table: string): Promise<string> {
  const [rows] = await db.query<RowDataPacket[]>(`SHOW CREATE TABLE ${table}`);
  return String(rows[0]?.['Create Table']);
}

/** What a user compares: the definition and the rows of every table. */
async function snapshot(): Promise<Record<string, { create: string; checksum: string }>> {
  const out: Record<string, { create: string; checksum: string }> = {};
  for (const t of TABLES) out[t] = { create: await showCreate(t), checksum: await checksum(db, t) };
  return out;
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
  // Every index kind MariaDB has (prefix, DESC, comment, IGNORED, FULLTEXT, SPATIAL), a CHECK, and
  // values that are easy to corrupt (binary, 4-byte UTF-8, NULL vs empty).
  await db.query(`CREATE TABLE ${KINDS} (
    id INT NOT NULL AUTO_INCREMENT,
    code VARCHAR(40) NOT NULL,
    body TEXT,
    n INT,
    g POINT NOT NULL,
    bin VARBINARY(64),
    emoji VARCHAR(20) CHARACTER SET utf8mb4,
    PRIMARY KEY (id),
    UNIQUE KEY u_code (code),
    KEY k_body (body(12)),
    KEY k_n_desc (n DESC, code) COMMENT 'ordre décroissant',
    KEY k_ignored (emoji) IGNORED,
    FULLTEXT KEY ft_body (body),
    SPATIAL KEY sp_g (g),
    CONSTRAINT fl_kinds_n CHECK (n >= 0)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await db.query(`INSERT INTO ${KINDS} (code, body, n, g, bin, emoji)
    SELECT CONCAT('c-', seq), IF(seq % 7 = 0, NULL, CONCAT(REPEAT(SHA2(seq, 256), 4), ' word', seq % 100)), seq % 1000,
           POINT(seq % 360, seq % 90), UNHEX(SHA2(seq, 256)), IF(seq % 5 = 0, '', CONCAT('😀', seq % 10))
      FROM ${numbers(40000)}`);
  await db.query(`CREATE TABLE ${NOPK} (a INT NOT NULL, b VARCHAR(30), UNIQUE KEY u_a (a), KEY k_b (b)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await db.query(`INSERT INTO ${NOPK} SELECT seq, CONCAT(REPEAT('x', seq % 20), seq % 50) FROM ${numbers(20000)}`);
  await db.query(`CREATE TABLE ${AUTO} (k INT NOT NULL, n BIGINT NOT NULL AUTO_INCREMENT, z INT, PRIMARY KEY (k), KEY k_n (n), KEY k_z (z)) ENGINE=InnoDB`);
  await db.query(`INSERT INTO ${AUTO} (k, z) SELECT seq * 3, seq % 17 FROM ${numbers(5000)}`);
}, 120_000);

afterAll(async () => {
  await retire(nc, ...started);
  await db?.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
  await db?.end();
  await nc?.close();
});

describe('a fast restore gives what a plain one does', () => {
  let fast: RunningService;
  let plain: RunningService;
  let archive: string;
  let original: Awaited<ReturnType<typeof snapshot>>;

  beforeAll(async () => {
    fast = await start({ RESTORE_INSERT_CONNECTIONS: '4' });
    // Its own subjects and jobs, the same archives.
    plain = await start({ RESTORE_INSERT_CONNECTIONS: '1', RESTORE_DEFER_INDEXES: 'off', BACKUP_DIR: fast.backupDir });
    original = await snapshot();
    archive = await backupDone(nc, fast, TABLES.join(','));
    // The live tables move on: a restore shows.
    await db.query(`DELETE FROM ${KINDS} WHERE id % 3 = 0`);
    await db.query(`DELETE FROM ${NOPK} WHERE a % 3 = 0`);
    await db.query(`DELETE FROM ${AUTO} WHERE k % 2 = 0`);
  }, 120_000);

  it('with deferred indexes over several sessions: the same SHOW CREATE TABLE and CHECKSUM TABLE as before the backup', async () => {
    const state = await restoreEnded(nc, fast, archive.split('/').pop()!, TABLES.join(','));
    expect(state.status, state.reason).toBe('done');
    expect(await snapshot()).toEqual(original);
    const loaded = fast.logs.filter((l) => l.msg === 'table loaded into the scratch schema');
    const kinds = loaded.find((l) => l.table === KINDS)!;
    expect(kinds.indexesDeferred).toBe(6);
    expect(kinds.insertSessions).toBeGreaterThan(1);
    expect(loaded.find((l) => l.table === NOPK)!.indexesDeferred).toBe(1); // k_b; the UNIQUE stays
    expect(loaded.find((l) => l.table === AUTO)!.indexesDeferred).toBe(1); // k_z; k_n holds the AUTO_INCREMENT
  });

  it('and a plain load (one session, indexes in the CREATE) gives the same', async () => {
    await db.query(`DELETE FROM ${KINDS} WHERE id % 4 = 0`);
    const state = await restoreEnded(nc, plain, archive.split('/').pop()!, TABLES.join(','));
    expect(state.status, state.reason).toBe('done');
    expect(await snapshot()).toEqual(original);
    const kinds = plain.logs.find((l) => l.msg === 'table loaded into the scratch schema' && l.table === KINDS)!;
    expect(kinds.indexesDeferred).toBe(0);
    expect(kinds.insertSessions).toBe(1);
  });

  it('a duplicate in a deferred UNIQUE index fails the restore before the swap', async () => {
    await db.query(`DELETE FROM ${KINDS} WHERE id % 5 = 0`);
    const live = await checksum(db, KINDS);
    const sql = extract(archive, `${KINDS}.sql`).toString('latin1');
    const at = sql.lastIndexOf('INSERT INTO');
    // A new primary key with the code of row 1: only the UNIQUE index, built after the rows, sees it.
    const dup = `INSERT INTO \`${KINDS}\` (\`id\`,\`code\`,\`body\`,\`n\`,\`g\`,\`bin\`,\`emoji\`) VALUES (999999,'c-1',NULL,1,POINT(1,1),NULL,'x');\n`;
    packArchive(fast.backupDir, '2000-01-01_00-00-07-backup.7z', { [`${KINDS}.sql`]: Buffer.from(sql.slice(0, at) + dup + sql.slice(at), 'latin1') });
    const state = await restoreEnded(nc, fast, '2000-01-01_00-00-07-backup.7z', KINDS);
    expect(state.status).toBe('failed');
    expect(state.reason).toMatch(/Duplicate entry 'c-1'/);
    expect(await checksum(db, KINDS)).toBe(live);
    const [scratch] = await db.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_NAME = ? AND TABLE_SCHEMA LIKE '\\_nmtb\\_r%'", [KINDS]);
    expect(Number(scratch[0]?.n)).toBe(0);
  });
});
