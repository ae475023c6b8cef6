/**
 * The job runtime (src/jobs) on its own: a real nats-server of the test's own, a fake processor,
 * no MySQL, no 7-Zip. Each case proves one transition of a job's life.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ServiceError, UnavailableError } from '../src/errors.js';
import { openDeclaredBucket } from '../src/jobs/declarations.js';
import { TableLocks } from '../src/jobs/locks.js';
import { JobLeases } from '../src/jobs/job-lease.js';
import type { JobContext, Processor } from '../src/jobs/processor.js';
import { WorkQueue } from '../src/jobs/queue.js';
import { JobRuntime } from '../src/jobs/runtime.js';
import { JobStates, stateIn, type RuntimeState } from '../src/jobs/state.js';
import { createLogger } from '../src/log.js';
import { PermanentJobError } from '../src/permanent-job-error.js';
import { natsConnect } from './helpers/nats.js';
import { startNatsServer, type TestNatsServer } from './helpers/nats-server.js';

type Plan = 'ok' | 'fail-once' | 'always-fail' | 'permanent' | 'permanent-legacy' | 'wait-first' | 'hold';
interface FakeJob {
  id: string;
  kind: 'fake';
  plan: Plan;
}
type FakeState = RuntimeState & { plan: Plan };

const ACK_WAIT_MS = 3_000;
const MAX_DELIVER = 3;
const RETRY_DELAY_MS = 600;
const log = createLogger('silent');

let server: TestNatsServer;
let nc: NatsConnection;
const runtimes: JobRuntime<FakeJob, FakeState>[] = [];

beforeAll(async () => {
  server = await startNatsServer('jetstream { store_dir: "${DIR}/js" }');
  nc = await natsConnect(server.url);
});

afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.stop(0);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const codec = {
  decode: (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as FakeJob,
  queuedState: (job: FakeJob): FakeState => ({ id: job.id, kind: job.kind, plan: job.plan, status: 'queued', state: 'queued', requestedAt: new Date().toISOString(), updatedAt: '', attempts: 0 }),
  logFields: () => ({}),
};

/** What the fake processor saw: per job, one entry per attempt. */
type Calls = Map<string, { attempt: number; at: number; end?: number; aborted?: boolean }[]>;
/** Per job, the job's recorded state each time its `completed` clean-up ran. */
type Completions = Map<string, (string | undefined)[]>;

function fakeProcessor(calls: Calls, completions: Completions, states: JobStates<FakeState>): Processor<FakeJob> {
  return {
    async completed(job: FakeJob) {
      const state = (await states.get(job.id))?.state;
      completions.set(job.id, [...(completions.get(job.id) ?? []), state]);
    },
    kind: 'fake',
    locks: (job) => (job.plan === 'hold' ? [{ table: 'shared_table' }] : []),
    startingProgress: () => ({ tablesTotal: 1 }),
    async run(job: FakeJob, { attempt, signal, progress }: JobContext) {
      const seen = { attempt, at: Date.now() } as { attempt: number; at: number; end?: number; aborted?: boolean };
      calls.set(job.id, [...(calls.get(job.id) ?? []), seen]);
      try {
        switch (job.plan) {
          case 'fail-once':
            if (attempt === 1) throw new UnavailableError('the database is restarting');
            break;
          case 'always-fail':
            throw new Error(`boom ${attempt}`);
          case 'permanent':
            throw new NotFoundError('table not found: gone');
          case 'permanent-legacy':
            throw new PermanentJobError('archive x.7z not found');
          case 'wait-first':
            if (attempt === 1) await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
            break;
          case 'hold':
            await new Promise((resolve) => setTimeout(resolve, 300));
            break;
        }
        progress.tablesDone = 1;
        return { done: job.plan, attempt };
      } catch (err) {
        seen.aborted = signal.aborted;
        throw err;
      } finally {
        seen.end = Date.now();
      }
    },
  };
}

