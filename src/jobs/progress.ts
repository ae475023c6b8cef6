import type { JobProgress } from './state.js';

/** Counters a running job bumps as it goes; the worker publishes them a few times a second. */
export class Progress implements JobProgress {
  tablesDone = 0;
  tablesTotal = 0;
  rowsDone = 0;
  rowsTotal = 0;
  bytesDone = 0;
  bytesTotal = 0;

  snapshot(): JobProgress {
    const { tablesDone, tablesTotal, rowsDone, rowsTotal, bytesDone, bytesTotal } = this;
    return { tablesDone, tablesTotal, rowsDone, rowsTotal, bytesDone, bytesTotal };
  }
}
