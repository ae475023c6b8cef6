import { Command, CommanderError, Option } from 'commander';
import { getArchive, listArchives, showArchive } from './archives.js';
import { ServiceClient, type ConnectionFlags } from './client.js';
import { CliError, EXIT, usageError } from './errors.js';
import { backup, renames, restore, status, tableList, watch } from './jobs.js';
import { verify } from './verify.js';

const print = (text: string) => void process.stdout.write(`${text}\n`);
const note = (text: string) => void process.stderr.write(`${text}\n`);

interface GlobalFlags {
  server?: string;
  prefix?: string;
  bucket?: string;
  timeout: string;
}

/** Runs `work` with a connection made from the environment and the global flags, closed afterwards. */
async function withClient(command: Command, work: (client: ServiceClient) => Promise<void>): Promise<void> {
  const flags = command.optsWithGlobals<GlobalFlags>();
  const timeout = Number(flags.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw usageError(`--timeout takes seconds (a positive number), got "${flags.timeout}"`);
  const connection: ConnectionFlags = { server: flags.server, prefix: flags.prefix, bucket: flags.bucket, timeout: timeout * 1000 };
  const client = await ServiceClient.open(connection);
  try {
    await work(client);
  } finally {
    await client.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('nmtb')
    .description('Back up and restore MySQL tables through a running nats-mysql-tables-backup service, over NATS.\nConnection settings come from the service\'s own variables: NATS_URL, NATS_USER/NATS_PASSWORD(_FILE), NATS_TOKEN(_FILE), NATS_NKEY_SEED_FILE, NATS_CREDS_FILE, NATS_TLS_CA/CERT/KEY, SUBJECT_PREFIX, OBJECT_BUCKET.')
    .option('-s, --server <urls>', 'NATS servers, comma-separated (overrides NATS_URL)')
    .option('-p, --prefix <prefix>', 'subject prefix of the service (overrides SUBJECT_PREFIX; default backup)')
    .option('--bucket <bucket>', 'Object Store bucket of the archives, for get (overrides OBJECT_BUCKET; default backups)')
    .option('--timeout <seconds>', 'how long to wait for the service to answer a request', '10')
    .exitOverride()
    .showHelpAfterError('(run nmtb --help for usage)')
    .addHelpText('after', '\nExit codes: 0 ok; 1 the job failed or the service refused (its reason is printed); 2 usage error; 3 no service answered, or NATS unreachable.');

  program
    .command('list')
    .description('list the archives (both places: the backup directory and the bucket)')
    .option('--json', 'print the listing as JSON')
    .action((opts: { json?: boolean }, cmd: Command) => withClient(cmd, (c) => listArchives(c, opts.json === true, print)));

  program
    .command('backup')
    .description('back up tables (comma-separated, or several arguments) into a new archive')
    .argument('<tables...>', 'tables, e.g. orders,customers or orders customers')
    .option('-w, --wait', 'follow the job to its end: a progress bar on a terminal, lines otherwise; exit 1 if it fails')
    .option('--json', 'print the reply (or with --wait the final job state) as JSON')
    .action((tables: string[], opts: { wait?: boolean; json?: boolean }, cmd: Command) => {
      const list = tableList(tables);
      return withClient(cmd, (c) => backup(c, list, { wait: opts.wait === true, json: opts.json === true }, print));
    });

  program
    .command('show')
    .description('what an archive holds: tables, rows, sizes, and where it is stored')
    .argument('<archive>', 'archive name, e.g. 2026-11-25_18-34-58-backup.7z')
    .option('--json', 'print the detail as JSON')
    .action((archive: string, opts: { json?: boolean }, cmd: Command) => withClient(cmd, (c) => showArchive(c, archive, opts.json === true, print)));

  program
    .command('restore')
    .description('restore tables from an archive (atomically, all or none)')
    .argument('<archive>', 'archive name')
    .argument('<tables...>', 'tables, with or without .sql, comma-separated or several arguments')
    .option('--into <database>', 'restore into this database instead of the service\'s own')
    .addOption(new Option('--rename <old=new>', 'restore table old under the name new (repeatable)').argParser((value: string, previous: string[] = []) => [...previous, value]))
    .option('-w, --wait', 'follow the job to its end: a progress bar on a terminal, lines otherwise; exit 1 if it fails')
    .option('--json', 'print the reply (or with --wait the final job state) as JSON')
    .action((archive: string, tables: string[], opts: { into?: string; rename?: string[]; wait?: boolean; json?: boolean }, cmd: Command) => {
      const list = tableList(tables);
      if (opts.into !== undefined && opts.into.trim() === '') throw usageError('--into needs a database name');
      const target = { into: opts.into, rename: renames(opts.rename ?? [], list) };
      return withClient(cmd, (c) => restore(c, archive, list, target, { wait: opts.wait === true, json: opts.json === true }, print));
    });

  program
    .command('status')
    .description('the state of a job (exit 1 when it failed)')
    .argument('<job>', 'job id (the Backup-Job-Id of the request)')
    .option('--json', 'print the state as JSON')
    .action((job: string, opts: { json?: boolean }, cmd: Command) => withClient(cmd, (c) => status(c, job, opts.json === true, print)));

  program
    .command('watch')
    .description('print job events as they come: of one job until it ends, or of every job')
    .argument('[job]', 'job id; without it, every job of the service')
    .option('--json', 'one JSON job state a line')
    .action((job: string | undefined, opts: { json?: boolean }, cmd: Command) => withClient(cmd, (c) => watch(c, job, opts.json === true, print, note)));

  program
    .command('verify')
    .description('check an archive end to end: both copies, every CRC, each table\'s SHA-256; --deep also restores it into a scratch schema and compares a new dump byte for byte')
    .argument('<archive>', 'archive name')
    .option('--deep', 'restore every table into a scratch schema, count its rows, dump it again and compare')
    .option('-w, --wait', 'follow the job to its end and print each check; exit 1 if one failed')
    .option('--json', 'print the reply (or with --wait the final job state, its report as result) as JSON')
    .action((archive: string, opts: { deep?: boolean; wait?: boolean; json?: boolean }, cmd: Command) =>
      withClient(cmd, (c) => verify(c, archive, opts.deep === true, { wait: opts.wait === true, json: opts.json === true }, print)),
    );

  program
    .command('get')
    .description('download an archive from the Object Store bucket, its SHA-256 checked against the object\'s digest')
    .argument('<archive>', 'archive name')
    .option('-o, --output <file>', 'where to write it (default: the archive name, in the current directory)')
    .option('-f, --force', 'replace the output file if it exists')
    .action((archive: string, opts: { output?: string; force?: boolean }, cmd: Command) => withClient(cmd, (c) => getArchive(c, archive, opts.output, opts.force === true, print)));

  return program;
}

/** Runs the CLI on `argv` (without node and the script) and returns its exit code. */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    // Commander has already printed its own message (or the help).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      note(`nmtb: ${err.message}`);
      return err.exitCode;
    }
    note(`nmtb: ${(err as Error).stack ?? String(err)}`);
    return EXIT.failed;
  }
}

// `nmtb list | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv.slice(2));
