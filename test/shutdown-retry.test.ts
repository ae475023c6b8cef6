/**
 * A SIGTERM while the archive's put into the Object Store keeps failing and is being retried
 * (for up to 60 s) must still end the process within SHUTDOWN_GRACE_SECONDS + 10 s. The bucket is
 * real and made too small for any archive (`max_bytes`), so every put fails on the server.
 */
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dbConnect, numbers, type Db } from './helpers/db.js';
import { natsConnect, readJobState, request } from './helpers/nats.js';
import { startNatsServer, type TestNatsServer } from './helpers/nats-server.js';
import { isolatedEnv, startService, type RunningService } from './helpers/service.js';

const TABLE = 'sr_rows';
const GRACE_SECONDS = 2;

let server: TestNatsServer;
let nc: NatsConnection;
let db: Db;
let service: RunningService | undefined;

beforeAll(async () => {
  server = await startNatsServer('jetstream { store_dir: "${DIR}/js" }');
  nc = await natsConnect(server.url);
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await db.query(`CREATE TABLE ${TABLE} (id INT PRIMARY KEY, v VARCHAR(200))`);
  await db.query(`INSERT INTO ${TABLE} SELECT seq, REPEAT('x', 200) FROM ${numbers(2000)}`);
}, 60_000);

afterAll(async () => {
  await service?.stop();
  await db?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await db?.end();
  await nc?.close();
  await server?.stop();
});

it('exits within the grace period + 10 s while an Object Store put is being retried', async () => {
  const env = isolatedEnv();
  await new Objm(nc).create(env.OBJECT_BUCKET, { max_bytes: 1024 });
  service = await startService({ ...env, NATS_URL: server.url, SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS), JOB_ACK_WAIT_SECONDS: '5' });
  const reply = await request(nc, `${env.SUBJECT_PREFIX}.makebackup`, `makebackup=${TABLE}`);
  const id = reply.headers['Backup-Job-Id']!;
  await service.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('putting ') && line.msg.endsWith('failed; retrying'), 60_000);

  const signalled = Date.now();
  const code = await service.stop();
  const tookMs = Date.now() - signalled;
  expect(code).toBe(0);
  expect(tookMs).toBeLessThan((GRACE_SECONDS + 10) * 1000);
  // Handed back, not failed: another instance would run it again.
  expect((await readJobState(nc, id, service.stateBucket))?.status).not.toBe('failed');
}, 120_000);
