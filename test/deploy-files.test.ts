import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.js';

// The deployment files at the top level: docker-compose.yml, nats-server.conf, Dockerfile,
// .dockerignore. No Docker engine is needed: the compose file is checked against the config
// template and the service's own config loader, and the template against nats-server -t.

const ROOT = resolve(import.meta.dirname, '..');
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? 'nats-server';
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

type Env = Record<string, string>;
interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: (string | { source?: string; target?: string; type?: string })[];
  healthcheck?: { test?: string | string[] };
  depends_on?: string[] | Record<string, { condition?: string }>;
  secrets?: (string | { source: string; target?: string })[];
}
interface Compose {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string }>;
  volumes?: Record<string, unknown>;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const natsConf = read('nats-server.conf');
const services = Object.entries(compose.services);

function envOf(service: ComposeService): Env {
  const env: Env = {};
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    for (const line of raw) {
      const eq = line.indexOf('=');
      if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
    }
  } else {
    for (const [key, value] of Object.entries(raw)) if (value !== null) env[key] = String(value);
  }
  return env;
}
const commandOf = (s: ComposeService) => (Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? ''));
const healthcheckOf = (s: ComposeService) => (Array.isArray(s.healthcheck?.test) ? s.healthcheck.test.join(' ') : (s.healthcheck?.test ?? ''));
function mountsOf(s: ComposeService): { source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target ?? '' };
    const [source = '', target = ''] = v.split(':');
    return { source, target };
  });
}
const secretsOf = (s: ComposeService) => (s.secrets ?? []).map((x) => (typeof x === 'string' ? x : x.source));
function dependsOf(s: ComposeService): Record<string, string | undefined> {
  const d = s.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, undefined]));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v.condition]));
}

const natsServices = services.filter(([, s]) => commandOf(s).includes('nats-server.conf'));
const mysqlServices = services.filter(([, s]) => (s.image ?? '').startsWith('mysql:'));
const backupServices = services.filter(([, s]) => s.build !== undefined);
const natsNames = natsServices.map(([name]) => name);
const mysqlName = mysqlServices[0]?.[0] ?? '';

