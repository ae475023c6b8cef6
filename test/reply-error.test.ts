import type { Msg, MsgHdrs } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { observeErrorReply } from '../src/api/micro.js';
import { replyError } from '../src/api/reply-error.js';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ServiceError,
  TooLargeError,
  UnavailableError,
} from '../src/errors.js';

/** A request message that keeps what it was answered with. */
function request(): Msg & { answer?: { body: string; headers: Record<string, string> } } {
  const msg = {
    reply: '_INBOX.x',
    respond(data: string, opts?: { headers?: MsgHdrs }) {
      const headers: Record<string, string> = {};
      for (const [key, values] of opts?.headers ?? []) headers[key] = values.join(',');
      msg.answer = { body: data, headers };
      return true;
    },
  } as unknown as Msg & { answer?: { body: string; headers: Record<string, string> } };
  return msg;
}

const FAILURE_BODY = { status: 'bad', futurefilename: '' };

describe('replyError: one mapping of an error to the seed body and the service-error headers', () => {
  const cases: [Error, string][] = [
    [new BadRequestError('the body must be "listfiles"'), '400'],
    [new ForbiddenError('may not restore into database x'), '403'],
    [new NotFoundError('table not found: nope'), '404'],
    [new ConflictError('archive x.7z is unreadable'), '409'],
    [new TooLargeError('the listing is too large'), '413'],
    [new ServiceError('internal', 'a kept verdict is corrupt'), '500'],
    [new UnavailableError('MySQL is unavailable: connect ECONNREFUSED'), '503'],
  ];
  for (const [err, code] of cases) {
    it(`${err.name} → ${code}, its message as the reason`, () => {
      const msg = request();
      replyError(msg, FAILURE_BODY, err);
      expect(msg.answer).toEqual({
        body: '{"status": "bad", "futurefilename": ""}',
        headers: { 'Nats-Service-Error': err.message, 'Nats-Service-Error-Code': code },
      });
    });
  }

  it('a plain Error is internal: 500, "internal error: <message>"', () => {
    const msg = request();
    replyError(msg, { status: 'bad' }, new TypeError('x is not a function'));
    expect(msg.answer).toEqual({
      body: '{"status": "bad"}',
      headers: { 'Nats-Service-Error': 'internal error: x is not a function', 'Nats-Service-Error-Code': '500' },
    });
  });

  it('the reason is one line of at most 500 characters; the body is the seed JSON (non-ASCII escaped)', () => {
    const msg = request();
    replyError(msg, { 'ж.7z': 'bad' }, new BadRequestError(`line one\nline two\r\u0000${'x'.repeat(600)}`));
    expect(msg.answer?.body).toBe('{"\\u0436.7z": "bad"}');
    const reason = msg.answer?.headers['Nats-Service-Error'] ?? '';
    expect(reason.startsWith('line one line two x')).toBe(true);
    expect(reason).toHaveLength(500);
  });

  it('counts as an error in the micro stats', () => {
    const errors: string[] = [];
    const msg = observeErrorReply(request(), (e) => errors.push(e));
    replyError(msg, { status: 'bad' }, new NotFoundError('job j not found'));
    expect(errors).toEqual(['404:job j not found']);
  });

  it('every error class has its own name, and keeps the cause it translates', () => {
    const cause = new Error('ECONNREFUSED');
    const names = [BadRequestError, ForbiddenError, NotFoundError, ConflictError, TooLargeError, UnavailableError].map((C) => new C('m', { cause }));
    expect(names.map((e) => e.name)).toEqual(['BadRequestError', 'ForbiddenError', 'NotFoundError', 'ConflictError', 'TooLargeError', 'UnavailableError']);
    expect(names.every((e) => e.cause === cause)).toBe(true);
    expect(names.map((e) => e.retryable)).toEqual([false, false, false, false, false, true]);
  });
});
