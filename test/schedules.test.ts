import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractEntry } from '../src/archive/reader.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { cronOf, schedulesFrom } from '../src/schedules/config.js';
import { slotJobId, type SlotClaim } from '../src/schedules/slots.js';
import { dbConnect, numbers, type Db } from './helpers/db.js';
import { deleteStream, natsConnect, request, waitForJob } from './helpers/nats.js';
import { isolatedEnv, retire, startService, type RunningService } from './helpers/service.js';

const ROOT = resolve(import.meta.dirname, '..');

let nc: NatsConnection;
let db: Db;
const started: RunningService[] = [];
const buckets: string[] = [];
const dirs: string[] = [];

interface Listed {
  name: string;
  stored: string;
  schedule?: string;
  slot?: string | null;
}

/** A deployment of its own: prefix, stream, archive bucket and job-state bucket. */
function deployment(schedules: unknown[]): Record<string, string> {
  const env = isolatedEnv();
  dirs.push(env.BACKUP_DIR);
  const jobStateBucket = `sched_${randomBytes(4).toString('hex')}`;
  buckets.push(jobStateBucket);
  return {
    ...env,
    JOB_STATE_BUCKET: jobStateBucket,
    BACKUP_SCHEDULES: JSON.stringify(schedules),
    JOB_ACK_WAIT_SECONDS: '5',
    SHUTDOWN_GRACE_SECONDS: '5',
  };
}

async function start(env: Record<string, string>, ownDir = false): Promise<RunningService> {
  const dir = ownDir ? mkdtempSync(join(tmpdir(), 'sched-backups-')) : env.BACKUP_DIR!;
  if (ownDir) dirs.push(dir);
  const service = await startService({ ...env, BACKUP_DIR: dir });
  started.push(service);
  return service;
}

