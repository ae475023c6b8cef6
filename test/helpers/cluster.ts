import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * A 3-node JetStream cluster started from the repository's own `nats-server.conf` (the template
 * users run), on free loopback ports, each node with its own store in a temp directory. Proves the
 * config forms a cluster, and lets tests kill and restart nodes.
 */
export interface NatsCluster {
  /** Client URL of each node, `nats://127.0.0.1:<port>`, index = node. */
  urls: string[];
  /** Monitoring base URL of each node, `http://127.0.0.1:<port>`. */
  monitorUrls: string[];
  /** server_name of each node: n1, n2, n3. */
  names: string[];
  /** The environment each node was started with (the variables nats-server.conf reads). */
  envs: Record<string, string>[];
  /** Milliseconds from spawning the nodes until every node agreed on a meta leader. */
  formedInMs: number;
  /** Is node i's process running? */
  running(i: number): boolean;
  /** SIGKILL node i and wait for its exit. */
  kill(i: number): Promise<void>;
  /** Start node i again (same ports, same store) and wait until its /healthz is ok. */
  restart(i: number): Promise<void>;
  /** The meta leader's name as node i (default: the first running node) reports it, or undefined. */
  metaLeader(i?: number): Promise<string | undefined>;
  /** Waits until every running node reports the same meta leader; returns its name. */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /** Node i's log so far (nats-server writes it to stderr; kept in the temp dir). */
  log(i: number): string;
  /** SIGTERM every node, wait for the exits, remove the temp directories. */
  stop(): Promise<void>;
}

const ROOT = resolve(import.meta.dirname, '../..');
const NATS_CONF = join(ROOT, 'nats-server.conf');
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? 'nats-server';
const SIZE = 3;
const HOST = '127.0.0.1';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Distinct free loopback ports: all bound at once (so no duplicates), then released. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen(0, HOST, () => ok());
      });
    }
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** The variables nats-server.conf reads, for node i of a cluster on the given ports. */
function nodeEnv(i: number, ports: { client: number[]; cluster: number[]; monitor: number[] }, storeDir: string, host = HOST): Record<string, string> {
  return {
    NATS_NODE_NAME: `n${i + 1}`,
    NATS_HOST: host,
    NATS_CLIENT_PORT: String(ports.client[i]),
    NATS_CLUSTER_PORT: String(ports.cluster[i]),
    NATS_MONITOR_PORT: String(ports.monitor[i]),
    NATS_STORE_DIR: storeDir,
    NATS_ROUTES: `[${ports.cluster.map((p) => `nats-route://${host}:${p}`).join(', ')}]`,
  };
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body };
}

// Children left behind by a crashed test run would keep their ports: kill them on exit.
const everyChild = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of everyChild) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export async function startCluster(): Promise<NatsCluster> {
  let lastError: unknown;
  // A port picked above can be taken by someone else before nats-server binds it: try again.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await tryStart();
    } catch (err) {
      lastError = err;
      if (!/address already in use/i.test(String(err))) break;
    }
  }
  throw lastError;
}

