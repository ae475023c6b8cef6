import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { errorKindOf } from '../errors.js';
import type { ApiContext } from './context.js';
import { handleArchive } from './archive.js';
import { handleBackups } from './backups.js';
import { handleListBackups } from './listbackups.js';
import { handleMakeBackup } from './makebackup.js';
import { MicroService, observeErrorReply, type MicroIdentity } from './micro.js';
import { replyError } from './reply-error.js';
import { handleRestore } from './restore.js';
import { handleRestoreInto } from './restoreinto.js';
import { handleStatus } from './status.js';
import { handleVerify } from './verify.js';

type Handler = (msg: Msg, ctx: ApiContext) => Promise<void>;

const ENDPOINTS: [string, Handler, Record<string, string>][] = [
  ['listbackups', handleListBackups, { status: 'bad' }],
  ['makebackup', handleMakeBackup, { status: 'bad', futurefilename: '' }],
  ['archive', handleArchive, { status: 'bad' }],
  ['restore', handleRestore, { status: 'bad' }],
  ['restoreinto', handleRestoreInto, { status: 'bad' }],
  ['status', handleStatus, { status: 'bad' }],
  ['backups', handleBackups, { status: 'bad' }],
  ['verify', handleVerify, { status: 'bad' }],
];

/**
 * Subscribes the seed's four subjects and the new ones in the queue group, each request handled on
 * its own, and answers NATS micro discovery for them (`identity` names this service). A handler
 * refuses a request by throwing (a ServiceError says how); it is answered here with the
 * subject's seed failure body.
 */
export function startApi(nc: NatsConnection, ctx: ApiContext, identity: MicroIdentity): Subscription[] {
  const micro = new MicroService(identity);
  const endpoints = ENDPOINTS.map(([name, handler, failureBody]) => {
    const subject = `${ctx.config.subjectPrefix}.${name}`;
    const stats = micro.addEndpoint(name, subject, ctx.config.queueGroup);
    return nc.subscribe(subject, {
      queue: ctx.config.queueGroup,
      callback: (err, msg) => {
        if (err) {
          ctx.log.error({ err, subject }, 'subscription failed');
          return;
        }
        const started = process.hrtime.bigint();
        let error: string | undefined;
        observeErrorReply(msg, (e) => (error = e));
        handler(msg, ctx)
          .catch((cause: unknown) => {
            logFailure(ctx, subject, cause);
            try {
              if (msg.reply) replyError(msg, failureBody, cause);
            } catch (replyError) {
              // Not even the failure reply could be sent (the connection closing): never an unhandled rejection.
              ctx.log.error({ err: replyError, subject }, 'could not answer a failed request');
            }
          })
          .finally(() => stats.record(process.hrtime.bigint() - started, error));
      },
    });
  });
  const discovery = micro.listen(nc, (err, subject) => ctx.log.error({ err, subject }, 'discovery subscription failed'));
  return [...endpoints, ...discovery];
}

/** A refused request is the caller's business; the service's own failures are logged. */
function logFailure(ctx: ApiContext, subject: string, err: unknown): void {
  const kind = errorKindOf(err);
  if (kind === 'internal') ctx.log.error({ err, subject }, 'request failed');
  else if (kind === 'unavailable') ctx.log.error({ err, subject }, 'request refused: a dependency is unavailable');
}
