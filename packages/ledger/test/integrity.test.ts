import { createHash } from 'node:crypto';
import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import { DEFAULT_LIMITS, type JsonValue } from 'execution-ledger';
import { normalizeExecution } from 'execution-ledger/validation';
import { canonicalJson, computeEntryHash, computePayloadHash, genesisHash } from 'execution-ledger/verify';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { centsToMicros, microsToCents } from '../src/money.js';

// Pinned bytes of hash version 1. Changing either constant breaks every stored chain: that
// needs a new hash_version, not an edit here.
const GOLDEN = {
  projectId: 'proj-001',
  seq: 7,
  createdAtMs: 1_770_000_000_123,
  payloadHash: createHash('sha256').update('payload').digest(),
  genesis: 'b882b3f61f07119cc06cf1a145e8a2316fab8cafb317afccff26c9870d72f42b',
  entry: 'ca24d4efe85bf6e203d15680c7ebe5d0e26a1593234c50f14c3b92fc21ad6fc7',
};

const JSON_TEXT = fc
  .string({ unit: 'binary', maxLength: 12 })
  .filter((text) => text.isWellFormed() && !text.includes('\u0000'));
const JSON_VALUE: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    JSON_TEXT,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(JSON_TEXT, tie('value'), { maxKeys: 4 }),
  ),
})).value;

describeEachEngine('hash version 1', (context) => {
  it('computes the same genesis and entry hash in SQL as in TypeScript (golden vector)', async () => {
    const prev = genesisHash(GOLDEN.projectId);
    const entry = computeEntryHash({ ...GOLDEN, prevHash: prev });
    const database = await context.ledger.database();
    const [row] = await database.query<{ genesis: string; entry: string }>(
      `select encode(execution_ledger.genesis_hash_v1($1), 'hex') as genesis,
         encode(execution_ledger.entry_hash_v1($1, $2, $3, decode($4, 'hex'), execution_ledger.genesis_hash_v1($1)), 'hex') as entry`,
      [GOLDEN.projectId, GOLDEN.seq, GOLDEN.createdAtMs, GOLDEN.payloadHash.toString('hex')],
    );
    expect(row).toEqual({ genesis: GOLDEN.genesis, entry: GOLDEN.entry });
    expect({ genesis: prev.toString('hex'), entry: entry.toString('hex') }).toEqual(row);
  });

  it('derives in the database the version 2 hash that jsonbText re-derives, for any JSON', async () => {
    const projectId = context.project();
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(JSON_TEXT, JSON_VALUE, { maxKeys: 5 }),
        JSON_VALUE,
        async (input, output) => {
          const execution = makeExecution(projectId, { input, output });
          const record = await context.ledger.recordExecution(execution);
          const expected = computePayloadHash(normalizeExecution(execution, DEFAULT_LIMITS), 2).toString(
            'hex',
          );
          expect(record).toMatchObject({ hash_version: 2, payload_hash: expected });
          // Read back through jsonb: canonicalising the stored value reproduces the same bytes.
          const stored = await context.ledger.getExecutionByRunId(record.run_id);
          expect(canonicalJson(present(stored).input as JsonValue)).toBe(canonicalJson(input));
          expect(canonicalJson((present(stored).output ?? null) as JsonValue)).toBe(canonicalJson(output));
        },
      ),
      { numRuns: 60 },
    );
    expect((await context.ledger.verifyLedger(projectId)).ok).toBe(true);
  });
});

it('builds the entry hash from exactly the documented bytes', () => {
  const project = Buffer.from(GOLDEN.projectId, 'utf8');
  const bytes = Buffer.concat([
    Buffer.from('execution-ledger/entry/v1\u0000', 'utf8'),
    Buffer.from([0, 1]),
    Buffer.from([0, 0, 0, project.length]),
    project,
    Buffer.from('0000000000000007', 'hex'),
    Buffer.from(GOLDEN.createdAtMs.toString(16).padStart(16, '0'), 'hex'),
    GOLDEN.payloadHash,
    genesisHash(GOLDEN.projectId),
  ]);
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(GOLDEN.entry);
  const genesis = createHash('sha256')
    .update('execution-ledger/genesis/v1\u0000proj-001', 'utf8')
    .digest('hex');
  expect(genesis).toBe(GOLDEN.genesis);
});

it('canonical JSON sorts keys by UTF-16 code units and prints numbers as ECMAScript does', () => {
  expect(
    canonicalJson({ b: 1, a: [1e21, 0.1, -0], '\u20ac': 'x', '\ud83d\ude00': 1, é: 2 } as JsonValue),
  ).toBe('{"a":[1e+21,0.1,0],"b":1,"é":2,"€":"x","😀":1}');
});

it('sums any breakdown exactly in micro-cents, in any order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { minLength: 1, maxLength: 20 }),
      (parts) => {
        const breakdown = Object.fromEntries(
          parts.map((micros, index) => [`part${index}`, microsToCents(micros)]),
        );
        const total = microsToCents(parts.reduce((sum, micros) => sum + micros, 0n));
        for (const [index, micros] of parts.entries()) {
          expect(centsToMicros(breakdown[`part${index}`], 'part', DEFAULT_LIMITS.cost_cents_max)).toBe(
            micros,
          );
        }
        const reversed = Object.fromEntries(Object.entries(breakdown).reverse());
        const execution = makeExecution('p', { cost: { total, breakdown: reversed } });
        expect(normalizeExecution(execution, DEFAULT_LIMITS).cost_json.total).toBe(total);
      },
    ),
    { numRuns: 300 },
  );
});
