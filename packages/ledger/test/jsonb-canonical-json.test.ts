import { describeEachEngine, present } from '@execution-ledger/test-support';
import type { JsonValue } from 'execution-ledger';
import { canonicalJson, canonicalJsonOfJsonbText } from 'execution-ledger/verify';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// Characters where escaping and key order go wrong: JSON's own escapes, control characters,
// "/", DEL, U+2028, non-ASCII, the top of the BMP (U+E000..U+FFFF, where UTF-8 byte order and
// UTF-16 code unit order disagree with astral characters) and astral characters (surrogate pairs).
const TRICKY_CHARACTER = fc.constantFrom(
  '"',
  '\\',
  '/',
  '\b',
  '\f',
  '\n',
  '\r',
  '\t',
  '\u0001',
  '\u001f',
  '\u007f',
  '\u2028',
  'é',
  'ß',
  '\ue000',
  '\uffff',
  '😀',
  '\u{10ffff}',
  'a',
  'A',
  'aa',
  ' ',
);
// Any well-formed text jsonb can hold (it refuses NUL and lone surrogates).
const TEXT = fc
  .string({
    unit: fc.oneof(TRICKY_CHARACTER, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
    maxLength: 8,
  })
  .filter((text) => text.isWellFormed() && !text.includes('\u0000'));

// Numbers as JSON text, spelled as writers do: what jsonb keeps (1.50, 1e21 as 22 digits) and
// what JavaScript must re-spell (1.5, 1e+21, 1e-7, -0 as 0). Finite as doubles: the reference
// (canonicalize) refuses infinities.
const NUMBER_TEXT = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => JSON.stringify(value)),
  fc.integer().map(String),
  fc.stringMatching(/^-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,20})?$/),
  fc
    .tuple(
      fc.stringMatching(/^-?[1-9](\.[0-9]{1,16})?$/),
      fc.constantFrom('e', 'E'),
      fc.integer({ min: -330, max: 300 }),
    )
    .map(
      ([mantissa, e, exponent]) =>
        `${mantissa}${e}${exponent >= 0 && exponent % 2 === 0 ? '+' : ''}${exponent}`,
    ),
  fc.constantFrom(
    '-0',
    '-0.0',
    '0.000001',
    '0.0000001',
    '1.50',
    '1e21',
    '1E+21',
    '100000000000000000000',
    '9007199254740993',
  ),
);

// JSON text, with keys that differ by length, case and non-ASCII characters, and repeated keys.
const JSON_TEXT: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 6 },
    fc.constantFrom('null', 'true', 'false'),
    NUMBER_TEXT,
    TEXT.map((text) => JSON.stringify(text)),
    fc.array(tie('value'), { maxLength: 5 }).map((items) => `[${items.join(', ')}]`),
    fc
      .array(fc.tuple(TEXT, tie('value')), { maxLength: 6 })
      .map((members) => `{${members.map(([key, value]) => `${JSON.stringify(key)}: ${value}`).join(', ')}}`),
  ),
})).value;

describeEachEngine('canonicalJsonOfJsonbText', (context) => {
  it('writes exactly canonicalJson of the value, for any JSON stored as jsonb and read back as text', async () => {
    const database = await context.ledger.database();
    await fc.assert(
      fc.asyncProperty(fc.array(JSON_TEXT, { minLength: 1, maxLength: 20 }), async (texts) => {
        // The JSON text itself is the parameter: the server parses it and writes its own text.
        const rows = await database.query<{ text: string }>(
          'select t::jsonb::text as text from unnest($1::text[]) with ordinality as u(t, n) order by n',
          [texts],
        );
        rows.forEach((row, index) => {
          const expected = canonicalJson(JSON.parse(present(texts[index])) as JsonValue);
          expect(canonicalJsonOfJsonbText(row.text)).toBe(expected);
        });
      }),
      { numRuns: 80 },
    );
  });
});

describe('canonicalJsonOfJsonbText', () => {
  it.each([
    [
      'keys from jsonb order (length first) to code unit order',
      '{"b": 1, "aa": 2, "B": 3}',
      '{"B":3,"aa":2,"b":1}',
    ],
    [
      'nested members, each object sorted',
      '{"z": {"y": 1, "x": [{"b": 1, "a": 2}]}, "a": null}',
      '{"a":null,"z":{"x":[{"a":2,"b":1}],"y":1}}',
    ],
    [
      'an astral key before a key at the top of the BMP (UTF-16, not UTF-8, order)',
      '{"\ue000": 1, "😀": 2}',
      '{"😀":2,"\ue000":1}',
    ],
    [
      'escaped keys by their characters, not their escapes',
      '{"!": 1, "\\"": 2, "\\n": 3, "A": 4}',
      '{"\\n":3,"!":1,"\\"":2,"A":4}',
    ],
    ['a repeated key keeps its last value, as JSON.parse does', '{"a": 1, "b": 2, "a": 3}', '{"a":3,"b":2}'],
    ['empty containers', '{"a": {}, "b": [], "c": [{}, []]}', '{"a":{},"b":[],"c":[{},[]]}'],
    [
      'numbers as JavaScript writes them',
      '[1.50, 1000000000000000000000, 0.0000001, 0.000001, -0, -0.0, 1E5, 123456789012345678]',
      '[1.5,1e+21,1e-7,0.000001,0,0,100000,123456789012345680]',
    ],
    [
      'short numbers kept as they are',
      '[0, -7, 12.5, 0.25, 999999999999999, -0.000123]',
      '[0,-7,12.5,0.25,999999999999999,-0.000123]',
    ],
    ['a number beyond the double range as JSON.stringify writes Infinity', '[1e400, -1e400]', '[null,null]'],
    [
      'escapes PostgreSQL and JSON.stringify both write, kept',
      '"\\" \\\\ \\b \\f \\n \\r \\t \\u0001 \\u001f"',
      '"\\" \\\\ \\b \\f \\n \\r \\t \\u0001 \\u001f"',
    ],
    [
      'escapes JSON.stringify would not write, rewritten',
      '"\\u00e9 \\/ \\u001F \\u0008 \\ud83d\\ude00"',
      '"é / \\u001f \\b 😀"',
    ],
    ['non-ASCII text kept as it is', '"é \u2028 \u007f 😀"', '"é \u2028 \u007f 😀"'],
    ['a lone surrogate escaped, as JSON.stringify writes it', '"\ud800"', '"\\ud800"'],
    ['any JSON whitespace dropped', ' {\n\t"b" :\r [ 1 , 2 ] ,"a":true } ', '{"a":true,"b":[1,2]}'],
    ['a scalar', '"x"', '"x"'],
    [
      'nesting deeper than the scanner follows',
      `${'['.repeat(300)}1${']'.repeat(300)}`,
      `${'['.repeat(300)}1${']'.repeat(300)}`,
    ],
  ])('writes %s', (_why, text, expected) => {
    expect(canonicalJsonOfJsonbText(text)).toBe(expected);
  });

  it.each(['{"a":}', '[1,]', '01', '"open', '{"a" 1}', 'nul', '1.', '-', '[1] 2'])(
    'throws as JSON.parse does on %s',
    (text) => {
      expect(() => JSON.parse(text)).toThrow(SyntaxError);
      expect(() => canonicalJsonOfJsonbText(text)).toThrow(SyntaxError);
    },
  );
});
