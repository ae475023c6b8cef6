import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type NatsCluster } from './helpers/cluster.js';
import { checksum, dbConnect, numbers, type Db } from './helpers/db.js';
import { request, waitForJob, type JobStateReply } from './helpers/nats.js';
import { objectGet } from './helpers/objget.js';
import { isolatedEnv, startService, type RunningService } from './helpers/service.js';

// The service on the 3-node cluster of nats-server.conf, replicas 3, one instance per node.
const SMALL = 'cs_small';
const BIG = 'cs_big';

let cluster: NatsCluster;
let nc: NatsConnection;
let db: Db;
const services: RunningService[] = [];

async function backup(via: RunningService, tables: string): Promise<string> {
  const reply = await request(nc, `${via.prefix}.makebackup`, `makebackup=${tables}`);
  expect(reply.body, reply.headers['Nats-Service-Error']).toMatch(/"status": "ok"/);
  return reply.headers['Backup-Job-Id']!;
}

async function restore(via: RunningService, archive: string, tables: string): Promise<JobStateReply> {
  const reply = await request(nc, `${via.prefix}.restore`, `archive=${archive};tables=${tables}`);
  expect(reply.body, reply.headers['Nats-Service-Error']).toBe('{"status": "ok"}');
  return waitForJob(nc, via.prefix, reply.headers['Backup-Job-Id']!, undefined, 120_000);
}

/** Which instance ran the job, from its log. */
function runnerOf(id: string): number {
  return services.findIndex((s) => s.logs.some((l) => l.msg === 'job started' && l.job === id));
}

