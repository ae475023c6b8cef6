// Targets, the printed table, and bench/out/results.json.
import { writeFile } from 'node:fs/promises';
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

export interface Results {
  date: string;
  scale: number;
  dataset: { tag: string; buildSeconds: number | null };
  pipeline: PipelineResult | null;
  service: ServiceResult | { skipped: string };
  sevenZipAlone: SevenZipAlone | null;
  targets: Target[];
}

const MB = 1024 * 1024;
const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || b === 0 ? null : a / b;
const target = (name: string, value: number | null, limit: number, strict = false): Target => ({
  name,
  value,
  limit: `${strict ? '<' : '≤'} ${limit}`,
  verdict: value === null ? 'n/a' : (strict ? value < limit : value <= limit) ? 'PASS' : 'MISS',
});

export function targets(p: PipelineResult | null, s: ServiceResult | null, z: SevenZipAlone | null): Target[] {
  const rss = s ? Math.max(s.peakRssBytes.default, s.peakRssBytes.level5) / MB : null;
  return [
    target('backup (default level) / pipeline backup time', ratio(s?.backupDefault.seconds, p?.backupSeconds), 0.1),
    target('archive (default level) / pipeline archive size', ratio(s?.backupDefault.bytes, p?.archiveBytes), 1.3),
    target('backup (level 5) / 7-Zip alone time', ratio(s?.backupLevel5.seconds, z?.seconds), 1.1),
    target('restore / pipeline restore time', ratio(s?.restoreSeconds, p?.restoreSeconds), 1.0),
    target('service peak RSS, MB', rss, 256, true),
  ];
}

const num = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined ? '-' : v.toFixed(digits));
const row = (label: string, seconds?: number | null, bytes?: number | null, note = ''): string =>
  `${label.padEnd(46)}${num(seconds).padStart(10)}${num(bytes === null || bytes === undefined ? null : bytes / MB).padStart(12)}  ${note}`;

export function printReport(r: Results): void {
  const { pipeline: p, sevenZipAlone: z } = r;
  const s = 'skipped' in r.service ? null : r.service;
  const lines = [
    '',
    `Benchmark (BENCH_SCALE=${r.scale}, data set ${r.dataset.tag}, ${r.dataset.buildSeconds === null ? 'reused' : `built in ${num(r.dataset.buildSeconds)} s`})`,
    `${'measurement'.padEnd(46)}${'time, s'.padStart(10)}${'size, MB'.padStart(12)}`,
    row('pipeline: mariadb-dump per table', p?.dumpSeconds, p?.dumpBytes, 'SQL'),
    row('pipeline: 7za a (default settings)', p?.archiveSeconds, p?.archiveBytes),
    row('pipeline backup (dump + 7za)', p?.backupSeconds, p?.archiveBytes),
    row('pipeline: 7za x (not in restore time)', p?.extractSeconds),
    row('pipeline restore (mariadb < file, per table)', p?.restoreSeconds, null, p?.restoreCheck ?? ''),
    row('service backup, default level', s?.backupDefault.seconds, s?.backupDefault.bytes),
    row('service backup, SEVENZIP_LEVEL=5', s?.backupLevel5.seconds, s?.backupLevel5.bytes),
    row('7-Zip alone (7zz a -mx5 -ms=off)', z?.seconds, z?.bytes, z ? `on ${z.source}` : ''),
    row('service restore', s?.restoreSeconds, null, s?.restoreCheck ?? ''),
    s
      ? `service peak RSS (VmHWM of node): default ${num(s.peakRssBytes.default / MB)} MB, level 5 ${num(s.peakRssBytes.level5 / MB)} MB`
      : `service: ${'skipped' in r.service ? r.service.skipped : ''}`,
    '',
    `${'target'.padEnd(50)}${'value'.padStart(8)}${'limit'.padStart(9)}  verdict`,
    ...r.targets.map((t) => `${t.name.padEnd(50)}${num(t.value, 3).padStart(8)}${t.limit.padStart(9)}  ${t.verdict}`),
    '',
  ];
  console.log(lines.join('\n'));
}

export function writeResults(r: Results, path: string): Promise<void> {
  return writeFile(path, `${JSON.stringify(r, null, 2)}\n`);
}
