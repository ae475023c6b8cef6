import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Objm } from '@nats-io/obj';
import { connect, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sevenZipBinary } from '../src/archive/sevenzip.js';
import { ConfigError, describeConfig, loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { dbConnect, TEST_DATABASE, type Db } from './helpers/db.js';
import { request, waitForJob, type Reply } from './helpers/nats.js';
import { startNatsServer, type TestNatsServer } from './helpers/nats-server.js';
import { startService, type RunningService } from './helpers/service.js';

/**
 * No secret in argv, logs, replies or manifest.json: the real service, with a NATS password and a
 * MySQL password that are marker strings, against a nats-server and a MariaDB user that need them.
 */

const TAG = randomBytes(4).toString('hex');
const SECRET = {
  natsPassword: `natsPW-${TAG}-marker`,
  mysqlPassword: `mysqlPW-${TAG}-marker`,
  wrongMysqlPassword: `wrongPW-${TAG}-marker`,
  archivePassword: `archivePW-${TAG}-marker`,
};
const nkey = nkeys.createUser();
const SEED = new TextDecoder().decode(nkey.getSeed());
const MARKERS = [...Object.values(SECRET), SEED];
const MYSQL_USER = 'nmtb_secrets';
const MYSQL_HOSTS = ['127.0.0.1', 'localhost'];
const TABLE = 'secret_t';

function expectNoMarker(what: string, text: string): void {
  for (const marker of MARKERS) expect(text.includes(marker), `${what} holds a secret (${marker.slice(0, 8)}…)`).toBe(false);
}

/** Every process below `root`, by the ppid field of /proc/<pid>/stat. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

interface SeenProcess {
  pid: number;
  argv: string;
  environ: string;
}

/** Polls /proc for the service's child processes (7-Zip) and records their argv and environment. */
function watchChildren(root: number): { seen: Map<number, SeenProcess>; stop(): void } {
  const seen = new Map<number, SeenProcess>();
  const read = (pid: number, file: string) => {
    try {
      return readFileSync(`/proc/${pid}/${file}`).toString('utf8').replaceAll('\0', ' ');
    } catch {
      return '';
    }
  };
  const timer = setInterval(() => {
    for (const pid of descendants(root)) {
      const argv = read(pid, 'cmdline');
      const known = seen.get(pid);
      // A forked child shows its parent's argv until it execs: keep the last one read.
      if (argv !== '' && known?.argv !== argv) seen.set(pid, { pid, argv, environ: read(pid, 'environ') });
    }
  }, 20);
  return { seen, stop: () => clearInterval(timer) };
}

let server: TestNatsServer;
let db: Db;
let nc: NatsConnection;
let service: RunningService | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'secrets-'));

beforeAll(async () => {
  db = await dbConnect();
  for (const host of MYSQL_HOSTS) {
    await db.query(`CREATE USER IF NOT EXISTS '${MYSQL_USER}'@'${host}' IDENTIFIED BY '${SECRET.mysqlPassword}'`);
    await db.query(`ALTER USER '${MYSQL_USER}'@'${host}' IDENTIFIED BY '${SECRET.mysqlPassword}'`);
    // The backup (SELECT, LOCK TABLES, SHOW VIEW, TRIGGER) and the restore (a scratch schema
    // _nmtb_r…, DDL, INSERT, RENAME) of tables in the test database, nothing else.
    await db.query(`GRANT ALL PRIVILEGES ON \`${TEST_DATABASE}\`.* TO '${MYSQL_USER}'@'${host}'`);
    await db.query(`GRANT ALL PRIVILEGES ON \`\\_nmtb\\_%\`.* TO '${MYSQL_USER}'@'${host}'`);
  }
  // ~3 MB that 7-Zip at level 9 takes seconds over: long enough to see its process.
  await db.query(`DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, b VARBINARY(1024))`);
  for (let i = 0; i < 3; i++) await db.query(`INSERT INTO ${TABLE} (b) VALUES ${Array.from({ length: 1000 }, () => '(RANDOM_BYTES(1024))').join(',')}`);

  server = await startNatsServer(`
jetstream { store_dir: "\${DIR}/js" }
authorization {
  users = [
    { user: svc, password: "${SECRET.natsPassword}" }
    { nkey: ${nkey.getPublicKey()} }
    { user: client, password: client }
  ]
}`);
  nc = await connect({ servers: server.url, user: 'client', pass: 'client' });
  service = await startService({
    NATS_URL: server.url,
    NATS_USER: 'svc',
    NATS_PASSWORD: SECRET.natsPassword,
    MYSQL_URL: `mysql://${MYSQL_USER}@127.0.0.1:3306/${TEST_DATABASE}`,
    MYSQL_PASSWORD: SECRET.mysqlPassword,
    ARCHIVE_PASSWORD: SECRET.archivePassword,
    SEVENZIP_LEVEL: '9',
    LOG_LEVEL: 'debug',
  });
}, 60_000);

