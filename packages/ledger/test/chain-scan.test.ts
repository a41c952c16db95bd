import fc, { type JsonValue } from 'fast-check';
import { expect, it } from 'vitest';
import { describeEachEngine } from './support/engines.js';
import { makeExecution } from './support/fixtures.js';
import { insertHistoricalRuns } from './support/historical-runs.js';

// JSON as users send it: any keys (unicode, "__proto__", digits), nesting, and numbers whose
// text differs between writers (1e21, 0.1 + 0.2, -0): what the verifier re-canonicalises.
const jsonObjectArb = fc.dictionary(
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.jsonValue({ maxDepth: 4 }),
  {
    maxKeys: 6,
  },
);

// Text fields that JSON must escape, or that look like JSON: the payload is put together around
// them as text, so one that could close its string would change what is hashed.
const TRICKY_TEXTS = [
  'say "hi"',
  'back\\slash \\u00e9',
  'a literal \\n, \\t and \\" are no escapes',
  'line\nbreak\ttab\rreturn',
  'bell \u0007 and \u001f',
  'é 😀 \u2028 \ue000',
  '{"looks": "like json"}',
  'x","cost_json":1,"intent":"',
];

const TEXT_FIELD = fc.oneof(
  fc.constantFrom(...TRICKY_TEXTS),
  fc
    .string({ unit: 'binary', minLength: 1, maxLength: 12 })
    .filter((text) => text.isWellFormed() && !text.includes('\u0000') && text.trim() !== ''),
);

describeEachEngine('verifyLedger', (context) => {
  it('re-derives the hash of any recorded JSON content exactly as it was computed at append', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(jsonObjectArb, fc.jsonValue({ maxDepth: 4 })), { minLength: 1, maxLength: 4 }),
        async (contents) => {
          const projectId = context.project('json');
          const results = await context.ledger.recordExecutions(
            contents.map(([input, output]) => makeExecution(projectId, { input, output })),
          );
          const refused = results.filter((result) => !result.ok);
          // Content the ledger refuses (a NUL character, say) never reaches the chain.
          const report = await context.ledger.verifyLedger(projectId);
          expect(report).toMatchObject({ ok: true, entries_checked: results.length - refused.length });
        },
      ),
      {
        numRuns: 30,
        // Shapes a shortcut could confuse: no keys against one empty key, a "__proto__" key, -0, 1e21.
        examples: [
          [[[{ '': {} }, {}]]],
          [[[{ a: { '': [] } }, { '': null }]]],
          [[[JSON.parse('{"__proto__":{"x":1},"b":-0}') as Record<string, JsonValue>, [1e21, 0.1 + 0.2]]]],
        ],
      },
    );
  });

  it('hashes long chains on worker threads and still reports the one rewritten entry, in order', async () => {
    const projectId = context.project('long');
    const runs = Array.from({ length: 2_500 }, (_, index) => ({
      createdAt: new Date(Date.UTC(2026, 1, 13, 10, 0, 0, index)),
      cost: index % 7,
    }));
    await insertHistoricalRuns(context, projectId, runs, undefined, { corruptSeq: 1_500 });
    const report = await context.ledger.verifyLedger(projectId);
    expect(report).toMatchObject({
      ok: false,
      entries_checked: 2_500,
      first_bad_seq: 1_500,
      reason: 'payload_hash does not match the stored content (content was changed after it was recorded)',
      head: { seq: 2_500 },
    });
    expect(report.problems).toHaveLength(1);
  });

  it('re-derives the hash of any intent and error message, however JSON must escape it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(TEXT_FIELD, TEXT_FIELD), { minLength: 1, maxLength: 4 }),
        async (texts) => {
          const projectId = context.project('text');
          const results = await context.ledger.recordExecutions(
            texts.map(([intent, errorMessage]) =>
              makeExecution(projectId, { intent, status: 'failed', error_message: errorMessage }),
            ),
          );
          expect(results.every((result) => result.ok)).toBe(true);
          const report = await context.ledger.verifyLedger(projectId);
          expect(report).toMatchObject({ ok: true, entries_checked: texts.length });
        },
      ),
      { numRuns: 25 },
    );
  });
});
