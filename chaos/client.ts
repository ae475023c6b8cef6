/**
 * Requests the way a patient client sends them: each is sent again until some instance answers
 * (a timeout, no responders, a connection being re-established), and the time from its first send
 * to its answer is kept per subject: the longest is the "longest time a request went unanswered".
 */
import type { NatsConnection } from '@nats-io/transport-node';

export interface Reply {
  body: string;
  headers: Record<string, string>;
  /** The service's error code (`Nats-Service-Error-Code`), when it refused. */
  code?: string;
  error?: string;
}

export class Requester {
  /** The longest wait for an answer, per subject (without the prefix). */
  readonly longestMs = new Map<string, number>();
  readonly asked = new Map<string, number>();
  /** Requests that were still unanswered when the run gave up on them. */
  unanswered = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    /** No try starts after this instant: the run is bounded. */
    private readonly giveUpAt: () => number,
  ) {}

  /** Sends until answered; each try waits `tryTimeoutMs` (longer than the service's own retries of JetStream). */
  async ask(subject: string, body: string, tryTimeoutMs: number): Promise<Reply | null> {
    const first = Date.now();
    this.asked.set(subject, (this.asked.get(subject) ?? 0) + 1);
    const note = () => this.longestMs.set(subject, Math.max(this.longestMs.get(subject) ?? 0, Date.now() - first));
    while (Date.now() < this.giveUpAt()) {
      try {
        const msg = await this.nc.request(`${this.prefix}.${subject}`, body, { timeout: tryTimeoutMs });
        note();
        const headers: Record<string, string> = {};
        if (msg.headers) for (const [key, values] of msg.headers) headers[key] = values.join(',');
        return {
          body: new TextDecoder().decode(msg.data),
          headers,
          ...(headers['Nats-Service-Error-Code'] !== undefined && { code: headers['Nats-Service-Error-Code'] }),
          ...(headers['Nats-Service-Error'] !== undefined && { error: headers['Nats-Service-Error'] }),
        };
      } catch {
        // No responders come back at once: do not spin.
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    note();
    this.unanswered++;
    return null;
  }

  longest(): number {
    return Math.max(0, ...this.longestMs.values());
  }
}
