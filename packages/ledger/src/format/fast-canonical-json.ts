import { CANONICAL_SHAPES_MAX } from '../bounds.js';
import type { JsonValue } from '../plain-json.js';

// Objects of one shape (the same keys in the same order) share their sorted key list; a ledger
// holds few shapes (steps, costs, inputs), so this spares a sort per object. Bounded
// (CANONICAL_SHAPES_MAX), because stored content decides how many shapes there are.
const sortedKeysByShape = new Map<string, [key: string, prefix: string][]>();

function sortedKeys(value: { [key: string]: JsonValue }): [key: string, prefix: string][] {
  const keys = Object.keys(value);
  // The count keeps {} and {"": …} apart; keys never hold NUL (jsonb cannot store it).
  const shape = `${keys.length}\u0000${keys.join('\u0000')}`;
  let sorted = sortedKeysByShape.get(shape);
  if (sorted === undefined) {
    if (sortedKeysByShape.size >= CANONICAL_SHAPES_MAX) sortedKeysByShape.clear();
    sorted = keys.sort().map((key) => [key, `${JSON.stringify(key)}:`]);
    sortedKeysByShape.set(shape, sorted);
  }
  return sorted;
}

/**
 * RFC 8785 (JCS) text of a value that JSON.parse produced, for the verifier's hot loop. Such a
 * value has no cycles, toJSON methods, undefined, non-finite numbers or lone surrogates (stored
 * jsonb cannot hold them), so the general `canonicalize` package's guards for those cases are
 * not needed; without them, and with sorted key lists reused per shape, it runs about twice as
 * fast. Output rules are the same: keys in UTF-16 code unit order (JavaScript's default sort),
 * strings and numbers as JSON.stringify writes them. A property test checks byte equality with
 * canonicalJson() on arbitrary JSON.
 */
export function canonicalJsonOfParsed(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) text += ',';
      text += canonicalJsonOfParsed(value[index] as JsonValue);
    }
    return `${text}]`;
  }
  const keys = sortedKeys(value);
  let text = '{';
  let separator = '';
  for (const [key, prefix] of keys) {
    text += separator;
    separator = ',';
    text += prefix + canonicalJsonOfParsed(value[key] as JsonValue);
  }
  return `${text}}`;
}
