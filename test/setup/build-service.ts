// Runs once before the test files: transpiles src/ to .test-build/ (esbuild, no type check: the
// test script runs tsc first), so the many service processes the tests start run plain
// JavaScript. Through tsx each start cost about 0.4 s of CPU more, on a 2-core machine that
// the test files share.
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The service's entry point, built from src/main.ts. */
    serviceEntry: string;
  }
}

const ROOT = resolve(import.meta.dirname, '../..');
/** One level below the root, as dist/ is: the sources find streams/ and package.json from there. */
const OUT = join(ROOT, '.test-build');

export default async function setup(project: TestProject): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  const sources = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(ROOT, 'src', file));
  await build({ entryPoints: sources, outdir: OUT, outbase: join(ROOT, 'src'), format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning' });
  project.provide('serviceEntry', join(OUT, 'main.js'));
}
