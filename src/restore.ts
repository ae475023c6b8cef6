import { pipeline } from 'node:stream/promises';
import { Transform, Writable } from 'node:stream';
import type { MysqlSettings } from './config.js';
import { extractEntry, inspectArchive } from './archive/reader.js';
import type { RestoreJob } from './jobs/job.js';
import { PermanentJobError } from './jobs/job.js';
import { Progress } from './jobs/progress.js';
import type { Logger } from './log.js';
import { connect, disconnect, type Connection } from './mysql/connection.js';
import { createStatementSplitter } from './mysql/statements.js';
import { entryNameOf, type TableName } from './names.js';

export interface RestoreSettings {
  mysql: MysqlSettings;
  restoreParallelism: number;
}

export interface ArchiveCopy {
  path: string;
  /** Fetched from the object store for this job (so never CRC-tested before): test it first. */
  fetched: boolean;
}

/**
 * Runs a restore job: each requested `<table>.sql` streams out of the archive (7-Zip `-so`),
 * through the statement splitter, into its own connection; tables load in parallel.
 */
export async function restoreTables(
  job: RestoreJob,
  archive: ArchiveCopy,
  settings: RestoreSettings,
  log: Logger,
  signal?: AbortSignal,
  progress = new Progress(),
): Promise<void> {
  const { path } = archive;
  // A local archive was tested when the request was answered, and extraction checks each CRC.
  const inspection = await inspectArchive(path, { test: archive.fetched });
  if (!inspection.ok) throw new PermanentJobError(`archive ${job.archive} is unreadable: ${inspection.reason}`);
  const missing = job.tables.filter((t) => !inspection.entries.some((e) => e.name === entryNameOf(t)));
  if (missing.length > 0) throw new PermanentJobError(`archive ${job.archive} does not hold ${missing.map(entryNameOf).join(', ')}`);

  progress.tablesTotal = job.tables.length;
  progress.bytesTotal = job.tables.reduce((sum, t) => sum + (inspection.entries.find((e) => e.name === entryNameOf(t))?.size ?? 0), 0);
  const queue = [...job.tables];
  const worker = async () => {
    for (let table = queue.shift(); table !== undefined; table = queue.shift()) {
      signal?.throwIfAborted();
      const statements = await restoreTable(settings.mysql, path, table, progress, signal);
      progress.tablesDone++;
      log.info({ table, statements }, 'table restored');
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.restoreParallelism, job.tables.length) }, worker));
}

async function restoreTable(mysql: MysqlSettings, archivePath: string, table: TableName, progress: Progress, signal?: AbortSignal): Promise<number> {
  const conn = await connect(mysql, { rawBytes: true });
  let statements = 0;
  try {
    await pipeline(
      extractEntry(archivePath, entryNameOf(table)),
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          progress.bytesDone += chunk.length;
          callback(null, chunk);
        },
      }),
      createStatementSplitter({ encoding: 'latin1' }),
      new Writable({
        objectMode: true,
        write(statement: string, _encoding, callback) {
          run(conn, statement).then(() => {
            statements++;
            callback();
          }, callback);
        },
      }),
      { signal },
    );
  } catch (err) {
    conn.destroy();
    throw err;
  }
  await disconnect(conn);
  return statements;
}

async function run(conn: Connection, statement: string): Promise<void> {
  try {
    await conn.query(statement);
  } catch (err) {
    const text = statement.length > 200 ? `${statement.slice(0, 200)}…` : statement;
    throw new Error(`${(err as Error).message} (in: ${text})`, { cause: err });
  }
}
