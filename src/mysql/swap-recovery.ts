/** Finishing or removing the scratch schemas of restores that did not end (swap.ts, swap-plan.ts). */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlSettings } from '../config.js';
import { connect, disconnect, type Connection } from './connection.js';
import { quoteIdentifier as q } from './sql.js';
import { runPlan, swapStage } from './swap-plan.js';
import { jobOfScratch } from './swap-names.js';

/**
 * What a scratch schema left by a dead process (or by a job that ended) needs: before the swap
 * (its tables are still there), only removal; after it, the rest of its plan, then removal.
 */
export async function recoverScratch(admin: Connection, settings: MysqlSettings, scratch: string): Promise<'none' | 'removed' | 'finished'> {
  const stage = await swapStage(admin, scratch);
  if (stage === 'none') return 'none';
  if (stage === 'swapped') await runPlan(admin, settings, scratch);
  await admin.query(`DROP DATABASE IF EXISTS ${q(scratch)}`);
  return stage === 'swapped' ? 'finished' : 'removed';
}

/**
 * Once a restore's completion is recorded: its scratch schema, kept until then as the record that
 * its tables were swapped in, is removed (its plan finished first, should it not be).
 */
export async function removeScratch(settings: MysqlSettings, scratch: string): Promise<void> {
  const admin = await connect(settings);
  try {
    await recoverScratch(admin, settings, scratch);
  } finally {
    await disconnect(admin);
  }
}

/**
 * At start: scratch schemas of this deployment whose job is over (or unknown) are finished or
 * removed. Scratch schemas of live jobs are left to those jobs' retries.
 */
export async function recoverAbandonedRestores(
  settings: MysqlSettings,
  deployment: string,
  isLiveJob: (jobId: string) => Promise<boolean>,
): Promise<{ schema: string; outcome: string }[]> {
  const admin = await connect(settings);
  const recovered: { schema: string; outcome: string }[] = [];
  try {
    await admin.query('SET SESSION FOREIGN_KEY_CHECKS = 0');
    const [rows] = await admin.query<RowDataPacket[]>("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\\_nmtb\\_r%'");
    for (const row of rows) {
      const schema = String(row.name);
      const job = jobOfScratch(deployment, schema);
      if (!job || (await isLiveJob(job))) continue;
      recovered.push({ schema, outcome: await recoverScratch(admin, settings, schema) });
    }
  } finally {
    await disconnect(admin);
  }
  return recovered;
}
