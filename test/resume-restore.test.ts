import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checksum, dbConnect, numbers, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJob } from './helpers/nats.js';
import { backupDone, isolatedEnv, retire, startService, type RunningService } from './helpers/service.js';

// A restore of 4 tables whose process is SIGKILLed while it loads the third: its retry keeps the
// two tables it had loaded and counted, loads only the other two, and swaps all four at once.
// Tables load biggest first: rs_a is the biggest, rs_d the smallest.
const TABLES = ['rs_a', 'rs_b', 'rs_c', 'rs_d'];

let nc: NatsConnection;
let db: Db;
const started: RunningService[] = [];
const env = { ...isolatedEnv(), RESTORE_PARALLELISM: '1', JOB_ACK_WAIT_SECONDS: '5', JOB_MAX_DELIVER: '3', LOG_LEVEL: 'info' };

async function start(): Promise<RunningService> {
  const service = await startService(env);
  started.push(service);
  return service;
}

const loadedTables = (service: RunningService) => service.logs.filter((l) => l.msg === 'table loaded into the scratch schema').map((l) => l.table);

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
  for (const [i, table] of TABLES.entries()) {
    await db.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, payload VARCHAR(200), KEY k_payload (payload(20)))`);
    // Each large enough to be still loading when the process dies.
    await db.query(`INSERT INTO ${table} SELECT seq, CONCAT(SHA2(seq + ${i}, 256), SHA2(seq, 224)) FROM ${numbers(100_000 - i * 5_000)}`);
  }
}, 120_000);

afterAll(async () => {
  await retire(nc, ...started);
  await db?.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
  await db?.end();
  await nc?.close();
});

it('a restore killed while loading its third table resumes: the retry loads only the tables not yet complete', async () => {
  const first = await start();
  const archive = (await backupDone(nc, first, TABLES.join(','))).split('/').pop()!;
  const archived = new Map<string, string>();
  for (const table of TABLES) archived.set(table, await checksum(db, table));
  for (const table of TABLES) await db.query(`DELETE FROM ${table} WHERE id % 3 = 0`);

  // Asked smallest first: the biggest loads first all the same.
  const reply = await request(nc, `${first.prefix}.restore`, `archive=${archive};tables=${[...TABLES].reverse().join(',')}`);
  expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
  const id = reply.headers['Backup-Job-Id']!;
  await first.waitForLog(() => loadedTables(first).length >= 2, 60_000);
  first.child.kill('SIGKILL');
  await first.stop();
  const before = loadedTables(first);
  expect(before.slice(0, 2)).toEqual(['rs_a', 'rs_b']);

  const second = await start();
  const state = await waitForJob(nc, second.prefix, id, undefined, 120_000);
  expect(state.status, state.reason).toBe('done');
  const resumed = second.logs.find((l) => l.msg === 'resuming: the tables an earlier attempt loaded are kept');
  expect(resumed?.kept).toEqual(before);
  expect(loadedTables(second)).toEqual(TABLES.filter((t) => !before.includes(t)));
  expect((state.progress as { tablesKept?: number } | undefined)?.tablesKept).toBe(before.length);
  for (const table of TABLES) expect(await checksum(db, table), table).toBe(archived.get(table));
}, 240_000);