async function listing(service: RunningService): Promise<Listed[]> {
  const reply = await request(nc, `${service.prefix}.backups`, '');
  return (JSON.parse(reply.body) as { archives: Listed[] }).archives;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The slots of a cron firing every `seconds` s (UTC) in (from, to]. */
function slotsBetween(from: number, to: number, seconds: number): string[] {
  const step = seconds * 1000;
  const slots: string[] = [];
  for (let t = Math.floor(from / step) * step + step; t <= to; t += step) slots.push(new Date(t).toISOString());
  return slots;
}

function queuedLines(services: RunningService[], schedule: string): Record<string, unknown>[] {
  return services.flatMap((s) => s.logs).filter((l) => l.msg === 'schedule slot queued' && l.schedule === schedule);
}

beforeAll(async () => {
  db = await dbConnect();
  await db.query(`
    DROP TABLE IF EXISTS sched_orders, sched_small, sched_late;
    CREATE TABLE sched_orders (id INT PRIMARY KEY, item VARCHAR(40));
    CREATE TABLE sched_small (id INT PRIMARY KEY, item VARCHAR(40));
  `);
  // Big enough that a backup takes a moment, so the instance killed mid-test is likely mid-job.
  await db.query(`INSERT INTO sched_orders SELECT seq, MD5(seq) FROM ${numbers(100_000)}`);
  // For the schedules whose backups need not last: they fire every few seconds.
  await db.query(`INSERT INTO sched_small SELECT seq, MD5(seq) FROM ${numbers(500)}`);
  nc = await natsConnect();
});

afterAll(async () => {
  await retire(nc, ...started);
  for (const bucket of buckets) await deleteStream(nc, `KV_${bucket}`);
  await nc?.close();
  await db?.query('DROP TABLE IF EXISTS sched_orders, sched_small, sched_late');
  await db?.end();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('schedule configuration', () => {
  const good = { name: 'nightly', cron: '0 3 * * *', tables: ['orders'] };
  const problems = (value: unknown, env: Record<string, string> = {}) => {
    const errors: string[] = [];
    schedulesFrom({ BACKUP_SCHEDULES: JSON.stringify(value), ...env }, errors);
    return errors;
  };

  it('reads a list of schedules, with an optional seconds field, time zone and catchUp', () => {
    const errors: string[] = [];
    const schedules = schedulesFrom({
      BACKUP_SCHEDULES: JSON.stringify([good, { name: 'often', cron: '*/5 * * * * *', tables: ['a', 'b'], timezone: 'Europe/Berlin', catchUp: true }]),
    }, errors);
    expect(errors).toEqual([]);
    expect(schedules).toEqual([
      { name: 'nightly', cron: '0 3 * * *', tables: ['orders'], catchUp: false },
      { name: 'often', cron: '*/5 * * * * *', tables: ['a', 'b'], timezone: 'Europe/Berlin', catchUp: true },
    ]);
    expect(schedulesFrom({}, errors)).toEqual([]);
  });

  it('reads slot times in the schedule\'s time zone (croner), across a DST change', () => {
    const berlin = cronOf({ cron: '0 3 * * *', timezone: 'Europe/Berlin' });
    expect(berlin.nextRun(new Date('2026-03-27T12:00:00Z'))?.toISOString()).toBe('2026-03-28T02:00:00.000Z');
    expect(berlin.nextRun(new Date('2026-03-28T12:00:00Z'))?.toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(cronOf({ cron: '*/5 * * * * *' }).nextRun(new Date('2026-01-01T00:00:05.000Z'))?.toISOString()).toBe('2026-01-01T00:00:10.000Z');
  });

  it('refuses a bad cron, naming the schedule', () => {
    expect(problems([{ ...good, cron: '61 * * * *' }])).toEqual([expect.stringMatching(/^BACKUP_SCHEDULES: schedule "nightly": "cron" "61 \* \* \* \*" is not a valid cron expression: Invalid value for minute: 61/)]);
    expect(problems([{ ...good, cron: 'every night' }])[0]).toMatch(/schedule "nightly": "cron" "every night" is not a valid cron expression/);
    expect(problems([{ ...good, cron: '0 0 30 2 *' }])[0]).toMatch(/schedule "nightly": "cron" "0 0 30 2 \*" never fires/);
    expect(problems([{ ...good, cron: 5 }])[0]).toMatch(/schedule "nightly": "cron" must be a cron expression/);
  });

  it('refuses a bad time zone', () => {
    expect(problems([{ ...good, timezone: 'Mars/Olympus' }])).toEqual(['BACKUP_SCHEDULES: schedule "nightly": "timezone" must be an IANA time zone such as "Europe/Berlin" or "UTC", got "Mars/Olympus"']);
  });

  it('refuses no tables, bad table names and a table listed twice', () => {
    expect(problems([{ ...good, tables: [] }])).toEqual(['BACKUP_SCHEDULES: schedule "nightly": "tables" must be a non-empty list of table names']);
    expect(problems([{ name: 'x', cron: '* * * * *' }])[0]).toMatch(/schedule "x": "tables" must be a non-empty list/);
    expect(problems([{ ...good, tables: ['a/b', '.hidden', 7] }])).toEqual([
      'BACKUP_SCHEDULES: schedule "nightly": "tables": table name "a/b" holds a path separator',
      'BACKUP_SCHEDULES: schedule "nightly": "tables": table name ".hidden" starts with a dot',
      'BACKUP_SCHEDULES: schedule "nightly": "tables": table 7 is not a string',
    ]);
    expect(problems([{ ...good, tables: ['a', 'a'] }])[0]).toMatch(/"tables": a is listed twice/);
  });

  it('refuses a duplicate name, a bad name, unknown fields and a non-list', () => {
    expect(problems([good, { ...good, cron: '0 4 * * *' }])).toEqual(['BACKUP_SCHEDULES: schedule "nightly": the name is used by another schedule']);
    expect(problems([{ ...good, name: 'a.b' }])[0]).toMatch(/^BACKUP_SCHEDULES: schedule #1: "name" must be 1 to 64 letters/);
    expect(problems([{ ...good, catchup: true }])[0]).toMatch(/schedule "nightly": unknown field "catchup"/);
    expect(problems([{ ...good, catchUp: 'yes' }])[0]).toMatch(/"catchUp" must be true or false/);
    expect(problems(good)[0]).toMatch(/must be a JSON list of schedules/);
    const errors: string[] = [];
    schedulesFrom({ BACKUP_SCHEDULES: '[{"name": ' }, errors);
    expect(errors[0]).toMatch(/^BACKUP_SCHEDULES is not valid JSON/);
  });

  it('reads BACKUP_SCHEDULES_FILE; refuses both variables and an unreadable file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sched-config-'));
    dirs.push(dir);
    const file = join(dir, 'schedules.json');
    writeFileSync(file, JSON.stringify([good]));
    const errors: string[] = [];
    expect(schedulesFrom({ BACKUP_SCHEDULES_FILE: file }, errors)).toHaveLength(1);
    expect(errors).toEqual([]);
    schedulesFrom({ BACKUP_SCHEDULES_FILE: file, BACKUP_SCHEDULES: '[]' }, errors);
    schedulesFrom({ BACKUP_SCHEDULES_FILE: join(dir, 'missing.json') }, errors);
    writeFileSync(file, JSON.stringify([{ ...good, tables: [] }]));
    schedulesFrom({ BACKUP_SCHEDULES_FILE: file }, errors);
    expect(errors).toEqual([
      'set BACKUP_SCHEDULES or BACKUP_SCHEDULES_FILE, not both',
      expect.stringMatching(/^BACKUP_SCHEDULES_FILE cannot be read: ENOENT: no such file or directory/),
      `BACKUP_SCHEDULES_FILE (${file}): schedule "nightly": "tables" must be a non-empty list of table names`,
    ]);
    expect(() => loadConfig({ BACKUP_SCHEDULES: JSON.stringify([good, good]) })).toThrow(ConfigError);
  });

  it('stops the service at start with a message naming the schedule (exit 1)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts')], {
      cwd: ROOT,
      env: { ...process.env, BACKUP_SCHEDULES: JSON.stringify([{ ...good, name: 'hourly', timezone: 'Nowhere/Land' }]) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^configuration error: BACKUP_SCHEDULES: schedule "hourly": "timezone" must be an IANA time zone/);
  });
});