async function tryStart(): Promise<NatsCluster> {
  const all = await freePorts(SIZE * 3);
  const ports = { client: all.slice(0, SIZE), cluster: all.slice(SIZE, 2 * SIZE), monitor: all.slice(2 * SIZE) };
  const dir = mkdtempSync(join(tmpdir(), 'nats-cluster-'));
  const envs = Array.from({ length: SIZE }, (_, i) => nodeEnv(i, ports, join(dir, `n${i + 1}`, 'store')));
  const names = envs.map((e) => e.NATS_NODE_NAME!);
  const logPaths = names.map((n) => join(dir, n, 'nats-server.log'));
  const urls = ports.client.map((p) => `nats://${HOST}:${p}`);
  const monitorUrls = ports.monitor.map((p) => `http://${HOST}:${p}`);
  const children: (ChildProcess | undefined)[] = new Array(SIZE).fill(undefined);

  const spawnNode = (i: number): void => {
    mkdirSync(join(dir, names[i]!), { recursive: true });
    const fd = openSync(logPaths[i]!, 'a');
    try {
      const child = spawn(NATS_SERVER, ['-c', NATS_CONF], {
        cwd: ROOT,
        env: { ...process.env, ...envs[i] },
        stdio: ['ignore', fd, fd],
      });
      child.on('error', () => undefined); // reported by the exit checks below
      everyChild.add(child);
      child.once('exit', () => everyChild.delete(child));
      children[i] = child;
    } finally {
      closeSync(fd);
    }
  };
  const running = (i: number): boolean => {
    const child = children[i];
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  };
  const log = (i: number): string => {
    try {
      return readFileSync(logPaths[i]!, 'utf8');
    } catch {
      return '';
    }
  };
  const exited = (child: ChildProcess): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
  const assertAlive = (i: number): void => {
    if (!running(i)) throw new Error(`nats-server ${names[i]} exited (${children[i]?.exitCode ?? children[i]?.signalCode}):\n${log(i).slice(-2000)}`);
  };

  const metaLeader = async (i?: number): Promise<string | undefined> => {
    const node = i ?? [...names.keys()].find(running);
    if (node === undefined) return undefined;
    try {
      const { body } = await getJson(`${monitorUrls[node]}/jsz`);
      const leader = (body as { meta_cluster?: { leader?: string } }).meta_cluster?.leader;
      return leader === '' ? undefined : leader;
    } catch {
      return undefined;
    }
  };

  const waitForMetaLeader = async (timeoutMs = 30_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let seen: (string | undefined)[] = [];
    while (Date.now() < deadline) {
      const up = [...names.keys()].filter(running);
      seen = await Promise.all(up.map((i) => metaLeader(i)));
      const leader = seen[0];
      // The leader must be a live node: a follower keeps naming a SIGKILLed leader for seconds.
      if (leader !== undefined && seen.every((l) => l === leader) && up.some((i) => names[i] === leader)) return leader;
      await sleep(100);
    }
    throw new Error(`no common meta leader after ${timeoutMs} ms (nodes report ${JSON.stringify(seen)})`);
  };

  const waitHealthy = async (i: number, timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      assertAlive(i);
      try {
        // Plain /healthz: JetStream on, in contact with the meta leader, its streams current.
        const res = await getJson(`${monitorUrls[i]}/healthz`);
        if (res.status === 200) return;
        last = res.body;
      } catch (err) {
        last = String(err);
      }
      await sleep(100);
    }
    throw new Error(`${names[i]} not healthy after ${timeoutMs} ms: ${JSON.stringify(last)}`);
  };

  const kill = async (i: number): Promise<void> => {
    const child = children[i];
    if (!child || !running(i)) return;
    child.kill('SIGKILL');
    await exited(child);
  };

  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(async (child) => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited(child);
        clearTimeout(timer);
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };

  const started = Date.now();
  try {
    for (let i = 0; i < SIZE; i++) spawnNode(i);
    const deadline = Date.now() + 30_000;
    for (;;) {
      for (let i = 0; i < SIZE; i++) assertAlive(i);
      const seen = await Promise.all(names.map((_, i) => metaLeader(i)));
      if (seen[0] !== undefined && seen.every((l) => l === seen[0])) break;
      if (Date.now() > deadline) throw new Error(`no meta leader 30 s after start (nodes report ${JSON.stringify(seen)})`);
      await sleep(50);
    }
    const formedInMs = Date.now() - started;
    for (let i = 0; i < SIZE; i++) await waitHealthy(i);

    return {
      urls,
      monitorUrls,
      names,
      envs,
      formedInMs,
      running,
      kill,
      restart: async (i) => {
        await kill(i);
        spawnNode(i);
        await waitHealthy(i);
      },
      metaLeader,
      waitForMetaLeader,
      log,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
