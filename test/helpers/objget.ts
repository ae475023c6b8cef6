/**
 * Runs test/tools/objget, a Go program that reads NATS Object Store objects with nats.go, so tests
 * can prove that a client other than @nats-io/obj gets byte-identical objects.
 *
 * Built by go-tool.ts (Debian's golang-go and nats.go, which `npm test` installs).
 */
import { goToolBinary, run } from './go-tool.js';

/** objget's exit status when the bucket or the object does not exist. */
const EXIT_NOT_FOUND = 3;

export interface ObjectInfo {
  name: string;
  bucket: string;
  nuid: string;
  size: number;
  chunks: number;
  /** As stored by the writer: `SHA-256=` + base64url with padding. */
  digest: string;
  mtime: string;
  description?: string;
  headers?: Record<string, string[]>;
  metadata?: Record<string, string>;
  deleted?: boolean;
}

export interface ObjectGetResult extends ObjectInfo {
  out: string;
  /** Hex SHA-256 of the file objget wrote. */
  sha256: string;
}

export class ObjgetError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ObjgetError';
  }

  get notFound(): boolean {
    return this.exitCode === EXIT_NOT_FOUND;
  }
}

/** The path of the built objget, building it on first use. */
export function objgetBinary(): Promise<string> {
  return goToolBinary('objget');
}

/** objget's own default for how long it retries timeouts. */
const DEFAULT_RETRY_FOR_MS = 30_000;

async function objget(args: string[], retryForMs = DEFAULT_RETRY_FOR_MS): Promise<unknown> {
  const binary = await objgetBinary();
  try {
    // objget retries timeouts for retryForMs by itself; the kill is only a last resort.
    const { stdout } = await run(binary, [...args, '-retry-for', `${retryForMs}ms`], { timeout: retryForMs + 90_000, maxBuffer: 64 << 20 });
    return JSON.parse(stdout) as unknown;
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string; message?: string; killed?: boolean; signal?: string };
    const stderr = (e.stderr ?? '').trim();
    const code = typeof e.code === 'number' ? e.code : null;
    const how = e.killed ? `killed (${e.signal ?? 'timeout'})` : code !== null ? `exit ${code}` : (e.message ?? String(err));
    throw new ObjgetError(`objget ${args.join(' ')}: ${how}${stderr ? `: ${stderr}` : ''}`, code, stderr);
  }
}

/**
 * Fetches `name` from `bucket` into `outFile` with nats.go. Rejects with ObjgetError.
 *
 * `retryForMs`: in a cluster with a node down, about half of a 2.9 server's gets time out (the
 * get's consumer is placed on the dead node), each after objget's 5 s API wait; 30 s is then only
 * 5 tries, which all fail often enough to matter.
 */
export async function objectGet(server: string, bucket: string, name: string, outFile: string, retryForMs?: number): Promise<ObjectGetResult> {
  return (await objget(['-server', server, '-bucket', bucket, '-name', name, '-out', outFile], retryForMs)) as ObjectGetResult;
}

/** The object's info as nats.go reads it (metadata read from the raw meta message). */
export async function objectInfo(server: string, bucket: string, name: string): Promise<ObjectInfo> {
  return (await objget(['-server', server, '-bucket', bucket, '-name', name, '-info'])) as ObjectInfo;
}

/** The bucket's objects as nats.go lists them (deleted ones left out); [] for an empty bucket. */
export async function objectList(server: string, bucket: string): Promise<ObjectInfo[]> {
  return (await objget(['-server', server, '-bucket', bucket, '-list'])) as ObjectInfo[];
}
