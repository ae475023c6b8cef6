import { connect, headers as natsHeaders, RequestError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { ConfigError, loadClientConfig, type ClientConfig } from '../config.js';
import { natsConnectOptions } from '../nats-options.js';
import { CliError, EXIT, usageError } from './errors.js';

export interface ConnectionFlags {
  server?: string;
  prefix?: string;
  bucket?: string;
  timeout: number;
}

export interface Reply {
  text: string;
  headers: Record<string, string>;
  /** The `Backup-Job-Id` header of a queued job. */
  jobId: string | undefined;
}

/**
 * The service's connection settings (NATS_URL, auth and TLS variables, SUBJECT_PREFIX,
 * OBJECT_BUCKET), with the flags taking precedence and passing the same checks.
 */
function clientConfig(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const merged = { ...env };
  if (flags.server !== undefined) merged.NATS_URL = flags.server;
  if (flags.prefix !== undefined) merged.SUBJECT_PREFIX = flags.prefix;
  if (flags.bucket !== undefined) merged.OBJECT_BUCKET = flags.bucket;
  try {
    return loadClientConfig(merged);
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(err.message);
    throw err;
  }
}

/** A NATS connection to the service's subjects; requests map "nobody answered" to exit 3. */
export class ServiceClient {
  private constructor(
    readonly nc: NatsConnection,
    readonly config: ClientConfig,
    private readonly timeoutMs: number,
  ) {}

  static async open(flags: ConnectionFlags): Promise<ServiceClient> {
    const config = clientConfig(flags);
    const options = { ...natsConnectOptions(config), name: 'nmtb', maxReconnectAttempts: 10 };
    try {
      return new ServiceClient(await connect(options), config, flags.timeout);
    } catch (err) {
      throw new CliError(EXIT.unreachable, `cannot connect to NATS at ${config.natsServers.join(',')}: ${(err as Error).message}`);
    }
  }

  subject(name: string): string {
    return `${this.config.subjectPrefix}.${name}`;
  }

  /** A request to `<prefix>.<name>`; a reply carrying `Nats-Service-Error` ends the CLI with exit 1 and that reason. */
  async request(name: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
    const subject = this.subject(name);
    let h;
    if (Object.keys(headers).length > 0) {
      h = natsHeaders();
      for (const [key, value] of Object.entries(headers)) h.set(key, value);
    }
    let msg;
    try {
      msg = await this.nc.request(subject, body, { timeout: this.timeoutMs, headers: h });
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders()) throw new CliError(EXIT.unreachable, `no nmtb service answered on ${subject} (no responders)`);
      if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
        throw new CliError(EXIT.unreachable, `no nmtb service answered on ${subject} (timed out after ${this.timeoutMs / 1000} s)`);
      }
      throw err;
    }
    const replyHeaders: Record<string, string> = {};
    if (msg.headers) for (const [key, values] of msg.headers) replyHeaders[key] = values.join(',');
    const reason = replyHeaders['Nats-Service-Error'];
    if (reason !== undefined) {
      const code = replyHeaders['Nats-Service-Error-Code'];
      throw new CliError(EXIT.failed, `the service refused: ${reason}${code ? ` (${code})` : ''}`);
    }
    return { text: msg.string(), headers: replyHeaders, jobId: replyHeaders['Backup-Job-Id'] };
  }

  async requestJson<T>(name: string, body: string, headers?: Record<string, string>): Promise<T & { reply: Reply }> {
    const reply = await this.request(name, body, headers);
    try {
      return { ...(JSON.parse(reply.text) as T), reply };
    } catch {
      throw new CliError(EXIT.failed, `the service's reply on ${this.subject(name)} is not JSON: ${reply.text.slice(0, 200)}`);
    }
  }

  async close(): Promise<void> {
    await this.nc.close().catch(() => undefined);
  }
}
