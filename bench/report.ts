// Targets, the printed report, and bench/out/results.json.
import { writeFile } from 'node:fs/promises';
import type { SubjectLatency } from './latency.js';
import type { MydumperResult } from './mydumper.js';
import type { PipelineResult } from './pipeline.js';
import type { ServiceResult } from './service-timings.js';

export interface SevenZipAlone {
  seconds: number;
  bytes: number;
  /** Which .sql files were compressed. */
  source: string;
}

export interface Target {
  name: string;
  value: number | null;
  limit: string;
  verdict: 'PASS' | 'MISS' | 'n/a';
}

export interface ScaleResults {
  scale: number;
  database: string;
  dataset: { tag: string; buildSeconds: number | null };
  seconds: number;
  pipeline: PipelineResult;
  mydumper: MydumperResult;
  service: ServiceResult | { skipped: string };
  sevenZipAlone: SevenZipAlone | null;
}

/** Time per MB of SQL of the service at the last scale against the first (the 1× point). */
export interface Growth {
  from: number;
  to: number;
  dataRatio: number | null;
  backupPerMb: [number, number];
  restorePerMb: [number, number];
}

export interface Results {
  date: string;
  scales: ScaleResults[];
  growth: Growth | null;
  /** Issue 11's targets, per scale and across scales. */
  targets: Target[];
  /** The earlier issues' targets that are still measured (at the first scale). */
  earlierTargets: Target[];
  totalSeconds: number;
}

const MB = 1024 * 1024;
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === undefined || a === null || b === undefined || b === null || b === 0 ? null : a / b;
const target = (name: string, value: number | null, limit: number, strict = false): Target => ({
  name,
  value,
  limit: `${strict ? '<' : '≤'} ${limit}`,
  verdict: value === null ? 'n/a' : (strict ? value < limit : value <= limit) ? 'PASS' : 'MISS',
});
const serviceOf = (s: ScaleResults): ServiceResult | null => ('skipped' in s.service ? null : s.service);
const latencyOf = (s: ServiceResult | null, subject: string): SubjectLatency | undefined => s?.latency.find((l) => l.subject === subject);
const maxRss = (s: ServiceResult | null): number | null => (s ? Math.max(...Object.values(s.peakRssBytes)) / MB : null);
const sqlMb = (s: ScaleResults): number => s.pipeline.dumpBytes / MB;

export function growthOf(scales: readonly ScaleResults[]): Growth | null {
  const first = scales[0];
  const last = scales[scales.length - 1];
  if (!first || !last || first === last) return null;
  const a = serviceOf(first);
  const b = serviceOf(last);
  if (!a || !b) return null;
  return {
    from: first.scale,
    to: last.scale,
    dataRatio: ratio(sqlMb(last), sqlMb(first)),
    backupPerMb: [a.backup.seconds / sqlMb(first), b.backup.seconds / sqlMb(last)],
    restorePerMb: [a.restoreSeconds / sqlMb(first), b.restoreSeconds / sqlMb(last)],
  };
}

export function scaleTargets(r: ScaleResults): Target[] {
  const { pipeline: p, mydumper: m } = r;
  const s = serviceOf(r);
  const at = (name: string): string => `[${r.scale}] ${name}`;
  const failures = s ? s.latency.reduce((sum, l) => sum + l.failures, 0) : null;
  return [
    target(at('restore / pipeline restore incl. 7za x'), ratio(s?.restoreSeconds, p.restoreWithExtractSeconds), 0.55),
    target(at('restore / myloader -t 2'), ratio(s?.restoreSeconds, m.restoreSeconds), 1.0),
    target(at('backup / (mydumper -t 2 + 7za -mx1)'), ratio(s?.backup.seconds, m.backupSeconds), 1.0),
    target(at('backup / pipeline backup'), ratio(s?.backup.seconds, p.backupSeconds), 0.05),
    target(at('archive / pipeline archive size'), ratio(s?.backup.bytes, p.archiveBytes), 1.3),
    target(at(`one small table (${s?.smallTable.table ?? '-'}) → checksum, s`), s?.smallTable.seconds ?? null, 0.5),
    ...['makebackup', 'listbackups', 'archive'].map((subject) => target(at(`${subject} p99, ms`), latencyOf(s, subject)?.p99Ms ?? null, 50, true)),
    target(at('failed replies with requests in flight'), failures, 0),
    target(at('first archive reply after restart, ms'), s?.firstReplyMs.archive ?? null, 100, true),
    target(at('first restore reply after restart, ms'), s?.firstReplyMs.restore ?? null, 100, true),
    target(at('service peak RSS, MB'), maxRss(s), 256, true),
  ];
}

