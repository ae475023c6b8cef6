import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type NatsCluster } from './helpers/cluster.js';

// The 3-node cluster of the top-level nats-server.conf, started on free loopback ports.
let cluster: NatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;
const stream = `CLUSTER_${randomBytes(4).toString('hex')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes until the stream acks (a leader election answers with timeouts or "no responders"). */
async function publishWithRetry(subject: string, body: string, timeoutMs = 30_000): Promise<{ ack: PubAck; failures: number; ms: number }> {
  const js = jetstream(nc);
  const started = Date.now();
  let failures = 0;
  let last: unknown;
  while (Date.now() - started < timeoutMs) {
    try {
      const ack = await js.publish(subject, body, { timeout: 2_000 });
      return { ack, failures, ms: Date.now() - started };
    } catch (err) {
      failures++;
      last = err;
      await sleep(200);
    }
  }
  throw new Error(`publish to ${subject} failed for ${timeoutMs} ms: ${String(last)}`);
}

beforeAll(async () => {
  cluster = await startCluster();
  console.info(`3-node cluster formed (common meta leader) ${cluster.formedInMs} ms after spawn`);
  nc = await connect({ servers: cluster.urls, reconnectTimeWait: 250, maxReconnectAttempts: -1 });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

describe('a 3-node JetStream cluster from nats-server.conf', () => {
  it('has a meta leader that every node agrees on, and three peers', async () => {
    const leader = await cluster.waitForMetaLeader();
    expect(cluster.names).toContain(leader);
    const res = await fetch(`${cluster.monitorUrls[0]}/jsz`);
    const jsz = (await res.json()) as { meta_cluster?: { name?: string; cluster_size?: number; replicas?: unknown[] } };
    expect(jsz.meta_cluster?.name).toBe('nats-backup');
    expect(jsz.meta_cluster?.cluster_size).toBe(3);
    // What the docker-compose healthcheck asks.
    const healthz = await fetch(`${cluster.monitorUrls[2]}/healthz?js-enabled-only=true`);
    expect(healthz.status).toBe(200);
  });

  it('keeps an R3 stream writable when its leader is SIGKILLed, and the node catches up on restart', async () => {
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], num_replicas: 3 });
    let info = await jsm.streams.info(stream);
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas ?? []).toHaveLength(2);

    const first = await publishWithRetry(`${stream}.a`, 'one');
    expect(first.ack.seq).toBe(1);

    // The harshest single failure: the node leading the stream's own Raft group.
    const leaderName = info.cluster!.leader!;
    const victim = cluster.names.indexOf(leaderName);
    expect(victim).toBeGreaterThanOrEqual(0);
    await cluster.kill(victim);
    expect(cluster.running(victim)).toBe(false);

    const second = await publishWithRetry(`${stream}.b`, 'two');
    console.info(`stream leader ${leaderName} SIGKILLed: next publish acked after ${second.ms} ms (${second.failures} failed tries)`);
    expect(second.ack.stream).toBe(stream);
    expect(second.ack.seq).toBe(2);
    expect(second.ack.duplicate).toBe(false);

    info = await jsm.streams.info(stream);
    expect(info.state.messages).toBe(2);
    expect(info.cluster?.leader).toBeDefined();
    expect(info.cluster?.leader).not.toBe(leaderName);

    const restartStarted = Date.now();
    await cluster.restart(victim);
    // The restarted node is a current replica again.
    const deadline = Date.now() + 20_000;
    for (;;) {
      info = await jsm.streams.info(stream);
      const replica = (info.cluster?.replicas ?? []).find((r) => r.name === leaderName);
      if (replica?.current && !replica.offline) break;
      if (Date.now() > deadline) throw new Error(`${leaderName} not a current replica again: ${JSON.stringify(info.cluster)}`);
      await sleep(100);
    }
    console.info(`${leaderName} restarted and current again after ${Date.now() - restartStarted} ms`);
    expect((await publishWithRetry(`${stream}.c`, 'three')).ack.seq).toBe(3);
    await jsm.streams.delete(stream);
  });
});
