import { headers as natsHeaders, type Msg } from '@nats-io/transport-node';
import { pyJson } from './pyjson.js';
import type { RequestParts } from './request.js';

/** Not streaming, so one decoder serves every request. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function requestParts(msg: Msg): RequestParts {
  let body: string;
  try {
    body = UTF8.decode(msg.data);
  } catch {
    body = '\ufffd';
  }
  // The client decodes the headers block when it is first read, and throws on one that a raw
  // client can send but the NATS client refuses (a key with a space or non-ASCII, a bare LF).
  let headers: Msg['headers'];
  let unreadable: string | undefined;
  try {
    headers = msg.headers;
  } catch (err) {
    unreadable = `malformed headers: ${(err as Error).message}`;
  }
  return {
    body,
    unreadable,
    header(name: string) {
      if (!headers) return undefined;
      const wanted = name.toLowerCase();
      for (const [key, values] of headers) {
        if (key.toLowerCase() === wanted) return values[0];
      }
      return undefined;
    },
    headerValues(name: string) {
      if (!headers) return [];
      const wanted = name.toLowerCase();
      const values: string[] = [];
      for (const [key, given] of headers) if (key.toLowerCase() === wanted) values.push(...given);
      return values;
    },
  };
}

export function replyOk(msg: Msg, body: Record<string, string>, extraHeaders: Record<string, string> = {}): void {
  const h = natsHeaders();
  for (const [key, value] of Object.entries(extraHeaders)) h.set(key, value);
  msg.respond(pyJson(body), Object.keys(extraHeaders).length > 0 ? { headers: h } : undefined);
}
