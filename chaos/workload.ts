/**
 * The steady stream of requests: backups of random sets of the chaos tables, restores of random
 * tables from archives already made, and listings; every accepted job is followed on
 * `<prefix>.status` until it ends.
 */
import { intIn, pick, type Rng } from '../bench/prng.js';
import type { Requester } from './client.js';
import { TABLE_NAMES } from './tables.js';

interface JobState {
  id: string;
  kind: 'backup' | 'restore';
  status: 'queued' | 'running' | 'done' | 'failed';
  archive: string;
  tables: string[];
  attempts: number;
  reason?: string;
  result?: { archive: string; path: string; size: number; sha256: string; bucket?: { name: string; digest: string } };
}

export interface TrackedJob {
  id: string;
  kind: 'backup' | 'restore' | 'verify';
  archive: string;
  tables: string[];
  requestedAt: number;
  /** A makebackup reply's promised path. */
  futurefilename?: string;
  /** The last state seen; `status` done or failed once the job ended. */
  state?: JobState;
  /** `<prefix>.status` last answered 404 for it (after the reply said ok). */
  unknown?: boolean;
}

export const ended = (job: TrackedJob) => job.state?.status === 'done' || job.state?.status === 'failed';

const JOB_TRY_MS = 20_000; // longer than the service's own 15 s of JetStream retries (no duplicate jobs)
const STATUS_TRY_MS = 5_000;

export class Workload {
  readonly jobs: TrackedJob[] = [];
  /** Refusals (not jobs): subject + code + reason → count. */
  readonly refusals = new Map<string, number>();
  private readonly followers: Promise<void>[] = [];
  private stopFollowing = false;

  constructor(
    private readonly requester: Requester,
    private readonly rng: Rng,
  ) {}

  outstanding(): number {
    return this.jobs.filter((j) => !ended(j)).length;
  }

  /** Issues requests until `untilMs`, at most `maxOutstanding` unfinished jobs at a time. */
  async run(untilMs: number, maxOutstanding: number): Promise<void> {
    const pending: Promise<unknown>[] = [];
    let lastListing = 0;
    while (Date.now() < untilMs) {
      await sleep(intIn(this.rng, 500, 2_500));
      if (Date.now() - lastListing > 5_000) {
        lastListing = Date.now();
        pending.push(this.requester.ask('listbackups', 'listfiles', STATUS_TRY_MS));
      }
      if (this.outstanding() >= maxOutstanding) continue;
      const backups = this.jobs.filter((j) => j.kind === 'backup');
      const done = backups.filter((j) => j.state?.status === 'done');
      const dice = this.rng();
      // Now and then a restore of an archive whose job may not have ended yet.
      if (dice < 0.05 && backups.length > 0) pending.push(this.restore(backups[backups.length - 1]!));
      else if (dice < 0.45 && done.length > 0) pending.push(this.restore(pick(this.rng, done)));
      else pending.push(this.backup());
    }
    await Promise.all(pending);
  }

  async backup(): Promise<void> {
    const tables = this.subset(TABLE_NAMES);
    const requestedAt = Date.now();
    const reply = await this.requester.ask('makebackup', `makebackup=${tables.join(',')}`, JOB_TRY_MS);
    if (!reply) return;
    const id = reply.headers['Backup-Job-Id'];
    const body = JSON.parse(reply.body) as { status: string; futurefilename?: string };
    if (body.status !== 'ok' || !id) return this.refused('makebackup', reply.code, reply.error);
    const futurefilename = body.futurefilename ?? '';
    this.track({ id, kind: 'backup', archive: futurefilename.split('/').pop() ?? '', tables, requestedAt, futurefilename });
  }

  async restore(from: TrackedJob): Promise<void> {
    const tables = this.subset(from.tables);
    const requestedAt = Date.now();
    const reply = await this.requester.ask('restore', `archive=${from.archive};tables=${tables.map((t) => `${t}.sql`).join(',')}`, JOB_TRY_MS);
    if (!reply) return;
    const id = reply.headers['Backup-Job-Id'];
    if (reply.body !== '{"status": "ok"}' || !id) return this.refused('restore', reply.code, reply.error);
    this.track({ id, kind: 'restore', archive: from.archive, tables, requestedAt });
  }

  /** Follows a job accepted elsewhere (the end-of-run restores) like the workload's own. */
  track(job: TrackedJob): void {
    this.jobs.push(job);
    this.followers.push(this.follow(job));
  }

  /** Waits until every job ended (or `untilMs` passed); then stops following. */
  async settle(untilMs: number): Promise<void> {
    while (Date.now() < untilMs && this.outstanding() > 0) await sleep(500);
    this.stopFollowing = true;
    await Promise.all(this.followers);
  }

  private async follow(job: TrackedJob): Promise<void> {
    while (!this.stopFollowing && !ended(job)) {
      await sleep(1_000);
      const reply = await this.requester.ask('status', job.id, STATUS_TRY_MS);
      if (!reply) continue;
      // 404 after an ok: lost unless it shows up later (asked again until the end).
      job.unknown = reply.code === '404';
      if (reply.code) continue; // 503 and such: ask again
      job.state = JSON.parse(reply.body) as JobState;
    }
  }

  private refused(subject: string, code: string | undefined, error: string | undefined): void {
    // Names and numbers vary; the kind of refusal is what counts.
    const reason = `${subject} ${code ?? '?'}: ${(error ?? 'no reason').replace(/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-backup(-\d+)?\.7z/g, '<archive>')}`;
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  private subset(from: readonly string[]): string[] {
    const chosen = from.filter(() => this.rng() < 0.5);
    return chosen.length > 0 ? chosen : [pick(this.rng, from)];
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
