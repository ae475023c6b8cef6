// One small table restored alone from the big archive: from the request to its checksum matching.
import { config } from './config.js';
import type { Client } from './client.js';
import { jobsIdle, jobsLastSeq, requestRestore, waitForJobsDrained } from './client.js';
import { checksums, connect } from './db.js';
import { sleep } from './measure.js';
import type { Service } from './service.js';

export interface SmallTableRestore {
  table: string;
  /** Request sent → CHECKSUM TABLE of the live table equals the data set's. */
  seconds: number;
  check: 'OK' | 'MISMATCH';
}

const POLL_MS = 5;
const LIMIT_MS = 120_000;

export async function timeSmallTableRestore(
  client: Client,
  service: Service,
  archiveName: string,
  database: string,
  table: string,
  expected: string | null,
): Promise<SmallTableRestore> {
  const conn = await connect();
  try {
    // The archive holds the same rows as the live table: change the live one, so the restore shows.
    await conn.query(`DELETE FROM \`${database}\`.\`${table}\` LIMIT 1`);
    const sum = async (): Promise<string | null> => (await checksums(conn, database, [table]))[table] ?? null;
    if ((await sum()) === expected) throw new Error(`${table}: the checksum did not change after deleting a row`);

    const sinceSeq = await jobsLastSeq(client.jsm);
    const started = performance.now();
    await requestRestore(client.nc, archiveName, [table], service.alive);
    // Until the checksum matches, or the job ended without it matching (a failed or wrong restore).
    let matched = false;
    while (!(matched = (await sum()) === expected) && (await jobsIdle(client.jsm, sinceSeq)) !== true) {
      service.alive();
      if (performance.now() - started > LIMIT_MS) throw new Error(`${table} not restored within ${LIMIT_MS / 1000} s`);
      await sleep(POLL_MS);
    }
    // The job may have ended between the two reads: one more look.
    if (!matched) matched = (await sum()) === expected;
    const seconds = (performance.now() - started) / 1000;
    if (!matched) console.error(`small table restore: ${table} checksum MISMATCH after the job ended`);
    await waitForJobsDrained(client.jsm, { sinceSeq, timeoutMs: config.jobTimeoutMs, alive: service.alive });
    return { table, seconds, check: matched && (await sum()) === expected ? 'OK' : 'MISMATCH' };
  } finally {
    await conn.end();
  }
}
