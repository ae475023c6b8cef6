// `npm run bench`: data set, the original pipeline, the service, 7-Zip alone; prints and saves results.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { config } from './config.js';
import { ensureDataset, invalidateDataset } from './dataset.js';
import { extractArchive, runPipeline, sevenZipAlone } from './pipeline.js';
import type { PipelineResult } from './pipeline.js';
import { printReport, targets, writeResults } from './report.js';
import type { Results, SevenZipAlone } from './report.js';
import { runServiceTimings } from './service-timings.js';
import type { ServiceResult } from './service-timings.js';
import { TABLE_NAMES } from './tables.js';

const pipelineFile = join(config.outDir, 'pipeline.json');

async function pipeline(tag: string, expected: Record<string, string | null>): Promise<PipelineResult> {
  if (config.reusePipeline && existsSync(pipelineFile)) {
    const saved = JSON.parse(await readFile(pipelineFile, 'utf8')) as PipelineResult;
    if (saved.datasetTag === tag) {
      console.log(`pipeline: reusing ${pipelineFile}`);
      return saved;
    }
  }
  console.log('pipeline: dump, 7za, restore ...');
  const result = await runPipeline(TABLE_NAMES, expected, tag);
  if (result.restoreCheck === 'OK') await writeFile(pipelineFile, JSON.stringify(result, null, 2));
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
  return { ...(await sevenZipAlone(dir, files, archive)), source };
}

async function main(): Promise<number> {
  await mkdir(config.outDir, { recursive: true });
  const dataset = await ensureDataset();
  console.log(dataset.buildSeconds === null ? `data set: ${dataset.tag} already built` : `data set: built in ${dataset.buildSeconds.toFixed(1)} s`);

  const p = await pipeline(dataset.tag, dataset.checksums);
  const skipped = skipService();
  let service: ServiceResult | null = null;
  let z: SevenZipAlone | null = null;
  const workDir = join(config.outDir, 'service-work');
  await rm(workDir, { recursive: true, force: true });
  if (skipped === null) {
    console.log('service: build, backup (default level), restore, backup (level 5) ...');
    service = await runServiceTimings(TABLE_NAMES, dataset.checksums, workDir);
    if (service.restoreCheck === 'MISMATCH') await invalidateDataset();
    const extracted = join(workDir, 'extracted');
    await extractArchive(service.backupLevel5.file, extracted);
    z = await sevenZip(extracted, "the service's level-5 archive", join(workDir, 'alone.7z'));
    await rm(workDir, { recursive: true, force: true });
  } else {
    console.log(`service: ${skipped}`);
    const dumps = join(config.outDir, 'pipeline');
    if (existsSync(dumps)) {
      z = await sevenZip(dumps, 'the pipeline dumps', join(config.outDir, 'alone.7z'));
      await rm(join(config.outDir, 'alone.7z'), { force: true });
    }
  }

  const results: Results = {
    date: new Date().toISOString(),
    scale: config.scale,
    dataset: { tag: dataset.tag, buildSeconds: dataset.buildSeconds },
    pipeline: p,
    service: service ?? { skipped: skipped ?? '' },
    sevenZipAlone: z,
    targets: targets(p, service, z),
  };
  printReport(results);
  await writeResults(results, join(config.outDir, 'results.json'));
  console.log(`results: ${join(config.outDir, 'results.json')}`);
  const failed = p.restoreCheck === 'MISMATCH' || service?.restoreCheck === 'MISMATCH';
  if (failed) console.error('error: a restore did not reproduce the tables (checksum MISMATCH)');
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('bench failed:', err);
    process.exit(1);
  },
);
