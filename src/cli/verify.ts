import type { VerifyReport } from '../verify/report.js';
import type { ServiceClient } from './client.js';
import { failIfFailed, requireJobId, waitFor, type WaitOptions } from './jobs.js';
import { keyValues } from './archives.js';

type Print = (text: string) => void;

/** `nmtb verify <archive> [--deep] [--wait]`: queues a verify; with --wait prints each check and exits 1 when one failed. */
export async function verify(client: ServiceClient, archive: string, deep: boolean, options: WaitOptions, print: Print): Promise<void> {
  const { reply } = await client.requestJson<object>('verify', JSON.stringify({ archive, deep }));
  const id = requireJobId(reply.jobId, 'verify');
  if (!options.wait) return print(options.json ? JSON.stringify({ job: id, archive }) : keyValues([['job', id], ['archive', archive], ['deep', String(deep)]]));
  const state = await waitFor(client, id, options.json, false);
  if (options.json) print(JSON.stringify(state));
  else if (state.result) print(describeReport(state.result as VerifyReport));
  failIfFailed(state);
}

const MARK = { true: 'ok', false: 'FAILED', null: 'n/a' } as const;

/** One line per check: where, which, its verdict, and what was seen. */
function describeReport(report: VerifyReport): string {
  const rows: [string, string, string, string][] = [
    ...report.archiveChecks.map((c): [string, string, string, string] => ['archive', c.check, MARK[String(c.ok) as keyof typeof MARK], c.detail ?? '']),
    ...Object.entries(report.tables).flatMap(([table, checks]) =>
      checks.map((c): [string, string, string, string] => [`${table}.sql`, c.check, MARK[String(c.ok) as keyof typeof MARK], c.detail ?? '']),
    ),
  ];
  const width = (i: number) => Math.max(...rows.map((r) => r[i]!.length));
  const lines = rows.map((r) => [r[0].padEnd(width(0)), r[1].padEnd(width(1)), r[2].padEnd(width(2)), r[3]].join('  ').trimEnd());
  lines.push('', `${report.archive}: ${report.ok ? 'verified' : `${report.failures.length} check(s) failed`}${report.deep ? ' (deep)' : ''}`);
  return lines.join('\n');
}
