// The multi-threaded peer (Debian's mydumper 0.10): mydumper -t 2 + 7za -mx1 to back up, myloader -t 2 to restore.
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { clientArgs, config } from './config.js';
import type { Scale } from './config.js';
import { checkRestored, connect, recreateDatabase } from './db.js';
import { fileSize, medianOf, run, timed } from './measure.js';

export interface MydumperResult {
  /** mydumper -t 2, one file per table (no chunks). */
  dumpSeconds: number;
  dumpBytes: number;
  /** 7za a -mx1 of that dump. */
  archiveSeconds: number;
  archiveBytes: number;
  /** dump + archive */
  backupSeconds: number;
  /** mydumper -t 2 -r 250000: the chunked dump myloader loads (not part of any ratio). */
  chunkedDumpSeconds: number;
  /** myloader -t 2 of the chunked dump, from its directory (no extraction). */
  restoreSeconds: number;
  restoreCheck: 'OK' | 'MISMATCH';
}

const CHUNK_ROWS = 250_000;
const THREADS = 2;

/**
 * `--trx-consistency-only`: the global read lock is held only until the threads' snapshots are
 * open (the service likewise locks only briefly), so the dump does not hold up the shared server.
 */
const dumpArgs = (scale: Scale, tables: readonly string[], dir: string): string[] => [
  ...clientArgs,
  '-t', String(THREADS),
  '--trx-consistency-only',
  '-B', scale.database,
  '-T', tables.join(','),
  '-o', dir,
  '-v', '1',
];

export async function runMydumper(scale: Scale, tables: readonly string[], expected: Record<string, string | null>): Promise<MydumperResult> {
  const root = join(scale.outDir, 'mydumper');
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  try {
    const plain = join(root, 'dump');
    const archivePath = join(root, 'mydumper.7z');
    const backup = await medianOf(config.repeats, 'mydumper -t 2 + 7za -mx1', async () => {
      await rm(plain, { recursive: true, force: true });
      await rm(archivePath, { force: true });
      const dump = await timed(() => run('mydumper', dumpArgs(scale, tables, plain)));
      const files = (await readdir(plain)).sort();
      const archive = await timed(() => run('7za', ['a', '-mx1', archivePath, ...files], { cwd: plain }));
      const dumpBytes = files.reduce((sum, f) => sum + fileSize(join(plain, f)), 0);
      return { dump, archive, dumpBytes, archiveBytes: fileSize(archivePath) };
    }, (b) => b.dump.seconds + b.archive.seconds);
    const { dump, archive, dumpBytes } = backup;
    await rm(plain, { recursive: true, force: true });

    const chunked = join(root, 'chunked');
    const chunkedDump = await timed(() => run('mydumper', [...dumpArgs(scale, tables, chunked), '-r', String(CHUNK_ROWS)]));
    const conn = await connect();
    try {
      const db = config.restoreDatabase;
      const load = await medianOf(config.repeats, 'myloader -t 2', async () => {
        await recreateDatabase(conn, db);
        return timed(() => run('myloader', [...clientArgs, '-t', String(THREADS), '-d', chunked, '-B', db, '-o', '-v', '1']));
      }, (l) => l.seconds);
      const check = await checkRestored(conn, db, expected, 'myloader restore');
      await conn.query(`DROP DATABASE \`${db}\``);
      return {
        dumpSeconds: dump.seconds,
        dumpBytes,
        archiveSeconds: archive.seconds,
        archiveBytes: backup.archiveBytes,
        backupSeconds: dump.seconds + archive.seconds,
        chunkedDumpSeconds: chunkedDump.seconds,
        restoreSeconds: load.seconds,
        restoreCheck: check,
      };
    } finally {
      await conn.end();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
