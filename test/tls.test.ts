import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { connect as mysqlConnect, disconnect } from '../src/mysql/connection.js';
import { natsConnectOptions } from '../src/nats-options.js';
import { request, waitForJob } from './helpers/nats.js';
import { startNatsServer, type TestNatsServer } from './helpers/nats-server.js';
import { startService } from './helpers/service.js';

/**
 * TLS to NATS (a server that verifies client certificates) and to MySQL (a MariaDB of this file's
 * own, with require_secure_transport): certificates made with openssl in a temp dir.
 */

const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'tls-'));
const path = (name: string) => join(dir, name);
const MARIADBD = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'].find((p) => existsSync(p));
const INSTALL_DB = ['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db'].find((p) => existsSync(p));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, and certificates it signs: `name.pem` and `name.key`. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
}
function makeCert(name: string, ca: string, extensions: string): void {
  writeFileSync(path(`${name}.ext`), extensions);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
}

async function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
    server.on('error', reject);
  });
}

interface TlsMariaDb {
  port: number;
  stop(): Promise<void>;
}

/** A throw-away MariaDB on a free port that accepts TLS connections only. */
async function startTlsMariaDb(): Promise<TlsMariaDb> {
  const data = path('mariadb');
  mkdirSync(data);
  execFileSync(INSTALL_DB!, ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--user=root'], { stdio: 'pipe' });
  const port = await freePort();
  const child: ChildProcess = spawn(MARIADBD!, [
    '--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${path('mariadb.sock')}`,
    `--pid-file=${path('mariadb.pid')}`, '--user=root', '--skip-log-bin', '--innodb-buffer-pool-size=16M',
    `--ssl-ca=${path('ca.pem')}`, `--ssl-cert=${path('mysql-server.pem')}`, `--ssl-key=${path('mysql-server.key')}`,
    '--require-secure-transport=ON',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`mariadbd not ready: ${log}`)), 20_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('ready for connections')) {
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => fail(new Error(`mariadbd exited: ${log}`)));
  });
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

