import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cron } from 'croner';
import type { BackupJob } from '../job-kinds.js';
import type { JobQueue } from '../job-queue.js';
import type { Logger } from '../log.js';
import type { ArchiveName } from '../names.js';
import { cronOf, type Schedule } from './config.js';
import { slotJobId, type SlotClaim, type SlotClaims } from './slots.js';

export interface SchedulerDeps {
  queue: JobQueue;
  claims: SlotClaims;
  /** Whether an archive name is taken already (a new backup must not use it). */
  isTaken: (name: ArchiveName) => Promise<boolean>;
  subjectPrefix: string;
  log: Logger;
}

/**
 * A claim still not queued this long after it was made belongs to an instance that died (or lost
 * NATS) between claiming and queueing: another instance takes it over. Longer than the claimer's
 * own retries (15 s per JetStream call), well inside the job stream's 2-minute duplicate window,
 * which makes a takeover's republish of the same job a duplicate if the claimer did publish it.
 */
const CLAIM_LEASE_MS = 30_000;
/** A timer that wakes this much after its slot (the process stalled) skips to the next slot. */
const LATE_LIMIT_MS = 60_000;
/** Node's timers hold at most 2^31-1 ms (24.8 days): longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long stop() waits for firings under way. */
const STOP_WAIT_MS = 20_000;

/**
 * Fires each schedule's slots on every instance; for each slot exactly one instance in the cluster
 * wins the slot's KV claim and queues a backup job, through the same work queue as `makebackup`.
 */
