/** Runs test/tools/microls, a NATS micro discovery client on nats.go (not ours). */
import { goToolBinary, run } from './go-tool.js';

export type MicroVerb = 'PING' | 'INFO' | 'STATS';

/** Every reply to `$SRV.<verb>[.<name>[.<id>]]` within `waitMs`, as sent. */
export async function discover(server: string, verb: MicroVerb, name?: string, id?: string, waitMs = 1000): Promise<Record<string, unknown>[]> {
  const binary = await goToolBinary('microls');
  const args = ['-server', server, '-verb', verb, '-wait', `${waitMs}ms`];
  if (name) args.push('-name', name);
  if (id) args.push('-id', id);
  const { stdout } = await run(binary, args, { timeout: 30_000, maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as Record<string, unknown>[];
}
