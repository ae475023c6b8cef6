import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sevenZipBinary } from '../../src/archive/sevenzip.js';

/** Writes a .7z holding the given entries into `dir` under `name` (a hand-made archive, for restores of odd input). */
export function packArchive(dir: string, name: string, entries: Record<string, string | Buffer>): void {
  const work = mkdtempSync(join(tmpdir(), 'pack-'));
  for (const [entry, content] of Object.entries(entries)) writeFileSync(join(work, entry), content);
  execFileSync(sevenZipBinary(), ['a', '-t7z', '-mx=1', '-bd', join(dir, name), ...Object.keys(entries)], { cwd: work, stdio: 'ignore' });
}

/** One entry of an archive, as bytes. */
export function extract(archive: string, entry: string): Buffer {
  return execFileSync(sevenZipBinary(), ['x', '-so', archive, entry], { maxBuffer: 1 << 30 });
}
