/**
 * One chaos run: start everything, keep writing the tables and asking for backups and restores
 * for `minutes` while the schedule kills instances, NATS nodes and MariaDB, then let every job
 * end and check what came out.
 */
import { connect } from '@nats-io/transport-node';
import { mulberry32 } from '../bench/prng.js';
import { checkArchives, jobsRunTwice, leftovers } from './checks.js';
import { Requester } from './client.js';
import { ACK_WAIT_SECONDS, DATABASE, INSTANCES, PREFIX, startEnvironment, VERIFY_DATABASE, type Environment, type Keep } from './environment.js';
import { restoreEverything, runFaults } from './faults.js';
import { summarize, type Figures } from './report.js';
import { planFaults } from './schedule.js';
import { createTables } from './tables.js';
import { verifyArchives } from './verify.js';
import { openSession, Writer } from './writer.js';
import { Workload } from './workload.js';

export interface ChaosOptions {
  minutes: number;
  seed: number;
  /** Keep the run's directory (logs, backup dirs) instead of removing it. */
  keep: boolean;
  /** Everything must be over by then (epoch ms); the phases after the workload share what is left. */
  deadline: number;
}

const BUCKET = 'backups'; // the service's default OBJECT_BUCKET

export async function runChaos(options: ChaosOptions, say: (line: string) => void, registerTearDown: (tearDown: () => Promise<void>) => void): Promise<Figures> {
  const rng = mulberry32(options.seed);
  say(`chaos: ${options.minutes} min, seed ${options.seed}; starting a 3-node NATS cluster, MariaDB and ${INSTANCES} instances`);
  const env = await startEnvironment();
  // A failed run keeps its instances' logs (small) for a look at the jobs it names.
  let keep: Keep = options.keep ? 'all' : 'none';
  const kept = () => (keep === 'all' ? env.root : `${env.root}-logs`);
  registerTearDown(() => env.tearDown(keep));
  try {
    const figures = await phases(env, options, rng, say);
    if (!figures.passed && keep === 'none') keep = 'logs';
    if (keep !== 'none') say(`kept: ${kept()}`);
    return figures;
  } catch (err) {
    if (keep === 'none') keep = 'logs';
    say(`kept: ${kept()}`);
    throw err;
  } finally {
    await env.tearDown(keep);
  }
}

async function phases(env: Environment, options: ChaosOptions, rng: () => number, say: (line: string) => void): Promise<Figures> {
  const setupConn = await openSession(env.mariadb.port, DATABASE);
  await createTables(setupConn, VERIFY_DATABASE);
  await setupConn.end();
  const writer = new Writer(env.mariadb.port, DATABASE, mulberry32(options.seed ^ 0x77777777));
  await writer.noteInitial();
  await Promise.all(env.instances.map((i) => i.start()));
  const nc = await connect({ servers: env.cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  try {
    const requester = new Requester(nc, PREFIX, () => options.deadline - 60_000);
    const workload = new Workload(requester, rng);
    const durationMs = options.minutes * 60_000;
    const faults = planFaults(options.seed, { warmupMs: Math.min(15_000, durationMs / 6), untilMs: durationMs - 10_000, instances: INSTANCES, natsNodes: env.cluster.names.length });
    say(`ready; ${faults.length} faults planned over ${options.minutes} min`);

    writer.start(100);
    const started = Date.now();
    const endOfWork = started + durationMs;
    const [done] = await Promise.all([runFaults(env, faults, started, () => endOfWork - 5_000, say), workload.run(endOfWork, 8)]);
    say(`workload over after ${((Date.now() - started) / 1000).toFixed(0)} s: ${workload.jobs.length} jobs accepted; letting every job end`);

    await restoreEverything(env);
    // Retries back off (1, 2, 4, 8 s) and a dead worker's job waits out its ack wait: give them time.
    const settleBy = Math.min(Date.now() + 180_000 + 4 * ACK_WAIT_SECONDS * 1_000, options.deadline - 4 * 60_000);
    const ownJobs = [...workload.jobs];
    while (Date.now() < settleBy && ownJobs.some((j) => j.state?.status !== 'done' && j.state?.status !== 'failed')) await new Promise((r) => setTimeout(r, 500));
    await writer.stop();
    await writer.checkAll();

    const runTwice = jobsRunTwice(env.lines, env.exits, Date.now());
    const archives = await checkArchives(nc, BUCKET, ownJobs, env.instances.map((i) => i.backupDir));
    say(`checked ${archives.checked} archives; restoring each into ${VERIFY_DATABASE} to compare with its snapshot`);
    const conn = await openSession(env.mariadb.port, DATABASE);
    try {
      const verified = await verifyArchives(ownJobs, requester, workload, writer, conn, VERIFY_DATABASE, options.deadline - 90_000);
      await workload.settle(Math.min(Date.now() + 30_000, options.deadline - 80_000));
      const beforeRestart = await leftovers(conn, env.instances.map((i) => i.backupDir));
      // The service removes what a killed process left (temp files, scratch schemas) at its next
      // start, once the job is over: start every instance once more, then look again.
      await Promise.all(env.instances.map((i) => i.stop(10_000)));
      await Promise.all(env.instances.map((i) => i.start()));
      const afterRestart = await leftovers(conn, env.instances.map((i) => i.backupDir));
      return summarize({ options, jobs: ownJobs, faults: done, exits: env.exits, writer, runTwice, archives, verified, beforeRestart, afterRestart, requester, refusals: workload.refusals });
    } finally {
      await conn.end().catch(() => undefined);
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}
