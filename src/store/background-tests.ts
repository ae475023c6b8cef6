import type { Inspection } from '../archive/reader.js';
import type { Logger } from '../log.js';
import type { BackupDir, LocalArchive } from './local.js';
import type { Verdicts } from './verdicts.js';

/**
 * Whole-archive CRC tests of local archives that have no kept verdict, one after another, off the
 * request path: a reply was given from the header listing, and the test's verdict is kept for the
 * next one (a failed test makes the archive `bad` from then on).
 */
export class BackgroundTests {
  private chain: Promise<void> = Promise.resolve();
  private readonly queued = new Set<string>();

  constructor(
    private readonly dir: BackupDir,
    private readonly verdicts: Verdicts,
    private readonly test: (local: LocalArchive) => Promise<Inspection>,
    private readonly log: Logger,
  ) {}

  /** After `delayMs`, queues every local archive (those with a verdict are skipped when their turn comes). */
  startPass(delayMs: number): void {
    setTimeout(() => {
      void this.dir.list().then(
        (locals) => locals.forEach((local) => this.add(local)),
        (err: unknown) => this.log.warn({ err }, 'could not list the backup directory for the background tests'),
      );
    }, delayMs).unref();
  }

  /** Queues a whole-archive test of a local archive not yet tested. */
  add(local: LocalArchive): void {
    if (this.queued.has(local.name)) return;
    this.queued.add(local.name);
    this.chain = this.chain.then(async () => {
      try {
        const current = await this.dir.stat(local.name);
        if (!current || (await this.verdicts.get(current))) return;
        const started = Date.now();
        const inspection = await this.test(current);
        const log = { archive: local.name, size: current.size, ms: Date.now() - started };
        if (inspection.ok) this.log.info(log, 'archive tested in the background');
        else this.log.warn({ ...log, reason: inspection.reason }, 'archive failed its background test: it is answered bad from now on');
      } catch (err) {
        this.log.warn({ err, archive: local.name }, 'background test of an archive failed to run');
      } finally {
        this.queued.delete(local.name);
      }
    });
  }
}
