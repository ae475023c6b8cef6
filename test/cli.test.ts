import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksum, count, dbConnect, numbers, TEST_DATABASE, type Db } from './helpers/db.js';
import { natsConnect } from './helpers/nats.js';
import { startNatsServer } from './helpers/nats-server.js';
import { retire, startService, type RunningService } from './helpers/service.js';

// The real `nmtb` (bin/nmtb.js) as a child process, against the real service.
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/nmtb.js');
const ORDERS = 'cli_orders';
const BIG = 'cli_big';
const DOOMED = 'cli_doomed';
const INTO_DB = 'cli_into';

let nc: NatsConnection;
let db: Db;
let service: RunningService;
let workDir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Running {
  child: ChildProcess;
  /** Resolves once stderr holds `text`. */
  stderrShows(text: string, timeoutMs?: number): Promise<void>;
  done: Promise<Run>;
}

function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: workDir,
    env: { ...process.env, SUBJECT_PREFIX: service.prefix, OBJECT_BUCKET: service.bucket, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const wake of watchers) wake();
  });
  const done = new Promise<Run>((done) => child.once('close', (code) => done({ code, stdout, stderr })));
  return {
    child,
    done,
    stderrShows: (text, timeoutMs = 30_000) =>
      new Promise((resolveSeen, reject) => {
        const timer = setTimeout(() => reject(new Error(`stderr never showed ${JSON.stringify(text)}: ${stderr}`)), timeoutMs);
        const check = () => {
          if (!stderr.includes(text)) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolveSeen();
        };
        watchers.add(check);
        check();
      }),
  };
}

const nmtb = (...args: string[]): Promise<Run> => start(args).done;

/** The value of a `key   value` line of the CLI's output. */
function field(output: string, key: string): string {
  const line = output.split('\n').find((l) => l.startsWith(`${key} `));
  if (!line) throw new Error(`no "${key}" line in: ${output}`);
  return line.slice(key.length).trim();
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The Object Store's digest as hex (it is `SHA-256=` + base64url with padding). */
function hexOfDigest(digest: string): string {
  expect(digest).toMatch(/^SHA-256=[A-Za-z0-9_-]{43}=$/);
  return Buffer.from(digest.slice('SHA-256='.length), 'base64url').toString('hex');
}

beforeAll(async () => {
  nc = await natsConnect();
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${ORDERS}, ${BIG}, ${DOOMED}`);
  await db.query(`CREATE TABLE ${ORDERS} (id INT PRIMARY KEY, label VARCHAR(40), amount DECIMAL(10,2))`);
  await db.query(`INSERT INTO ${ORDERS} SELECT seq, CONCAT('order ', seq), seq * 1.25 FROM ${numbers(2000)}`);
  // Big enough for a backup of a few seconds: several progress events, and a slow job to queue behind.
  await db.query(`CREATE TABLE ${BIG} (id INT PRIMARY KEY, payload TEXT)`);
  await db.query(`INSERT INTO ${BIG} SELECT seq, CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512)) FROM ${numbers(200_000)}`);
  // One job at a time: a job queued behind BIG's backup starts only seconds after its request.
  service = await startService({ MAX_PARALLEL_JOBS: '1', LOG_LEVEL: 'info' });
  workDir = mkdtempSync(join(tmpdir(), 'nmtb-'));
}, 120_000);

afterAll(async () => {
  await retire(nc, service);
  await db?.query(`DROP TABLE IF EXISTS ${ORDERS}, ${BIG}, ${DOOMED}`);
  await db?.query(`DROP DATABASE IF EXISTS ${INTO_DB}`);
  await db?.end();
  await nc?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  if (service) rmSync(service.backupDir, { recursive: true, force: true });
});

describe('nmtb usage errors', () => {
  it('exits 2 with a clear message, sending nothing', async () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage: nmtb/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['backup'], /missing required argument 'tables'/],
      [['backup', ','], /name at least one table/],
      [['restore', 'x.7z'], /missing required argument 'tables'/],
      [['restore', 'x.7z', ORDERS, '--rename', 'nonsense'], /--rename takes old=new/],
      [['restore', 'x.7z', ORDERS, '--rename', 'other=x'], /other is not one of the tables to restore/],
      [['list', '--timeout', 'soon'], /--timeout takes seconds/],
      [['list', '--prefix', 'a.*'], /SUBJECT_PREFIX must be a NATS subject without wildcards/],
      [['list', '--server', 'nats://user:secret@127.0.0.1:4222'], /NATS_URL must not hold credentials/],
      [['status'], /missing required argument 'job'/],
    ];
    for (const [args, message] of cases) {
      const run = await nmtb(...args);
      expect(run.code, `nmtb ${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr + run.stdout).toMatch(message);
      expect(run.stderr).not.toContain('secret');
    }
  });

  it('help exits 0 and names the exit codes', async () => {
    const run = await nmtb('--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Exit codes: 0 ok; 1 the job failed');
  });

  it('exits 3 when no service answers, or NATS cannot be reached', async () => {
    const nobody = await nmtb('list', '--prefix', 'nmtb_cli_nobody');
    expect(nobody.code).toBe(3);
    expect(nobody.stderr).toContain('no nmtb service answered on nmtb_cli_nobody.backups');
    const noNats = await nmtb('list', '--server', 'nats://127.0.0.1:1');
    expect(noNats.code).toBe(3);
    expect(noNats.stderr).toContain('cannot connect to NATS at nats://127.0.0.1:1');
  });
});

