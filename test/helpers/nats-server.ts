import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A nats-server of a test's own: its own config, ports and JetStream store, in a temp dir. */
export interface TestNatsServer {
  /** The client URL, e.g. nats://127.0.0.1:41234 (tls:// is not implied: the client decides). */
  url: string;
  port: number;
  /** The temp dir holding the config file and the JetStream store. */
  dir: string;
  /** Everything the server logged so far. */
  output(): string;
  stop(): Promise<void>;
}

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const running = new Set<ChildProcess>();
// A test that dies before its afterAll must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts nats-server with `config` (the text of a config file; `${DIR}` is replaced by the temp
 * dir) on a random loopback port (`port: -1`, read back from the server's log). `env` is added to
 * the server's environment: a config may read `$VARIABLES` from it (passwords, in the docs' blocks).
 */
export async function startNatsServer(config: string, options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<TestNatsServer> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const dir = mkdtempSync(join(tmpdir(), 'nats-server-'));
  const file = join(dir, 'server.conf');
  const text = ['host: 127.0.0.1', 'port: -1', config.replaceAll('${DIR}', dir)].join('\n');
  writeFileSync(file, text);
  const child = spawn(NATS_SERVER, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  running.add(child);
  let output = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const ready = new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server not ready in ${timeoutMs} ms: ${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const listening = /Listening for client connections on [^\s]+:(\d+)/.exec(output);
      if (listening && output.includes('Server is ready')) {
        clearTimeout(timer);
        resolvePort(Number(listening[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited: ${output}`));
    });
  });
  const port = await ready.catch((err: unknown) => {
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