beforeAll(async () => {
  cluster = await startCluster();
  nc = await connect({ servers: cluster.urls, reconnectTimeWait: 250, maxReconnectAttempts: -1 });
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${SMALL}, ${BIG}`);
  await db.query(`CREATE TABLE ${SMALL} (id INT PRIMARY KEY, label VARCHAR(40))`);
  await db.query(`INSERT INTO ${SMALL} SELECT seq, CONCAT('row ', seq) FROM ${numbers(1000)}`);
  await db.query(`CREATE TABLE ${BIG} (id INT PRIMARY KEY, payload VARCHAR(300))`);
  await db.query(`INSERT INTO ${BIG} SELECT seq, CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512)) FROM ${numbers(100000)}`);
  const shared = isolatedEnv();
  // Each instance on its own node and with its own disk, as on two machines.
  for (const node of [0, 1]) {
    services.push(
      await startService({
        ...shared,
        BACKUP_DIR: mkdtempSync(join(tmpdir(), `backups-node${node}-`)),
        NATS_URL: cluster.urls[node]!,
        JS_REPLICAS: '3',
        JOB_ACK_WAIT_SECONDS: '10',
      }),
    );
  }
}, 120_000);

afterAll(async () => {
  for (const service of services) await service.stop();
  await db?.query(`DROP TABLE IF EXISTS ${SMALL}, ${BIG}`);
  await db?.end();
  await nc?.close();
  await cluster?.stop();
}, 120_000);

it('makes and restores backups with two instances on two nodes (replicas 3)', async () => {
  const [a, b] = services as [RunningService, RunningService];
  const original = await checksum(db, SMALL);
  const ids = await Promise.all([backup(a, SMALL), backup(b, SMALL), backup(a, SMALL), backup(b, SMALL)]);
  const states = await Promise.all(ids.map((id) => waitForJob(nc, a.prefix, id, undefined, 120_000)));
  for (const state of states) expect(state.status, state.reason).toBe('done');
  const listed = Object.values(JSON.parse((await request(nc, `${a.prefix}.listbackups`, 'listfiles')).body) as Record<string, string>);
  expect(listed.sort()).toEqual(states.map((s) => s.archive).sort());

  // Each instance restores an archive the other one made (only the bucket has it for it).
  for (const [via, maker] of [[a, 1], [b, 0]] as const) {
    const archive = states.find((s) => runnerOf(s.id) === maker)?.archive ?? states[0]!.archive;
    await db.query(`UPDATE ${SMALL} SET label = 'changed' WHERE id <= 100`);
    const state = await restore(via, archive, SMALL);
    expect(state.status, state.reason).toBe('done');
    expect(await checksum(db, SMALL)).toBe(original);
  }
}, 180_000);

it('finishes a backup while the node of the instance running it is SIGKILLed; requests fail no longer than a reconnect', async () => {
  const [a] = services as [RunningService, RunningService];
  const original = await checksum(db, BIG);

  // Ask for the listing all the time, and time the longest run of failures.
  let polling = true;
  let failingSince: number | null = null;
  let longestFailureMs = 0;
  let failures = 0;
  const poller = (async () => {
    while (polling) {
      try {
        await request(nc, `${a.prefix}.listbackups`, 'listfiles');
        if (failingSince !== null) longestFailureMs = Math.max(longestFailureMs, Date.now() - failingSince);
        failingSince = null;
      } catch {
        failures++;
        failingSince ??= Date.now();
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  const id = await backup(a, BIG);
  await waitForJob(nc, a.prefix, id, (s) => s.status === 'running' && (s.progress?.bytesDone ?? 0) > 0, 60_000);
  const runner = runnerOf(id);
  expect(runner).toBeGreaterThanOrEqual(0);
  // A client on a node that stays up: every listing it asks for while the node is down must be
  // answered (from each instance's catalog, not from a consumer made per request).
  const steady = await connect({ servers: cluster.urls.find((_, i) => i !== runner)!, reconnectTimeWait: 250, maxReconnectAttempts: -1 });
  let steadyAsked = 0;
  const steadyFailures: string[] = [];
  const killed = cluster.kill(runner);
  const steadyPoller = (async () => {
    // From once the node is gone (a request routed to it as it dies is lost with it).
    await killed;
    await new Promise((r) => setTimeout(r, 1000));
    while (polling || steadyAsked < 40) {
      steadyAsked++;
      const t0 = Date.now();
      try {
        const reply = await request(steady, `${a.prefix}.listbackups`, 'listfiles');
        if (reply.headers['Nats-Service-Error'] || !reply.body.startsWith('{')) steadyFailures.push(`${reply.headers['Nats-Service-Error']}: ${reply.body}`);
      } catch (err) {
        steadyFailures.push(`${(err as Error).message} after ${Date.now() - t0} ms`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  await killed;

  const state = await waitForJob(nc, a.prefix, id, undefined, 180_000);
  expect(state.status, state.reason).toBe('done');
  // A new request while the node is still down works too.
  const second = await waitForJob(nc, a.prefix, await backup(a, SMALL), undefined, 120_000);
  expect(second.status, second.reason).toBe('done');
  polling = false;
  await poller;
  await steadyPoller;
  await steady.close();
  console.info(`node ${runner} killed mid-backup: ${failures} listing requests failed, longest failure ${longestFailureMs} ms; from a live node ${steadyFailures.length} of ${steadyAsked} failed`);
  expect(longestFailureMs).toBeLessThan(15_000);
  expect(steadyFailures).toEqual([]);
  expect(steadyAsked).toBeGreaterThan(10);

  // Fetchable with another client from a live node (it retries while the get's consumer is unlucky).
  const live = cluster.urls.find((_, i) => i !== runner)!;
  const fetched = await objectGet(live, services[0]!.bucket, state.archive, join(mkdtempSync(join(tmpdir(), 'cluster-get-')), state.archive), 120_000);
  expect(fetched.sha256).toBe(state.result?.sha256);

  await db.query(`DELETE FROM ${BIG} WHERE id % 3 = 0`);
  const survivor = services[runner === 0 ? 1 : 0]!;
  const restored = await restore(survivor, state.archive, BIG);
  expect(restored.status, restored.reason).toBe('done');
  expect(await checksum(db, BIG)).toBe(original);

  await cluster.restart(runner);
}, 300_000);
