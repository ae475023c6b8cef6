import { readFileSync } from 'node:fs';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import type { Config } from './config.js';

/**
 * The options of the service's NATS connection: servers, reconnects forever, and the configured
 * authentication and TLS. Secrets go to the client only (never into argv or a log line); the
 * nkey seed and creds files are read again at every (re)connect, so a rotated file is picked up.
 */
export function natsConnectOptions(config: Pick<Config, 'natsServers' | 'natsAuth' | 'natsTls'>): NodeConnectionOptions {
  const options: NodeConnectionOptions = {
    servers: config.natsServers,
    name: 'nats-mysql-tables-backup',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    // Otherwise every request and JetStream publish builds two Error objects up front (with stack
    // traces) for the case it fails: at 100 makebackups in flight, a tenth of the service's CPU.
    noAsyncTraces: true,
  };
  const auth = config.natsAuth;
  switch (auth.kind) {
    case 'none':
      break;
    case 'user':
      options.authenticator = usernamePasswordAuthenticator(auth.user, auth.password);
      break;
    case 'token':
      options.authenticator = tokenAuthenticator(auth.token);
      break;
    case 'nkey':
      options.authenticator = nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(auth.seedFile, 'utf8').trim()));
      break;
    case 'creds':
      options.authenticator = credsAuthenticator(() => readFileSync(auth.credsFile));
      break;
  }
  // An object (even empty) makes the client refuse a server without TLS.
  if (config.natsTls) options.tls = { ...config.natsTls };
  return options;
}
