#!/usr/bin/env node
// The `nmtb` command. It runs the built CLI (dist/cli/main.js, from `npm run build`) when that is
// at least as new as the sources, else the TypeScript sources through tsx: a fresh checkout
// works after `npm ci` with no build step, and a stale build is never run by mistake.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = join(root, 'dist', 'cli', 'main.js');
const sources = join(root, 'src');

function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtimeMs(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

const haveSources = existsSync(join(sources, 'cli', 'main.ts'));
if (existsSync(built) && (!haveSources || statSync(built).mtimeMs >= newestMtimeMs(sources))) {
  await import(pathToFileURL(built).href);
} else if (haveSources) {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('nmtb: not built, and tsx (a devDependency) is missing: run npm ci, or npm run build\n');
    process.exit(2);
  }
  register();
  await import(pathToFileURL(join(sources, 'cli', 'main.ts')).href);
} else {
  process.stderr.write(`nmtb: ${built} is missing: run npm run build\n`);
  process.exit(2);
}