describe('a schedule on three instances', () => {
  it('makes exactly one archive per slot while an instance is killed and restarted', async () => {
    const env = deployment([{ name: 'every5', cron: '*/5 * * * * *', tables: ['sched_orders'] }]);
    const instances = await Promise.all([start(env, true), start(env, true), start(env, true)]);
    const windowStart = Date.now();

    // SIGKILL one instance in the middle, the moment it starts a job (so a job dies with it).
    await sleep(8_000);
    const before = new Set(instances.flatMap((s) => s.logs));
    let victim: RunningService | undefined;
    const kill = (s: RunningService) => (l: Record<string, unknown>) => victim === undefined && !before.has(l) && l.msg === 'job started' && (victim = s).child.kill('SIGKILL');
    await Promise.any(instances.map((s) => s.waitForLog(kill(s), 10_000)));
    if (!victim) throw new Error('no instance started a job');
    await victim.stop();
    const startedLines = victim.logs.filter((l) => l.msg === 'job started').map((l) => String(l.job));
    const doneLines = new Set(victim.logs.filter((l) => l.msg === 'job done').map((l) => String(l.job)));
    const interrupted = startedLines.filter((id) => !doneLines.has(id));
    expect(interrupted.length).toBeGreaterThanOrEqual(1);
    await sleep(4_000);
    const restarted = await start({ ...env, BACKUP_DIR: victim.backupDir });
    const windowEnd = windowStart + 30_000;
    await sleep(Math.max(0, windowEnd - Date.now()));
    const survivors = instances.filter((s) => s !== victim);
    const [a, c] = survivors as [RunningService, RunningService];
    await Promise.all([restarted.stop(), c.stop()]);
    const services = [...instances, restarted];

    // Two instances were up at any time: every slot in the window was fired by at least one.
    const expected = slotsBetween(windowStart, windowEnd, 5);
    expect(expected.length).toBeGreaterThanOrEqual(5);
    let archives: Listed[] = [];
    for (let i = 0; i < 200; i++) {
      archives = (await listing(a)).filter((x) => x.schedule === 'every5');
      if (expected.every((slot) => archives.some((x) => x.slot === slot))) break;
      await sleep(250);
    }
    // Every claim of the window is queued and its job finished: nothing more can come.
    const kv = await new Kvm(nc).open(env.JOB_STATE_BUCKET!);
    for (const slot of expected) {
      const key = `sched.${env.SUBJECT_PREFIX}.every5.${slot.replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')}`;
      const claim = (await kv.get(key))?.json<SlotClaim>();
      expect(claim?.status, `${slot}: ${JSON.stringify(claim)}`).toBe('queued');
      expect(claim?.job).toBe(slotJobId(env.SUBJECT_PREFIX!, 'every5', new Date(slot)));
      const state = await waitForJob(nc, a.prefix, claim!.job, undefined, 30_000);
      expect(state.status, JSON.stringify(state)).toBe('done');
    }
    for (const id of interrupted) expect((await waitForJob(nc, a.prefix, id, undefined, 30_000)).status).toBe('done');
    archives = (await listing(a)).filter((x) => x.schedule === 'every5');
    await a.stop();

    const perSlot = new Map<string, string[]>();
    for (const x of archives) perSlot.set(x.slot!, [...(perSlot.get(x.slot!) ?? []), x.name]);
    for (const slot of expected) expect(perSlot.get(slot), slot).toHaveLength(1);
    for (const [slot, names] of perSlot) {
      expect(names, slot).toHaveLength(1);
      // Named by its slot's time.
      expect(names[0]).toBe(`${slot.slice(0, 10)}_${slot.slice(11, 19).replaceAll(':', '-')}-backup.7z`);
    }
    // No slot was queued twice (a SIGKILL may swallow the victim's last lines), and the other
    // instances found each slot taken.
    for (const slot of expected) expect(queuedLines(services, 'every5').filter((l) => l.slot === slot).length, slot).toBeLessThanOrEqual(1);
    const taken = services.flatMap((s) => s.logs).filter((l) => l.msg === 'schedule slot already taken by another instance');
    expect(taken.length).toBeGreaterThanOrEqual(expected.length);
  }, 120_000);
});