afterAll(async () => {
  await service?.stop();
  await nc?.close();
  await server?.stop();
  await db?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  for (const host of MYSQL_HOSTS) await db?.query(`DROP USER IF EXISTS '${MYSQL_USER}'@'${host}'`);
  await db?.end();
  rmSync(tmp, { recursive: true, force: true });
});

it('keeps the secrets out of argv, child environments, replies, events, manifest.json and every log line', async () => {
  const svc = service!;
  const replies: Reply[] = [];
  const ask = async (subject: string, body: string, headers?: Record<string, string>) => {
    const reply = await request(nc, `${svc.prefix}.${subject}`, body, headers);
    replies.push(reply);
    return reply;
  };
  const events: string[] = [];
  const sub = nc.subscribe(`${svc.prefix}.events.>`, { callback: (_err, msg) => void events.push(msg.string()) });
  const children = watchChildren(svc.child.pid!);
  try {
    await ask('listbackups', 'listfiles');
    await ask('makebackup', 'makebackup=no_such_table');
    const backup = await ask('makebackup', `makebackup=${TABLE}`);
    const id = backup.headers['Backup-Job-Id']!;
    const done = await waitForJob(nc, svc.prefix, id);
    expect(done.status, done.reason).toBe('done');
    await ask('status', id);
    await ask('archive', `archivename=${done.archive}`);
    await ask('backups', '');
    const restore = await ask('restore', `archive=${done.archive};tables=${TABLE}`);
    expect(JSON.parse(restore.body)).toEqual({ status: 'ok' });
    const restored = await waitForJob(nc, svc.prefix, restore.headers['Backup-Job-Id']!);
    expect(restored.status, restored.reason).toBe('done');
    await ask('status', restored.id);
    await ask('status', 'no-such-job');
    await ask('restore', 'archive=nope.7z;tables=x');
    expect(replies.some((r) => r.headers['Nats-Service-Error-Code'] === '404')).toBe(true);

    // manifest.json, and the object's metadata in the bucket
    // The archive is encrypted (7-Zip reads the password from stdin, as the service feeds it).
    const manifest = execFileSync(sevenZipBinary(), ['x', '-so', join(svc.backupDir, done.archive), 'manifest.json'], { encoding: 'utf8', input: `${SECRET.archivePassword}\n` });
    expect(JSON.parse(manifest)).toMatchObject({ database: TEST_DATABASE });
    expectNoMarker('manifest.json', manifest);
    const info = await (await new Objm(nc).open(svc.bucket)).info(done.archive);
    expect(info?.metadata).toMatchObject({ database: TEST_DATABASE });
    expectNoMarker('the object info', JSON.stringify(info));
  } finally {
    children.stop();
    sub.unsubscribe();
  }

  expectNoMarker('the replies', JSON.stringify(replies));
  expect(events.length).toBeGreaterThan(2);
  expectNoMarker('the events', events.join('\n'));

  // argv of the service and of every child it ran; and the children's environment
  const own = readFileSync(`/proc/${svc.child.pid}/cmdline`, 'utf8');
  expect(own).toMatch(/main\.(ts|js)/);
  expectNoMarker('the service argv', own);
  const seen = [...children.seen.values()];
  expect(seen.some((p) => /7z/.test(p.argv)), JSON.stringify(seen.map((p) => p.argv))).toBe(true);
  // A child caught between fork and exec still shows the service's own argv and initial
  // environment (/proc/<pid>/environ is the block the process started with): not a program it ran.
  const ownArgv = own.replaceAll('\0', ' ');
  for (const p of seen.filter((c) => c.argv !== ownArgv)) {
    expectNoMarker(`argv of ${p.argv}`, p.argv);
    // The config takes the secrets out of process.env, so 7-Zip does not inherit them. (tsx's
    // esbuild, which only the tests run, may have started before the config was read.)
    if (!p.argv.includes('esbuild')) expectNoMarker(`environment of ${p.argv}`, p.environ);
  }

  // every log line, up to the last one after SIGTERM
  expect(await svc.stop()).toBe(0);
  const logs = JSON.stringify(svc.logs) + svc.stderr();
  expectNoMarker('the logs', logs);
  const starting = svc.logs.find((l) => l.msg === 'starting') as { config: { natsAuth: unknown; mysql: unknown } };
  expect(starting.config.natsAuth).toEqual({ kind: 'user', user: 'svc', password: '[redacted]' });
  expect(starting.config.mysql).toMatchObject({ user: MYSQL_USER, password: '[redacted]' });
  expect(starting.config).toMatchObject({ archivePasswords: ['[redacted]'] });
  expect(svc.logs.some((l) => l.level === 20)).toBe(true); // debug lines were on
}, 60_000);

