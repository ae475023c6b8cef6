import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover } from './helpers/micro.js';
import { natsConnect, request } from './helpers/nats.js';
import { isolatedEnv, retire, startService, type RunningService } from './helpers/service.js';

const SERVER = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const NAME = 'nats-mysql-tables-backup';
const ENDPOINTS = ['listbackups', 'makebackup', 'archive', 'restore', 'status', 'backups'];
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: true, allErrors: true }));
const schema = (kind: string) => ajv.compile(JSON.parse(readFileSync(new URL(`./schemas/micro-v1/${kind}_response.json`, import.meta.url), 'utf8')) as object);
const validators = { PING: schema('ping'), INFO: schema('info'), STATS: schema('stats') };

interface Endpoint {
  name: string;
  subject: string;
  queue_group: string;
  num_requests: number;
  num_errors: number;
  last_error: string;
  processing_time: number;
  average_processing_time: number;
}
interface Reply {
  type: string;
  name: string;
  id: string;
  version: string;
  metadata: Record<string, string>;
  description?: string;
  endpoints?: Endpoint[];
}

let nc: NatsConnection;
let env: ReturnType<typeof isolatedEnv>;
let a: RunningService;
let b: RunningService;

/** This test's two instances only: other services may be on the same bus. */
async function ours(verb: 'PING' | 'INFO' | 'STATS', id?: string): Promise<Reply[]> {
  const replies = await discover(SERVER, verb, NAME, id);
  for (const reply of replies) expect(validators[verb](reply), JSON.stringify(validators[verb].errors)).toBe(true);
  return (replies as unknown as Reply[]).filter((r) => r.metadata?.prefix === env.SUBJECT_PREFIX);
}

beforeAll(async () => {
  nc = await natsConnect();
  env = isolatedEnv();
  [a, b] = await Promise.all([startService(env), startService(env)]);
});

afterAll(async () => {
  await retire(nc, a, b);
  await nc?.close();
});

describe('NATS micro discovery', () => {
  it('answers $SRV.PING from each of the two processes, as nats.go reads it', async () => {
    const pings = await ours('PING');
    expect(pings).toHaveLength(2);
    expect(new Set(pings.map((p) => p.id)).size).toBe(2);
    expect(pings.map((p) => Number(p.metadata.pid)).sort()).toEqual([a.child.pid, b.child.pid].sort());
    for (const ping of pings) {
      expect(ping.type).toBe('io.nats.micro.v1.ping_response');
      expect(ping.name).toBe(NAME);
      expect(ping.version).toBe(pkg.version);
    }
    // Unnamed PING reaches them too.
    const all = (await discover(SERVER, 'PING')) as unknown as Reply[];
    expect(all.filter((p) => p.metadata?.prefix === env.SUBJECT_PREFIX)).toHaveLength(2);
  });

  it('lists every endpoint in the queue group, and one instance answers by its id', async () => {
    const infos = await ours('INFO');
    expect(infos).toHaveLength(2);
    for (const info of infos) {
      expect(info.endpoints!.map((e) => e.name)).toEqual(expect.arrayContaining(ENDPOINTS));
      for (const endpoint of info.endpoints!) {
        expect(endpoint.subject).toBe(`${env.SUBJECT_PREFIX}.${endpoint.name}`);
        expect(endpoint.queue_group).toBe('workers');
      }
    }
    const one = await ours('INFO', infos[0]!.id);
    expect(one.map((i) => i.id)).toEqual([infos[0]!.id]);
  });

  it('counts requests, errors and processing time; seed replies unchanged', async () => {
    const p = env.SUBJECT_PREFIX;
    const sent = { listbackups: 0, listbackupsBad: 0, makebackupBad: 0, statusBad: 0 };
    for (let i = 0; i < 5; i++) {
      expect((await request(nc, `${p}.listbackups`, 'listfiles')).body).toBe('{}');
      sent.listbackups++;
    }
    for (let i = 0; i < 3; i++) {
      const reply = await request(nc, `${p}.listbackups`, 'hello');
      expect(reply.body).toBe('{"status": "bad"}');
      expect(reply.headers['Nats-Service-Error-Code']).toBe('400');
      sent.listbackupsBad++;
    }
    for (let i = 0; i < 2; i++) {
      const reply = await request(nc, `${p}.makebackup`, 'makebackup=micro_no_such_table');
      expect(reply.body).toBe('{"status": "bad", "futurefilename": ""}');
      expect(reply.headers['Nats-Service-Error-Code']).toBe('404');
      sent.makebackupBad++;
    }
    const status = await request(nc, `${p}.status`, 'no-such-job');
    expect(status.headers['Nats-Service-Error-Code']).toBe('404');
    sent.statusBad++;

    const stats = await ours('STATS');
    expect(stats).toHaveLength(2);
    const total = (name: string, field: 'num_requests' | 'num_errors') =>
      stats.reduce((sum, s) => sum + s.endpoints!.find((e) => e.name === name)![field], 0);
    expect(total('listbackups', 'num_requests')).toBe(sent.listbackups + sent.listbackupsBad);
    expect(total('listbackups', 'num_errors')).toBe(sent.listbackupsBad);
    expect(total('makebackup', 'num_requests')).toBe(sent.makebackupBad);
    expect(total('makebackup', 'num_errors')).toBe(sent.makebackupBad);
    expect(total('status', 'num_requests')).toBe(sent.statusBad);
    expect(total('status', 'num_errors')).toBe(sent.statusBad);
    for (const name of ['archive', 'restore', 'backups']) expect(total(name, 'num_requests')).toBe(0);
    for (const s of stats) {
      for (const e of s.endpoints!) {
        if (e.num_requests > 0) {
          expect(e.processing_time).toBeGreaterThan(0);
          expect(e.average_processing_time).toBe(Math.floor(e.processing_time / e.num_requests));
        }
        if (e.num_errors > 0 && e.name === 'makebackup') expect(e.last_error).toMatch(/^404:table not found: micro_no_such_table/);
        if (e.num_errors === 0) expect(e.last_error).toBe('');
      }
    }
  });
});