describe('a claimer that died between claiming a slot and queueing its job', () => {
  it('is taken over after the lease by one instance, and the slot still makes one archive', async () => {
    const env = deployment([{ name: 'ghosted', cron: '*/5 * * * * *', tables: ['sched_small'] }]);
    const services = await Promise.all([start(env, true), start(env, true)]);
    const kv = await new Kvm(nc).open(env.JOB_STATE_BUCKET!);
    const prefix = env.SUBJECT_PREFIX!;
    const [s1, s2, s3] = slotsBetween(Date.now() + 6_000, Date.now() + 21_000, 5);
    const keyOf = (slot: string) => `sched.${prefix}.ghosted.${slot.replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')}`;
    const jobOf = (slot: string) => slotJobId(prefix, 'ghosted', new Date(slot));
    const nameOf = (slot: string) => `${slot.slice(0, 10)}_${slot.slice(11, 19).replaceAll(':', '-')}-backup.7z`;
    // What a dying instance leaves: s1 a claim only; s2 also the job's queued state (no message);
    // s3 also the published job message (it died before marking the claim queued).
    for (const slot of [s1!, s2!, s3!]) {
      await kv.create(keyOf(slot), JSON.stringify({ status: 'claimed', by: 'ghost', at: Date.now(), job: jobOf(slot) } satisfies SlotClaim));
    }
    for (const slot of [s2!, s3!]) {
      const job = { kind: 'backup', id: jobOf(slot), archive: nameOf(slot), tables: ['sched_small'], requestedAt: new Date().toISOString(), schedule: 'ghosted', slot };
      await kv.put(`job.${job.id}`, JSON.stringify({ ...job, status: 'queued', updatedAt: job.requestedAt, attempts: 0 }));
      if (slot === s3) {
        const { jetstream } = await import('@nats-io/jetstream');
        await jetstream(nc).publish(`${prefix}.jobs.backup`, JSON.stringify(job), { msgID: `archive:${job.archive}` });
      }
    }

    expect(Date.now(), 'the claims are in place before their slots fire').toBeLessThan(Date.parse(s1!) - 1_000);
    for (const slot of [s1!, s2!, s3!]) {
      const claim = await waitFor(async () => {
        const current = (await kv.get(keyOf(slot)))?.json<SlotClaim>();
        return current?.status === 'queued' ? current : null;
      }, 60_000);
      expect(claim.by).not.toBe('ghost');
      expect(claim.archive).toBe(nameOf(slot));
      expect((await waitForJob(nc, prefix, jobOf(slot))).status).toBe('done');
    }
    const archives = (await listing(services[0]!)).filter((x) => [s1, s2, s3].includes(x.slot ?? ''));
    expect(archives.map((x) => x.name).sort()).toEqual([nameOf(s1!), nameOf(s2!), nameOf(s3!)]);
    const logs = services.flatMap((s) => s.logs);
    for (const slot of [s1, s2, s3]) {
      expect(logs.filter((l) => l.msg === 'taking over a schedule slot its claimer did not queue' && l.slot === slot), slot).toHaveLength(1);
    }
    expect(logs.find((l) => l.msg === 'published the job its claimer did not')).toMatchObject({ slot: s2, added: true });
  }, 90_000);
});

