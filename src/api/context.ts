import type { Config } from '../config.js';
import type { JobQueue } from '../job-queue.js';
import type { ArchivePins } from '../store/pins.js';
import type { Logger } from '../log.js';
import type { SessionPool } from '../mysql/session-pool.js';
import type { TableNames } from '../mysql/table-names.js';
import type { Catalog } from '../store/catalog.js';

/** What the request handlers need; they never do slow work themselves. */
export interface ApiContext {
  config: Config;
  catalog: Catalog;
  queue: JobQueue;
  pins: ArchivePins;
  /** MySQL sessions for the quick checks a request makes before it is queued. */
  sessions: SessionPool;
  /** Which tables exist, for makebackup's check (on those sessions). */
  tables: TableNames;
  log: Logger;
}