export function growthTargets(g: Growth | null): Target[] {
  return [
    target(`backup time/MB at ${g?.to ?? '4×'} / at ${g?.from ?? '1×'}`, g ? g.backupPerMb[1] / g.backupPerMb[0] : null, 1.3),
    target(`restore time/MB at ${g?.to ?? '4×'} / at ${g?.from ?? '1×'}`, g ? g.restorePerMb[1] / g.restorePerMb[0] : null, 1.3),
  ];
}

export function earlierTargets(r: ScaleResults | undefined): Target[] {
  const s = r ? serviceOf(r) : null;
  return [target(`[${r?.scale ?? '-'}] backup (level 5) / 7-Zip alone time`, ratio(s?.backupLevel5?.seconds, r?.sevenZipAlone?.seconds), 1.1)];
}

const num = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined ? '-' : v.toFixed(digits));
const row = (label: string, seconds?: number | null, bytes?: number | null, note = ''): string =>
  `  ${label.padEnd(52)}${num(seconds, 2).padStart(9)}${num(bytes === null || bytes === undefined ? null : bytes / MB).padStart(10)}  ${note}`;
const targetLine = (t: Target): string => `  ${t.name.padEnd(58)}${num(t.value, 3).padStart(9)}${t.limit.padStart(8)}  ${t.verdict}`;

function latencyHeading(s: ServiceResult): string {
  const l = s.latency[0];
  const shape = l ? `${l.rounds} round${l.rounds === 1 ? '' : 's'} of ${l.inFlight} requests in flight per subject` : 'none measured';
  return `reply latencies, ${shape} (a failed request counts with the time it took):`;
}

