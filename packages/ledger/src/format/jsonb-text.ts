/**
 * PostgreSQL's jsonb output (`value::jsonb::text`), reproduced in TypeScript so that hash
 * version 2, which the database derives from that text, can be re-derived without a database
 * (docs/schema.md states the rules; a property test compares this module with both engines).
 *
 * - objects: `{"k": v, "k2": v2}`, keys ordered by UTF-8 byte length, then byte by byte; of
 *   duplicate keys the last wins;
 * - arrays: `[v, v2]`;
 * - strings: as JSON.stringify writes them (the same escapes as PostgreSQL's escape_json for
 *   any text PostgreSQL can store);
 * - numbers: as numeric prints them: plain decimal notation, no exponent, as many fractional
 *   digits as the written number had after its exponent was applied (1.50 → 1.50, 1e2 → 100,
 *   1.5e-7 → 0.00000015), no sign on zero.
 */

/** A number kept as the text it was written with (from a lossless parse), not as a double. */
export class JsonNumberText {
  constructor(readonly text: string) {}
}

/** A parsed JSON value whose numbers may be doubles or their written text. */
export type JsonbInput =
  | null
  | boolean
  | number
  | string
  | JsonNumberText
  | JsonbInput[]
  | { [key: string]: JsonbInput };

export function jsonbText(value: JsonbInput): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return numericText(String(value));
  if (value instanceof JsonNumberText) return numericText(value.text);
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  const keys = jsonbKeyOrder(Object.keys(value));
  return `{${keys.map((key) => `${JSON.stringify(key)}: ${jsonbText(value[key] as JsonbInput)}`).join(', ')}}`;
}

/**
 * jsonb's key order: shorter UTF-8 first, then byte order (which UTF-8 shares with code points).
 * Each key is encoded once, not once per comparison.
 */
function jsonbKeyOrder(keys: string[]): string[] {
  return keys
    .map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }))
    .sort((a, b) => a.bytes.length - b.bytes.length || Buffer.compare(a.bytes, b.bytes))
    .map(({ key }) => key);
}

const NUMBER_PATTERN = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
// numeric refuses more digits than this either side of the point; such text is left as written.
const NUMERIC_DIGITS_MAX = 131_072;

/** A JSON number's text as PostgreSQL's numeric prints it (see the module comment). */
export function numericText(written: string): string {
  const match = NUMBER_PATTERN.exec(written);
  if (match === null) return written;
  const [, sign, whole = '', fraction = '', exponentText = '0'] = match;
  const exponent = Number(exponentText);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > NUMERIC_DIGITS_MAX) return written;
  const digits = whole + fraction;
  const scale = Math.max(0, fraction.length - exponent);
  // Where the decimal point falls within `digits` once the exponent is applied.
  const point = whole.length + exponent;
  let integerPart: string;
  let fractionPart: string;
  if (point <= 0) {
    integerPart = '0';
    fractionPart = '0'.repeat(-point) + digits;
  } else if (point >= digits.length) {
    integerPart = digits + '0'.repeat(point - digits.length);
    fractionPart = '';
  } else {
    integerPart = digits.slice(0, point);
    fractionPart = digits.slice(point);
  }
  integerPart = integerPart.replace(/^0+(?=\d)/, '');
  const zero = /^0*$/.test(digits);
  return `${sign === '-' && !zero ? '-' : ''}${integerPart}${scale > 0 ? `.${fractionPart}` : ''}`;
}