beforeAll(() => {
  makeCa('ca');
  makeCa('other-ca');
  makeCert('nats-server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeCert('mysql-server', 'ca', 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeCert('db-example', 'ca', 'subjectAltName=DNS:db.example\nextendedKeyUsage=serverAuth\n');
  makeCert('client', 'ca', 'extendedKeyUsage=clientAuth\n');
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('NATS over TLS with client certificates', () => {
  let server: TestNatsServer;
  beforeAll(async () => {
    server = await startNatsServer(`
jetstream { store_dir: "\${DIR}/js" }
tls { cert_file: "${path('nats-server.pem')}", key_file: "${path('nats-server.key')}", ca_file: "${path('ca.pem')}", verify: true, timeout: 2 }`);
  });
  afterAll(async () => server?.stop());

  it('connects with NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY', async () => {
    const service = await startService({
      NATS_URL: server.url,
      NATS_TLS_CA: path('ca.pem'),
      NATS_TLS_CERT: path('client.pem'),
      NATS_TLS_KEY: path('client.key'),
    });
    const nc = await natsConnect({ servers: server.url, tls: { caFile: path('ca.pem'), certFile: path('client.pem'), keyFile: path('client.key') } });
    try {
      expect((await request(nc, `${service.prefix}.listbackups`, 'listfiles')).body).toBe('{}');
    } finally {
      await nc.close();
      expect(await service.stop()).toBe(0);
    }
  });

  it('refuses a server it cannot verify: the service stops with exit 1', () => {
    const run = (env: Record<string, string>) => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: ROOT,
        env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: 'info', BACKUP_DIR: path('backups'), ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(result.status, result.stdout + result.stderr).toBe(1);
      expect(result.stdout).not.toContain('service ready');
      return result.stdout + result.stderr;
    };
    // no NATS_TLS_* at all: the server requires TLS, and its certificate is not from a known CA
    expect(run({})).toMatch(/unable to verify|self-signed/i);
    expect(run({ NATS_TLS_CA: path('other-ca.pem'), NATS_TLS_CERT: path('client.pem'), NATS_TLS_KEY: path('client.key') })).toMatch(/unable to verify|self-signed/i);
  });

  it('is refused by the server without a client certificate', async () => {
    // The service's own options. With TLS 1.3 the client learns of the refusal only as a closed
    // connection: nats.js reports a timeout after its connect timeout (20 s; 3 s here).
    const options = natsConnectOptions(loadConfig({ NATS_URL: server.url, NATS_TLS_CA: path('ca.pem') }));
    const refused = await natsConnect({ ...options, timeout: 3_000, maxReconnectAttempts: 0 }).then(
      async (nc) => (await nc.close(), 'connected'),
      (err: Error) => err.name,
    );
    expect(refused).not.toBe('connected');
    expect(server.output()).toMatch(/client didn't provide a certificate/);
    const accepted = await natsConnect({ ...natsConnectOptions(loadConfig({ NATS_URL: server.url, NATS_TLS_CA: path('ca.pem'), NATS_TLS_CERT: path('client.pem'), NATS_TLS_KEY: path('client.key') })), timeout: 3_000 });
    await accepted.close();
  });
});

describe.skipIf(!MARIADBD || !INSTALL_DB)('MySQL over TLS', () => {
  let db: TlsMariaDb;
  let nats: TestNatsServer;
  const url = (host: string, user = 'root') => `mysql://${user}@${host}:${db.port}/tlsdb`;
  const settings = (env: Record<string, string>) => loadConfig(env).mysql;
  const tryConnect = async (env: Record<string, string>): Promise<string> => {
    try {
      const conn = await mysqlConnect(settings(env));
      const [rows] = await conn.query<mysql.RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Ssl_version'");
      await disconnect(conn);
      return `ok ${String(rows[0]?.Value)}`;
    } catch (err) {
      return `refused: ${(err as Error).message}`;
    }
  };

  const rootQuery = async (sql: string) => {
    const root = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', ssl: { rejectUnauthorized: false }, multipleStatements: true });
    try {
      await root.query(sql);
    } finally {
      await root.end();
    }
  };
  const withServerCertificate = async (name: string, work: () => Promise<void>) => {
    const live = { pem: readFileSync(path('mysql-server.pem')), key: readFileSync(path('mysql-server.key')) };
    writeFileSync(path('mysql-server.pem'), readFileSync(path(`${name}.pem`)));
    writeFileSync(path('mysql-server.key'), readFileSync(path(`${name}.key`)));
    await rootQuery('FLUSH SSL');
    try {
      await work();
    } finally {
      writeFileSync(path('mysql-server.pem'), live.pem);
      writeFileSync(path('mysql-server.key'), live.key);
      await rootQuery('FLUSH SSL');
    }
  };

  beforeAll(async () => {
    db = await startTlsMariaDb();
    await rootQuery(`
      CREATE DATABASE tlsdb;
      CREATE TABLE tlsdb.t (id INT PRIMARY KEY, v VARCHAR(20));
      INSERT INTO tlsdb.t VALUES (1, 'one'), (2, 'two');
      CREATE USER 'x509'@'%' REQUIRE X509;
      GRANT ALL ON tlsdb.* TO 'x509'@'%';
    `);
    nats = await startNatsServer('jetstream { store_dir: "${DIR}/js" }');
  }, 40_000);
  afterAll(async () => {
    await db?.stop();
    await nats?.stop();
  });

  it('maps MYSQL_TLS to what mysql2 checks', async () => {
    const ca = path('ca.pem');
    // First, while the server shows a certificate for another name (swapped in with FLUSH SSL):
    // only verify-identity refuses it.
    await withServerCertificate('db-example', async () => {
      expect(await tryConnect({ MYSQL_URL: url('localhost'), MYSQL_TLS: 'verify-identity', MYSQL_TLS_CA: ca })).toMatch(/^refused: .*Host: localhost\. is not in the cert's altnames: DNS:db\.example/);
      expect(await tryConnect({ MYSQL_URL: url('localhost'), MYSQL_TLS: 'verify-ca', MYSQL_TLS_CA: ca })).toMatch(/^ok TLS/);
    });
    expect(await tryConnect({ MYSQL_URL: url('127.0.0.1') })).toMatch(/^refused: .*(secure transport|insecure|Access denied)/i); // MariaDB 10.11 says "Access denied"
    expect(await tryConnect({ MYSQL_URL: url('127.0.0.1'), MYSQL_TLS: 'required' })).toMatch(/^ok TLS/);
    expect(await tryConnect({ MYSQL_URL: url('127.0.0.1'), MYSQL_TLS: 'verify-ca' })).toMatch(/^refused: .*(self-signed|unable to verify)/i);
    expect(await tryConnect({ MYSQL_URL: url('127.0.0.1'), MYSQL_TLS: 'verify-ca', MYSQL_TLS_CA: path('other-ca.pem') })).toMatch(/^refused: .*(self-signed|unable to verify)/i);
    expect(await tryConnect({ MYSQL_URL: url('127.0.0.1'), MYSQL_TLS: 'verify-ca', MYSQL_TLS_CA: ca })).toMatch(/^ok TLS/);
    // verify-identity: by name only (mysql2 would check an IP address's certificate against "localhost").
    expect(await tryConnect({ MYSQL_URL: url('127.0.0.1'), MYSQL_TLS_CA: ca })).toMatch(/^refused: MYSQL_TLS=verify-identity needs a host name/);
    expect(await tryConnect({ MYSQL_URL: url('localhost'), MYSQL_TLS: 'verify-identity', MYSQL_TLS_CA: ca })).toMatch(/^ok TLS/);

    // A user that must show a client certificate
    expect(await tryConnect({ MYSQL_URL: url('localhost', 'x509'), MYSQL_TLS_CA: ca })).toMatch(/^refused: .*Access denied/);
    expect(await tryConnect({ MYSQL_URL: url('localhost', 'x509'), MYSQL_TLS_CA: ca, MYSQL_TLS_CERT: path('client.pem'), MYSQL_TLS_KEY: path('client.key') })).toMatch(/^ok TLS/);
  });

  it('backs up over TLS only (the server refuses anything else)', async () => {
    const service = await startService({
      NATS_URL: nats.url,
      MYSQL_URL: url('localhost', 'x509'),
      MYSQL_TLS_CA: path('ca.pem'),
      MYSQL_TLS_CERT: path('client.pem'),
      MYSQL_TLS_KEY: path('client.key'),
    });
    const nc: NatsConnection = await natsConnect({ servers: nats.url });
    try {
      const reply = await request(nc, `${service.prefix}.makebackup`, 'makebackup=t');
      expect(JSON.parse(reply.body)).toMatchObject({ status: 'ok' });
      const done = await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!);
      expect(done.status, done.reason).toBe('done');
      expect(readFileSync(join(service.backupDir, done.archive)).length).toBeGreaterThan(0);
    } finally {
      await nc.close();
      await service.stop();
    }
  });
});
