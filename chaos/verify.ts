/**
 * The end-of-run restore check: every archive a done backup made is restored (restoreinto) into
 * the verify database under fresh names, and each restored table must hold exactly the content
 * of the snapshot it was dumped at — the digest the writer noted for the generation in its marker
 * row — and as many rows as the archive's manifest says.
 */
import type { Connection } from 'mysql2/promise';
import type { Requester } from './client.js';
import { digestOf, q } from './tables.js';
import type { Writer } from './writer.js';
import { ended, type TrackedJob, type Workload } from './workload.js';

export interface VerifyOutcome {
  archives: number;
  tables: number;
  wrong: { archive: string; table: string; problem: string }[];
  /** Archives whose restore could not be asked for or did not end done (with the reason). */
  unrestored: { archive: string; reason: string }[];
}

export async function verifyArchives(
  backups: TrackedJob[],
  requester: Requester,
  workload: Workload,
  writer: Writer,
  conn: Connection,
  database: string,
  untilMs: number,
): Promise<VerifyOutcome> {
  const outcome: VerifyOutcome = { archives: 0, tables: 0, wrong: [], unrestored: [] };
  const queue = backups.filter((j) => j.kind === 'backup' && j.state?.status === 'done');
  const one = async (backup: TrackedJob, index: number) => {
    const rename = Object.fromEntries(backup.tables.map((t) => [t, `v${index}_${t}`]));
    const body = JSON.stringify({ archive: backup.archive, tables: backup.tables, database, rename });
    const reply = await requester.ask('restoreinto', body, 20_000);
    const id = reply?.headers['Backup-Job-Id'];
    if (!reply || reply.body !== '{"status": "ok"}' || !id) {
      outcome.unrestored.push({ archive: backup.archive, reason: reply ? `${reply.code}: ${reply.error}` : 'no answer' });
      return;
    }
    const job: TrackedJob = { id, kind: 'verify', archive: backup.archive, tables: backup.tables, requestedAt: Date.now() };
    workload.track(job);
    while (!ended(job) && Date.now() < untilMs) await new Promise((r) => setTimeout(r, 300));
    if (job.state?.status !== 'done') {
      outcome.unrestored.push({ archive: backup.archive, reason: job.state?.reason ?? `still ${job.state?.status ?? 'unknown'}` });
      return;
    }
    const manifest = await manifestRows(requester, backup.archive);
    outcome.archives++;
    for (const table of backup.tables) {
      outcome.tables++;
      const restored = rename[table]!;
      const found = await digestOf(conn, restored, database);
      const expected = writer.expected(table, found.generation);
      if (found.digest !== expected) outcome.wrong.push({ archive: backup.archive, table, problem: `generation ${found.generation}: ${found.digest}, the snapshot had ${expected ?? 'no known content'}` });
      const rows = manifest.get(table);
      if (rows !== undefined && rows !== found.rows) outcome.wrong.push({ archive: backup.archive, table, problem: `${found.rows} rows, the manifest says ${rows}` });
      await conn.query(`DROP TABLE ${q(database)}.${q(restored)}`);
    }
  };
  // A few at a time: the instances run two jobs each.
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < queue.length && Date.now() < untilMs) {
        const index = next++;
        await one(queue[index]!, index);
      }
    }),
  );
  for (const backup of queue.slice(next)) outcome.unrestored.push({ archive: backup.archive, reason: 'no time left to restore it' });
  return outcome;
}

/** Table → rows, from the archive's manifest (`<prefix>.backups {"archive"}`). */
async function manifestRows(requester: Requester, archive: string): Promise<Map<string, number>> {
  const rows = new Map<string, number>();
  const reply = await requester.ask('backups', JSON.stringify({ archive }), 10_000);
  if (!reply || reply.code) return rows;
  const detail = JSON.parse(reply.body) as { archive?: { tables?: { table: string; rows: number | null }[] } };
  for (const t of detail.archive?.tables ?? []) if (typeof t.rows === 'number') rows.set(t.table, t.rows);
  return rows;
}
