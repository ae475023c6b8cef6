import cliProgress from 'cli-progress';
import { formatBytes, formatCount, formatDuration } from './format.js';
import { fractionDone, statusText, type JobProgress, type JobState } from './job-state.js';

/** Shows a job's progress as it changes: a live bar on a terminal, plain lines elsewhere. */
export interface ProgressView {
  update(state: JobState): void;
  stop(): void;
}

const SCALE = 1000;
const PLAIN_INTERVAL_MS = 1000;

/** On stderr, so that stdout carries only the result (`nmtb backup t --wait > name` works). */
export function progressView(stream: NodeJS.WriteStream = process.stderr): ProgressView {
  return stream.isTTY ? new BarView(stream) : new LineView(stream);
}

export function describeProgress(progress: JobProgress | undefined): { tables: string; rows: string; bytes: string } {
  if (!progress) return { tables: '-', rows: '-', bytes: '-' };
  if (progress.rowsDone === 0 && progress.rowsTotal === 0) return { tables: `${progress.tablesDone}/${progress.tablesTotal}`, rows: '-', bytes: formatBytes(progress.bytesDone) + (progress.bytesTotal > 0 ? `/${formatBytes(progress.bytesTotal)}` : '') };
  const rowsTotal = progress.rowsTotal > 0 ? `/${formatCount(progress.rowsTotal)}` : '';
  const bytesTotal = progress.bytesTotal > 0 ? `/${formatBytes(progress.bytesTotal)}` : '';
  return {
    tables: `${progress.tablesDone}/${progress.tablesTotal}`,
    rows: `${formatCount(progress.rowsDone)}${rowsTotal}`,
    bytes: `${formatBytes(progress.bytesDone)}${bytesTotal}`,
  };
}

class BarView implements ProgressView {
  private readonly bar: cliProgress.SingleBar;
  private readonly eta = new Eta();
  private started = false;

  constructor(stream: NodeJS.WriteStream) {
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{kind} {status} |{bar}| {percentage}% | tables {tables} | rows {rows} | {bytes} | ETA {timeLeft}',
        hideCursor: true,
        fps: 8,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(state: JobState): void {
    const fraction = fractionDone(state);
    const payload = { kind: state.kind, status: state.status.padEnd(7), ...describeProgress(state.progress), timeLeft: this.eta.estimate(state.status === 'running' ? fraction : null) };
    const value = Math.round(fraction * SCALE);
    if (!this.started) {
      this.bar.start(SCALE, value, payload);
      this.started = true;
    } else {
      this.bar.update(value, payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}

/** Time left, from the average speed since the job was first seen running; '-' until there is one. */
class Eta {
  private first: { at: number; fraction: number } | undefined;

  estimate(fraction: number | null): string {
    if (fraction === null) return '-';
    const now = Date.now();
    if (!this.first) this.first = { at: now, fraction };
    const rate = (fraction - this.first.fraction) / (now - this.first.at);
    if (!(rate > 0)) return '-';
    return formatDuration((1 - fraction) / rate);
  }
}

class LineView implements ProgressView {
  private lastAt = 0;
  private lastStatus = '';

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(state: JobState): void {
    const now = Date.now();
    if (statusText(state) === this.lastStatus && now - this.lastAt < PLAIN_INTERVAL_MS) return;
    this.lastAt = now;
    this.lastStatus = statusText(state);
    this.stream.write(`${progressLine(state)}\n`);
  }

  stop(): void {}
}

/** One line per state: `backup 3f0c…: running, tables 1/2, rows 512,000/1,490,000, 88.0 MB, 34%`. */
export function progressLine(state: JobState): string {
  const parts = [`${state.kind} ${state.id}: ${statusText(state)}`];
  if (state.progress) {
    const { tables, rows, bytes } = describeProgress(state.progress);
    parts.push(`tables ${tables}`, `rows ${rows}`, bytes, `${Math.floor(fractionDone(state) * 100)}%`);
  }
  if (state.reason && state.status !== 'done') parts.push(`reason: ${state.reason}`);
  return parts.join(', ');
}
