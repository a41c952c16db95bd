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
});
