import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';

/**
 * A MariaDB server of a test's own (own data dir, port and socket), so a test can stop and
 * restart it without disturbing the machine's server. Root has no password.
 */
export interface TestMariaDb {
  port: number;
  url: string;
  /** SIGKILL: the server dies as in a crash. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startMariaDb(): Promise<TestMariaDb> {
  const dir = mkdtempSync(join(tmpdir(), 'mariadb-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${dataDir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], {
    stdio: 'ignore',
  });
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    child = spawn(
      '/usr/sbin/mariadbd',
      ['--no-defaults', `--datadir=${dataDir}`, '--user=root', '--bind-address=127.0.0.1', `--port=${port}`, `--socket=${join(dir, 'sock')}`,
        `--pid-file=${join(dir, 'pid')}`, '--innodb-buffer-pool-size=64M', '--skip-log-bin'],
      { stdio: 'ignore' },
    );
    running.add(child);
    const current = child;
    exited = new Promise((done) => current.once('exit', () => {
      running.delete(current);
      done();
    }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
        await conn.query('CREATE DATABASE IF NOT EXISTS test');
        await conn.end();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  const signal = async (name: NodeJS.Signals) => {
    child?.kill(name);
    await exited;
    child = null;
  };
  await start();
  return {
    port,
    url: `mysql://root@127.0.0.1:${port}/test`,
    kill: () => signal('SIGKILL'),
    start,
    async stop() {
      await signal('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
