import fc from 'fast-check';

/** Text aimed at SQL, paths, URL decoding, Unicode handling and length limits. */
export const INJECTION_TEXTS = [
  "' or 1=1 --",
  "'; drop table execution_ledger.executions; --",
  "x' union select entry_hash from execution_ledger.executions --",
  '$1',
  '../../etc/passwd',
  '..\\..\\windows',
  '..%2F..%2F',
  '%00',
  '%25%30%30',
  'a\u0000b',
  '\u0000',
  '\ud800',
  'x\udfffy',
  '\ufeffbom',
  '\u202eevil',
  'é',
  '🦄',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  ' lead',
  'trail ',
  'line\nbreak',
  'tab\there',
  '\u0085next-line',
  '${process.env}',
  '<script>alert(1)</script>',
  '"quoted"',
  '\\',
  '%',
  '?x=1',
  '#frag',
  '/',
  '__proto__',
  'constructor',
  'null',
  'r'.repeat(201),
  'r'.repeat(3_000),
] as const;

export const hostileText = fc.oneof(
  fc.constantFrom(...INJECTION_TEXTS),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
);

/** How a text goes into a URL: encoded as a client library would, or raw as an attacker might. */
export const urlPiece = fc.oneof(
  hostileText.map((text) => encodeURIComponent(text.isWellFormed() ? text : text.toWellFormed())),
  fc.constantFrom('%00', 'a%00b', '%ZZ', '%', '%C0%AF', '%ED%A0%80', '%FF', '..%2F..%2Fx', '%2e%2e', '%0A'),
);

/** Byte sequences that are not UTF-8 (checked with a fatal decoder before use). */
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
export const invalidUtf8 = fc
  .oneof(
    fc.constantFrom([0xe9], [0xff], [0xc0, 0xaf], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80]),
    fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 8 }),
  )
  .filter((bytes) => {
    try {
      strictDecoder.decode(Uint8Array.from(bytes));
      return false;
    } catch {
      return true;
    }
  });

/** JSON number texts that JSON.parse would round, or that are not JSON at all. */
export const badNumberText = fc.constantFrom(
  'NaN',
  'Infinity',
  '-Infinity',
  '1e400',
  '-1e400',
  '1e-400',
  '12345678901234567890',
  '0.10000000000000000000001',
  '0x10',
  '01',
  '+1',
  '.5',
  '1.',
  'undefined',
);

/** A JSON value nested `depth` levels deep, as text (arrays or objects). */
export function nestedJsonText(depth: number, useObjects: boolean): string {
  return useObjects
    ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
    : `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

/** Object keys that are hostile to JavaScript objects or look like injection. */
export const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '', ' ', '$where', 'a.b', '🦄'),
  fc.string({ maxLength: 12 }),
);

/** Plain JSON (no NUL, well-formed) with hostile keys, the kind a ledger should store exactly. */
export const storableJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, 1.1, -3, 1e21, 5e-324, 2 ** 53 - 1),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 4 }),
  ),
})).value;
