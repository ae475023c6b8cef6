/**
 * Everything a chaos run starts, on loopback only and under ONE temp directory: the 3-node
 * JetStream cluster of nats-server.conf (test/helpers/cluster.ts), a private MariaDB
 * (test/helpers/mariadb-server.ts) and three service instances. `tearDown` stops them all and
 * removes the directory; the helpers SIGKILL their children on any exit of this process.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type NatsCluster } from '../test/helpers/cluster.js';
import { startMariaDb, type TestMariaDb } from '../test/helpers/mariadb-server.js';
import { ServiceInstance, type Exit, type LogLine } from './instances.js';

export const PREFIX = 'chaos';
export const DATABASE = 'test';
/** The database the end-of-run check restores every archive into (restoreinto). */
export const VERIFY_DATABASE = 'chaos_verify';
export const INSTANCES = 3;
/** How long a job's message waits for its ack before redelivery (the service's JOB_ACK_WAIT_SECONDS). */
export const ACK_WAIT_SECONDS = 6;

export type Keep = 'all' | 'logs' | 'none';

export interface Environment {
  root: string;
  cluster: NatsCluster;
  mariadb: TestMariaDb;
  instances: ServiceInstance[];
  lines: LogLine[];
  exits: Exit[];
  /** Stops everything; keeps the run's directory (`all`), only its logs (moved to `<root>-logs`), or nothing. */
  tearDown(keep: Keep): Promise<void>;
}

export async function startEnvironment(): Promise<Environment> {
  const root = mkdtempSync(join(tmpdir(), 'nmtb-chaos-'));
  // The helpers make their temp dirs under os.tmpdir(), which reads TMPDIR each time: pointing it
  // at the run's root puts the nats-server stores and the MariaDB data dir there too (and the
  // instances' own temp files, which inherit it), so one removal cleans up everything.
  const outerTmp = process.env.TMPDIR;
  process.env.TMPDIR = root;
  let cluster: NatsCluster | undefined;
  let mariadb: TestMariaDb | undefined;
  const instances: ServiceInstance[] = [];
  const lines: LogLine[] = [];
  const exits: Exit[] = [];
  let torn: Promise<void> | null = null;
  // Once only: the run's own end and a SIGINT's may both ask.
  const tearDown = (keep: Keep): Promise<void> => (torn ??= tearDownOnce(keep));
  const tearDownOnce = async (keep: Keep) => {
    await Promise.all(instances.map((i) => i.close(10_000).catch(() => undefined)));
    await cluster?.stop().catch(() => undefined);
    await mariadb?.stop().catch(() => undefined);
    if (outerTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outerTmp;
    if (keep === 'logs') renameSync(join(root, 'logs'), `${root}-logs`);
    if (keep !== 'all') rmSync(root, { recursive: true, force: true });
  };
  try {
    [cluster, mariadb] = await Promise.all([startCluster(), startMariaDb()]);
    const logDir = join(root, 'logs');
    mkdirSync(logDir);
    for (let i = 0; i < INSTANCES; i++) {
      instances.push(
        new ServiceInstance(
          i,
          {
            // Each instance lists every node, its own first (the client shuffles them anyway).
            NATS_URL: [...cluster.urls.slice(i), ...cluster.urls.slice(0, i)].join(','),
            MYSQL_URL: `mysql://root@127.0.0.1:${mariadb.port}/${DATABASE}`,
            BACKUP_DIR: join(root, `backups-${i}`),
            SUBJECT_PREFIX: PREFIX,
            JS_REPLICAS: '3',
            JOB_ACK_WAIT_SECONDS: String(ACK_WAIT_SECONDS),
            SHUTDOWN_GRACE_SECONDS: '5',
            LOG_LEVEL: 'info',
          },
          logDir,
          lines,
          exits,
        ),
      );
    }
    return { root, cluster, mariadb, instances, lines, exits, tearDown };
  } catch (err) {
    await tearDown('none');
    throw err;
  }
}