it('connects with an nkey seed file, and a MySQL refusal reaches the requester without the password', async () => {
  const seedFile = join(tmp, 'user.nk');
  writeFileSync(seedFile, `${SEED}\n`, { mode: 0o600 });
  const other = await startService({
    NATS_URL: server.url,
    NATS_NKEY_SEED_FILE: seedFile,
    MYSQL_URL: `mysql://${MYSQL_USER}@127.0.0.1:3306/${TEST_DATABASE}`,
    MYSQL_PASSWORD: SECRET.wrongMysqlPassword,
  });
  try {
    const reply = await request(nc, `${other.prefix}.makebackup`, `makebackup=${TABLE}`);
    expect(reply.headers['Nats-Service-Error-Code']).toBe('503');
    expect(reply.headers['Nats-Service-Error']).toMatch(/Access denied/);
    expectNoMarker('the refusal', JSON.stringify(reply));
  } finally {
    await other.stop();
  }
  expect(other.logs.find((l) => l.msg === 'starting')).toMatchObject({ config: { natsAuth: { kind: 'nkey', seedFile } } });
  expectNoMarker('the logs', JSON.stringify(other.logs) + other.stderr());
}, 60_000);

describe('the logger', () => {
  it('redacts secret fields at any depth, in errors and their causes, and leaves the caller\'s objects alone', () => {
    let out = '';
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((out += chunk.toString()), done()) });
    const log = createLogger('debug', sink);
    const cause = Object.assign(new Error('inner'), { token: SECRET.natsPassword });
    const err = Object.assign(new Error('outer', { cause }), { config: { password: SECRET.mysqlPassword } });
    const object = {
      password: SECRET.mysqlPassword,
      nested: { deeper: { nkeySeed: SEED, list: [{ pass: SECRET.natsPassword }], keyFile: '/etc/key.pem' } },
      NATS_TOKEN: SECRET.natsPassword,
      privateKey: SECRET.natsPassword,
    };
    const copy = structuredClone(object);
    log.info(object, 'an object');
    log.error({ err }, 'an error');
    log.error(err, 'an error, first argument');
    log.child({ auth: { token: SECRET.natsPassword } }).warn('a child');
    expectNoMarker('the log', out);
    expect(object).toEqual(copy);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines).toHaveLength(4);
    expect(lines[0]!.nested.deeper).toEqual({ nkeySeed: '[redacted]', list: [{ pass: '[redacted]' }], keyFile: '/etc/key.pem' });
    expect(lines[1]!.err).toMatchObject({ type: 'Error', message: 'outer: inner', config: { password: '[redacted]' } });
    expect(JSON.stringify(lines[1]!.err)).toContain('inner');
    expect(lines[2]!.err).toMatchObject({ type: 'Error', message: 'outer: inner', config: { password: '[redacted]' } });
    expect(lines[3]).toMatchObject({ auth: '[redacted]' });
  });

  it('logs a config dump without any secret', () => {
    const seedFile = join(tmp, 'dump.nk');
    writeFileSync(seedFile, SEED);
    const configs = [
      loadConfig({ NATS_USER: 'u', NATS_PASSWORD: SECRET.natsPassword, MYSQL_URL: `mysql://u:${SECRET.mysqlPassword}@db/test` }),
      loadConfig({ NATS_TOKEN: SECRET.natsPassword, MYSQL_PASSWORD: SECRET.mysqlPassword }),
      loadConfig({ NATS_NKEY_SEED_FILE: seedFile }),
    ];
    for (const config of configs) expectNoMarker('describeConfig', JSON.stringify(describeConfig(config)));
    expect(describeConfig(configs[1]!)).toMatchObject({ natsAuth: { kind: 'token', token: '[redacted]' }, mysql: { password: '[redacted]' } });
  });
});

