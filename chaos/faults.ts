/** Carries out the fault schedule against the running environment, one lane at a time each. */
import mysql from 'mysql2/promise';
import type { Environment } from './environment.js';
import { describeFault, type Fault } from './schedule.js';

export interface DoneFault {
  fault: Fault;
  at: number;
  /** From the kill until the process served again (ready, healthy, accepting connections). */
  outageMs: number;
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `faults` from `startedAt`; no fault begins after `stopAt()`. Returns what was done. */
export async function runFaults(env: Environment, faults: Fault[], startedAt: number, stopAt: () => number, say: (line: string) => void): Promise<DoneFault[]> {
  const done: DoneFault[] = [];
  const lane = async (name: Fault['lane']) => {
    for (const fault of faults.filter((f) => f.lane === name)) {
      const wait = startedAt + fault.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (Date.now() >= stopAt()) return;
      const at = Date.now();
      say(`[${((at - startedAt) / 1000).toFixed(1)} s] ${describeFault(fault)}`);
      let error: string | undefined;
      try {
        await inflict(env, fault);
      } catch (err) {
        error = String(err);
        say(`  ${error}`);
      }
      done.push({ fault, at, outageMs: Date.now() - at, ...(error !== undefined && { error }) });
    }
  };
  await Promise.all([lane('instances'), lane('infra')]);
  return done;
}

async function inflict(env: Environment, fault: Fault): Promise<void> {
  switch (fault.kind) {
    case 'kill-instance': {
      const instance = env.instances[fault.target]!;
      await instance.kill();
      await sleep(fault.downMs);
      await instance.start();
      return;
    }
    case 'kill-nats':
      await env.cluster.kill(fault.target);
      await sleep(fault.downMs);
      await retry(() => env.cluster.restart(fault.target));
      return;
    case 'restart-mariadb':
      await env.mariadb.kill();
      await sleep(fault.downMs);
      await restartMariaDb(env);
      return;
  }
}

/** A start that timed out may have left its server running: kill before each try. */
function restartMariaDb(env: Environment): Promise<void> {
  return retry(async () => {
    await env.mariadb.kill();
    await env.mariadb.start();
  });
}

async function retry(start: () => Promise<void>, tries = 3): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (err) {
      if (i >= tries) throw err;
      await sleep(1_000);
    }
  }
}

/** Everything up again (a fault that failed to restart something, an instance that exited by itself). */
export async function restoreEverything(env: Environment): Promise<void> {
  for (let i = 0; i < env.cluster.names.length; i++) if (!env.cluster.running(i)) await retry(() => env.cluster.restart(i));
  await env.cluster.waitForMetaLeader(60_000);
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: env.mariadb.port, user: 'root' }).catch(() => null);
  if (conn) await conn.end();
  else await restartMariaDb(env);
  await Promise.all(env.instances.filter((i) => !i.running).map((i) => i.start()));
}
