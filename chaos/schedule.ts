/**
 * The seeded fault schedule: the same seed gives the same plan (what, which one, when, for how
 * long). Two lanes run side by side, each one fault at a time: service instances (SIGKILL, start
 * again), and the infrastructure (SIGKILL a NATS node or MariaDB, and start it again), so
 * an instance can die while a node is down, but two nodes are never down at once (a 3-node
 * JetStream cluster needs two for a quorum).
 */
import { intIn, mulberry32, type Rng } from '../bench/prng.js';

export type Fault =
  | { lane: 'instances'; kind: 'kill-instance'; atMs: number; target: number; downMs: number }
  | { lane: 'infra'; kind: 'kill-nats'; atMs: number; target: number; downMs: number }
  | { lane: 'infra'; kind: 'restart-mariadb'; atMs: number; downMs: number };

export interface ScheduleShape {
  /** Faults start this long after the workload (so some archives exist to restore). */
  warmupMs: number;
  /** No fault starts after this (ms from the start of the workload). */
  untilMs: number;
  instances: number;
  natsNodes: number;
}

/** The plan for one run, sorted by start time within each lane. */
export function planFaults(seed: number, shape: ScheduleShape): Fault[] {
  const faults: Fault[] = [];
  const lane = (rng: Rng, gap: [number, number], make: (atMs: number) => Fault) => {
    for (let at = shape.warmupMs + intIn(rng, 0, gap[1]); at < shape.untilMs; ) {
      const fault = make(at);
      faults.push(fault);
      at += fault.downMs + intIn(rng, gap[0], gap[1]);
    }
  };
  const instanceRng = mulberry32(seed ^ 0x1a57a9ce);
  lane(instanceRng, [3_000, 14_000], (atMs) => ({
    lane: 'instances',
    kind: 'kill-instance',
    atMs,
    target: intIn(instanceRng, 0, shape.instances - 1),
    downMs: intIn(instanceRng, 200, 8_000),
  }));
  const infraRng = mulberry32(seed ^ 0x5eed0f1e);
  // The first two are one of each (in a seeded order), so even a short run has both.
  const firsts = infraRng() < 0.5 ? [true, false] : [false, true];
  lane(infraRng, [5_000, 18_000], (atMs) =>
    (firsts.shift() ?? infraRng() < 0.7)
      ? { lane: 'infra', kind: 'kill-nats', atMs, target: intIn(infraRng, 0, shape.natsNodes - 1), downMs: intIn(infraRng, 500, 10_000) }
      : { lane: 'infra', kind: 'restart-mariadb', atMs, downMs: intIn(infraRng, 200, 5_000) },
  );
  return faults.sort((a, b) => a.atMs - b.atMs);
}

export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'kill-instance':
      return `SIGKILL instance ${fault.target}, start it ${fault.downMs} ms later`;
    case 'kill-nats':
      return `SIGKILL NATS node n${fault.target + 1}, start it ${fault.downMs} ms later`;
    case 'restart-mariadb':
      return `SIGKILL MariaDB (a crash), start it ${fault.downMs} ms later`;
  }
}
