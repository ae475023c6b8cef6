/**
 * `npm run chaos -- --minutes N --seed S [--keep]`: the chaos run. Bounded: a hard deadline (the
 * workload's minutes plus the time to settle and check) ends it whatever happens, and SIGINT or
 * SIGTERM stop it; every child process is killed and the run's directory removed on the way out.
 * The last line printed is the JSON verdict; exit 0 only when lost, runTwice, wrongArchives,
 * wrongChecksums and leftovers are all 0.
 */
import { runChaos } from './chaos.js';

/** What the phases after the workload (settling, checks, restores of every archive) may take. */
const AFTER_WORKLOAD_MS = 9 * 60_000;

function parse(argv: string[]): { minutes: number; seed: number; keep: boolean } {
  let minutes = 10;
  let seed = Date.now() % 1_000_000;
  let keep = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${arg} needs a positive number`);
      return v;
    };
    if (arg === '--minutes') minutes = value();
    else if (arg === '--seed') seed = Math.floor(value());
    else if (arg === '--keep') keep = true;
    else throw new Error(`unknown argument ${arg} (known: --minutes N, --seed S, --keep)`);
  }
  return { minutes, seed, keep };
}

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  let options;
  try {
    options = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const deadline = Date.now() + options.minutes * 60_000 + AFTER_WORKLOAD_MS;
  const tearDowns: (() => Promise<void>)[] = [];
  const abort = async (why: string, code: number) => {
    say(`chaos: ${why}; stopping everything`);
    const cap = new Promise((r) => setTimeout(r, 30_000));
    await Promise.race([Promise.all(tearDowns.map((t) => t().catch(() => undefined))), cap]);
    process.exit(code); // the helpers SIGKILL whatever is still running on exit
  };
  process.once('SIGINT', () => void abort('interrupted (SIGINT)', 130));
  process.once('SIGTERM', () => void abort('terminated (SIGTERM)', 143));
  const hard = setTimeout(() => void abort('hard deadline reached', 3), deadline + 60_000 - Date.now());
  try {
    const figures = await runChaos({ ...options, deadline }, say, (t) => tearDowns.push(t));
    clearTimeout(hard);
    for (const line of figures.lines) say(line);
    say(JSON.stringify(figures.verdict));
    process.exit(figures.passed ? 0 : 1);
  } catch (err) {
    say(`chaos: the run failed: ${(err as Error).stack ?? String(err)}`);
    await abort('failed', 2);
  }
}

void main();
