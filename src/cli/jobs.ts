import { keyValues } from './archives.js';
import type { ServiceClient } from './client.js';
import { CliError, EXIT, usageError } from './errors.js';
import { followJob, jobStatus } from './follow.js';
import { formatBytes, formatDuration } from './format.js';
import type { JobResult } from '../job-kinds.js';
import { statusText, type JobState } from './job-state.js';
import { describeProgress, progressLine, progressView } from './progress-view.js';

type Print = (text: string) => void;

export interface WaitOptions {
  wait: boolean;
  json: boolean;
}

/** Table names given comma-separated, as several arguments, or both. */
export function tableList(args: string[]): string[] {
  const tables = args.flatMap((arg) => arg.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  if (tables.length === 0) throw usageError('name at least one table');
  return tables;
}

export async function backup(client: ServiceClient, tables: string[], options: WaitOptions, print: Print): Promise<void> {
  const { futurefilename, reply } = await client.requestJson<{ futurefilename: string }>('makebackup', `makebackup=${tables.join(',')}`);
  const id = requireJobId(reply.jobId, 'makebackup');
  if (!options.wait) {
    return print(options.json ? JSON.stringify({ job: id, archive: futurefilename }) : keyValues([['archive', futurefilename], ['job', id]]));
  }
  const state = await waitFor(client, id, options.json);
  if (options.json) return print(JSON.stringify(state));
  const result = backupResultOf(state);
  print(keyValues([
    ['archive', result?.path ?? futurefilename],
    ['job', id],
    ['size', result && formatBytes(result.size)],
    ['sha256', result?.sha256],
    ['bucket', result?.bucket && `${result.bucket.name} (${result.bucket.digest})`],
    ['took', result && formatDuration(result.durationMs)],
  ]));
}

export interface RestoreTarget {
  into?: string;
  rename: Record<string, string>;
}

/** `--rename old=new`, repeatable; the old name must be one of the restored tables. */
export function renames(given: string[], tables: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  const bare = new Set(tables.map(withoutSql));
  for (const pair of given) {
    const match = /^([^=]+)=([^=]+)$/.exec(pair);
    if (!match) throw usageError(`--rename takes old=new, got "${pair}"`);
    const from = withoutSql(match[1]!.trim());
    const to = match[2]!.trim();
    if (!bare.has(from)) throw usageError(`--rename ${pair}: ${from} is not one of the tables to restore (${[...bare].join(', ')})`);
    if (from in map) throw usageError(`--rename: ${from} is renamed twice`);
    map[from] = to;
  }
  return map;
}

export async function restore(client: ServiceClient, archive: string, tables: string[], target: RestoreTarget, options: WaitOptions, print: Print): Promise<void> {
  const elsewhere = target.into !== undefined || Object.keys(target.rename).length > 0;
  const { reply } = elsewhere
    ? await client.requestJson<object>('restoreinto', JSON.stringify({
        archive,
        tables: tables.map(withoutSql),
        ...(target.into !== undefined && { database: target.into }),
        ...(Object.keys(target.rename).length > 0 && { rename: target.rename }),
      }))
    : await client.requestJson<object>('restore', `archive=${archive};tables=${tables.map((t) => `${withoutSql(t)}.sql`).join(',')}`);
  const id = requireJobId(reply.jobId, elsewhere ? 'restoreinto' : 'restore');
  if (!options.wait) return print(options.json ? JSON.stringify({ job: id, archive }) : keyValues([['job', id], ['archive', archive]]));
  const state = await waitFor(client, id, options.json);
  if (options.json) return print(JSON.stringify(state));
  const restored = tables.map(withoutSql).map((t) => (target.rename[t] ? `${t} as ${target.rename[t]}` : t));
  print(keyValues([
    ['restored', restored.join(', ')],
    ['into', target.into],
    ['from', archive],
    ['job', id],
    ['took', formatDuration(Date.parse(state.updatedAt) - Date.parse(state.requestedAt))],
  ]));
}

export async function status(client: ServiceClient, id: string, json: boolean, print: Print): Promise<void> {
  const state = await jobStatus(client, id);
  print(json ? JSON.stringify(state, null, 2) : describeState(state));
  if (state.status === 'failed') throw new CliError(EXIT.failed, `${state.kind} ${state.id} failed: ${state.reason ?? 'no reason given'}`);
}

/** Prints every event as it comes: of one job until it ends (exit 1 if it failed), or of all jobs until interrupted. */
export async function watch(client: ServiceClient, id: string | undefined, json: boolean, print: Print, note: Print): Promise<void> {
  const show = (state: JobState) => print(json ? JSON.stringify(state) : `${state.updatedAt}  ${progressLine(state)}`);
  if (id !== undefined) {
    const state = await followJob(client, id, show);
    return failIfFailed(state);
  }
  const subject = client.subject('events.>');
  const sub = client.nc.subscribe(subject);
  await client.nc.flush();
  note(`watching ${subject} (Ctrl-C to stop)`);
  for await (const msg of sub) {
    try {
      show(msg.json<JobState>());
    } catch {
      // not a job state
    }
  }
}

/** Follows the job with a bar (terminal) or lines (otherwise) on stderr; the job's failure is exit 1. */
export async function waitFor(client: ServiceClient, id: string, quiet: boolean, failOnFailure = true): Promise<JobState> {
  const view = quiet ? { update() {}, stop() {} } : progressView();
  const interrupted = () => {
    view.stop();
    process.stderr.write(`\ninterrupted; the job goes on: nmtb status ${id}\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  let state;
  try {
    state = await followJob(client, id, (s) => view.update(s));
  } finally {
    view.stop();
    process.off('SIGINT', interrupted);
  }
  if (failOnFailure) failIfFailed(state);
  return state;
}

export function failIfFailed(state: JobState): void {
  if (state.status === 'failed') throw new CliError(EXIT.failed, `${state.kind} ${state.id} failed: ${state.reason ?? 'no reason given'}`);
}

function describeState(state: JobState): string {
  const progress = state.progress && describeProgress(state.progress);
  const result = backupResultOf(state);
  return keyValues([
    ['job', state.id],
    ['kind', state.kind],
    ['status', statusText(state)],
    ['archive', state.archive],
    ['tables', state.tables.join(', ')],
    ['progress', progress && `tables ${progress.tables}, rows ${progress.rows}, ${progress.bytes}`],
    ['attempts', String(state.attempts)],
    ['requested', state.requestedAt],
    ['updated', state.updatedAt],
    ['reason', state.reason],
    ['path', result?.path],
    ['size', result && formatBytes(result.size)],
    ['sha256', result?.sha256],
    ['took', result && formatDuration(result.durationMs)],
  ]);
}

/** A backup's result (another kind's result is not a JobResult). */
function backupResultOf(state: JobState): JobResult | undefined {
  return state.kind === 'backup' ? (state.result as JobResult | undefined) : undefined;
}

export function requireJobId(id: string | undefined, subject: string): string {
  if (!id) throw new CliError(EXIT.failed, `the service's ${subject} reply has no Backup-Job-Id header`);
  return id;
}

function withoutSql(table: string): string {
  return table.endsWith('.sql') ? table.slice(0, -'.sql'.length) : table;
}
