// `npm run bench`: at each scale, the data set, the original pipeline, mydumper/myloader and the
// service on the same data; then the growth between scales; prints and saves results.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { config, scaleOf } from './config.js';
import type { Scale } from './config.js';
import { ensureDataset, invalidateDataset } from './dataset.js';
import type { Dataset } from './dataset.js';
import { runMydumper } from './mydumper.js';
import { extractArchive, runPipeline, sevenZipAlone } from './pipeline.js';
import type { PipelineResult } from './pipeline.js';
import { earlierTargets, growthOf, growthTargets, printReport, scaleTargets, writeResults } from './report.js';
import type { Results, ScaleResults, SevenZipAlone } from './report.js';
import { buildService } from './service.js';
import { runServiceTimings } from './service-timings.js';
import type { ServiceResult } from './service-timings.js';
import { TABLE_NAMES } from './tables.js';

async function pipeline(scale: Scale, dataset: Dataset): Promise<PipelineResult> {
  const saved = join(scale.outDir, 'pipeline.json');
  if (config.reusePipeline && existsSync(saved)) {
    const result = JSON.parse(await readFile(saved, 'utf8')) as PipelineResult;
    if (result.datasetTag === dataset.tag && result.restoreWithExtractSeconds !== undefined) {
      console.log(`pipeline: reusing ${saved}`);
      return result;
    }
  }
  console.log('pipeline: mariadb-dump, 7za a, 7za x, mariadb < t.sql ...');
  const result = await runPipeline(scale, TABLE_NAMES, dataset.checksums);
  if (result.restoreCheck === 'OK') await writeFile(saved, JSON.stringify(result, null, 2));
  return result;
}

/** Why the service part is skipped, or null to run it. */
function skipService(): string | null {
  if (config.skipService) return 'skipped (BENCH_SKIP_SERVICE=1)';
  if (!existsSync('src/main.ts')) return 'skipped (src/main.ts does not exist yet)';
  return null;
}

async function sevenZip(dir: string, source: string, archive: string): Promise<SevenZipAlone> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  if (files.length === 0) throw new Error(`no .sql files in ${dir}`);
  console.log(`7-Zip alone: ${files.length} files from ${source} ...`);
  const result = { ...(await sevenZipAlone(dir, files, archive)), source };
  await rm(archive, { force: true });
  return result;
}

async function measureScale(factor: number, withLevel5: boolean, skipped: string | null): Promise<ScaleResults> {
  const started = performance.now();
  const scale = scaleOf(factor);
  console.log(`\n=== scale ${factor} (database ${scale.database})`);
  await mkdir(scale.outDir, { recursive: true });
  const dataset = await ensureDataset(scale);
  console.log(dataset.buildSeconds === null ? `data set: ${dataset.tag} already built` : `data set: built in ${dataset.buildSeconds.toFixed(1)} s`);

  const p = await pipeline(scale, dataset);
  console.log('mydumper -t 2 + 7za -mx1; mydumper -r 250000, myloader -t 2 ...');
  const m = await runMydumper(scale, TABLE_NAMES, dataset.checksums);

  let service: ServiceResult | null = null;
  let z: SevenZipAlone | null = null;
  const workDir = join(scale.outDir, 'service-work');
  await rm(workDir, { recursive: true, force: true });
  try {
    if (skipped === null) {
      service = await runServiceTimings(scale, TABLE_NAMES, dataset.checksums, workDir, withLevel5);
      if (service.restoreCheck === 'MISMATCH' || service.smallTable.check === 'MISMATCH') await invalidateDataset(scale);
      if (service.backupLevel5) {
        const extracted = join(workDir, 'extracted');
        await extractArchive(service.backupLevel5.file, extracted);
        z = await sevenZip(extracted, "the service's level-5 archive", join(workDir, 'alone.7z'));
      }
    } else if (withLevel5) {
      z = await sevenZip(join(scale.outDir, 'pipeline'), 'the pipeline dumps', join(scale.outDir, 'alone.7z'));
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
    await rm(join(scale.outDir, 'pipeline'), { recursive: true, force: true });
  }
  return {
    scale: factor,
    database: scale.database,
    dataset: { tag: dataset.tag, buildSeconds: dataset.buildSeconds },
    seconds: (performance.now() - started) / 1000,
    pipeline: p,
    mydumper: m,
    service: service ?? { skipped: skipped ?? '' },
    sevenZipAlone: z,
  };
}

function failures(scales: readonly ScaleResults[]): string[] {
  const out: string[] = [];
  for (const r of scales) {
    const checks: [string, string | undefined][] = [
      ['pipeline restore', r.pipeline.restoreCheck],
      ['myloader restore', r.mydumper.restoreCheck],
      ['service restore', 'skipped' in r.service ? undefined : r.service.restoreCheck],
      ['service small-table restore', 'skipped' in r.service ? undefined : r.service.smallTable.check],
    ];
    for (const [what, check] of checks) if (check === 'MISMATCH') out.push(`${what} at scale ${r.scale}`);
  }
  return out;
}

async function main(): Promise<number> {
  const started = performance.now();
  await mkdir(config.outDir, { recursive: true });
  const skipped = skipService();
  if (skipped === null) {
    console.log('service: npm run build ...');
    await buildService();
  } else console.log(`service: ${skipped}`);

  const scales: ScaleResults[] = [];
  for (const [i, factor] of config.scales.entries()) {
    scales.push(await measureScale(factor, i === 0 && !config.skipLevel5, skipped));
  }
  const growth = growthOf(scales);
  const results: Results = {
    date: new Date().toISOString(),
    scales,
    growth,
    targets: [...scales.flatMap(scaleTargets), ...growthTargets(growth)],
    earlierTargets: earlierTargets(scales[0]),
    totalSeconds: (performance.now() - started) / 1000,
  };
  printReport(results);
  await writeResults(results, join(config.outDir, 'results.json'));
  console.log(`results: ${join(config.outDir, 'results.json')}`);
  const failed = failures(scales);
  if (failed.length > 0) console.error(`error: a restore did not reproduce the tables (checksum MISMATCH): ${failed.join('; ')}`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('bench failed:', err);
    process.exit(1);
  },
);
