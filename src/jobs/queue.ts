import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerConfig, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { ArchiveName, TableName } from '../names.js';
import { archiveNameFor, archiveStampOf } from '../store/local.js';
import { ensureConsumer, ensureStream, loadDeclaration, type Settings } from './declarations.js';
import { SequenceCounter } from './sequences.js';
import { JobStates, queuedState } from './state.js';
import { retryTransient } from './transient.js';
import { decodeJob, encodeJob, newJobId, type BackupJob, type RestoreJob } from './job.js';

export interface QueueSettings {
  stream: string;
  subjectPrefix: string;
  consumer: string;
  ackWaitMs: number;
  maxDeliver: number;
}

export interface ScheduledBackup {
  id: string;
  schedule: string;
  slot: Date;
}

/** At most this many backups may be requested in one second before names run out. */
const MAX_SEQUENCE = 1000;
/** Names drawn for one backup before giving up (each taken one was on disk, in the bucket or queued). */
const MAX_NAME_ATTEMPTS = 100;

/**
 * The JetStream work queue of backup and restore jobs. A job is on disk in the stream before the
 * request is answered, so a crash after the reply loses nothing.
 */
export class JobQueue {
  private readonly sequences: SequenceCounter;

  private constructor(
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly settings: QueueSettings,
    readonly states: JobStates,
  ) {
    this.sequences = new SequenceCounter(states.kv);
  }

  static async open(nc: NatsConnection, settings: QueueSettings, declarationSettings: Settings): Promise<JobQueue> {
    const jsm = await jetstreamManager(nc);
    const states = await JobStates.open(nc, settings.subjectPrefix, declarationSettings);
    const queue = new JobQueue(jetstream(nc), jsm, settings, states);
    await queue.declare(declarationSettings);
    return queue;
  }

  get subject(): string {
    return `${this.settings.subjectPrefix}.jobs`;
  }

  /**
   * Queues a backup under a name no other backup has. The same-second number comes from a counter
   * shared by all instances (sequences.ts), so n backups of one second cost O(1) publishes each,
   * not a walk from `-backup.7z` up. The name is still the message id, so JetStream's duplicate
   * detection refuses a second job with the same name (an instance without the counter, a counter
   * that expired with the bucket's TTL), and a name `isTaken` finds on disk or in the bucket is
   * skipped: both draw the next number. A scheduled backup comes with its job id (one per slot)
   * and is named by its slot's time.
   */
  async enqueueBackup(tables: TableName[], isTaken: (name: ArchiveName) => Promise<boolean>, now = new Date(), scheduled?: ScheduledBackup): Promise<BackupJob> {
    const date = scheduled?.slot ?? now;
    for (let attempt = 0; attempt < MAX_NAME_ATTEMPTS; attempt++) {
      const sequence = await this.sequences.next(archiveStampOf(date));
      if (sequence > MAX_SEQUENCE) break;
      const archive = archiveNameFor(date, sequence);
      if (await isTaken(archive)) continue;
      const job: BackupJob = {
        kind: 'backup',
        id: scheduled?.id ?? newJobId(),
        archive,
        tables,
        requestedAt: now.toISOString(),
        ...(scheduled && { schedule: scheduled.schedule, slot: scheduled.slot.toISOString() }),
      };
      // The state first: a worker that takes the job at once must find it, not overwrite it later.
      await this.states.record(queuedState(job));
      // A retried publish is safe: the message id makes a second copy a duplicate.
      const ack = await this.publishBackup(job);
      if (!ack.duplicate || (await this.isOwnMessage(ack.seq, job.id))) return job;
      await this.states.remove(job.id);
    }
    throw new Error('too many backups requested in one second');
  }

  /**
   * Publishes a backup job whose queued state is recorded already, once more (the scheduler, when
   * the instance that queued it may have died before publishing): a copy still in the duplicate
   * window makes this one a duplicate. True when this publish added the job.
   */
  async republishBackup(job: BackupJob): Promise<boolean> {
    return !(await this.publishBackup(job)).duplicate;
  }

  private publishBackup(job: BackupJob) {
    return retryTransient(() => this.js.publish(`${this.subject}.backup`, encodeJob(job), { msgID: `archive:${job.archive}` }));
  }

  async enqueueRestore(job: RestoreJob): Promise<RestoreJob> {
    await this.states.record(queuedState(job));
    await retryTransient(() => this.js.publish(`${this.subject}.restore`, encodeJob(job), { msgID: `job:${job.id}` }));
    return job;
  }

  /**
   * Whether the stored message a duplicate ack points to is this job: a publish retried after its
   * ack was lost is reported as a duplicate of itself. A message already taken by a worker is
   * gone from the stream, but then its state has moved on from queued.
   */
  private async isOwnMessage(seq: number, jobId: string): Promise<boolean> {
    const stored = await this.jsm.streams.getMessage(this.settings.stream, { seq }).catch(() => null);
    if (stored) return decodeJob(stored.data).id === jobId;
    const state = await this.states.get(jobId).catch(() => null);
    return state !== null && state.status !== 'queued';
  }

  private async declare(settings: Settings): Promise<void> {
    await ensureStream(this.jsm, await loadDeclaration<StreamConfig>('jobs.stream.json', settings));
    const consumer = await loadDeclaration<ConsumerConfig & { durable_name: string }>('jobs.consumer.json', settings);
    await ensureConsumer(this.jsm, this.settings.stream, consumer);
  }
}
