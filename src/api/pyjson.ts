/**
 * JSON exactly as the original Python tool's `json.dumps` wrote it: `", "` and `": "` separators,
 * keys in insertion order, non-ASCII escaped as \uXXXX (ensure_ascii). Callers compare bytes.
 */
export function pyJson(value: Record<string, string>): string {
  const members = Object.entries(value).map(([key, item]) => `${pyString(key)}: ${pyString(item)}`);
  return `{${members.join(', ')}}`;
}

function pyString(text: string): string {
  return JSON.stringify(text).replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