/** The variables nats-server.conf reads: every `$NAME` outside comments. */
const confVariables = [
  ...new Set(
    natsConf
      .split('\n')
      .map((line) => line.replace(/#.*$/, ''))
      .flatMap((line) => [...line.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!)),
  ),
];

/** A route list as NATS_ROUTES carries it: `[nats-route://host:port, …]` → host and port. */
function parseRoutes(value: string): { host: string; port: number }[] {
  expect(value.trim(), 'NATS_ROUTES must be an array in brackets (nats-server parses the value)').toMatch(/^\[.*\]$/);
  return value
    .trim()
    .slice(1, -1)
    .split(',')
    .map((s) => s.trim().replace(/^"|"$/g, ''))
    .filter((s) => s !== '')
    .map((route) => {
      const m = /^(?:nats-route|nats):\/\/([^:/\s]+):(\d+)$/.exec(route);
      expect(m, `route "${route}"`).not.toBeNull();
      return { host: m![1]!, port: Number(m![2]) };
    });
}

/** Runs loadConfig on `env` and records every variable it reads. */
function configReads(env: Env): { names: Set<string>; config?: Config; error?: unknown } {
  const names = new Set<string>();
  const record = (key: string | symbol) => {
    if (typeof key === 'string') names.add(key);
  };
  const proxy = new Proxy(env, {
    get: (target, key, receiver) => (record(key), Reflect.get(target, key, receiver)),
    has: (target, key) => (record(key), Reflect.has(target, key)),
    getOwnPropertyDescriptor: (target, key) => (record(key), Reflect.getOwnPropertyDescriptor(target, key)),
  });
  try {
    return { names, config: loadConfig(proxy) };
  } catch (error) {
    return { names, error };
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'deploy-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('docker-compose.yml: the NATS cluster', () => {
  it('has three nats services, each running nats-server.conf mounted from the repository', () => {
    expect(natsNames).toHaveLength(3);
    for (const [name, s] of natsServices) {
      expect(s.image, name).toMatch(/^nats:2\.(9|1\d)[.-]/);
      const configPath = /(?:--config|-c)\s+(\S+)/.exec(commandOf(s))?.[1];
      expect(configPath, `${name}: nats-server --config <path>`).toBeDefined();
      expect(mountsOf(s), name).toContainEqual({ source: './nats-server.conf', target: configPath });
    }
  });

  it('sets every variable the config template reads, with a distinct node name and store volume per node', () => {
    expect(confVariables.sort()).toEqual(
      ['NATS_CLIENT_PORT', 'NATS_CLUSTER_PORT', 'NATS_HOST', 'NATS_MONITOR_PORT', 'NATS_NODE_NAME', 'NATS_ROUTES', 'NATS_STORE_DIR'].sort(),
    );
    const nodeNames = new Set<string>();
    const storeVolumes = new Set<string>();
    for (const [name, s] of natsServices) {
      const env = envOf(s);
      for (const variable of confVariables) expect(env[variable], `${name}: ${variable}`).toBeTruthy();
      // Reachable from the other containers.
      expect(env.NATS_HOST, name).toBe('0.0.0.0');
      for (const port of ['NATS_CLIENT_PORT', 'NATS_CLUSTER_PORT', 'NATS_MONITOR_PORT']) expect(env[port], `${name}: ${port}`).toMatch(/^\d+$/);
      nodeNames.add(env.NATS_NODE_NAME!);
      const store = mountsOf(s).find((m) => m.target === env.NATS_STORE_DIR);
      expect(store, `${name}: a volume at NATS_STORE_DIR (${env.NATS_STORE_DIR})`).toBeDefined();
      expect(Object.keys(compose.volumes ?? {}), `${name}: ${store!.source} is a named volume`).toContain(store!.source);
      storeVolumes.add(store!.source);
    }
    expect(nodeNames.size).toBe(3);
    expect(storeVolumes.size).toBe(3);
  });

  it('routes: every route names a nats service at its cluster port, and every node is routed to', () => {
    for (const [name, s] of natsServices) {
      const routes = parseRoutes(envOf(s).NATS_ROUTES ?? '');
      for (const route of routes) {
        const target = natsServices.find(([n]) => n === route.host);
        expect(target, `${name}: route host ${route.host} is a nats service`).toBeDefined();
        expect(route.port, `${name}: route to ${route.host}`).toBe(Number(envOf(target![1]).NATS_CLUSTER_PORT));
      }
      expect(routes.map((r) => r.host).sort(), name).toEqual([...natsNames].sort());
    }
  });

  it('health-checks each node on its monitoring port', () => {
    for (const [name, s] of natsServices) {
      const test = healthcheckOf(s);
      expect(test, name).toContain(`:${envOf(s).NATS_MONITOR_PORT}/healthz?js-enabled-only=true`);
    }
  });
});

describe('docker-compose.yml: MySQL', () => {
  it('is MySQL 8.0 with the database `test`, its root password from a secret file, health-checked by mysqladmin ping', () => {
    expect(mysqlServices).toHaveLength(1);
    const [name, s] = mysqlServices[0]!;
    expect(s.image).toMatch(/^mysql:8\.0(\.\d+)?$/);
    const env = envOf(s);
    expect(env.MYSQL_DATABASE).toBe('test');
    expect(env.MYSQL_ROOT_PASSWORD, 'no literal password').toBeUndefined();
    expect(env.MYSQL_PASSWORD, 'no literal password').toBeUndefined();
    const secret = /^\/run\/secrets\/([\w.-]+)$/.exec(env.MYSQL_ROOT_PASSWORD_FILE ?? '')?.[1];
    expect(secret, `${name}: MYSQL_ROOT_PASSWORD_FILE=/run/secrets/<secret>`).toBeDefined();
    expect(secretsOf(s)).toContain(secret);
    const file = compose.secrets?.[secret!]?.file;
    expect(file, `secret ${secret} comes from a file`).toBeDefined();
    // The secret's directory keeps the real file out of git and out of the image.
    expect(file).toMatch(/^\.\/secrets\//);
    expect(read('secrets/.gitignore')).toMatch(/^\*$/m);
    expect(read('.dockerignore')).toMatch(/^secrets$/m);
    expect(healthcheckOf(s)).toMatch(/mysqladmin ping/);
    // Over TCP: the image's first-start server listens on the socket only.
    expect(healthcheckOf(s)).toMatch(/-h 127\.0\.0\.1/);
  });
});

describe('docker-compose.yml: the service', () => {
  it('runs two instances built from the Dockerfile', () => {
    expect(backupServices).toHaveLength(2);
    for (const [name, s] of backupServices) {
      const context = typeof s.build === 'string' ? s.build : (s.build?.context ?? '.');
      expect(resolve(ROOT, context), name).toBe(ROOT);
      expect(typeof s.build === 'object' ? (s.build.dockerfile ?? 'Dockerfile') : 'Dockerfile').toBe('Dockerfile');
    }
  });

  it('NATS_URL lists exactly the three nodes at their client ports', () => {
    const expected = natsServices.map(([n, s]) => `nats://${n}:${envOf(s).NATS_CLIENT_PORT}`).sort();
    for (const [name, s] of backupServices) {
      const urls = (envOf(s).NATS_URL ?? '').split(',').map((u) => u.trim());
      expect(urls.sort(), name).toEqual(expected);
    }
  });

  it('sets only variables the service reads, and the service accepts them (secret file in place)', () => {
    const defaults = configReads({});
    // Guards the recording itself: these are read in any case.
    for (const known of ['NATS_URL', 'MYSQL_URL', 'MYSQL_PASSWORD_FILE', 'BACKUP_DIR', 'JS_REPLICAS', 'OBJECT_BUCKET']) {
      expect(defaults.names, `loadConfig reads ${known}`).toContain(known);
    }
    const password = 'not-a-real-secret-123';
    for (const [name, s] of backupServices) {
      const env = envOf(s);
      const secretPath = join(tmp, `${name}-secret`);
      writeFileSync(secretPath, `${password}\n`);
      const reads = configReads({ ...env, MYSQL_PASSWORD_FILE: secretPath });
      const read = new Set([...defaults.names, ...reads.names]);
      for (const key of Object.keys(env)) expect(read, `${name}: ${key} is read by src/config.ts`).toContain(key);
      expect(reads.error, `${name}: loadConfig refuses the compose env`).toBeUndefined();
      const config = reads.config!;
      expect(config.natsServers).toEqual((env.NATS_URL ?? '').split(','));
      expect(config.jsReplicas).toBe(natsServices.length);
      expect(config.objectBucket).toBe('backups');
      expect(config.mysql).toMatchObject({ host: mysqlName, port: 3306, user: 'root', database: 'test', password });
      expect(config.backupDir).toBe(env.BACKUP_DIR);
    }
  });

  it('reads the MySQL root password from the same secret as MySQL, and keeps archives on a shared volume', () => {
    const mysqlSecret = envOf(mysqlServices[0]![1]).MYSQL_ROOT_PASSWORD_FILE;
    const backupVolumes = new Set<string>();
    for (const [name, s] of backupServices) {
      const env = envOf(s);
      expect(env.MYSQL_PASSWORD_FILE, name).toBe(mysqlSecret);
      expect(secretsOf(s), name).toContain(mysqlSecret!.split('/').pop());
      expect(env.MYSQL_URL, `${name}: no password in the URL`).not.toMatch(/\/\/[^/@]*:[^/@]*@/);
      const mount = mountsOf(s).find((m) => m.target === env.BACKUP_DIR);
      expect(mount, `${name}: a volume at BACKUP_DIR`).toBeDefined();
      backupVolumes.add(mount!.source);
    }
    expect(backupVolumes.size).toBe(1);
  });

  it('starts only once every NATS node and MySQL are healthy', () => {
    for (const [name, s] of backupServices) {
      const depends = dependsOf(s);
      expect(Object.keys(depends).sort(), name).toEqual([...natsNames, mysqlName].sort());
      for (const [dep, condition] of Object.entries(depends)) {
        expect(condition, `${name} → ${dep}`).toBe('service_healthy');
        expect(compose.services[dep]?.healthcheck?.test, `${dep} has a healthcheck`).toBeDefined();
      }
    }
  });
});

describe('Dockerfile and .dockerignore', () => {
  it('builds on node 20 with p7zip, npm ci and npm run build, and runs dist/main.js', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim\b/m);
    expect(dockerfile).toMatch(/apt-get install[^\n]*p7zip-full/);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    // The stream declarations are read at run time from ../../streams relative to dist/jobs/.
    expect(dockerfile).toMatch(/^COPY streams \.\/streams$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
    expect(existsSync(join(ROOT, 'tsconfig.build.json'))).toBe(true);
  });

  it('.dockerignore leaves out node_modules, dist, backups and .git', () => {
    const lines = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', 'backups', '.git']) expect(lines).toContain(entry);
  });
});

describe('nats-server.conf under nats-server -t', () => {
  const check = (env: Env) =>
    spawnSync(NATS_SERVER, ['-t', '-c', join(ROOT, 'nats-server.conf')], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });

  it.each(natsNames)('is valid with the environment of compose service %s', (name) => {
    const result = check(envOf(compose.services[name]!));
    expect(result.error).toBeUndefined();
    expect(result.status, result.stderr + result.stdout).toBe(0);
    expect(result.stderr + result.stdout).toContain('is valid');
  });

  // The commands in the file's own comments, as a user copies them.
  const documented = (() => {
    const text = natsConf
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .map((l) => l.replace(/^#\s?/, ''))
      .join('\n')
      .replace(/\\\n\s*/g, ' ');
    const assignments = (line: string): Env =>
      Object.fromEntries([...line.matchAll(/([A-Z_]+)=('[^']*'|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^'|'$/g, '')]));
    const exported = Object.assign({}, ...text.split('\n').filter((l) => /^\s*export /.test(l)).map(assignments)) as Env;
    return text
      .split('\n')
      .filter((l) => /NATS_NODE_NAME=\S+.*nats-server -c nats-server\.conf/.test(l))
      .map((l) => ({ ...exported, ...assignments(l) }));
  })();

  it('documents three node commands whose routes are their cluster ports', () => {
    expect(documented).toHaveLength(3);
    const clusterPorts = documented.map((e) => Number(e.NATS_CLUSTER_PORT)).sort();
    for (const env of documented) {
      expect(parseRoutes(env.NATS_ROUTES ?? '').map((r) => r.port).sort()).toEqual(clusterPorts);
    }
  });

  it.each([0, 1, 2])('is valid with documented node command %i', (i) => {
    const env = documented[i]!;
    const result = check({ ...env, NATS_STORE_DIR: join(tmp, `n${i}`) });
    expect(result.status, result.stderr + result.stdout).toBe(0);
  });

  it('is refused when a variable is missing, or the routes are not an array', () => {
    const env = envOf(natsServices[0]![1]);
    const { NATS_ROUTES: _routes, ...withoutRoutes } = env;
    const missing = check(withoutRoutes);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr + missing.stdout).toMatch(/NATS_ROUTES/);
    const plain = check({ ...env, NATS_ROUTES: 'nats-route://nats1:6222,nats-route://nats2:6222' });
    expect(plain.status).not.toBe(0);
  });
});
