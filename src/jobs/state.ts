import { EventEmitter } from 'node:events';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { isLostRace } from '../kv-race.js';
import type { JobProgress } from '../progress.js';
import { retryTransient } from '../transient.js';

/**
 * Where a job is in its life: `queued` (first queued) → `active` (a worker runs it) → `completed`
 * or `failed` (for good), or `delayed` (an attempt failed; the next one waits, see
 * `nextAttemptAt`), or `interrupted` (handed back at a shutdown, queued again at once).
 */
export type JobLifecycle = 'queued' | 'active' | 'completed' | 'failed' | 'delayed' | 'interrupted';

/** The `status` callers have always seen; a delayed or interrupted job is still `queued` there. */
type JobStatus = 'queued' | 'running' | 'done' | 'failed';

const STATUS_OF: Record<JobLifecycle, JobStatus> = {
  queued: 'queued',
  active: 'running',
  completed: 'done',
  failed: 'failed',
  delayed: 'queued',
  interrupted: 'queued',
};

/** What the runtime keeps of any job; a kind adds its own fields (archive, tables, …). */
export interface RuntimeState {
  id: string;
  kind: string;
  status: JobStatus;
  state: JobLifecycle;
  requestedAt: string;
  updatedAt: string;
  /** Deliveries so far: 0 while first queued, 2 after one redelivery, and so on. */
  attempts: number;
  progress?: JobProgress;
  /** What a completed job reports (its kind decides). */
  result?: unknown;
  /** Why the job failed (failed), or why its last attempt failed (delayed), or was interrupted. */
  reason?: string;
  /** A delayed job: when its next attempt is due (ISO 8601, about; JetStream redelivers it). */
  nextAttemptAt?: string;
}

/** The state of a job entering `lifecycle`, with the wire `status` that goes with it. */
export function stateIn<S extends RuntimeState>(base: S, lifecycle: JobLifecycle, fields: Partial<RuntimeState> = {}): S {
  return { ...base, ...fields, state: lifecycle, status: STATUS_OF[lifecycle] };
}

export function isFinal(state: Pick<RuntimeState, 'state' | 'status'>): boolean {
  return state.status === 'done' || state.status === 'failed';
}

/** In-process events: one per life-cycle state a job enters, plus `progress` while it is active. */
export type JobEvents<S extends RuntimeState> = { [L in JobLifecycle | 'progress']: [state: S] };

/**
 * Job states in the job-state KV bucket, the one owner of its `job.<id>` keys (finished ones
 * expire with the bucket's TTL). Each change is published on `<prefix>.events.<jobid>`, so a
 * caller can ask (`<prefix>.status`) or subscribe, before or after the job starts, and emitted
 * in process on `events`.
 */
export class JobStates<S extends RuntimeState> {
  readonly events = new EventEmitter<JobEvents<S>>();
  /** Per job, the last write queued: writes of one job in order, of different jobs at once. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly subjectPrefix: string,
  ) {}

  eventSubject(id: string): string {
    return `${this.subjectPrefix}.events.${id}`;
  }

  /**
   * A job's records are written one after another, so a late progress report never overtakes
   * `done`; different jobs' records go at once (one chain for all made 100 concurrent
   * makebackups wait 68 ms each for the others' writes). `signal` ends the retries of the write.
   */
  record(state: S, event: JobLifecycle | 'progress' = state.state, signal?: AbortSignal): Promise<void> {
    return this.write(state, event, async (key, data) => {
      await retryTransient(() => this.kv.put(key, data), { signal });
      return true;
    });
  }

  /**
   * The job's first record, written only while it has none: it may go out together with the
   * job's message, so a worker that took the job already may have written a later state, which
   * this must not overwrite (that write then simply does not happen).
   */
  recordFirst(state: S): Promise<void> {
    return this.write(state, state.state, async (key, data) => {
      try {
        await retryTransient(() => this.kv.create(key, data));
        return true;
      } catch (err) {
        if (isLostRace(err)) return false;
        throw err;
      }
    });
  }

  /** Queues the job's next write after its last one; `put` says whether it wrote (then the event goes out). */
  private write(state: S, event: JobLifecycle | 'progress', put: (key: string, data: string) => Promise<boolean>): Promise<void> {
    const write = (this.tails.get(state.id) ?? Promise.resolve()).then(async () => {
      const stamped = { ...state, updatedAt: new Date().toISOString() };
      const data = JSON.stringify(stamped);
      if (!(await put(stateKey(state.id), data))) return;
      this.nc.publish(this.eventSubject(state.id), data);
      this.events.emit(event, ...([stamped] as JobEvents<S>[typeof event]));
    });
    const tail = write.catch(() => undefined);
    this.tails.set(state.id, tail);
    void tail.then(() => {
      if (this.tails.get(state.id) === tail) this.tails.delete(state.id);
    });
    return write;
  }

  async get(id: string): Promise<S | null> {
    const entry = await retryTransient(() => this.kv.get(stateKey(id)));
    if (!entry || entry.operation !== 'PUT') return null;
    return entry.json<S>();
  }

  async remove(id: string): Promise<void> {
    await retryTransient(() => this.kv.delete(stateKey(id)));
  }
}

function stateKey(id: string): string {
  return `job.${id}`;
}