function scaleLines(r: ScaleResults): string[] {
  const { pipeline: p, mydumper: m, sevenZipAlone: z } = r;
  const s = serviceOf(r);
  const built = r.dataset.buildSeconds === null ? 'reused' : `built in ${num(r.dataset.buildSeconds)} s`;
  const lines = [
    `Scale ${r.scale}: ${num(sqlMb(r))} MB of SQL, database \`${r.database}\` (data set ${r.dataset.tag}, ${built}); this scale took ${num(r.seconds, 0)} s`,
    `  ${'measurement'.padEnd(52)}${'time, s'.padStart(9)}${'size, MB'.padStart(10)}`,
    row('pipeline: mariadb-dump per table', p.dumpSeconds, p.dumpBytes, 'SQL'),
    row('pipeline: 7za a (default settings)', p.archiveSeconds, p.archiveBytes),
    row('pipeline backup (dump + 7za a)', p.backupSeconds, p.archiveBytes),
    row('pipeline: 7za x', p.extractSeconds),
    row('pipeline restore without 7za x (mariadb < t.sql)', p.restoreSeconds, null, p.restoreCheck),
    row('pipeline restore incl. 7za x', p.restoreWithExtractSeconds),
    row('mydumper -t 2', m.dumpSeconds, m.dumpBytes, 'SQL'),
    row('7za a -mx1 of that dump', m.archiveSeconds, m.archiveBytes),
    row('mydumper -t 2 + 7za -mx1 (backup)', m.backupSeconds, m.archiveBytes),
    row('mydumper -t 2 -r 250000 (myloader\'s input)', m.chunkedDumpSeconds),
    row('myloader -t 2 of the chunked dump (no extraction)', m.restoreSeconds, null, m.restoreCheck),
    ...(z ? [row('7-Zip alone (7zz a -mx5 -ms=off)', z.seconds, z.bytes, `on ${z.source}`)] : []),
  ];
  if (!s) return [...lines, `  service: ${'skipped' in r.service ? r.service.skipped : ''}`];
  const rss = Object.entries(s.peakRssBytes).map(([k, v]) => `${k} ${num(v / MB)}`).join(', ');
  return [
    ...lines,
    row('service backup (default level), to the job\'s end', s.backup.seconds, s.backup.bytes),
    row('  of which: until the archive file appeared', s.backup.fileSeconds),
    row('service restore (all tables, extraction incl.)', s.restoreSeconds, null, s.restoreCheck),
    row(`service: ${s.smallTable.table} alone, request → checksum`, s.smallTable.seconds, null, s.smallTable.check),
    ...(s.backupLevel5 ? [row('service backup, SEVENZIP_LEVEL=5', s.backupLevel5.seconds, s.backupLevel5.bytes)] : []),
    `  ratios: backup ${num(ratio(s.backup.seconds, m.backupSeconds), 2)}× mydumper+7za, ${num(ratio(s.backup.seconds, p.backupSeconds), 3)}× pipeline;` +
      ` archive ${num(ratio(s.backup.bytes, p.archiveBytes), 2)}× pipeline's, ${num(ratio(s.backup.bytes, m.archiveBytes), 2)}× mydumper+7za's;` +
      ` restore ${num(ratio(s.restoreSeconds, p.restoreWithExtractSeconds), 2)}× pipeline incl. 7za x (${num(ratio(s.restoreSeconds, p.restoreSeconds), 2)}× without),` +
      ` ${num(ratio(s.restoreSeconds, m.restoreSeconds), 2)}× myloader`,
    `  first replies after a restart: archive ${num(s.firstReplyMs.archive)} ms, restore ${num(s.firstReplyMs.restore)} ms`,
    `  ${latencyHeading(s)}`,
    `  ${'subject'.padEnd(14)}${'requests'.padStart(9)}${'failed'.padStart(8)}${'p50, ms'.padStart(9)}${'p99, ms'.padStart(9)}${'max, ms'.padStart(9)}`,
    ...s.latency.map(
      (l) =>
        `  ${l.subject.padEnd(14)}${String(l.requests).padStart(9)}${String(l.failures).padStart(8)}${num(l.p50Ms).padStart(9)}${num(l.p99Ms).padStart(9)}${num(l.maxMs).padStart(9)}` +
        (l.firstFailure ? `  first failure: ${l.firstFailure}` : ''),
    ),
    `  (the makebackup rounds queued ${latencyOf(s, 'makebackup')?.requests ?? 0} backups of ${s.smallTable.table}; they finished ${num(s.makebackupDrainSeconds)} s after the last reply)`,
    `  service peak RSS (VmHWM of node), MB: ${rss}`,
  ];
}

function growthLines(scales: readonly ScaleResults[]): string[] {
  const lines = [`  ${'scale'.padEnd(8)}${'SQL, MB'.padStart(9)}${'backup, s'.padStart(11)}${'s/MB'.padStart(8)}${'restore, s'.padStart(12)}${'s/MB'.padStart(8)}${'peak RSS, MB'.padStart(14)}`];
  for (const r of scales) {
    const s = serviceOf(r);
    const mb = sqlMb(r);
    lines.push(
      `  ${String(r.scale).padEnd(8)}${num(mb).padStart(9)}${num(s?.backup.seconds, 2).padStart(11)}${num(ratio(s?.backup.seconds, mb), 3).padStart(8)}` +
        `${num(s?.restoreSeconds, 2).padStart(12)}${num(ratio(s?.restoreSeconds, mb), 3).padStart(8)}${num(maxRss(s)).padStart(14)}`,
    );
  }
  return lines;
}

export function printReport(r: Results): void {
  const lines = [
    '',
    `Benchmark, ${r.date} (scales ${r.scales.map((s) => s.scale).join(', ')}; ${num(r.totalSeconds / 60)} min)`,
    '',
    ...r.scales.flatMap((s) => [...scaleLines(s), '']),
    'Growth of the service (time per MB of SQL, peak RSS):',
    ...growthLines(r.scales),
    '',
    `  ${'target (issue 11)'.padEnd(58)}${'value'.padStart(9)}${'limit'.padStart(8)}  verdict`,
    ...r.targets.map(targetLine),
    '',
    `  ${'earlier target'.padEnd(58)}`,
    ...r.earlierTargets.map(targetLine),
    '',
  ];
  console.log(lines.join('\n'));
}

export function writeResults(r: Results, path: string): Promise<void> {
  return writeFile(path, `${JSON.stringify(r, null, 2)}\n`);
}
