import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureBucket, loadDeclaration, type BucketDeclaration, type Settings } from './declarations.js';
import type { Job } from './job.js';
import { retryTransient } from './transient.js';

type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface JobProgress {
  tablesDone: number;
  tablesTotal: number;
  /** Rows dumped (backup); rows are estimated by the server's statistics before the dump. */
  rowsDone: number;
  rowsTotal: number;
  /** SQL bytes dumped (backup) or loaded (restore). */
  bytesDone: number;
  bytesTotal: number;
}

export interface JobResult {
  archive: string;
  path: string;
  size: number;
  sha256: string;
  durationMs: number;
  /** The archive's copy in the object store and its digest there. */
  bucket: { name: string; digest: string };
}

export interface JobState {
  id: string;
  kind: Job['kind'];
  status: JobStatus;
  archive: string;
  tables: string[];
  requestedAt: string;
  updatedAt: string;
  /** Deliveries so far: 0 while first queued, 2 after one redelivery, and so on. */
  attempts: number;
  progress?: JobProgress;
  result?: JobResult;
  /** Why the job failed (failed), or why its last attempt failed (queued again for a retry). */
  reason?: string;
  /** A scheduled backup: its schedule and slot (ISO 8601, UTC). */
  schedule?: string;
  slot?: string;
  /** A restore into another database or under other names (`<p>.restoreinto`). */
  database?: string;
  rename?: Record<string, string>;
}

export function queuedState(job: Job): JobState {
  return {
    id: job.id,
    kind: job.kind,
    status: 'queued',
    archive: job.archive,
    tables: job.tables,
    requestedAt: job.requestedAt,
    updatedAt: new Date().toISOString(),
    attempts: 0,
    ...(job.kind === 'backup' && job.schedule !== undefined && { schedule: job.schedule, slot: job.slot }),
    ...(job.kind === 'restore' && job.database !== undefined && { database: job.database }),
    ...(job.kind === 'restore' && job.rename !== undefined && { rename: job.rename }),
  };
}

/**
 * Job states in a JetStream key-value bucket (one key per job id; finished ones expire with the
 * bucket's TTL), and each change published on `<prefix>.events.<jobid>`, so a caller can ask
 * (`<prefix>.status`) or subscribe, before or after the job starts.
 */
export class JobStates {
  /** Per job, the last write queued: writes of one job in order, of different jobs at once. */
  private readonly tails = new Map<string, Promise<void>>();

  private constructor(
    private readonly nc: NatsConnection,
    readonly kv: KV,
    private readonly subjectPrefix: string,
  ) {}

  static async open(nc: NatsConnection, subjectPrefix: string, settings: Settings): Promise<JobStates> {
    const declaration = await loadDeclaration<BucketDeclaration>('job-state.kv.json', settings);
    await ensureBucket(await jetstreamManager(nc), new Kvm(nc), declaration);
    const kv = await new Kvm(nc).open(declaration.bucket);
    return new JobStates(nc, kv, subjectPrefix);
  }

  eventSubject(id: string): string {
    return `${this.subjectPrefix}.events.${id}`;
  }

  /**
   * A job's records are written one after another, so a late progress report never overtakes
   * `done`; different jobs' records go at once (one chain for all made 100 concurrent
   * makebackups wait 68 ms each for the others' writes).
   */
  record(state: JobState): Promise<void> {
    const write = (this.tails.get(state.id) ?? Promise.resolve()).then(async () => {
      const data = JSON.stringify({ ...state, updatedAt: new Date().toISOString() });
      await retryTransient(() => this.kv.put(stateKey(state.id), data));
      this.nc.publish(this.eventSubject(state.id), data);
    });
    const tail = write.catch(() => undefined);
    this.tails.set(state.id, tail);
    void tail.then(() => {
      if (this.tails.get(state.id) === tail) this.tails.delete(state.id);
    });
    return write;
  }

  async get(id: string): Promise<JobState | null> {
    const entry = await retryTransient(() => this.kv.get(stateKey(id)));
    if (!entry || entry.operation !== 'PUT') return null;
    return entry.json<JobState>();
  }

  async remove(id: string): Promise<void> {
    await this.kv.delete(stateKey(id));
  }
}

function stateKey(id: string): string {
  return `job.${id}`;
}
