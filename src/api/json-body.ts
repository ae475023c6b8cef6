import { badRequest, type Parsed, type RequestParts } from './request.js';

/**
 * The JSON object body of a new subject (restoreinto, verify), its keys checked against `keys`;
 * the seed's headers are refused there, so a caller never mixes the two forms. `shape` is the
 * body's form, quoted in every refusal.
 */
export function jsonObjectBody(req: RequestParts, subject: string, keys: readonly string[], shape: string): Parsed<Record<string, unknown>> {
  if (req.unreadable !== undefined) return badRequest(req.unreadable);
  for (const header of ['archivename', 'tables']) {
    if (req.header(header) !== undefined) return badRequest(`${subject} takes a JSON body, not the "${header}" header: ${shape}`);
  }
  const text = req.body.trim();
  if (text === '') return badRequest(`empty request: expected the JSON body ${shape}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return badRequest(`the body is not JSON (${(err as Error).message}): expected ${shape}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return badRequest(`the body must be a JSON object: ${shape}`);
  const body = raw as Record<string, unknown>;
  const unknown = Object.keys(body).filter((key) => !keys.includes(key));
  if (unknown.length > 0) return badRequest(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}: expected ${shape}`);
  return { ok: true, value: body };
}
