import type { JobState } from '../job-kinds.js';
import type { JobProgress } from '../progress.js';

export type { JobProgress, JobState };

export function isFinished(state: JobState): boolean {
  return state.status === 'done' || state.status === 'failed';
}

/** How far a job is, 0..1: by bytes when their total is known (restore), else by rows (the server's estimate), else by tables. */
export function fractionDone(state: JobState): number {
  // A done job is done, whatever the server's row estimate said the total was.
  if (state.status === 'done') return 1;
  const { progress } = state;
  if (!progress) return 0;
  const ratio = (done: number, total: number) => Math.min(1, done / total);
  if (progress.bytesTotal > 0) return ratio(progress.bytesDone, progress.bytesTotal);
  if (progress.rowsTotal > 0) return ratio(progress.rowsDone, progress.rowsTotal);
  return progress.tablesTotal > 0 ? ratio(progress.tablesDone, progress.tablesTotal) : 0;
}

/**
 * The status as a person reads it: `queued` says whether the job waits for a retry or was handed
 * back at a shutdown (services from before these states send no `state`: plain `queued` then).
 */
export function statusText(state: JobState): string {
  if (state.state === 'delayed') return `${state.status} (retry${state.nextAttemptAt ? ` at ${state.nextAttemptAt}` : ''})`;
  if (state.state === 'interrupted') return `${state.status} (handed back at a shutdown)`;
  return state.status;
}
