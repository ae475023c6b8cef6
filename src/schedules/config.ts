import { readFileSync } from 'node:fs';
import { Cron } from 'croner';
import { checkTableName, type TableName } from '../names.js';

/** One backup schedule: its slots are the times `cron` names, in `timezone` (UTC when absent). */
export interface Schedule {
  name: string;
  cron: string;
  tables: TableName[];
  timezone?: string;
  /** At start, make the latest slot missed since the last one made (at most one). */
  catchUp: boolean;
}

type Env = Record<string, string | undefined>;

/** Schedule names go into KV keys, object metadata and logs: a small alphabet. */
export const SCHEDULE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const KNOWN_FIELDS = new Set(['name', 'cron', 'tables', 'timezone', 'catchUp']);

/**
 * `BACKUP_SCHEDULES` (inline JSON) or `BACKUP_SCHEDULES_FILE` (a JSON file): a list of
 * `{ "name", "cron", "tables", "timezone"?, "catchUp"? }`. Each problem is pushed to `errors`,
 * naming the schedule (by its name, or its position when it has none).
 */
export function schedulesFrom(env: Env, errors: string[]): Schedule[] {
  const inline = env.BACKUP_SCHEDULES?.trim() ?? '';
  const file = env.BACKUP_SCHEDULES_FILE?.trim() ?? '';
  if (inline !== '' && file !== '') {
    errors.push('set BACKUP_SCHEDULES or BACKUP_SCHEDULES_FILE, not both');
    return [];
  }
  let source = 'BACKUP_SCHEDULES';
  let text = inline;
  if (file !== '') {
    source = `BACKUP_SCHEDULES_FILE (${file})`;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      errors.push(`BACKUP_SCHEDULES_FILE cannot be read: ${(err as Error).message}`);
      return [];
    }
  }
  if (text.trim() === '') return [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    errors.push(`${source} is not valid JSON: ${(err as Error).message}`);
    return [];
  }
  if (!Array.isArray(raw)) {
    errors.push(`${source} must be a JSON list of schedules, like [{"name": "nightly", "cron": "0 3 * * *", "tables": ["orders"]}]`);
    return [];
  }
  const schedules: Schedule[] = [];
  const seen = new Set<string>();
  raw.forEach((item, index) => {
    const problems: string[] = [];
    const schedule = scheduleOf(item, problems);
    const label = schedule?.name && SCHEDULE_NAME.test(schedule.name) ? `schedule "${schedule.name}"` : `schedule #${index + 1}`;
    if (schedule && seen.has(schedule.name)) problems.push('the name is used by another schedule');
    if (schedule) seen.add(schedule.name);
    for (const problem of problems) errors.push(`${source}: ${label}: ${problem}`);
    if (schedule && problems.length === 0) schedules.push(schedule);
  });
  return schedules;
}

function scheduleOf(item: unknown, problems: string[]): Schedule | null {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    problems.push('must be an object with "name", "cron" and "tables"');
    return null;
  }
  const fields = item as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !KNOWN_FIELDS.has(key));
  if (unknown.length > 0) problems.push(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${[...KNOWN_FIELDS].join(', ')})`);

  const name = typeof fields.name === 'string' ? fields.name : '';
  if (!SCHEDULE_NAME.test(name)) problems.push(`"name" must be 1 to 64 letters, digits, "_" or "-", got ${JSON.stringify(fields.name ?? null)}`);

  const timezone = fields.timezone;
  if (timezone !== undefined && (typeof timezone !== 'string' || !isTimeZone(timezone))) {
    problems.push(`"timezone" must be an IANA time zone such as "Europe/Berlin" or "UTC", got ${JSON.stringify(timezone)}`);
  }
  const tz = typeof timezone === 'string' && isTimeZone(timezone) ? timezone : undefined;

  const cron = typeof fields.cron === 'string' ? fields.cron.trim() : '';
  if (typeof fields.cron !== 'string') problems.push('"cron" must be a cron expression such as "0 3 * * *" (an optional seconds field first)');
  else {
    const problem = cronProblem(cron, tz);
    if (problem) problems.push(`"cron" ${JSON.stringify(cron)} ${problem}`);
  }

  const tables: TableName[] = [];
  if (!Array.isArray(fields.tables) || fields.tables.length === 0) {
    problems.push('"tables" must be a non-empty list of table names');
  } else {
    for (const table of fields.tables) {
      const checked = typeof table === 'string' ? checkTableName(table.trim()) : { ok: false as const, reason: `table ${JSON.stringify(table)} is not a string` };
      if (!checked.ok) problems.push(`"tables": ${checked.reason}`);
      else if (tables.includes(checked.value)) problems.push(`"tables": ${checked.value} is listed twice`);
      else tables.push(checked.value);
    }
  }

  if (fields.catchUp !== undefined && typeof fields.catchUp !== 'boolean') problems.push(`"catchUp" must be true or false, got ${JSON.stringify(fields.catchUp)}`);

  return { name, cron, tables, ...(tz !== undefined && { timezone: tz }), catchUp: fields.catchUp === true };
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return zone.trim() !== '';
  } catch {
    return false;
  }
}

/** Why croner refuses the expression, or that it never fires; null when it is good. */
function cronProblem(expression: string, timezone: string | undefined): string | null {
  try {
    if (cronOf({ cron: expression, timezone }).nextRun() === null) return 'never fires';
    return null;
  } catch (err) {
    return `is not a valid cron expression: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

/** A croner pattern that never runs anything by itself: the scheduler only asks it for times. */
export function cronOf(schedule: Pick<Schedule, 'cron' | 'timezone'>): Cron {
  return new Cron(schedule.cron, { paused: true, ...(schedule.timezone !== undefined && { timezone: schedule.timezone }) });
}