export class Scheduler {
  /** This process, in claims and logs. */
  readonly instance = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly underway = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly schedules: Schedule[],
    private readonly deps: SchedulerDeps,
  ) {}

  /** Catches up where asked, then arms every schedule for its slots after `now`. */
  async start(now = new Date()): Promise<void> {
    if (this.schedules.length === 0) return;
    const next: Record<string, string | null> = {};
    for (const schedule of this.schedules) {
      const cron = cronOf(schedule);
      if (schedule.catchUp) await this.track(this.catchUp(schedule, cron, now), schedule, now);
      // From 1 ms before now, so a slot at exactly this instant is fired rather than skipped.
      const after = new Date(now.getTime() - 1);
      next[schedule.name] = cron.nextRun(after)?.toISOString() ?? null;
      this.arm(schedule, cron, after);
    }
    this.deps.log.info({ schedules: this.schedules.map((s) => s.name), next, from: now.toISOString(), instance: this.instance }, 'schedules started');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.underway]), new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }

  private arm(schedule: Schedule, cron: Cron, after: Date): void {
    if (this.stopped) return;
    let slot = cron.nextRun(after);
    if (slot && Date.now() - slot.getTime() > LATE_LIMIT_MS) {
      const skippedFrom = slot;
      slot = cron.nextRun(new Date());
      this.deps.log.warn({ schedule: schedule.name, skippedFrom: skippedFrom.toISOString(), next: slot?.toISOString() }, 'the process woke long after a slot; skipping to the next one');
    }
    if (!slot) {
      this.deps.log.warn({ schedule: schedule.name }, 'the schedule has no more slots');
      return;
    }
    const due = slot;
    const wait = due.getTime() - Date.now();
    if (wait > MAX_TIMER_MS) return this.later(MAX_TIMER_MS, () => this.arm(schedule, cron, after));
    this.later(Math.max(wait, 0), () => {
      void this.track(this.makeSlot(schedule, due, 'slot'), schedule, due);
      this.arm(schedule, cron, due);
    });
  }

  /**
   * catchUp: the latest slot before `now`, if it is later than the last slot made (remembered in
   * KV) and nobody made it. One slot at most, however many were missed; nothing when no slot was
   * ever made (a new schedule does not fire at once) or the record expired with the bucket's TTL.
   */
  private async catchUp(schedule: Schedule, cron: Cron, now: Date): Promise<void> {
    const [latest] = cron.previousRuns(1, now);
    if (!latest) return;
    const last = await this.deps.claims.lastMade(schedule.name);
    if (!last || latest <= last) {
      this.deps.log.info({ schedule: schedule.name, latest: latest.toISOString(), lastMade: last?.toISOString() ?? null }, 'catchUp: no missed slot to make');
      return;
    }
    this.deps.log.info({ schedule: schedule.name, slot: latest.toISOString(), lastMade: last.toISOString() }, 'catchUp: making the latest missed slot');
    await this.makeSlot(schedule, latest, 'catch-up');
  }

  /** Claims the slot; the winner queues its job, the others watch that the winner did. */
  private async makeSlot(schedule: Schedule, slot: Date, why: 'slot' | 'catch-up'): Promise<void> {
    const job = slotJobId(this.deps.subjectPrefix, schedule.name, slot);
    const log = this.deps.log.child({ schedule: schedule.name, slot: slot.toISOString(), job });
    const at = Date.now();
    const result = await this.deps.claims.claim(schedule.name, slot, { status: 'claimed', by: this.instance, at, job });
    if (!result.won) {
      log.debug({ by: result.claim?.by, status: result.claim?.status }, 'schedule slot already taken by another instance');
      if (result.claim?.status !== 'queued') this.watch(schedule, slot, result.claim?.at ?? Date.now());
      return;
    }
    try {
      await this.queueSlot(schedule, slot, job, result.revision, false, log, why);
    } catch (err) {
      // Like any instance, this one takes its own stale claim over after the lease (once).
      this.watch(schedule, slot, at);
      throw err;
    }
  }

  /** After the lease, a claim still not queued is taken over (compare-and-set: by one instance). */
  private watch(schedule: Schedule, slot: Date, claimedAt: number): void {
    this.later(Math.max(0, claimedAt + CLAIM_LEASE_MS - Date.now()), () => {
      void this.track(
        (async () => {
          const current = await this.deps.claims.get(schedule.name, slot);
          if (!current || current.claim.status === 'queued') return;
          // Taken over by another instance meanwhile: give that one its own lease.
          if (Date.now() - current.claim.at < CLAIM_LEASE_MS) return this.watch(schedule, slot, current.claim.at);
          const { job } = current.claim;
          const revision = await this.deps.claims.replace(schedule.name, slot, current.revision, { status: 'claimed', by: this.instance, at: Date.now(), job });
          if (revision === null) return;
          const log = this.deps.log.child({ schedule: schedule.name, slot: slot.toISOString(), job });
          log.warn({ abandonedBy: current.claim.by }, 'taking over a schedule slot its claimer did not queue');
          await this.queueSlot(schedule, slot, job, revision, true, log, 'slot');
        })(),
        schedule,
        slot,
      );
    });
  }

  private async queueSlot(schedule: Schedule, slot: Date, jobId: string, revision: number, takeover: boolean, log: Logger, why: 'slot' | 'catch-up'): Promise<void> {
    const { queue } = this.deps;
    let job: Pick<BackupJob, 'id' | 'archive'>;
    const earlier = takeover ? await queue.states.get(jobId) : null;
    if (earlier) {
      // The claimer recorded the job's state, so it chose the archive name; it may not have published.
      job = { id: jobId, archive: earlier.archive as ArchiveName };
      if (earlier.status === 'queued') {
        const added = await queue.republishBackup({ kind: 'backup', id: jobId, archive: job.archive, tables: schedule.tables, requestedAt: earlier.requestedAt, schedule: schedule.name, slot: slot.toISOString() });
        log.info({ added }, added ? 'published the job its claimer did not' : 'the claimer had published the job');
      }
    } else {
      job = await queue.enqueueBackup(schedule.tables, this.deps.isTaken, new Date(), { id: jobId, schedule: schedule.name, slot });
    }
    log.info({ archive: job.archive, tables: schedule.tables, why }, 'schedule slot queued');
    const queued: SlotClaim = { status: 'queued', by: this.instance, at: Date.now(), job: job.id, archive: job.archive };
    if ((await this.deps.claims.replace(schedule.name, slot, revision, queued)) === null) {
      log.warn('the slot\'s claim changed while queueing (taken over after the lease)');
    }
    await this.deps.claims.rememberMade(schedule.name, slot);
  }

  /** Runs `work`, never letting it reject: a failed firing is logged and the next slot comes anyway. */
  private track(work: Promise<void>, schedule: Schedule, slot: Date): Promise<void> {
    const tracked = work.catch((err: unknown) =>
      this.deps.log.error({ err, schedule: schedule.name, slot: slot.toISOString() }, 'a schedule firing failed; a slot claimed but not queued is taken over after the lease (by any instance, this one too), and the next slot comes anyway'),
    );
    this.underway.add(tracked);
    void tracked.finally(() => this.underway.delete(tracked));
    return tracked;
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) run();
    }, ms);
    this.timers.add(timer);
  }
}
