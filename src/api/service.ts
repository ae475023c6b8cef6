import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { handleArchive } from './archive.js';
import { handleBackups } from './backups.js';
import { handleListBackups } from './listbackups.js';
import { handleMakeBackup } from './makebackup.js';
import { replyBad } from './reply.js';
import { handleRestore } from './restore.js';
import { handleStatus } from './status.js';

type Handler = (msg: Msg, ctx: ApiContext) => Promise<void>;

const ENDPOINTS: [string, Handler, Record<string, string>][] = [
  ['listbackups', handleListBackups, { status: 'bad' }],
  ['makebackup', handleMakeBackup, { status: 'bad', futurefilename: '' }],
  ['archive', handleArchive, { status: 'bad' }],
  ['restore', handleRestore, { status: 'bad' }],
  ['status', handleStatus, { status: 'bad' }],
  ['backups', handleBackups, { status: 'bad' }],
];

/** Subscribes the seed's four subjects and the new ones in the queue group; each request is handled on its own. */
export function startApi(nc: NatsConnection, ctx: ApiContext): Subscription[] {
  return ENDPOINTS.map(([name, handler, failureBody]) => {
    const subject = `${ctx.config.subjectPrefix}.${name}`;
    return nc.subscribe(subject, {
      queue: ctx.config.queueGroup,
      callback: (err, msg) => {
        if (err) {
          ctx.log.error({ err, subject }, 'subscription failed');
          return;
        }
        handler(msg, ctx).catch((error: unknown) => {
          ctx.log.error({ err: error, subject }, 'request failed');
          if (msg.reply) replyBad(msg, failureBody, 500, `internal error: ${(error as Error).message}`);
        });
      },
    });
  });
}
