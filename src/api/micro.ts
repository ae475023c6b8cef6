import { nuid, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/**
 * NATS micro discovery (ADR-32): every instance answers `$SRV.PING|INFO|STATS`, `….<name>` and
 * `….<name>.<id>` with its identity, its endpoints and their request and error counts, so
 * `nats micro ls|info|stats` see each process. Written here rather than with @nats-io/services
 * 3.0.0-25, which never awaits an async handler, answers a thrown error with an empty body (the
 * seed's replies must stay byte-exact) and counts neither `respondError` nor async time.
 */
export interface MicroIdentity {
  name: string;
  version: string;
  description: string;
  metadata: Record<string, string>;
}

const VERBS = ['PING', 'INFO', 'STATS'] as const;
type Verb = (typeof VERBS)[number];

/** One endpoint's counters; a reply that carries `Nats-Service-Error-Code` counts as an error. */
export class EndpointStats {
  private numRequests = 0;
  private numErrors = 0;
  private lastError = '';
  private processingNs = 0n;

  constructor(
    readonly name: string,
    readonly subject: string,
    readonly queueGroup: string,
  ) {}

  record(elapsedNs: bigint, error: string | undefined): void {
    this.numRequests++;
    this.processingNs += elapsedNs;
    if (error !== undefined) {
      this.numErrors++;
      this.lastError = error;
    }
  }

  info() {
    return { name: this.name, subject: this.subject, queue_group: this.queueGroup, metadata: null };
  }

  stats() {
    const average = this.numRequests === 0 ? 0n : this.processingNs / BigInt(this.numRequests);
    return {
      name: this.name,
      subject: this.subject,
      queue_group: this.queueGroup,
      num_requests: this.numRequests,
      num_errors: this.numErrors,
      last_error: this.lastError,
      processing_time: Number(this.processingNs),
      average_processing_time: Number(average),
    };
  }
}

export class MicroService {
  readonly id = nuid.next();
  private readonly started = new Date().toISOString();
  private readonly endpoints: EndpointStats[] = [];

  constructor(private readonly identity: MicroIdentity) {}

  addEndpoint(name: string, subject: string, queueGroup: string): EndpointStats {
    const endpoint = new EndpointStats(name, subject, queueGroup);
    this.endpoints.push(endpoint);
    return endpoint;
  }

  /** The discovery subscriptions: no queue group, every instance answers. */
  listen(nc: NatsConnection, onError: (err: Error, subject: string) => void): Subscription[] {
    const { name } = this.identity;
    return VERBS.flatMap((verb) =>
      [`$SRV.${verb}`, `$SRV.${verb}.${name}`, `$SRV.${verb}.${name}.${this.id}`].map((subject) =>
        nc.subscribe(subject, {
          callback: (err, msg) => (err ? onError(err, subject) : this.answer(verb, msg)),
        }),
      ),
    );
  }

  reply(verb: Verb): Record<string, unknown> {
    const { name, version, description, metadata } = this.identity;
    const base = { name, id: this.id, version, metadata };
    switch (verb) {
      case 'PING':
        return { type: 'io.nats.micro.v1.ping_response', ...base };
      case 'INFO':
        return { type: 'io.nats.micro.v1.info_response', ...base, description, endpoints: this.endpoints.map((e) => e.info()) };
      case 'STATS':
        return { type: 'io.nats.micro.v1.stats_response', ...base, started: this.started, endpoints: this.endpoints.map((e) => e.stats()) };
    }
  }

  private answer(verb: Verb, msg: Msg): void {
    if (msg.reply) msg.respond(JSON.stringify(this.reply(verb)));
  }
}

/**
 * Calls `onError` with `<code>:<reason>` when the reply to `msg` is a service error. The handlers
 * answer through `msg.respond` (the seed's bodies are theirs), so the reply is observed there.
 */
export function observeErrorReply(msg: Msg, onError: (error: string) => void): Msg {
  const respond = msg.respond.bind(msg);
  msg.respond = (data, opts) => {
    const code = opts?.headers?.get('Nats-Service-Error-Code');
    if (code) onError(`${code}:${opts?.headers?.get('Nats-Service-Error') ?? ''}`);
    return respond(data, opts);
  };
  return msg;
}
