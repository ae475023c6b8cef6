import type { NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { ArchiveName, TableName } from '../names.js';
import { archiveNameFor } from '../store/local.js';
import { encodeJob, newJobId, type BackupJob, type RestoreJob } from './job.js';

export interface QueueSettings {
  stream: string;
  subjectPrefix: string;
  consumer: string;
  ackWaitMs: number;
  maxDeliver: number;
}

/** How long JetStream remembers a message id: backup names are reserved for this long. */
const DUPLICATE_WINDOW_MS = 120_000;
/** At most this many backups may be requested in one second before names run out. */
const MAX_SEQUENCE = 1000;

/**
 * The JetStream work queue of backup and restore jobs. A job is on disk in the stream before the
 * request is answered, so a crash after the reply loses nothing.
 */
export class JobQueue {
  private constructor(
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly settings: QueueSettings,
  ) {}

  static async open(nc: NatsConnection, settings: QueueSettings): Promise<JobQueue> {
    const jsm = await jetstreamManager(nc);
    const queue = new JobQueue(jetstream(nc), jsm, settings);
    await queue.ensureStream();
    await queue.ensureConsumer();
    return queue;
  }

  get subject(): string {
    return `${this.settings.subjectPrefix}.jobs`;
  }

  /**
   * Queues a backup under a name no other backup has: the name is the message id, so JetStream's
   * duplicate detection refuses a second job with the same name from any instance, and a file of
   * that name already in `isTaken` moves on to the next sequence number.
   */
  async enqueueBackup(tables: TableName[], isTaken: (name: ArchiveName) => Promise<boolean>, now = new Date()): Promise<BackupJob> {
    for (let sequence = 1; sequence <= MAX_SEQUENCE; sequence++) {
      const archive = archiveNameFor(now, sequence);
      if (await isTaken(archive)) continue;
      const job: BackupJob = { kind: 'backup', id: newJobId(), archive, tables, requestedAt: now.toISOString() };
      const ack = await this.js.publish(`${this.subject}.backup`, encodeJob(job), { msgID: `archive:${archive}` });
      if (!ack.duplicate) return job;
    }
    throw new Error('too many backups requested in one second');
  }

  async enqueueRestore(archive: ArchiveName, tables: TableName[]): Promise<RestoreJob> {
    const job: RestoreJob = { kind: 'restore', id: newJobId(), archive, tables, requestedAt: new Date().toISOString() };
    await this.js.publish(`${this.subject}.restore`, encodeJob(job), { msgID: `job:${job.id}` });
    return job;
  }

  private async ensureStream(): Promise<void> {
    const { stream } = this.settings;
    const subjects = [`${this.subject}.>`];
    try {
      const info = await this.jsm.streams.info(stream);
      if (info.config.retention !== RetentionPolicy.Workqueue) {
        throw new Error(`stream ${stream} exists but is not a work-queue stream (retention ${info.config.retention})`);
      }
      if (!subjects.every((s) => info.config.subjects?.includes(s))) {
        throw new Error(`stream ${stream} exists with subjects ${JSON.stringify(info.config.subjects)}, expected ${JSON.stringify(subjects)}`);
      }
    } catch (err) {
      if (!isNotFound(err, JetStreamApiCodes.StreamNotFound)) throw err;
      await this.jsm.streams.add({
        name: stream,
        subjects,
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        num_replicas: 1,
        duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      });
    }
  }

  private async ensureConsumer(): Promise<void> {
    const { stream, consumer } = this.settings;
    const config = {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.settings.ackWaitMs),
      max_deliver: this.settings.maxDeliver,
      max_ack_pending: -1,
    };
    try {
      await this.jsm.consumers.info(stream, consumer);
      await this.jsm.consumers.update(stream, consumer, {
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
      });
    } catch (err) {
      if (!isNotFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
      await this.jsm.consumers.add(stream, config);
    }
  }
}

function isNotFound(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}
