// The original tool's pipeline: mariadb-dump per table + 7za at default settings; restore with `mariadb <`.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { clientArgs as client, config } from './config.js';
import type { Scale } from './config.js';
import { checkRestored, connect, recreateDatabase } from './db.js';
import { fileSize, run, timed } from './measure.js';

export interface PipelineResult {
  datasetTag: string;
  dumpSeconds: number;
  dumpBytes: number;
  archiveSeconds: number;
  archiveBytes: number;
  /** dump + archive */
  backupSeconds: number;
  /** 7za x of the archive (not part of restoreSeconds). */
  extractSeconds: number;
  /** `mariadb <db> < table.sql` for each table, sequentially. */
  restoreSeconds: number;
  /** extract + restore: what the service's restore (which reads the archive) is compared with. */
  restoreWithExtractSeconds: number;
  restoreCheck: 'OK' | 'MISMATCH';
}

export async function runPipeline(scale: Scale, tables: readonly string[], expected: Record<string, string | null>): Promise<PipelineResult> {
  const dir = join(scale.outDir, 'pipeline');
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'restore'), { recursive: true });
  const files = tables.map((t) => `${t}.sql`);

  const dump = await timed(async () => {
    for (const t of tables) {
      await run('mariadb-dump', [...client, '--single-transaction', scale.database, t], { stdout: join(dir, `${t}.sql`) });
    }
  });
  const archive = await timed(() => run('7za', ['a', 'pipeline.7z', ...files], { cwd: dir }));
  const extract = await timed(() => run('7za', ['x', '-y', '-orestore', 'pipeline.7z'], { cwd: dir }));

  const conn = await connect();
  try {
    const db = config.restoreDatabase;
    await recreateDatabase(conn, db);
    const restore = await timed(async () => {
      for (const f of files) await run('mariadb', [...client, db], { stdin: join(dir, 'restore', f) });
    });
    const check = await checkRestored(conn, db, expected, 'pipeline restore');
    await conn.query(`DROP DATABASE \`${db}\``);
    await rm(join(dir, 'restore'), { recursive: true, force: true });
    return {
      datasetTag: scale.tag,
      dumpSeconds: dump.seconds,
      dumpBytes: files.reduce((sum, f) => sum + fileSize(join(dir, f)), 0),
      archiveSeconds: archive.seconds,
      archiveBytes: fileSize(join(dir, 'pipeline.7z')),
      backupSeconds: dump.seconds + archive.seconds,
      extractSeconds: extract.seconds,
      restoreSeconds: restore.seconds,
      restoreWithExtractSeconds: extract.seconds + restore.seconds,
      restoreCheck: check,
    };
  } finally {
    await conn.end();
  }
}

/** `7zz a -mx5 -ms=off` (one block per file, like the service) over the given .sql files. */
export async function sevenZipAlone(dir: string, files: readonly string[], archive: string): Promise<{ seconds: number; bytes: number }> {
  await rm(archive, { force: true });
  const { seconds } = await timed(() => run('7zz', ['a', '-mx5', '-ms=off', archive, ...files], { cwd: dir }));
  return { seconds, bytes: fileSize(archive) };
}

export function extractArchive(archive: string, dir: string): Promise<void> {
  return run('7zz', ['x', '-y', `-o${dir}`, archive]);
}
