import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveNameFor } from '../src/backup/names.js';
import { request } from './helpers/nats.js';
import { startNatsServer, type TestNatsServer } from './helpers/nats-server.js';
import { isolatedEnv, startService, type RunningService } from './helpers/service.js';

// A server of its own with a small max_payload, and more archive names than one reply holds.
const MAX_PAYLOAD = 8192;
const ARCHIVES = 250;

let server: TestNatsServer;
let nc: NatsConnection;
let service: RunningService;
const names = Array.from({ length: ARCHIVES }, (_, i) => archiveNameFor(new Date(Date.UTC(2002, 0, 1, 0, 0, i)), 1));

interface Page {
  status: string;
  archives: { name: string }[];
  total?: number;
  offset?: number;
  next?: number | null;
}

beforeAll(async () => {
  server = await startNatsServer(`max_payload: ${MAX_PAYLOAD}\njetstream { store_dir: "\${DIR}/js" }`);
  nc = await connect({ servers: server.url });
  const env = isolatedEnv();
  // Not real archives: listings do not open them (their tables are then unknown, null).
  for (const name of names) writeFileSync(join(env.BACKUP_DIR, name), 'x');
  service = await startService({ ...env, NATS_URL: server.url, LOG_LEVEL: 'info' });
}, 60_000);

afterAll(async () => {
  await service?.stop();
  await nc?.close();
  await server?.stop();
});

describe('listings larger than max_payload', () => {
  it('listbackups says why it cannot answer in one message', async () => {
    const reply = await request(nc, `${service.prefix}.listbackups`, 'listfiles');
    expect(reply.body).toBe('{"status": "bad"}');
    expect(reply.headers['Nats-Service-Error-Code']).toBe('413');
    expect(reply.headers['Nats-Service-Error']).toMatch(new RegExp(`listing of ${ARCHIVES} archives is \\d+ bytes, more than this server's max_payload.*${service.prefix}\\.backups`));
  });

  it('backups pages with limit and offset, every page within max_payload, all archives once in order', async () => {
    const seen: string[] = [];
    let offset: number | null = 0;
    let pages = 0;
    while (offset !== null) {
      const reply = await request(nc, `${service.prefix}.backups`, JSON.stringify({ limit: 20, offset }));
      expect(Buffer.byteLength(reply.body)).toBeLessThanOrEqual(MAX_PAYLOAD);
      const page = JSON.parse(reply.body) as Page;
      expect(page).toMatchObject({ status: 'ok', total: ARCHIVES, offset });
      expect(page.archives.length).toBeGreaterThan(0);
      expect(page.archives.length).toBeLessThanOrEqual(20);
      seen.push(...page.archives.map((a) => a.name));
      offset = page.next ?? null;
      pages++;
    }
    expect(seen).toEqual(names);
    expect(pages).toBeGreaterThan(ARCHIVES / 20 - 1);
  }, 60_000);

  it('the plain backups listing, too big for one message, is cut short and says where to go on', async () => {
    const page = JSON.parse((await request(nc, `${service.prefix}.backups`, '')).body) as Page;
    expect(page.status).toBe('ok');
    expect(page.archives.length).toBeLessThan(ARCHIVES);
    expect(page).toMatchObject({ total: ARCHIVES, offset: 0, next: page.archives.length });
    expect(page.archives.map((a) => a.name)).toEqual(names.slice(0, page.archives.length));
  }, 60_000);

  it('refuses a bad page request with 400', async () => {
    for (const body of ['{"limit": 0}', '{"limit": "5"}', '{"offset": -1}', '{"limit": 2.5}']) {
      const reply = await request(nc, `${service.prefix}.backups`, body);
      expect(reply.body, body).toBe('{"status": "bad"}');
      expect(reply.headers['Nats-Service-Error-Code'], body).toBe('400');
    }
  });

  it('a small page of a short listing: the last page says next null', async () => {
    const page = JSON.parse((await request(nc, `${service.prefix}.backups`, JSON.stringify({ offset: ARCHIVES - 2 }))).body) as Page;
    expect(page.archives.map((a) => a.name)).toEqual(names.slice(-2));
    expect(page.next).toBeNull();
  });
});
