// The original tool's pipeline: mariadb-dump per table + 7za at default settings; restore with `mariadb <`.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { config } from './config.js';
import { checksums, connect, mismatches } from './db.js';
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
  restoreCheck: 'OK' | 'MISMATCH';
}

const client = ['-h', config.mysql.host, '-P', String(config.mysql.port), '-u', config.mysql.user];

export async function runPipeline(
  tables: readonly string[],
  expected: Record<string, string | null>,
  datasetTag: string,
): Promise<PipelineResult> {
  const dir = join(config.outDir, 'pipeline');
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'restore'), { recursive: true });
  const files = tables.map((t) => `${t}.sql`);

  const dump = await timed(async () => {
    for (const t of tables) {
      await run('mariadb-dump', [...client, '--single-transaction', config.database, t], { stdout: join(dir, `${t}.sql`) });
    }
  });
  const archive = await timed(() => run('7za', ['a', 'pipeline.7z', ...files], { cwd: dir }));
  const extract = await timed(() => run('7za', ['x', '-y', '-orestore', 'pipeline.7z'], { cwd: dir }));

  const conn = await connect();
  try {
    const db = config.restoreDatabase;
    await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await conn.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
    const restore = await timed(async () => {
      for (const f of files) await run('mariadb', [...client, db], { stdin: join(dir, 'restore', f) });
    });
    const bad = mismatches(expected, await checksums(conn, db, tables));
    if (bad.length > 0) console.error(`pipeline restore: checksum MISMATCH in ${bad.join(', ')}`);
    await conn.query(`DROP DATABASE \`${db}\``);
    await rm(join(dir, 'restore'), { recursive: true, force: true });
    return {
      datasetTag,
      dumpSeconds: dump.seconds,
      dumpBytes: files.reduce((sum, f) => sum + fileSize(join(dir, f)), 0),
      archiveSeconds: archive.seconds,
      archiveBytes: fileSize(join(dir, 'pipeline.7z')),
      backupSeconds: dump.seconds + archive.seconds,
      extractSeconds: extract.seconds,
      restoreSeconds: restore.seconds,
      restoreCheck: bad.length === 0 ? 'OK' : 'MISMATCH',
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
