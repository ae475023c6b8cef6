/** What a statement from a dump does, as far as a restore into a scratch schema cares. */
export type StatementKind = 'set' | 'trigger' | 'use' | 'database' | 'other';

/**
 * Classifies a statement by its first words, looking through comments and inside mysqldump's
 * executable comments (`/*!50003 CREATE*\/ /*!50017 DEFINER=…*\/ /*!50003 TRIGGER …`).
 */
export function statementKind(statement: string): StatementKind {
  const words = leadingWords(statement);
  if (/^SET\b/.test(words)) return 'set';
  if (/^USE\b/.test(words)) return 'use';
  if (/^(CREATE|DROP|ALTER)\s+(DATABASE|SCHEMA)\b/.test(words)) return 'database';
  if (TRIGGER.test(words)) return 'trigger';
  return 'other';
}

const QUOTED = '(?:`[^`]*`|\'[^\']*\'|"[^"]*"|[^\\s@`\'"]+)';
const TRIGGER = new RegExp(`^CREATE\\s+(?:OR\\s+REPLACE\\s+)?(?:DEFINER\\s*=\\s*${QUOTED}(?:\\s*@\\s*${QUOTED})?\\s+)?TRIGGER\\b`, 'i');

/** The statement's first words, upper case, comments dropped and executable comments opened. */
export function leadingWords(statement: string): string {
  let text = statement.slice(0, 2048);
  for (let previous = ''; previous !== text; ) {
    previous = text;
    text = text
      .replace(/^\s+/, '')
      .replace(/^(--[^\n]*|#[^\n]*)(\n|$)/, '')
      .replace(/^\/\*(?!!)[\s\S]*?\*\//, '');
  }
  return text
    .replace(/\/\*!\d*/g, ' ')
    .replace(/\*\//g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .toUpperCase();
}
