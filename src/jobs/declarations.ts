import { readFile } from 'node:fs/promises';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

/** The JSON definitions in the top-level `streams/` folder. */
const STREAMS_DIR = new URL('../../streams/', import.meta.url);

const DURATION_FIELDS_NANOS = new Set(['duplicate_window', 'ack_wait', 'max_age', 'inactive_threshold']);
const DURATION_FIELDS_MILLIS = new Set(['ttl']);
const UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export type Settings = Record<string, string | number>;

/** Reads `streams/<file>`, fills in `${NAME}` placeholders and converts durations. */
export async function loadDeclaration<T>(file: string, settings: Settings): Promise<T> {
  const raw = JSON.parse(await readFile(new URL(file, STREAMS_DIR), 'utf8')) as unknown;
  return fill(raw, settings, file) as T;
}

function fill(value: unknown, settings: Settings, where: string, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => fill(item, settings, where));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, settings, where, k)]));
  }
  if (typeof value !== 'string') return value;
  const whole = /^\$\{([A-Z0-9_]+)\}$/.exec(value);
  let filled: unknown = whole
    ? setting(settings, whole[1] as string, where)
    : value.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => String(setting(settings, name, where)));
  if (typeof filled === 'string' && (DURATION_FIELDS_NANOS.has(key) || DURATION_FIELDS_MILLIS.has(key))) {
    filled = parseDurationMs(filled, `${where}: ${key}`);
  }
  if (typeof filled === 'number' && DURATION_FIELDS_NANOS.has(key)) return nanos(filled);
  return filled;
}

function setting(settings: Settings, name: string, where: string): string | number {
  const value = settings[name];
  if (value === undefined) throw new Error(`${where} uses \${${name}}, which is not a setting`);
  return value;
}

function parseDurationMs(text: string, what: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`${what}: "${text}" is not a duration like 90s, 2m or 7d`);
  return Number(m[1]) * (UNITS_MS[m[2] as string] as number);
}

class DeclarationConflict extends Error {}

/** Fields that cannot change on an existing stream: a difference is a conflict, not an update. */
const FIXED_STREAM_FIELDS = ['retention', 'storage'] as const;

/** Creates the stream when missing, updates it when only changeable fields differ, else refuses. */
export async function ensureStream(jsm: JetStreamManager, wanted: Partial<StreamConfig> & { name: string }): Promise<void> {
  let existing: StreamConfig;
  try {
    existing = (await jsm.streams.info(wanted.name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add(wanted);
    return;
  }
  for (const field of FIXED_STREAM_FIELDS) {
    if (wanted[field] !== undefined && existing[field] !== wanted[field]) {
      throw new DeclarationConflict(`stream ${wanted.name} exists with ${field} "${existing[field]}", but "${wanted[field]}" is declared`);
    }
  }
  const missing = (wanted.subjects ?? []).filter((s) => !existing.subjects?.includes(s));
  if (missing.length > 0) {
    throw new DeclarationConflict(`stream ${wanted.name} exists with subjects ${JSON.stringify(existing.subjects)}, without the declared ${JSON.stringify(missing)}`);
  }
  const changed = Object.entries(wanted).filter(([k, v]) => k !== 'subjects' && JSON.stringify(existing[k as keyof StreamConfig]) !== JSON.stringify(v));
  if (changed.length > 0) await jsm.streams.update(wanted.name, { ...existing, ...wanted, subjects: existing.subjects });
}

const FIXED_CONSUMER_FIELDS = ['ack_policy', 'deliver_policy', 'filter_subject'] as const;

export async function ensureConsumer(jsm: JetStreamManager, stream: string, wanted: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  let existing: ConsumerConfig;
  try {
    existing = (await jsm.consumers.info(stream, wanted.durable_name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
    await jsm.consumers.add(stream, wanted);
    return;
  }
  for (const field of FIXED_CONSUMER_FIELDS) {
    if (wanted[field] !== undefined && existing[field] !== wanted[field]) {
      throw new DeclarationConflict(`consumer ${wanted.durable_name} on ${stream} exists with ${field} "${existing[field]}", but "${wanted[field]}" is declared`);
    }
  }
  const updatable = ['description', 'ack_wait', 'max_deliver', 'max_ack_pending', 'backoff'] as const;
  const update: Partial<ConsumerConfig> = {};
  for (const field of updatable) {
    if (wanted[field] !== undefined && JSON.stringify(existing[field]) !== JSON.stringify(wanted[field])) {
      (update as Record<string, unknown>)[field] = wanted[field];
    }
  }
  if (Object.keys(update).length > 0) await jsm.consumers.update(stream, wanted.durable_name, update);
}

interface BucketDeclaration {
  bucket: string;
  description?: string;
  history?: number;
  /** Milliseconds (converted from the declaration's duration). */
  ttl?: number;
  replicas?: number;
}

/** A key-value bucket is a stream `KV_<bucket>`: created by the KV client, then kept in line. */
async function ensureBucket(jsm: JetStreamManager, kvm: Kvm, wanted: BucketDeclaration): Promise<void> {
  const stream = `KV_${wanted.bucket}`;
  let existing: StreamConfig | null = null;
  try {
    existing = (await jsm.streams.info(stream)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  if (!existing) {
    await kvm.create(wanted.bucket, {
      description: wanted.description,
      history: wanted.history,
      ttl: wanted.ttl,
      replicas: wanted.replicas,
    });
    return;
  }
  const update: Partial<StreamConfig> = {};
  if (wanted.ttl !== undefined && existing.max_age !== nanos(wanted.ttl)) update.max_age = nanos(wanted.ttl);
  if (wanted.replicas !== undefined && existing.num_replicas !== wanted.replicas) update.num_replicas = wanted.replicas;
  if (wanted.history !== undefined && existing.max_msgs_per_subject !== wanted.history) update.max_msgs_per_subject = wanted.history;
  if (Object.keys(update).length > 0) await jsm.streams.update(stream, { ...existing, ...update });
}

/** Opens the key-value bucket declared in `streams/<file>`, creating or updating it first. */
export async function openDeclaredBucket(nc: NatsConnection, file: string, settings: Settings): Promise<KV> {
  const declaration = await loadDeclaration<BucketDeclaration>(file, settings);
  const kvm = new Kvm(nc);
  await ensureBucket(await jetstreamManager(nc), kvm, declaration);
  return kvm.open(declaration.bucket);
}