interface Harness {
  work: WorkQueue;
  /** The job-state bucket, for playing another process's part in the job leases. */
  kv: KV;
  states: JobStates<FakeState>;
  calls: Calls;
  completions: Completions;
  enqueue(plan: Plan): Promise<FakeJob>;
  startRuntime(): Promise<JobRuntime<FakeJob, FakeState>>;
  waitFor(id: string, done: (s: FakeState) => boolean, timeoutMs?: number): Promise<FakeState>;
  messagesLeft(): Promise<number>;
}

async function harness(): Promise<Harness> {
  const tag = randomBytes(4).toString('hex');
  const settings = { stream: `RT_${tag}`, subjectPrefix: `rt${tag}`, consumer: `rt${tag}`, ackWaitMs: ACK_WAIT_MS, maxDeliver: MAX_DELIVER };
  const declared = {
    JOBS_STREAM: settings.stream,
    SUBJECT_PREFIX: settings.subjectPrefix,
    QUEUE_GROUP: settings.consumer,
    JS_REPLICAS: 1,
    JOB_ACK_WAIT: ACK_WAIT_MS,
    JOB_DELIVERIES: MAX_DELIVER + 1,
    JOB_STATE_BUCKET: `rt_${tag}`,
    JOB_STATE_TTL: 3_600_000,
  };
  const kv = await openDeclaredBucket(nc, 'job-state.kv.json', declared);
  const work = await WorkQueue.open(nc, settings, declared);
  const states = new JobStates<FakeState>(nc, kv, settings.subjectPrefix);
  const calls: Calls = new Map();
  const completions: Completions = new Map();
  const jsm = await jetstreamManager(nc);
  return {
    work,
    kv,
    states,
    calls,
    completions,
    async enqueue(plan) {
      const job: FakeJob = { id: randomUUID(), kind: 'fake', plan };
      await states.record(codec.queuedState(job));
      await work.publish('fake', new TextEncoder().encode(JSON.stringify(job)), `job:${job.id}`);
      return job;
    },
    async startRuntime() {
      const runtime = new JobRuntime(work, states, codec, new TableLocks(kv, 2 * ACK_WAIT_MS), new JobLeases(kv, 2 * ACK_WAIT_MS), { slots: 2, log, retryBackoff: { firstDelayMs: RETRY_DELAY_MS, maxDelayMs: RETRY_DELAY_MS }, pullExpiresMs: 1_000 });
      runtime.register(fakeProcessor(calls, completions, states));
      runtimes.push(runtime);
      await runtime.start();
      return runtime;
    },
    async waitFor(id, done, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const state = await states.get(id);
        if (state && done(state)) return state;
        if (Date.now() > until) throw new Error(`job ${id} never got there; last state ${JSON.stringify(state)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async messagesLeft() {
      return (await jsm.streams.info(settings.stream)).state.messages;
    },
  };
}

/** Every state of the job as mirrored on `<p>.events.<id>`, in order. */
function mirrored(h: Harness, id: string): FakeState[] {
  const seen: FakeState[] = [];
  nc.subscribe(h.states.eventSubject(id), { callback: (_err, msg) => void seen.push(msg.json<FakeState>()) });
  return seen;
}

describe('the job runtime', () => {
  it('acks a job that completes: queued → active → completed, status done, the message gone', async () => {
    const h = await harness();
    const runtime = await h.startRuntime();
    const inProcess: string[] = [];
    for (const event of ['active', 'progress', 'completed'] as const) runtime.events.on(event, (s) => inProcess.push(`${event}:${s.state}`));
    const job = await h.enqueue('ok');
    const onWire = mirrored(h, job.id);
    await nc.flush();
    const done = await h.waitFor(job.id, (s) => s.state === 'completed');
    expect(done).toMatchObject({ status: 'done', attempts: 1, plan: 'ok', result: { done: 'ok', attempt: 1 }, progress: { tablesDone: 1, tablesTotal: 1 } });
    // The message goes once the state is written (the term and delete come after it).
    await expect.poll(() => h.messagesLeft(), { timeout: 5_000 }).toBe(0);
    expect(inProcess[0]).toBe('active:active');
    expect(inProcess.at(-1)).toBe('completed:completed');
    // The event is published after the state is written: it may arrive a little after.
    await expect.poll(() => onWire.map((s) => [s.state, s.status]).at(-1), { timeout: 5_000 }).toEqual(['completed', 'done']);
    expect(onWire[0]).toMatchObject({ state: 'active', status: 'running', progress: { tablesTotal: 1 } });
    // Its clean-up ran once, only after the completion was written.
    expect(h.completions.get(job.id)).toEqual(['completed']);
  });

  it('a queued state that lands after the worker took the job (they are sent together) never overwrites a later one', async () => {
    const h = await harness();
    await h.startRuntime();
    const job: FakeJob = { id: randomUUID(), kind: 'fake', plan: 'ok' };
    await h.work.publish('fake', new TextEncoder().encode(JSON.stringify(job)), `job:${job.id}`);
    await h.waitFor(job.id, (s) => s.state === 'completed');
    await h.states.recordFirst(codec.queuedState(job));
    expect(await h.states.get(job.id)).toMatchObject({ state: 'completed', status: 'done' });
    // While the job has no state yet, the same call writes it.
    const fresh: FakeJob = { id: randomUUID(), kind: 'fake', plan: 'ok' };
    await h.states.recordFirst(codec.queuedState(fresh));
    expect(await h.states.get(fresh.id)).toMatchObject({ state: 'queued', status: 'queued' });
  });

  it('retries a failed attempt after a backoff: delayed (status queued, reason, nextAttemptAt), then completed', async () => {
    const h = await harness();
    await h.startRuntime();
    const job = await h.enqueue('fail-once');
    const onWire = mirrored(h, job.id);
    await nc.flush();
    const delayed = await h.waitFor(job.id, (s) => s.state === 'delayed');
    expect(delayed.status).toBe('queued');
    expect(delayed.reason).toBe('attempt 1 failed: the database is restarting');
    expect(Date.parse(delayed.nextAttemptAt!)).toBeGreaterThan(Date.parse(delayed.updatedAt) - 1);
    const done = await h.waitFor(job.id, (s) => s.state === 'completed');
    expect(done.attempts).toBe(2);
    const [first, second] = h.calls.get(job.id)!;
    // Equal jitter: at least half the configured delay between the failure and the next attempt.
    expect(second!.at - first!.end!).toBeGreaterThanOrEqual(RETRY_DELAY_MS / 2 - 20);
    await expect
      .poll(() => onWire.map((s) => s.state).filter((s, i, all) => s !== all[i - 1]), { timeout: 5_000 })
      .toEqual(['active', 'delayed', 'active', 'completed']);
    await expect.poll(() => h.messagesLeft(), { timeout: 5_000 }).toBe(0);
  });

  it(`gives up after JOB_MAX_DELIVER (${MAX_DELIVER}) attempts: failed, and the message removed`, async () => {
    const h = await harness();
    await h.startRuntime();
    const job = await h.enqueue('always-fail');
    const failed = await h.waitFor(job.id, (s) => s.state === 'failed');
    expect(failed).toMatchObject({ status: 'failed', attempts: MAX_DELIVER, reason: `boom ${MAX_DELIVER}` });
    expect(h.calls.get(job.id)!.map((c) => c.attempt)).toEqual([1, 2, 3]);
    await expect.poll(() => h.messagesLeft(), { timeout: 5_000 }).toBe(0);
    expect(h.completions.get(job.id)).toBeUndefined();
  });

  it('fails at once on an error that is not retryable (a ServiceError, or the PermanentJobError throw sites use)', async () => {
    const h = await harness();
    await h.startRuntime();
    for (const [plan, reason] of [['permanent', 'table not found: gone'], ['permanent-legacy', 'archive x.7z not found']] as const) {
      const job = await h.enqueue(plan);
      const failed = await h.waitFor(job.id, (s) => s.state === 'failed');
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, reason });
      expect(h.calls.get(job.id)).toHaveLength(1);
    }
    expect(new PermanentJobError('x')).toBeInstanceOf(ServiceError);
    await expect.poll(() => h.messagesLeft(), { timeout: 5_000 }).toBe(0);
  });

  it('does not run a job twice whose ack was lost after it finished (a redelivery of a done job)', async () => {
    const h = await harness();
    const job: FakeJob = { id: randomUUID(), kind: 'fake', plan: 'ok' };
    // The worker that ran it wrote `done` and died before its ack reached the server.
    await h.states.record(stateIn({ ...codec.queuedState(job), attempts: 1 }, 'completed', { result: { done: 'earlier' } }));
    await h.work.publish('fake', new TextEncoder().encode(JSON.stringify(job)), `job:${job.id}`);
    await h.startRuntime();
    const until = Date.now() + 10_000;
    while ((await h.messagesLeft()) > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    await expect.poll(() => h.messagesLeft(), { timeout: 5_000 }).toBe(0);
    expect(h.calls.get(job.id)).toBeUndefined();
    expect(await h.states.get(job.id)).toMatchObject({ state: 'completed', result: { done: 'earlier' } });
    // The worker may have died before its clean-up: the redelivery runs it.
    expect(h.completions.get(job.id)).toEqual(['completed']);
  });

  it('hands a running job back at shutdown (interrupted, status queued), and another runtime completes it', async () => {
    const h = await harness();
    const first = await h.startRuntime();
    const job = await h.enqueue('wait-first');
    await h.waitFor(job.id, (s) => s.state === 'active');
    const stopping = Date.now();
    await first.stop(300);
    expect(Date.now() - stopping).toBeLessThan(300 + 5_000 + 2_000); // grace + one pull's expiry + slack
    const handedBack = await h.states.get(job.id);
    expect(handedBack).toMatchObject({ state: 'interrupted', status: 'queued', reason: 'interrupted by a shutdown; queued again' });
    expect(h.calls.get(job.id)![0]!.aborted).toBe(true);
    await h.startRuntime();
    const done = await h.waitFor(job.id, (s) => s.state === 'completed');
    expect(done.attempts).toBe(2);
    await expect.poll(() => h.messagesLeft(), { timeout: 5_000 }).toBe(0);
  });

  it('lets a job finish within the grace period instead of handing it back', async () => {
    const h = await harness();
    const runtime = await h.startRuntime();
    const job = await h.enqueue('hold');
    await h.waitFor(job.id, (s) => s.state === 'active');
    await runtime.stop(5_000);
    expect(await h.states.get(job.id)).toMatchObject({ state: 'completed', attempts: 1 });
  });

  it('never runs two jobs at once that declare the same table lock', async () => {
    const h = await harness();
    await h.startRuntime();
    const jobs = await Promise.all([h.enqueue('hold'), h.enqueue('hold')]);
    for (const job of jobs) await h.waitFor(job.id, (s) => s.state === 'completed');
    const [a, b] = jobs.map((job) => h.calls.get(job.id)![0]!).sort((x, y) => x.at - y.at);
    expect(b!.at).toBeGreaterThanOrEqual(a!.end!);
  });
  describe('one run per job across processes (the job lease)', () => {
    const STALE_MS = 2 * ACK_WAIT_MS;
    /** Another process's lease on the job, as it writes it. */
    const foreignLease = (id: string, renewedAt = Date.now()) => JSON.stringify({ job: id, holder: 'another-process', renewedAt });

    it('waits while another process holds the lease, and drops the delivery when that run finished the job', async () => {
      const h = await harness();
      const id = randomUUID();
      await h.kv.create(`lock.job.${id}`, foreignLease(id));
      const renewer = setInterval(() => void h.kv.put(`lock.job.${id}`, foreignLease(id)).catch(() => undefined), 1_000);
      try {
        const job: FakeJob = { id, kind: 'fake', plan: 'ok' };
        await h.states.record(codec.queuedState(job));
        await h.work.publish('fake', new TextEncoder().encode(JSON.stringify(job)), `job:${id}`);
        await h.startRuntime();
        // Longer than the ack wait: the waiting delivery heartbeats, so it is not redelivered either.
        await new Promise((resolve) => setTimeout(resolve, ACK_WAIT_MS + 2_000));
        expect(h.calls.get(id)).toBeUndefined();
        expect((await h.states.get(id))?.state).toBe('queued');
        // The other process's run ends: it records completed and releases its lease.
        await h.states.record(stateIn(codec.queuedState(job), 'completed', { attempts: 1 }));
      } finally {
        clearInterval(renewer);
      }
      await h.kv.delete(`lock.job.${id}`);
      await expect.poll(() => h.messagesLeft(), { timeout: 10_000 }).toBe(0);
      expect(h.calls.get(id)).toBeUndefined();
      expect((await h.states.get(id))?.state).toBe('completed');
    }, 40_000);

    it('takes over a lease its holder stopped renewing (after staleMs), and runs the job once', async () => {
      const h = await harness();
      const id = randomUUID();
      const since = Date.now();
      await h.kv.create(`lock.job.${id}`, foreignLease(id, since));
      const job: FakeJob = { id, kind: 'fake', plan: 'ok' };
      await h.states.record(codec.queuedState(job));
      await h.work.publish('fake', new TextEncoder().encode(JSON.stringify(job)), `job:${id}`);
      await h.startRuntime();
      const done = await h.waitFor(id, (s) => s.state === 'completed', 30_000);
      expect(done.attempts).toBe(1);
      expect(h.calls.get(id)).toHaveLength(1);
      expect(h.calls.get(id)![0]!.at - since).toBeGreaterThanOrEqual(STALE_MS - 100);
      await expect.poll(() => h.messagesLeft(), { timeout: 5_000 }).toBe(0);
    }, 40_000);

    it('stops its own attempt when another process took its lease over, and runs it again once the lease is free', async () => {
      const h = await harness();
      await h.startRuntime();
      const job = await h.enqueue('wait-first');
      const onWire = mirrored(h, job.id);
      await h.waitFor(job.id, (s) => s.state === 'active');
      // Another process takes the lease (its own already stale, so this one may take it back).
      await h.kv.put(`lock.job.${job.id}`, foreignLease(job.id, Date.now() - STALE_MS));
      const done = await h.waitFor(job.id, (s) => s.state === 'completed', 30_000);
      expect(done.attempts).toBe(2);
      const [first, second] = h.calls.get(job.id)!;
      expect(first?.aborted).toBe(true);
      expect(second?.at).toBeGreaterThanOrEqual(first!.end!);
      const stopped = onWire.find((s) => s.state === 'interrupted');
      expect(stopped?.reason).toMatch(/^stopped: this process could not keep the job's lease \(the lease of job .* was taken over by another-process\)/);
    }, 40_000);
  });

  it(`records failed when the last of JOB_MAX_DELIVER attempts died (the consumer's one extra delivery)`, async () => {
    const h = await harness();
    const job = await h.enqueue('ok');
    // Three workers take the job and die without a word (no ack, no nak).
    const consumer = await h.work.js.consumers.get(h.work.settings.stream, h.work.settings.consumer);
    for (let delivery = 1; delivery <= MAX_DELIVER; delivery++) {
      const msg = await consumer.next({ expires: ACK_WAIT_MS + 3_000 });
      expect(msg?.info.deliveryCount).toBe(delivery);
    }
    await h.startRuntime();
    const failed = await h.waitFor(job.id, (s) => s.state === 'failed', 20_000);
    expect(failed).toMatchObject({ status: 'failed', attempts: MAX_DELIVER });
    expect(failed.reason).toBe(`gave up after ${MAX_DELIVER} attempts: the last one ended without a result (its process died, or lost NATS)`);
    expect(h.calls.get(job.id)).toBeUndefined();
    await expect.poll(() => h.messagesLeft(), { timeout: 5_000 }).toBe(0);
  }, 60_000);
});
