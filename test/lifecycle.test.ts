import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';
import { deleteStream, natsConnect } from './helpers/nats.js';
import { startService } from './helpers/service.js';

const ROOT = resolve(import.meta.dirname, '..');

it('stops with exit 1 and a clear message on a bad setting', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, SEVENZIP_LEVEL: 'fast', JOB_PULL_SECONDS: '0', MYSQL_URL: 'mysql://root:hunter2@127.0.0.1/' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('SEVENZIP_LEVEL must be an integer from 0 to 9, got "fast"');
  expect(run.stderr).toContain('MYSQL_URL must name one database');
  expect(run.stderr).toContain('JOB_PULL_SECONDS must be an integer from 1 to 60, got "0"');
  expect(run.stderr + run.stdout).not.toContain('hunter2');
});

it('logs JSON without the MySQL password, and exits 0 on SIGTERM', async () => {
  const service = await startService({ MYSQL_PASSWORD: 'hunter2', MYSQL_URL: 'mysql://root@127.0.0.1:3306/test' }).catch((err: Error) => err);
  // root has no password here, so a wrong one may make the service fail its first MySQL use,
  // but it starts without touching MySQL: it must be up, and never print the secret.
  expect(service).not.toBeInstanceOf(Error);
  if (service instanceof Error) return;
  // Idle, it waits only for its pulls under way: JOB_PULL_SECONDS=1 (the test default) bounds that.
  const stopping = Date.now();
  const code = await service.stop();
  expect(Date.now() - stopping).toBeLessThan(4_000);
  expect(code, JSON.stringify(service.logs.map((l) => l.msg)) + String(service.child.signalCode)).toBe(0);
  expect(service.logs.length).toBeGreaterThan(1);
  expect(service.logs.every((line) => typeof line.level === 'number')).toBe(true);
  expect(JSON.stringify(service.logs)).not.toContain('hunter2');
  expect(service.logs.some((line) => line.msg === 'stopped')).toBe(true);
  const nc = await natsConnect();
  await deleteStream(nc, service.stream);
  await nc.close();
});
