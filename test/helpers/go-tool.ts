/**
 * Builds the Go programs under test/tools/<name> (clients of NATS that are not ours, on nats.go):
 * offline, in GOPATH mode, against Debian's golang-go and golang-github-nats-io-go-nats-dev (which
 * `npm test` installs), once per source/toolchain, cached under os.tmpdir().
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);

const TOOLS_DIR = fileURLToPath(new URL('../tools/', import.meta.url));
/** Where Debian's golang-github-nats-io-go-nats-dev puts nats.go and its dependencies. */
const SYSTEM_GOPATH = process.env.OBJGET_GOPATH ?? '/usr/share/gocode';
const NATS_GO_DIR = path.join(SYSTEM_GOPATH, 'src/github.com/nats-io/nats.go');
const CACHE_ROOT = path.join(os.tmpdir(), 'nats-mysql-tables-backup-go-tools');
const INSTALL_HINT = 'apt-get install golang-go golang-github-nats-io-go-nats-dev (npm test does it)';

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
async function buildKey(sourceDir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of (await readdir(sourceDir)).filter((f) => f.endsWith('.go')).sort()) {
    hash.update(file).update(await readFile(path.join(sourceDir, file)));
  }
  const { stdout } = await run('go', ['version'], { env: goEnv() });
  hash.update(stdout);
  for (const dir of [NATS_GO_DIR, path.join(NATS_GO_DIR, 'micro')]) {
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.go')).sort()) {
      const s = await stat(path.join(dir, file));
      hash.update(`${dir}/${file}:${s.size}:${s.mtimeMs}\n`);
    }
  }
  return hash.digest('hex').slice(0, 16);
}

async function build(tool: string): Promise<string> {
  if (!existsSync(NATS_GO_DIR)) throw new Error(`nats.go not found at ${NATS_GO_DIR}: ${INSTALL_HINT}`);
  const sourceDir = path.join(TOOLS_DIR, tool);
  let key: string;
  try {
    key = await buildKey(sourceDir);
  } catch (err) {
    throw new Error(`cannot run go (${INSTALL_HINT}): ${String(err)}`);
  }
  const dir = path.join(CACHE_ROOT, `${tool}-${key}`);
  const binary = path.join(dir, tool);
  if (existsSync(binary)) return binary;

  await mkdir(dir, { recursive: true });
  const tmp = `${binary}.${process.pid}.${Date.now()}.tmp`;
  try {
    // GOPATH mode builds a directory outside GOPATH as `.` (not as an absolute import path),
    // resolving its imports in GOPATH.
    await run('go', ['build', '-o', tmp, '.'], { cwd: sourceDir, env: goEnv(), maxBuffer: 16 << 20 });
    await rename(tmp, binary); // atomic: a concurrent build of the same key yields the same file
  } catch (err) {
    await rm(tmp, { force: true });
    const e = err as { stderr?: string; message?: string };
    throw new Error(`go build of ${sourceDir} failed: ${e.stderr?.trim() || e.message}`);
  }
  return binary;
}

const builds = new Map<string, Promise<string>>();

/** The path of test/tools/<tool> built, building it on first use. */
export function goToolBinary(tool: string): Promise<string> {
  let binary = builds.get(tool);
  if (!binary) {
    binary = build(tool).catch((err: unknown) => {
      builds.delete(tool); // let a later call try again
      throw err;
    });
    builds.set(tool, binary);
  }
  return binary;
}
