import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerConfig, type JetStreamClient, type JetStreamManager, type PubAck, type StreamConfig } from '@nats-io/jetstream';
import { retryTransient } from '../transient.js';
import { ensureConsumer, ensureStream, loadDeclaration, type Settings } from './declarations.js';

export interface QueueSettings {
  stream: string;
  subjectPrefix: string;
  consumer: string;
  ackWaitMs: number;
  maxDeliver: number;
}

/**
 * The JetStream work-queue stream of jobs (`<prefix>.jobs.<kind>`) and its one pull consumer,
 * declared in `streams/`. A job is on disk in the stream before the request is answered, so a
 * crash after the reply loses nothing.
 */
export class WorkQueue {
  private constructor(
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly settings: QueueSettings,
  ) {}

  static async open(nc: NatsConnection, settings: QueueSettings, declarationSettings: Settings): Promise<WorkQueue> {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, await loadDeclaration<StreamConfig>('jobs.stream.json', declarationSettings));
    const consumer = await loadDeclaration<ConsumerConfig & { durable_name: string }>('jobs.consumer.json', declarationSettings);
    await ensureConsumer(jsm, settings.stream, consumer);
    return new WorkQueue(jetstream(nc), jsm, settings);
  }

  /** A retried publish is safe: the same `msgID` within the duplicate window is a duplicate. */
  publish(kind: string, data: Uint8Array, msgID: string): Promise<PubAck> {
    return retryTransient(() => this.js.publish(`${this.settings.subjectPrefix}.jobs.${kind}`, data, { msgID }));
  }

  /** The job message at `seq`, while it is still in the stream (no worker took it). */
  async stored(seq: number): Promise<Uint8Array | null> {
    const stored = await this.jsm.streams.getMessage(this.settings.stream, { seq }).catch(() => null);
    return stored?.data ?? null;
  }

  /** A work-queue stream keeps a terminated message: remove it so it is never seen again. */
  async remove(seq: number): Promise<void> {
    await this.jsm.streams.deleteMessage(this.settings.stream, seq, false);
  }
}