async function waitFor<T>(probe: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms`);
    await sleep(250);
  }
}

describe('a slot whose table is missing', () => {
  it('fails with the reason; the next slot tries again and makes the archive', async () => {
    const env = deployment([{ name: 'late', cron: '*/2 * * * * *', tables: ['sched_small', 'sched_late'] }]);
    const service = await start(env);
    const failedLine = await service.waitForLog((l) => l.msg === 'schedule slot queued' && l.schedule === 'late', 15_000);
    const failed = await waitForJob(nc, service.prefix, String(failedLine.job));
    expect(failed).toMatchObject({ status: 'failed', reason: 'table not found: sched_late', schedule: 'late', slot: failedLine.slot });

    await db.query('CREATE TABLE sched_late (id INT PRIMARY KEY); INSERT INTO sched_late VALUES (7)');
    const createdAt = new Date().toISOString();
    const nextLine = await service.waitForLog((l) => l.msg === 'schedule slot queued' && l.schedule === 'late' && String(l.slot) > createdAt, 15_000);
    const done = await waitForJob(nc, service.prefix, String(nextLine.job));
    expect(done).toMatchObject({ status: 'done', schedule: 'late', slot: nextLine.slot });
    const archive = done.result!.archive;

    const listed = (await listing(service)).find((x) => x.name === archive);
    expect(listed).toMatchObject({ stored: 'both', schedule: 'late', slot: nextLine.slot });
    const detail = await request(nc, `${service.prefix}.backups`, JSON.stringify({ archive }));
    expect(JSON.parse(detail.body)).toMatchObject({ status: 'ok', archive: { name: archive, schedule: 'late', slot: nextLine.slot } });
    const chunks: Buffer[] = [];
    for await (const chunk of extractEntry(join(service.backupDir, archive), 'manifest.json')) chunks.push(chunk as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString('utf8'))).toMatchObject({ schedule: 'late', slot: nextLine.slot });
  }, 60_000);
});

describe('catchUp', () => {
  it('makes the latest missed slot at start, only one, and only for the schedule that asks', async () => {
    const env = deployment([
      { name: 'catch', cron: '*/3 * * * * *', tables: ['sched_small'], catchUp: true },
      { name: 'plain', cron: '*/3 * * * * *', tables: ['sched_small'] },
    ]);
    const first = await start(env);
    await first.waitForLog((l) => l.msg === 'schedule slot queued' && l.schedule === 'catch', 10_000);
    await first.waitForLog((l) => l.msg === 'schedule slot queued' && l.schedule === 'plain', 10_000);
    await first.stop();
    const lastMade = (schedule: string) => queuedLines([first], schedule).map((l) => String(l.slot)).sort().at(-1)!;
    const lastCatch = lastMade('catch');
    const lastPlain = lastMade('plain');
    await sleep(7_000);

    const second = await start(env);
    const from = String(second.logs.find((l) => l.msg === 'schedules started')!.from);
    const caught = await second.waitForLog((l) => l.msg === 'catchUp: making the latest missed slot', 1_000);
    const latest = slotsBetween(Date.parse(lastCatch), Date.parse(from), 3).filter((s) => s < from).at(-1)!;
    expect(caught).toMatchObject({ schedule: 'catch', slot: latest, lastMade: lastCatch });
    const queued = await second.waitForLog((l) => l.msg === 'schedule slot queued' && l.why === 'catch-up', 5_000);
    expect(queued).toMatchObject({ schedule: 'catch', slot: latest });
    await waitForJob(nc, second.prefix, String(queued.job));
    expect(second.logs.some((l) => l.msg === 'catchUp: making the latest missed slot' && l.schedule === 'plain')).toBe(false);

    const archives = await listing(second);
    const missed = (schedule: string, after: string) => archives.filter((x) => x.schedule === schedule && x.slot! > after && x.slot! < from).map((x) => x.slot);
    expect(slotsBetween(Date.parse(lastCatch), Date.parse(from), 3).length).toBeGreaterThanOrEqual(2);
    expect(missed('catch', lastCatch)).toEqual([latest]);
    expect(missed('plain', lastPlain)).toEqual([]);
  }, 60_000);

  it('does not make again a slot made longer ago than the duplicate window', async () => {
    // A daily slot 3 minutes ago (past the job stream's 2-minute window), made by an instance that
    // is gone, which remembered the day before's slot as the last: as if restarted much later.
    const slot = new Date(Math.floor(Date.now() / 1000) * 1000 - 3 * 60_000);
    const cron = `${slot.getUTCSeconds()} ${slot.getUTCMinutes()} ${slot.getUTCHours()} * * *`;
    const env = deployment([{ name: 'daily', cron, tables: ['sched_small'], catchUp: true }]);
    const probe = await start({ ...env, BACKUP_SCHEDULES: '[]' }); // creates the job-state bucket
    await probe.stop();
    const kv = await new Kvm(nc).open(env.JOB_STATE_BUCKET!);
    const key = `sched.${env.SUBJECT_PREFIX}.daily.${slot.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')}`;
    await kv.create(key, JSON.stringify({ status: 'queued', by: 'gone', at: slot.getTime(), job: 'made-earlier', archive: 'x.7z' } satisfies SlotClaim));
    await kv.put(`sched.${env.SUBJECT_PREFIX}.daily.last`, new Date(slot.getTime() - 86_400_000).toISOString());

    const service = await start(env);
    expect(service.logs.find((l) => l.msg === 'catchUp: making the latest missed slot')).toMatchObject({ schedule: 'daily', slot: slot.toISOString() });
    const line = await service.waitForLog((l) => l.msg === 'schedule slot already taken by another instance', 5_000);
    expect(line).toMatchObject({ schedule: 'daily', slot: slot.toISOString(), by: 'gone', status: 'queued' });
    expect(service.logs.some((l) => l.msg === 'schedule slot queued')).toBe(false);
    expect(await listing(service)).toEqual([]);
  }, 90_000);
});
