/** The NATS settings from the environment: servers, authentication, TLS. */
import { credsAuthenticator, nkeys } from '@nats-io/transport-node';
import type { NatsAuth, NatsSettings, NatsTls } from '../config.js';
import { type Env, PEM, readablePath, secret } from './env.js';

export function natsSettingsFrom(env: Env, errors: string[]): NatsSettings {
  const natsServers = (env.NATS_URL?.trim() || 'nats://127.0.0.1:4222')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const server of natsServers) {
    if (/^[^/]*:\/\/[^/]*@/.test(server) || (!server.includes('://') && server.includes('@'))) {
      // Never echo it: the part before "@" is a secret. The NATS client ignores URL credentials anyway.
      errors.push('NATS_URL must not hold credentials (user:password@ or token@): use NATS_USER and NATS_PASSWORD(_FILE), or NATS_TOKEN(_FILE)');
    } else if (!/^(nats|tls|ws|wss):\/\/[^\s/]+\/?$/.test(server) && !/^[^\s/:]+:\d+$/.test(server)) {
      errors.push(`NATS_URL has an invalid server "${server}" (expected nats://host:port)`);
    }
  }
  return { natsServers, natsAuth: natsAuthFrom(env, errors), natsTls: natsTlsFrom(env, natsServers, errors) };
}

function natsAuthFrom(env: Env, errors: string[]): NatsAuth {
  const user = env.NATS_USER?.trim() || undefined;
  const password = secret(env, 'NATS_PASSWORD', errors);
  const token = secret(env, 'NATS_TOKEN', errors);
  const seedFile = readablePath(env, 'NATS_NKEY_SEED_FILE', errors, (contents) => {
    try {
      const kp = nkeys.fromSeed(new TextEncoder().encode(contents.toString('utf8').trim()));
      return kp.getPublicKey().startsWith('U') ? null : 'holds an nkey seed, but not a user seed (SU…)';
    } catch {
      return 'does not hold an nkey user seed (SU…)';
    }
  });
  const credsFile = readablePath(env, 'NATS_CREDS_FILE', errors, (contents) => {
    try {
      credsAuthenticator(contents)('nonce');
      return null;
    } catch {
      return 'is not a NATS creds file (a user JWT and its nkey seed)';
    }
  });
  if (password !== undefined && user === undefined) errors.push('NATS_PASSWORD needs NATS_USER');
  if (user !== undefined && password === undefined) errors.push('NATS_USER needs NATS_PASSWORD or NATS_PASSWORD_FILE');

  const ways = [
    user !== undefined || password !== undefined ? 'NATS_USER/NATS_PASSWORD' : null,
    token !== undefined ? 'NATS_TOKEN' : null,
    env.NATS_NKEY_SEED_FILE?.trim() ? 'NATS_NKEY_SEED_FILE' : null,
    env.NATS_CREDS_FILE?.trim() ? 'NATS_CREDS_FILE' : null,
  ].filter((w): w is string => w !== null);
  if (ways.length > 1) {
    errors.push(`NATS authentication: choose one of user/password, token, nkey seed or creds file; got ${ways.join(' and ')}`);
    return { kind: 'none' };
  }
  if (user !== undefined && password !== undefined) return { kind: 'user', user, password };
  if (token !== undefined) return { kind: 'token', token };
  if (seedFile !== undefined) return { kind: 'nkey', seedFile };
  if (credsFile !== undefined) return { kind: 'creds', credsFile };
  return { kind: 'none' };
}

function natsTlsFrom(env: Env, servers: string[], errors: string[]): NatsTls | null {
  const caFile = readablePath(env, 'NATS_TLS_CA', errors, PEM('CA certificate'));
  const certFile = readablePath(env, 'NATS_TLS_CERT', errors, PEM('certificate'));
  const keyFile = readablePath(env, 'NATS_TLS_KEY', errors, PEM('private key'));
  if (env.NATS_TLS_CERT?.trim() && !env.NATS_TLS_KEY?.trim()) errors.push('NATS_TLS_CERT needs NATS_TLS_KEY (the client certificate\'s private key)');
  if (env.NATS_TLS_KEY?.trim() && !env.NATS_TLS_CERT?.trim()) errors.push('NATS_TLS_KEY needs NATS_TLS_CERT');
  const tls: NatsTls = {};
  if (caFile) tls.caFile = caFile;
  if (certFile) tls.certFile = certFile;
  if (keyFile) tls.keyFile = keyFile;
  // tls:// servers mean "TLS or nothing", even without files (the server's certificate is then
  // checked against Node's roots).
  return Object.keys(tls).length > 0 || servers.some((s) => s.startsWith('tls://')) ? tls : null;
}
