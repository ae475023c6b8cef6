export interface JobProgress {
  tablesDone: number;
  tablesTotal: number;
  /** Rows dumped (backup); rows are estimated by the server's statistics before the dump. */
  rowsDone: number;
  rowsTotal: number;
  /** SQL bytes dumped (backup) or loaded (restore). */
  bytesDone: number;
  bytesTotal: number;
  /** A resumed restore: tables an earlier attempt had fully loaded, kept (counted in tablesDone). */
  tablesKept?: number;
}

/** Counters a running job bumps as it goes; the job runtime publishes them a few times a second. */
export class Progress implements JobProgress {
  tablesDone = 0;
  tablesTotal = 0;
  rowsDone = 0;
  rowsTotal = 0;
  bytesDone = 0;
  bytesTotal = 0;
  tablesKept = 0;

  snapshot(): JobProgress {
    const { tablesDone, tablesTotal, rowsDone, rowsTotal, bytesDone, bytesTotal, tablesKept } = this;
    return { tablesDone, tablesTotal, rowsDone, rowsTotal, bytesDone, bytesTotal, ...(tablesKept > 0 && { tablesKept }) };
  }
}
