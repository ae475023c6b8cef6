import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { sevenZipBinary } from '../src/archive/sevenzip.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksum, dbConnect, type Db } from './helpers/db.js';
import { deleteStream, natsConnect, request, waitForJobsDrained } from './helpers/nats.js';
import { startService, type RunningService, retire } from './helpers/service.js';

const NAME = /^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}-backup(-\d+)?\.7z$/;

let service: RunningService;
let nc: NatsConnection;
let db: Db;
let archive: string;

const subject = (name: string) => `${service.prefix}.${name}`;
const ask = (name: string, body: string, headers?: Record<string, string>) => request(nc, subject(name), body, headers);

async function backup(body: string, headers?: Record<string, string>): Promise<string> {
  const reply = await ask('makebackup', body, headers);
  const parsed = JSON.parse(reply.body) as { status: string; futurefilename: string };
  expect(parsed.status).toBe('ok');
  await waitForJobsDrained(nc, service.stream);
  return parsed.futurefilename;
}

beforeAll(async () => {
  db = await dbConnect();
  await db.query(`
    DROP TABLE IF EXISTS proto_a, proto_b;
    CREATE TABLE proto_a (id INT PRIMARY KEY, name VARCHAR(20));
    CREATE TABLE proto_b (id INT PRIMARY KEY, note TEXT);
    INSERT INTO proto_a VALUES (1, 'one'), (2, 'two');
    INSERT INTO proto_b VALUES (1, 'first'), (2, NULL);
  `);
  service = await startService();
  nc = await natsConnect();
  archive = (await backup('makebackup=proto_a,proto_b')).split('/').pop()!;
});

afterAll(async () => {
  await retire(nc, service);
  await nc?.close();
  await db?.query('DROP TABLE IF EXISTS proto_a, proto_b');
  await db?.end();
});

describe('listbackups', () => {
  it('lists archives oldest first in the seed format', async () => {
    const second = (await backup('makebackup=proto_a')).split('/').pop()!;
    const reply = await ask('listbackups', 'listfiles');
    expect(reply.body).toBe(`{"0": "${archive}", "1": "${second}"}`);
    // Form 1: the same body with headers present.
    expect((await ask('listbackups', 'listfiles', { 'x-any': '1' })).body).toBe(reply.body);
  });

  it('answers {} for an empty directory', async () => {
    const empty = await startService();
    try {
      expect((await request(nc, `${empty.prefix}.listbackups`, 'listfiles')).body).toBe('{}');
    } finally {
      await empty.stop();
      await deleteStream(nc, empty.stream);
    }
  });

  it('refuses any other body', async () => {
    const reply = await ask('listbackups', 'listall');
    expect(reply.body).toBe('{"status": "bad"}');
    expect(reply.headers['Nats-Service-Error-Code']).toBe('400');
  });
});

describe('makebackup', () => {
  it('form 1: tables in a header, any body; replies at once with the promised path and a job id', async () => {
    const reply = await ask('makebackup', 'makebackup', { tables: 'proto_a, proto_b' });
    const parsed = JSON.parse(reply.body) as { status: string; futurefilename: string };
    expect(reply.body).toBe(`{"status": "ok", "futurefilename": "${parsed.futurefilename}"}`);
    expect(parsed.futurefilename.startsWith(service.backupDir + '/')).toBe(true);
    expect(parsed.futurefilename.split('/').pop()).toMatch(NAME);
    expect(reply.headers['Backup-Job-Id']).toMatch(/^[0-9a-f-]{36}$/);
    await waitForJobsDrained(nc, service.stream);
    expect(statSync(parsed.futurefilename).size).toBeGreaterThan(0);
  });

  it('form 2: makebackup=t1, t2 with spaces', async () => {
    const path = await backup('makebackup= proto_a , proto_b');
    const listing = execFileSync(sevenZipBinary(), ['l', '-slt', path], { encoding: 'utf8' });
    expect(listing).toContain('Path = proto_a.sql');
    expect(listing).toContain('Path = proto_b.sql');
  });

  it('gives two backups requested in the same second different names', async () => {
    const replies = await Promise.all([1, 2, 3].map(() => ask('makebackup', 'makebackup=proto_a')));
    const paths = replies.map((r) => (JSON.parse(r.body) as { futurefilename: string }).futurefilename);
    expect(new Set(paths).size).toBe(3);
    await waitForJobsDrained(nc, service.stream);
    for (const path of paths) expect(statSync(path).isFile()).toBe(true);
  });

  it('refuses a missing table, naming it, and queues nothing', async () => {
    const before = (await ask('listbackups', 'listfiles')).body;
    for (const reply of [await ask('makebackup', 'makebackup=proto_a,no_such_table'), await ask('makebackup', '', { tables: 'no_such_table' })]) {
      expect(reply.body).toBe('{"status": "bad", "futurefilename": ""}');
      expect(reply.headers['Nats-Service-Error-Code']).toBe('404');
      expect(reply.headers['Nats-Service-Error']).toContain('no_such_table');
    }
    await waitForJobsDrained(nc, service.stream);
    expect((await ask('listbackups', 'listfiles')).body).toBe(before);
  });

  it('refuses a malformed body', async () => {
    for (const body of ['', 'makebackup', 'tables=proto_a', 'makebackup=proto_a,,proto_b', 'makebackup=a`b']) {
      const reply = await ask('makebackup', body);
      expect(reply.body).toBe('{"status": "bad", "futurefilename": ""}');
      expect(reply.headers['Nats-Service-Error-Code'], body).toMatch(/^40[04]$/);
    }
  });
});