describe('nmtb against the running service', () => {
  let archive = '';
  let path = '';

  it('backup --wait exits 0, prints the archive, and shows plain progress lines when not on a terminal', async () => {
    const run = await nmtb('backup', ORDERS, '--wait');
    expect(run.code, run.stderr).toBe(0);
    path = field(run.stdout, 'archive');
    archive = path.split('/').pop()!;
    expect(path).toBe(join(service.backupDir, archive));
    expect(existsSync(path)).toBe(true);
    expect(field(run.stdout, 'sha256')).toBe(sha256Of(path));
    expect(run.stderr).toMatch(new RegExp(`^backup [0-9a-f-]{36}: (queued|running)`, 'm'));
    expect(run.stderr).toMatch(/: done, tables 1\/1, rows 2,000(\/[\d,]+)?, [\d.]+ kB, 100%$/m);
    expect(run.stderr).not.toMatch(/\r|\x1b\[/);
  });

  it('list shows it as a table, and list --json parses', async () => {
    const table = await nmtb('list');
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ARCHIVE\s+STORED\s+SIZE\s+CREATED\s+TABLES$/);
    expect(table.stdout).toMatch(new RegExp(`^${archive.replaceAll('.', '\\.')}\\s+both\\s+.*\\s${ORDERS}$`, 'm'));
    const json = await nmtb('list', '--json');
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as { name: string; stored: string; tables: string[]; sha256: string }[];
    expect(listed.find((a) => a.name === archive)).toMatchObject({ stored: 'both', tables: [`${ORDERS}.sql`], sha256: sha256Of(path) });
  });

  it('show prints the tables with their rows and sizes, and where the archive is stored', async () => {
    const run = await nmtb('show', archive);
    expect(run.code, run.stderr).toBe(0);
    const digest = /\((SHA-256=[^)]+)\)$/.exec(field(run.stdout, 'stored'))?.[1] ?? '';
    expect(field(run.stdout, 'stored')).toBe(`both: local ${path}; bucket ${service.bucket} (${digest})`);
    expect(hexOfDigest(digest)).toBe(sha256Of(path));
    expect(field(run.stdout, 'database')).toBe(TEST_DATABASE);
    expect(run.stdout).toMatch(new RegExp(`^${ORDERS}\\s+2,000\\s+[\\d.]+ kB$`, 'm'));
    const json = JSON.parse((await nmtb('show', archive, '--json')).stdout) as { tables: { table: string; rows: number; bytes: number }[]; path: string; digest: string };
    expect(json.tables).toEqual([expect.objectContaining({ table: ORDERS, entry: `${ORDERS}.sql`, rows: 2000 })]);
    expect(json.tables[0]!.bytes).toBeGreaterThan(40_000);
    expect(hexOfDigest(json.digest)).toBe(sha256Of(path));

    const missing = await nmtb('show', 'no-such-archive.7z');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('archive no-such-archive.7z not found (404)');
  });

  it('show of an archive only the bucket holds lists its tables, without rows it cannot read', async () => {
    const made = await nmtb('backup', ORDERS, '--wait');
    expect(made.code, made.stderr).toBe(0);
    const other = field(made.stdout, 'archive');
    rmSync(other);
    const run = await nmtb('show', other.split('/').pop()!);
    expect(run.code, run.stderr).toBe(0);
    expect(field(run.stdout, 'stored')).toMatch(new RegExp(`^object: bucket ${service.bucket} \\(SHA-256=`));
    expect(field(run.stdout, 'manifest')).toBe('manifest.json is not read from an archive only the bucket holds');
    expect(run.stdout).toMatch(new RegExp(`^${ORDERS}\\s+\\?\\s+\\?$`, 'm'));
  });

  it('get writes a file whose SHA-256 is the object digest, and refuses to overwrite it', async () => {
    const out = join(workDir, 'copy.7z');
    const run = await nmtb('get', archive, '-o', out);
    expect(run.code, run.stderr).toBe(0);
    const info = await (await new Objm(nc).open(service.bucket)).info(archive);
    expect(sha256Of(out)).toBe(hexOfDigest(info!.digest));
    expect(field(run.stdout, 'written')).toBe(out);

    const again = await nmtb('get', archive, '-o', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists (use --force to replace it)');
    expect((await nmtb('get', archive, '-o', out, '--force')).code).toBe(0);
    // Without -o: the archive's own name, in the current directory.
    expect((await nmtb('get', archive)).code).toBe(0);
    expect(sha256Of(join(workDir, archive))).toBe(hexOfDigest(info!.digest));
  });

  it('get deletes what it read when the bytes do not match what the service recorded', async () => {
    const os = await new Objm(nc).open(service.bucket);
    const name = 'cli-tampered.7z';
    await os.put({ name, metadata: { sha256: '0'.repeat(64), tables: `${ORDERS}.sql` } }, Readable.toWeb(Readable.from([Buffer.from('not the recorded bytes')])) as ReadableStream<Uint8Array>);
    try {
      const run = await nmtb('get', name, '-o', join(workDir, 'tampered.7z'));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`but the service recorded ${'0'.repeat(64)}`);
      expect(readdirSync(workDir).filter((f) => f.includes('tampered'))).toEqual([]);
    } finally {
      await os.delete(name);
    }
  });

  it('restore --wait brings the table back to its CHECKSUM TABLE', async () => {
    const original = await checksum(db, ORDERS);
    await db.query(`DELETE FROM ${ORDERS} WHERE id % 2 = 0`);
    await db.query(`UPDATE ${ORDERS} SET label = 'changed' WHERE id < 10`);
    expect(await checksum(db, ORDERS)).not.toBe(original);
    const run = await nmtb('restore', archive, ORDERS, '--wait');
    expect(run.code, run.stderr).toBe(0);
    expect(field(run.stdout, 'restored')).toBe(ORDERS);
    expect(field(run.stdout, 'from')).toBe(archive);
    expect(run.stderr).toMatch(/^restore [0-9a-f-]{36}: done, tables 1\/1/m);
    expect(await checksum(db, ORDERS)).toBe(original);
    expect(await count(db, ORDERS)).toBe(2000);
  });

  it('restore --into another database --rename, via <prefix>.restoreinto, leaves the live table alone', async () => {
    await db.query(`DROP DATABASE IF EXISTS ${INTO_DB}; CREATE DATABASE ${INTO_DB}`);
    const original = await checksum(db, ORDERS);
    const run = await nmtb('restore', archive, `${ORDERS}.sql`, '--into', INTO_DB, '--rename', `${ORDERS}=${ORDERS}_then`, '--wait');
    expect(run.code, run.stderr).toBe(0);
    expect(field(run.stdout, 'restored')).toBe(`${ORDERS} as ${ORDERS}_then`);
    expect(field(run.stdout, 'into')).toBe(INTO_DB);
    const into = await dbConnect(INTO_DB);
    try {
      expect(await checksum(into, `${ORDERS}_then`)).toBe(original);
    } finally {
      await into.end();
    }
    expect(await checksum(db, ORDERS)).toBe(original);

    const nowhere = await nmtb('restore', archive, ORDERS, '--into', 'cli_no_such_db', '--wait');
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain('database cli_no_such_db not found');
  });

  it('a restore the service refuses exits 1 with its reason', async () => {
    const run = await nmtb('restore', archive, 'cli_not_in_it', '--wait');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`archive ${archive} does not hold cli_not_in_it.sql (404)`);
  });

  it('a job that fails (its table dropped after the request) exits 1 with the reason, as do status and watch', async () => {
    await db.query(`CREATE TABLE ${DOOMED} (id INT PRIMARY KEY)`);
    await db.query(`INSERT INTO ${DOOMED} VALUES (1), (2)`);
    // BIG's backup takes the only job slot for seconds; DOOMED's waits behind it.
    const slow = await nmtb('backup', BIG);
    expect(slow.code, slow.stderr).toBe(0);
    const doomed = start(['backup', DOOMED, '--wait']);
    await doomed.stderrShows(': queued');
    await db.query(`DROP TABLE ${DOOMED}`);
    const run = await doomed.done;
    expect(run.code, run.stderr).toBe(1);
    const id = /^backup ([0-9a-f-]{36}): queued/m.exec(run.stderr)![1]!;
    expect(run.stderr).toMatch(new RegExp(`nmtb: backup ${id} failed: .*${DOOMED}`));

    const status = await nmtb('status', id);
    expect(status.code).toBe(1);
    expect(field(status.stdout, 'status')).toBe('failed');
    expect(field(status.stdout, 'reason')).toContain(DOOMED);
    const watched = await nmtb('watch', id);
    expect(watched.code).toBe(1);
    expect(watched.stdout).toMatch(new RegExp(`backup ${id}: failed`));
    expect(watched.stderr).toContain(`backup ${id} failed`);

    const unknown = await nmtb('status', 'no-such-job');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('job no-such-job not found');
  });

  it('backup without --wait prints the promised archive and the job; watch follows it to the end', async () => {
    const run = await nmtb('backup', `${ORDERS},${BIG}`);
    expect(run.code, run.stderr).toBe(0);
    const id = field(run.stdout, 'job');
    const promised = field(run.stdout, 'archive');
    const watched = await nmtb('watch', id, '--json');
    expect(watched.code, watched.stderr).toBe(0);
    const states = watched.stdout.trim().split('\n').map((line) => JSON.parse(line) as { status: string; result?: { path: string } });
    expect(states.at(-1)).toMatchObject({ status: 'done', result: { path: promised } });
    expect(existsSync(promised)).toBe(true);
  });

  it('watch without a job prints the events of every job as they come', async () => {
    const watcher = start(['watch']);
    await watcher.stderrShows(`watching ${service.prefix}.events.>`);
    const run = await nmtb('backup', ORDERS, '--wait');
    expect(run.code, run.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    // It runs until interrupted.
    watcher.child.kill('SIGINT');
    const watched = await watcher.done;
    expect(watched.stdout).toMatch(new RegExp(`backup ${field(run.stdout, 'job')}: done, tables 1/1`));
  });

  it('backup --wait on a terminal draws a live progress bar (a pty from script(1))', async () => {
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} backup ${BIG} --wait`;
    const run = await new Promise<Run>((done) => {
      const child = spawn('script', ['-qfec', command, '/dev/null'], {
        cwd: workDir,
        env: { ...process.env, SUBJECT_PREFIX: service.prefix, OBJECT_BUCKET: service.bucket, COLUMNS: '160' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.once('close', (code) => done({ code, stdout, stderr }));
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    // Redrawn in place: carriage returns / cursor movement, a bar of blocks, the counters, an ETA.
    // (Rows total is the server's estimate: MySQL 8's cached statistics may not have one yet.)
    expect(run.stdout).toMatch(/\x1b\[\d*G|\r/);
    expect(run.stdout).toMatch(/backup running \|[█░]{24}\| \d+% \| tables 0\/1 \| rows [\d,]+(\/[\d,]+)? \| [\d.]+ [kM]B \| ETA /);
    expect(run.stdout).toMatch(/backup done +\|█{24}\| 100% \| tables 1\/1 \| rows 200,000[ /]/);
    // Never the plain lines on a terminal.
    expect(run.stdout).not.toMatch(/^backup [0-9a-f-]{36}: running/m);
    const path = field(run.stdout.replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, ''), 'archive');
    expect(existsSync(path)).toBe(true);
  });
});

describe('nmtb with NATS authentication', () => {
  it('connects with the service\'s own auth variables (NATS_USER + NATS_PASSWORD_FILE), and says why when refused', async () => {
    const password = 'cli-pw-7f3a9c';
    const server = await startNatsServer(`
jetstream { store_dir: "\${DIR}/js" }
authorization {
  users = [
    { user: svc, password: "${password}" }
    { user: operator, password: "${password}" }
  ]
}`);
    let authService: RunningService | undefined;
    try {
      authService = await startService({ NATS_URL: server.url, NATS_USER: 'svc', NATS_PASSWORD: password });
      const passwordFile = join(workDir, 'nats-password');
      writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
      const env = { SUBJECT_PREFIX: authService.prefix, OBJECT_BUCKET: authService.bucket };
      const listed = await start(['list', '--json', '--server', server.url], { ...env, NATS_USER: 'operator', NATS_PASSWORD_FILE: passwordFile }).done;
      expect(listed.code, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([]);

      const refused = await start(['list', '--server', server.url], { ...env, NATS_USER: 'operator', NATS_PASSWORD: 'wrong' }).done;
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(/cannot connect to NATS at .*: .*(authorization|Authorization)/);
      expect(refused.stderr).not.toContain('wrong');
    } finally {
      await authService?.stop();
      await server.stop();
    }
  });

  it('works with no more than a client\'s permissions: its request subjects, the events, and reading the bucket', async () => {
    const tag = randomBytes(3).toString('hex');
    const prefix = `clip${tag}`;
    const bucket = `cli_perm_${tag}`;
    const server = await startNatsServer(`
jetstream { store_dir: "\${DIR}/js" }
NMTB = {
  publish: {
    allow: [
      "${prefix}.backups", "${prefix}.makebackup", "${prefix}.restore", "${prefix}.restoreinto", "${prefix}.status",
      # nmtb get: the bucket's stream info, the object's meta message, an ordered consumer over its chunks
      "$JS.API.INFO", "$JS.API.STREAM.INFO.OBJ_${bucket}", "$JS.API.STREAM.MSG.GET.OBJ_${bucket}", "$JS.API.CONSUMER.CREATE.OBJ_${bucket}.>"
    ]
  }
  subscribe: { allow: ["_INBOX.>", "${prefix}.events.>"] }
}
authorization {
  users = [
    { user: svc, password: svc }
    { user: nmtb, password: nmtb, permissions: $NMTB }
  ]
}`);
    let permService: RunningService | undefined;
    try {
      permService = await startService({ NATS_URL: server.url, NATS_USER: 'svc', NATS_PASSWORD: 'svc', SUBJECT_PREFIX: prefix, OBJECT_BUCKET: bucket });
      const env = { SUBJECT_PREFIX: prefix, OBJECT_BUCKET: bucket, NATS_URL: server.url, NATS_USER: 'nmtb', NATS_PASSWORD: 'nmtb' };
      const made = await start(['backup', ORDERS, '--wait'], env).done;
      expect(made.code, made.stderr).toBe(0);
      const path = field(made.stdout, 'archive');
      const name = path.split('/').pop()!;
      for (const args of [['list'], ['show', name], ['status', field(made.stdout, 'job')], ['get', name, '-o', join(workDir, `perm-${tag}.7z`)]]) {
        const run = await start(args, env).done;
        expect(run.code, `nmtb ${args.join(' ')}: ${run.stderr}`).toBe(0);
      }
      expect(sha256Of(join(workDir, `perm-${tag}.7z`))).toBe(sha256Of(path));
      // The server logs a denied publish or subscribe as "Publish Violation" / "Subscription Violation".
      expect(server.output()).not.toMatch(/Violation/);
    } finally {
      await permService?.stop();
      await server.stop();
    }
  });
});