describe('the configuration', () => {
  const refused = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expectNoMarker('a config error', (err as Error).message);
      return (err as Error).message;
    }
    throw new Error(`accepted ${Object.keys(env).join(', ')}`);
  };
  const file = (name: string, text: string) => {
    const path = join(tmp, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads passwords and tokens from files (docker secrets), dropping one trailing newline', () => {
    const config = loadConfig({ NATS_USER: 'svc', NATS_PASSWORD_FILE: file('nats-pw', `${SECRET.natsPassword}\n`), MYSQL_PASSWORD_FILE: file('my-pw', `${SECRET.mysqlPassword}\n`) });
    expect(config.natsAuth).toEqual({ kind: 'user', user: 'svc', password: SECRET.natsPassword });
    expect(config.mysql.password).toBe(SECRET.mysqlPassword);
    expect(loadConfig({ NATS_TOKEN_FILE: file('nats-token', SECRET.natsPassword) }).natsAuth).toEqual({ kind: 'token', token: SECRET.natsPassword });
  });

  it('refuses combinations that make no sense, naming variables, never values', () => {
    expect(refused({ NATS_PASSWORD: SECRET.natsPassword })).toContain('NATS_PASSWORD needs NATS_USER');
    expect(refused({ NATS_USER: 'svc' })).toContain('NATS_USER needs NATS_PASSWORD or NATS_PASSWORD_FILE');
    expect(refused({ NATS_TOKEN: SECRET.natsPassword, NATS_TOKEN_FILE: file('t2', 'x') })).toContain('set NATS_TOKEN or NATS_TOKEN_FILE, not both');
    expect(refused({ NATS_USER: 'svc', NATS_PASSWORD: SECRET.natsPassword, NATS_CREDS_FILE: file('c', 'x') })).toMatch(/choose one of .* got NATS_USER\/NATS_PASSWORD and NATS_CREDS_FILE/);
    expect(refused({ NATS_TOKEN: SECRET.natsPassword, NATS_NKEY_SEED_FILE: file('s', SEED) })).toMatch(/choose one of/);
    expect(refused({ NATS_NKEY_SEED_FILE: file('not-a-seed', SECRET.natsPassword) })).toMatch(/NATS_NKEY_SEED_FILE \(.*not-a-seed\) does not hold an nkey user seed/);
    expect(refused({ NATS_CREDS_FILE: file('not-creds', SECRET.natsPassword) })).toMatch(/is not a NATS creds file/);
    expect(refused({ NATS_TLS_CERT: file('cert.pem', '-----BEGIN CERTIFICATE-----\n') })).toContain('NATS_TLS_CERT needs NATS_TLS_KEY');
    expect(refused({ NATS_TLS_CA: join(tmp, 'missing.pem') })).toMatch(/NATS_TLS_CA cannot be read: ENOENT/);
    expect(refused({ NATS_URL: `nats://svc:${SECRET.natsPassword}@127.0.0.1:4222` })).toContain('NATS_URL must not hold credentials');
    expect(refused({ NATS_URL: `nats://${SECRET.natsPassword}@127.0.0.1:4222,nats://127.0.0.1:4223` })).toContain('NATS_URL must not hold credentials');
    expect(refused({ MYSQL_PASSWORD: SECRET.mysqlPassword, MYSQL_PASSWORD_FILE: file('p', 'x') })).toContain('not both');
    expect(refused({ MYSQL_URL: `mysql://u:${SECRET.mysqlPassword}@` })).toContain('MYSQL_URL');
    expect(refused({ MYSQL_TLS: 'maybe' })).toContain('MYSQL_TLS must be one of off, required, verify-ca, verify-identity');
    expect(refused({ MYSQL_TLS: 'off', MYSQL_TLS_CA: file('ca.pem', '-----BEGIN CERTIFICATE-----\n') })).toContain('MYSQL_TLS is off, but');
    expect(refused({ MYSQL_TLS: 'required', MYSQL_TLS_CA: file('ca2.pem', '-----BEGIN CERTIFICATE-----\n') })).toContain('use verify-ca or verify-identity');
    expect(refused({ MYSQL_TLS_KEY: file('key.pem', '-----BEGIN PRIVATE KEY-----\n') })).toContain('MYSQL_TLS_KEY needs MYSQL_TLS_CERT');
  });

  it('maps MYSQL_TLS to the mysql client\'s --ssl-mode meanings', () => {
    const ca = file('ca3.pem', '-----BEGIN CERTIFICATE-----\n');
    expect(loadConfig({}).mysql.tls).toEqual({ mode: 'disabled' });
    expect(loadConfig({ MYSQL_TLS: 'REQUIRED' }).mysql.tls).toEqual({ mode: 'required' });
    expect(loadConfig({ MYSQL_TLS: 'verify_ca', MYSQL_TLS_CA: ca }).mysql.tls).toEqual({ mode: 'verify-ca', caFile: ca });
    // Certificates without a mode: the strictest one, which needs a host name (mysql2 checks an
    // IP address's certificate against "localhost").
    expect(loadConfig({ MYSQL_URL: 'mysql://root@db.example:3306/test', MYSQL_TLS_CA: ca }).mysql.tls).toEqual({ mode: 'verify-identity', caFile: ca });
    expect(refused({ MYSQL_URL: 'mysql://root@10.0.0.5:3306/test', MYSQL_TLS_CA: ca })).toContain('MYSQL_TLS=verify-identity needs a host name in MYSQL_URL');
    expect(loadConfig({ MYSQL_URL: 'mysql://root@10.0.0.5:3306/test', MYSQL_TLS: 'verify-ca', MYSQL_TLS_CA: ca }).mysql.tls).toEqual({ mode: 'verify-ca', caFile: ca });
    expect(loadConfig({ NATS_URL: 'tls://127.0.0.1:4222' }).natsTls).toEqual({});
    expect(loadConfig({}).natsTls).toBeNull();
  });
});
