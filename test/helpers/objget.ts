/**
 * Runs test/tools/objget, a Go program that reads NATS Object Store objects with nats.go, so tests
 * can prove that a client other than @nats-io/obj gets byte-identical objects.
 *
 * Needs Debian's golang-go and golang-github-nats-io-go-nats-dev: the tool is built offline in
 * GOPATH mode, once per source/toolchain, and cached under os.tmpdir().
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

const SOURCE_DIR = fileURLToPath(new URL('../tools/objget/', import.meta.url));
/** Where Debian's golang-github-nats-io-go-nats-dev puts nats.go and its dependencies. */
const SYSTEM_GOPATH = process.env.OBJGET_GOPATH ?? '/usr/share/gocode';
const NATS_GO_DIR = path.join(SYSTEM_GOPATH, 'src/github.com/nats-io/nats.go');
const CACHE_ROOT = path.join(os.tmpdir(), 'nats-mysql-tables-backup-objget');
/** objget's exit status when the bucket or the object does not exist. */
export const EXIT_NOT_FOUND = 3;

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

function goEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: `${path.join(CACHE_ROOT, 'gopath')}${path.delimiter}${SYSTEM_GOPATH}`,
    GOCACHE: path.join(CACHE_ROOT, 'gocache'),
    CGO_ENABLED: '0',
    GOPROXY: 'off',
    GOTOOLCHAIN: 'local',
  };
  delete env.GOFLAGS;
  return env;
}

/** Identifies a build: the tool's sources, the Go toolchain and the nats.go sources. */
async function buildKey(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of (await readdir(SOURCE_DIR)).filter((f) => f.endsWith('.go')).sort()) {
    hash.update(file).update(await readFile(path.join(SOURCE_DIR, file)));
  }
  const { stdout } = await run('go', ['version'], { env: goEnv() });
  hash.update(stdout);
  for (const file of (await readdir(NATS_GO_DIR)).filter((f) => f.endsWith('.go')).sort()) {
    const s = await stat(path.join(NATS_GO_DIR, file));
    hash.update(`${file}:${s.size}:${s.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

async function build(): Promise<string> {
  if (!existsSync(NATS_GO_DIR)) {
    throw new Error(`nats.go not found at ${NATS_GO_DIR}: apt-get install golang-go golang-github-nats-io-go-nats-dev`);
  }
  let key: string;
  try {
    key = await buildKey();
  } catch (err) {
    throw new Error(`cannot run go (apt-get install golang-go golang-github-nats-io-go-nats-dev): ${String(err)}`);
  }
  const dir = path.join(CACHE_ROOT, key);
  const binary = path.join(dir, 'objget');
  if (existsSync(binary)) return binary;

  await mkdir(dir, { recursive: true });
  const tmp = `${binary}.${process.pid}.${Date.now()}.tmp`;
  try {
    // GOPATH mode builds a directory outside GOPATH as `.` (not as an absolute import path),
    // resolving its imports in GOPATH.
    await run('go', ['build', '-o', tmp, '.'], { cwd: SOURCE_DIR, env: goEnv(), maxBuffer: 16 << 20 });
    await rename(tmp, binary); // atomic: a concurrent build of the same key yields the same file
  } catch (err) {
    await rm(tmp, { force: true });
    const e = err as { stderr?: string; message?: string };
    throw new Error(`go build of ${SOURCE_DIR} failed: ${e.stderr?.trim() || e.message}`);
  }
  return binary;
}

let binaryPromise: Promise<string> | undefined;

/** The path of the built objget, building it on first use. */
export function objgetBinary(): Promise<string> {
  binaryPromise ??= build().catch((err: unknown) => {
    binaryPromise = undefined; // let a later call try again
    throw err;
  });
  return binaryPromise;
}

async function objget(args: string[]): Promise<unknown> {
  const binary = await objgetBinary();
  try {
    // objget retries timeouts for up to 30 s by itself; the kill is only a last resort.
    const { stdout } = await run(binary, args, { timeout: 120_000, maxBuffer: 64 << 20 });
    return JSON.parse(stdout) as unknown;
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string; message?: string; killed?: boolean; signal?: string };
    const stderr = (e.stderr ?? '').trim();
    const code = typeof e.code === 'number' ? e.code : null;
    const how = e.killed ? `killed (${e.signal ?? 'timeout'})` : code !== null ? `exit ${code}` : (e.message ?? String(err));
    throw new ObjgetError(`objget ${args.join(' ')}: ${how}${stderr ? `: ${stderr}` : ''}`, code, stderr);
  }
}

/** Fetches `name` from `bucket` into `outFile` with nats.go. Rejects with ObjgetError. */
export async function objectGet(server: string, bucket: string, name: string, outFile: string): Promise<ObjectGetResult> {
  return (await objget(['-server', server, '-bucket', bucket, '-name', name, '-out', outFile])) as ObjectGetResult;
}

/** The object's info as nats.go reads it (metadata read from the raw meta message). */
export async function objectInfo(server: string, bucket: string, name: string): Promise<ObjectInfo> {
  return (await objget(['-server', server, '-bucket', bucket, '-name', name, '-info'])) as ObjectInfo;
}

/** The bucket's objects as nats.go lists them (deleted ones left out); [] for an empty bucket. */
export async function objectList(server: string, bucket: string): Promise<ObjectInfo[]> {
  return (await objget(['-server', server, '-bucket', bucket, '-list'])) as ObjectInfo[];
}
