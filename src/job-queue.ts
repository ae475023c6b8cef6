import type { BackupNames } from './backup/names.js';
import { decodeJob, encodeJob, newJobId, queuedState, type BackupJob, type JobState, type RestoreJob, type VerifyJob } from './job-kinds.js';
import type { WorkQueue } from './jobs/queue.js';
import type { JobStates } from './jobs/state.js';
import { NotFoundError } from './errors.js';
import type { ArchiveName, TableName } from './names.js';
import { ArchiveBeingPruned, type ArchivePins } from './store/pins.js';

export interface ScheduledBackup {
  id: string;
  schedule: string;
  slot: Date;
}

/** How requests and schedules queue backups and restores: the state first, then the message. */
export class JobQueue {
  constructor(
    private readonly work: WorkQueue,
    readonly states: JobStates<JobState>,
    private readonly names: BackupNames,
  ) {}

  /**
   * Queues a backup under a name no other backup has. The name is the message id, so JetStream's
   * duplicate detection refuses a second job with the same name: that one draws the next name.
   * A scheduled backup comes with its job id (one per slot) and is named by its slot's time.
   */
  async enqueueBackup(tables: TableName[], isTaken: (name: ArchiveName) => Promise<boolean>, now = new Date(), scheduled?: ScheduledBackup): Promise<BackupJob> {
    for await (const archive of this.names.candidates(scheduled?.slot ?? now, isTaken)) {
      const job: BackupJob = {
        kind: 'backup',
        id: scheduled?.id ?? newJobId(),
        archive,
        tables,
        requestedAt: now.toISOString(),
        ...(scheduled && { schedule: scheduled.schedule, slot: scheduled.slot.toISOString() }),
      };
      const ack = scheduled ? await this.stateThenPublish(job) : await this.stateWithPublish(job);
      if (!ack.duplicate || (await this.isOwnMessage(ack.seq, job.id))) return job;
      await this.states.remove(job.id);
    }
    throw new Error('no archive name left for a backup');
  }

  /**
   * A scheduled backup's state first: a schedule slot taken over from a dead instance reads "no
   * state" as "not published" (scheduler.ts), and a worker that takes the job at once finds it.
   */
  private async stateThenPublish(job: BackupJob) {
    await this.states.record(queuedState(job));
    return this.publishBackup(job);
  }

  /**
   * A requested backup's queued state and message at once, one round trip less before the reply:
   * a worker that takes the job first writes a later state, which the queued one never
   * overwrites. A queued state that could not be written is no reason to refuse a job that is
   * queued: its worker records the states from there on.
   */
  private async stateWithPublish(job: BackupJob) {
    const [ack] = await Promise.all([this.publishBackup(job), this.states.recordFirst(queuedState(job)).catch(() => undefined)]);
    return ack;
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
    return this.work.publish('backup', encodeJob(job), `archive:${job.archive}`);
  }

  /**
   * Queues a restore or a verify (its id is its message id: a retried publish is a duplicate),
   * its archive pinned first: retention never removes an archive a queued job needs. `exists` is
   * asked after the pin (retention may have removed the archive just before); the pin is taken
   * back when the job could not be queued. NotFoundError when the archive is gone.
   */
  async enqueuePinned(job: RestoreJob | VerifyJob, pins: ArchivePins, exists: (archive: ArchiveName) => Promise<boolean>): Promise<void> {
    const { archive } = job;
    try {
      await pins.pin(archive, job.id);
    } catch (err) {
      if (err instanceof ArchiveBeingPruned) throw new NotFoundError(err.message, { cause: err });
      throw err;
    }
    let queued = false;
    try {
      if (!(await exists(archive))) throw new NotFoundError(`archive ${archive} not found`);
      await this.states.record(queuedState(job));
      await this.work.publish(job.kind, encodeJob(job), `job:${job.id}`);
      queued = true;
    } finally {
      if (!queued) await pins.unpin(archive, job.id).catch(() => undefined);
    }
  }

  /**
   * Whether the stored message a duplicate ack points to is this job: a publish retried after its
   * ack was lost is reported as a duplicate of itself. A message already taken by a worker is
   * gone from the stream, but then its state has moved on from queued.
   */
  private async isOwnMessage(seq: number, jobId: string): Promise<boolean> {
    const stored = await this.work.stored(seq);
    if (stored) return decodeJob(stored).id === jobId;
    const state = await this.states.get(jobId).catch(() => null);
    return state !== null && state.status !== 'queued';
  }
}
