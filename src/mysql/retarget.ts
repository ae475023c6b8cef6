/**
 * What changes in a table's triggers and constraint names when it is restored into another
 * database or under another name. Trigger and constraint names are unique per schema: a name
 * another table of the target schema already uses is replaced by a fresh one.
 *
 * Statements are latin1 strings of a dump's bytes (one char, one byte); names are Unicode.
 */

const MAX_NAME_CHARS = 64;

/**
 * `name` if no other object of the schema has it (`taken`, lower case: these names compare
 * without regard to case), else a new name: the old table's name in it replaced by the new one,
 * or the new table's name put in front, with `_2`, `_3`… until it is free. The result is taken.
 */
export function freshName(name: string, fromTable: string, toTable: string, taken: Set<string>): string {
  let candidate = name;
  if (taken.has(candidate.toLowerCase())) {
    const base = fromTable !== toTable && name.includes(fromTable) ? name.replace(fromTable, toTable) : `${toTable}_${name}`;
    for (let n = 1; n === 1 || taken.has(candidate.toLowerCase()); n++) {
      const suffix = n === 1 ? '' : `_${n}`;
      candidate = [...base].slice(0, MAX_NAME_CHARS - suffix.length).join('') + suffix;
    }
  }
  taken.add(candidate.toLowerCase());
  return candidate;
}

const ID = '(?:`(?:[^`]|``)+`|[0-9A-Za-z_$\\x80-\\xff]+)';
const QID = `${ID}(?:\\s*\\.\\s*${ID})?`;
const EVENT = '(?:INSERT|UPDATE|DELETE)';
const HEADER = new RegExp(
  `(\\bTRIGGER\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?)(${QID})(\\s+(?:BEFORE|AFTER)\\s+${EVENT}(?:\\s+OR\\s+${EVENT})*\\s+ON\\s+)(${QID})(\\s+FOR\\s+EACH\\s+ROW(?:\\s+(?:FOLLOWS|PRECEDES)\\s+)?)(${ID})?`,
  'i',
);

export interface RetargetedTrigger {
  statement: string;
  /** The trigger's name in the target schema (Unicode). */
  name: string;
  /** Whether the body still names the table's old name (it is left as written). */
  bodyNamesOldTable: boolean;
}

/**
 * A `CREATE TRIGGER` of a dump, made for the table `toTable`: its `ON` clause names the new table
 * (unqualified: it runs in the target database), its name is fresh if taken, and a FOLLOWS or
 * PRECEDES follows a trigger renamed before it (`renamed`, old lower-case name → new). The body
 * is not touched. Null when the statement's header is not recognised.
 */
export function retargetTrigger(
  statement: string,
  fromTable: string,
  toTable: string,
  taken: Set<string>,
  renamed: Map<string, string>,
): RetargetedTrigger | null {
  const m = HEADER.exec(statement);
  if (!m) return null;
  const [whole, lead = '', nameId = '', middle = '', onId = '', forEachRow = '', orderId] = m;
  const oldName = lastPart(nameId);
  const name = freshName(oldName, fromTable, toTable, taken);
  if (name !== oldName) renamed.set(oldName.toLowerCase(), name);
  let order = orderId ?? '';
  if (orderId !== undefined) {
    const other = renamed.get(lastPart(orderId).toLowerCase());
    if (other !== undefined) order = latin1Identifier(other);
  }
  // What needs no change keeps the dump's spelling: the trigger then reads as it was written.
  const nameAsDumped = isUnqualified(nameId) && name === oldName ? nameId : latin1Identifier(name);
  const onAsDumped = isUnqualified(onId) && lastPart(onId) === toTable ? onId : latin1Identifier(toTable);
  const header = `${lead}${nameAsDumped}${middle}${onAsDumped}${forEachRow}${order}`;
  const body = statement.slice(m.index + whole.length);
  return {
    statement: statement.slice(0, m.index) + header + body,
    name,
    bodyNamesOldTable: fromTable !== toTable && namesIdentifier(body, fromTable),
  };
}

function isUnqualified(identifier: string): boolean {
  return (identifier.match(new RegExp(ID, 'g')) ?? []).length === 1;
}

/** The last part of a possibly qualified identifier, unquoted, as Unicode. */
function lastPart(qualified: string): string {
  const parts = qualified.match(new RegExp(ID, 'g')) ?? [qualified];
  const last = parts[parts.length - 1] ?? qualified;
  const unquoted = last.startsWith('`') ? last.slice(1, -1).replaceAll('``', '`') : last;
  return Buffer.from(unquoted, 'latin1').toString('utf8');
}

/** A back-quoted identifier as the latin1 string of its UTF-8 bytes. */
export function latin1Identifier(name: string): string {
  return Buffer.from('`' + name.replaceAll('`', '``') + '`', 'utf8').toString('latin1');
}

function namesIdentifier(text: string, name: string): boolean {
  const bytes = Buffer.from(name, 'utf8').toString('latin1');
  const escaped = bytes.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`\`${escaped.replaceAll('`', '``')}\`|(?<![0-9A-Za-z_$\\x80-\\xff])${escaped}(?![0-9A-Za-z_$\\x80-\\xff])`, 'i').test(text);
}
