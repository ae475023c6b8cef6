/**
 * Secondary indexes built after the rows, as MySQL Shell's `deferTableIndexes` and myloader do:
 * the scratch table is created with its primary key only, and ONE `ALTER TABLE … ADD …, ADD …`
 * adds the other indexes once the rows are in (a sorted build instead of a row-by-row insert
 * into every index). The definitions are the CREATE TABLE's own lines, copied as written, so
 * prefix lengths, DESC, comments, INVISIBLE / IGNORED and functional `((expr))` parts survive.
 *
 * Only the exact shape of `SHOW CREATE TABLE` output (one definition per line) is understood;
 * anything else is loaded as written (null).
 */

export interface DeferredIndexes {
  /** The CREATE TABLE without the deferred index lines. */
  create: string;
  /** `ALTER TABLE <name> ADD <index>, ADD <index>…`, to run after the rows. */
  alter: string;
  /** How many indexes the ALTER adds. */
  count: number;
  /** Whether a UNIQUE index stays in the CREATE (its checks must then run during the load). */
  keepsUnique: boolean;
}

const HEAD = /^CREATE TABLE (`(?:[^`]|``)+`) \(\n/;

type Line = { text: string; role: 'column' | 'primary' | 'unique' | 'key' | 'fulltext' | 'spatial' | 'check' | 'period' };

function roleOf(text: string): Line['role'] | null {
  if (text.startsWith('`')) return 'column';
  if (text.startsWith('PRIMARY KEY ')) return 'primary';
  if (text.startsWith('UNIQUE KEY ')) return 'unique';
  if (text.startsWith('KEY ')) return 'key';
  if (text.startsWith('FULLTEXT KEY ')) return 'fulltext';
  if (text.startsWith('SPATIAL KEY ')) return 'spatial';
  if (/^CONSTRAINT `(?:[^`]|``)+` CHECK /.test(text)) return 'check';
  if (text.startsWith('PERIOD FOR ')) return 'period';
  return null; // FOREIGN KEY (its index must exist while it does), or not understood
}

/** The first key part's column of an index line (`KEY \`k\` (\`a\`(10),…)` → `` `a` ``). */
function firstColumn(text: string): string | null {
  return /\((`(?:[^`]|``)+`)/.exec(text)?.[1] ?? null;
}

/** The CREATE TABLE of a dump, split into what runs before the rows and the ALTER after them; null: load it as written. */
export function deferIndexes(statement: string): DeferredIndexes | null {
  const head = HEAD.exec(statement);
  if (!head) return null;
  const name = head[1] as string;
  const bodyStart = head[0].length;
  const bodyEnd = statement.indexOf("\n)", bodyStart);
  if (bodyEnd < 0) return null;
  const options = statement.slice(bodyEnd + 1);
  // MyISAM and others rebuild the whole table for an ALTER: a deferral would only add a copy.
  if (!/^\) ENGINE=InnoDB\b/.test(options)) return null;
  const lines: Line[] = [];
  for (const raw of statement.slice(bodyStart, bodyEnd).split('\n')) {
    if (!raw.startsWith('  ')) return null;
    const text = raw.slice(2).replace(/,$/, '');
    const role = roleOf(text);
    if (role === null) return null;
    // MariaDB's long UNIQUE (a hidden hash column) keeps its place among the keys: leave it alone.
    if (role !== 'column' && / USING HASH\b/.test(text)) return null;
    lines.push({ text, role });
  }
  const hasPrimary = lines.some((l) => l.role === 'primary');
  // An AUTO_INCREMENT column must be the first part of some index at all times.
  const autoColumns = new Set(lines.filter((l) => l.role === 'column' && / AUTO_INCREMENT\b/.test(l.text)).map((l) => /^`(?:[^`]|``)+`/.exec(l.text)?.[0]));
  // InnoDB builds one FULLTEXT index per ALTER: several stay in the CREATE.
  const fulltexts = lines.filter((l) => l.role === 'fulltext').length;
  const deferrable = (l: Line): boolean => {
    if (l.role === 'key' || l.role === 'spatial' || (l.role === 'fulltext' && fulltexts === 1)) return !autoColumns.has(firstColumn(l.text) ?? '');
    // Without a primary key, InnoDB clusters on the first UNIQUE NOT NULL index: keep the uniques.
    if (l.role === 'unique') return hasPrimary && !autoColumns.has(firstColumn(l.text) ?? '');
    return false;
  };
  const kept = lines.filter((l) => !deferrable(l));
  const deferred = lines.filter(deferrable);
  if (deferred.length === 0) return null;
  return {
    create: `CREATE TABLE ${name} (\n${kept.map((l) => `  ${l.text}`).join(',\n')}\n${options}`,
    alter: `ALTER TABLE ${name} ${deferred.map((l) => `ADD ${l.text}`).join(', ')}`,
    count: deferred.length,
    keepsUnique: kept.some((l) => l.role === 'unique'),
  };
}