describe('archive', () => {
  it('lists the tables in both forms, never the manifest', async () => {
    const expected = '{"tables": "proto_a.sql,proto_b.sql"}';
    expect((await ask('archive', `archivename=${archive}`)).body).toBe(expected);
    expect((await ask('archive', 'archive', { archivename: archive })).body).toBe(expected);
  });

  it('answers {"<name>": "bad"} for a missing, corrupt, non-7z, encrypted or empty-table archive', async () => {
    const original = join(service.backupDir, archive);
    const corrupt = '2000-01-01_00-00-01-backup.7z';
    copyFileSync(original, join(service.backupDir, corrupt));
    truncateSync(join(service.backupDir, corrupt), statSync(original).size - 40);
    const flipped = '2000-01-01_00-00-02-backup.7z';
    const bytes = readFileSync(original);
    bytes[40] = (bytes[40] ?? 0) ^ 0xff;
    writeFileSync(join(service.backupDir, flipped), bytes);
    const text = '2000-01-01_00-00-03-backup.7z';
    writeFileSync(join(service.backupDir, text), 'this is not an archive\n');
    const encrypted = '2000-01-01_00-00-04-backup.7z';
    writeFileSync(join(service.backupDir, 'secret.sql'), 'SELECT 1;\n');
    execFileSync(sevenZipBinary(), ['a', '-pSecret', '-mhe=on', join(service.backupDir, encrypted), join(service.backupDir, 'secret.sql')]);
    const encryptedData = '2000-01-01_00-00-05-backup.7z';
    execFileSync(sevenZipBinary(), ['a', '-pSecret', join(service.backupDir, encryptedData), join(service.backupDir, 'secret.sql')]);
    const empty = '2000-01-01_00-00-06-backup.7z';
    writeFileSync(join(service.backupDir, 'empty.sql'), '');
    execFileSync(sevenZipBinary(), ['a', join(service.backupDir, empty), join(service.backupDir, 'empty.sql')]);

    for (const [name, code] of [
      ['missing.7z', '404'],
      [corrupt, '409'],
      [flipped, '409'],
      [text, '409'],
      [encrypted, '409'],
      [encryptedData, '409'],
      [empty, '409'],
    ] as const) {
      const reply = await ask('archive', `archivename=${name}`);
      expect(reply.body, name).toBe(`{"${name}": "bad"}`);
      expect(reply.headers['Nats-Service-Error-Code'], name).toBe(code);
    }
  });

  it('refuses names that are not plain file names without opening anything', async () => {
    for (const name of ['../etc/passwd', '/etc/passwd', '.hidden.7z', 'a\\b.7z', 'a..b.7z']) {
      const reply = await ask('archive', '', { archivename: name });
      expect(reply.body).toBe(JSON.stringify({ [name]: 'bad' }).replace(/":"/, '": "'));
      expect(reply.headers['Nats-Service-Error-Code']).toBe('400');
    }
  });

  it('echoes a name too long to be an archive\'s (300 characters) as sent, in both forms, so the caller finds its key', async () => {
    const name = `${'n'.repeat(297)}.7z`;
    for (const reply of [await ask('archive', `archivename=${name}`), await ask('archive', 'archive', { archivename: name })]) {
      expect(reply.body).toBe(`{"${name}": "bad"}`);
      expect(Object.keys(JSON.parse(reply.body) as object)).toEqual([name]);
      expect(reply.headers['Nats-Service-Error-Code']).toBe('400');
    }
  });
});

describe('restore', () => {
  it('form 2: restores the tables and answers ok', async () => {
    const before = await checksum(db, 'proto_a');
    await db.query("UPDATE proto_a SET name = 'changed'");
    expect(await checksum(db, 'proto_a')).not.toBe(before);
    const reply = await ask('restore', `archive=${archive};tables=proto_a.sql`);
    expect(reply.body).toBe('{"status": "ok"}');
    expect(reply.headers['Backup-Job-Id']).toMatch(/^[0-9a-f-]{36}$/);
    await waitForJobsDrained(nc, service.stream);
    expect(await checksum(db, 'proto_a')).toBe(before);
  });

  it('form 1: headers, table names with or without .sql', async () => {
    const a = await checksum(db, 'proto_a');
    const b = await checksum(db, 'proto_b');
    await db.query('DROP TABLE proto_a, proto_b');
    const reply = await ask('restore', 'archive', { archivename: archive, tables: 'proto_a, proto_b.sql' });
    expect(reply.body).toBe('{"status": "ok"}');
    await waitForJobsDrained(nc, service.stream);
    expect(await checksum(db, 'proto_a')).toBe(a);
    expect(await checksum(db, 'proto_b')).toBe(b);
  });

  it('refuses a table the archive lacks, a missing archive, a bad name and a malformed body', async () => {
    const cases: [string, Record<string, string> | undefined, string][] = [
      [`archive=${archive};tables=proto_a.sql,nope.sql`, undefined, '404'],
      ['archive=missing.7z;tables=proto_a.sql', undefined, '404'],
      ['archive=../x.7z;tables=proto_a.sql', undefined, '400'],
      [`archive=${archive}`, undefined, '400'],
      [`tables=proto_a.sql`, undefined, '400'],
      [`archive=${archive};tables=`, undefined, '400'],
      ['restore', { archivename: archive }, '400'],
    ];
    for (const [body, headers, code] of cases) {
      const reply = await ask('restore', body, headers);
      expect(reply.body, body).toBe('{"status": "bad"}');
      expect(reply.headers['Nats-Service-Error-Code'], body).toBe(code);
    }
  });
});
