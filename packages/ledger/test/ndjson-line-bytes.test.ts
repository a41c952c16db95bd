import { randomUUID } from 'node:crypto';
import { describeEachEngine, type EngineContext, present, readAll } from '@execution-ledger/test-support';
import fc, { type JsonValue } from 'fast-check';
import { expect, it } from 'vitest';

/** What a stored row may hold, written by the ledger or by anything else with the right grants. */
interface StoredRow {
  run_id: string;
  user_id: string;
  agent_id: string;
  parent_run_id: string | null;
  intent: string;
  input: Record<string, string>;
  output: JsonValue | null;
  cost_json: { total: number; breakdown: Record<string, number>; note: string };
  execution_trace_json: { steps: unknown[]; duration_ms: number; note: string };
  status: 'completed' | 'failed' | 'aborted';
  error_message: string | null;
  created_at: string;
}

// Every character JSON escapes or a naive escaper gets wrong, and any other Unicode (PostgreSQL
// text holds neither NUL nor lone surrogates, so neither can reach an export).
const charArb = fc.oneof(
  fc.integer({ min: 1, max: 0x1f }).map((code) => String.fromCharCode(code)),
  fc.constantFrom('"', '\\', '/', '\u007f', '\u0080', '\u2028', '\u2029', '\ufeff', '😀', 'é', ' '),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
);
const textArb = fc.string({ unit: charArb, minLength: 1, maxLength: 12 });

const rowArb: fc.Arbitrary<StoredRow> = fc
  .record({
    id: textArb,
    user_id: textArb,
    agent_id: textArb,
    parent_run_id: fc.option(textArb, { nil: null }),
    intent: textArb,
    input: fc.dictionary(textArb, textArb, { maxKeys: 3 }),
    output: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: null }),
    total: fc.nat({ max: 1_000_000 }),
    duration: fc.nat({ max: 1_000_000 }),
    note: textArb,
    status: fc.constantFrom('completed' as const, 'failed' as const, 'aborted' as const),
    error_message: fc.option(textArb, { nil: null }),
    created_ms: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 11, 31) }),
  })
  .map((row) => ({
    // run_id is unique across the whole table: keep the generated text, make it unique.
    run_id: `${row.id}-${randomUUID()}`,
    user_id: row.user_id,
    agent_id: row.agent_id,
    parent_run_id: row.parent_run_id,
    intent: row.intent,
    input: row.input,
    output: row.output,
    cost_json: { total: row.total, breakdown: {}, note: row.note },
    execution_trace_json: { steps: [], duration_ms: row.duration, note: row.note },
    status: row.status,
    // The table requires an error message unless the run completed.
    error_message: row.status === 'completed' ? row.error_message : (row.error_message ?? row.note),
    created_at: new Date(row.created_ms).toISOString(),
  }));

/**
 * Stores rows as a superuser, bypassing the library's validation (control characters in ids are
 * refused by the library, not by the table). Hashes are stand-ins: this test compares bytes.
 */
async function storeRows(context: EngineContext, projectId: string, rows: StoredRow[]): Promise<void> {
  await context.admin(
    `insert into execution_ledger.executions (run_id, project_id, user_id, agent_id, parent_run_id,
      intent, input, output, cost_json, execution_trace_json, status, error_message, created_at, seq,
      hash_version, payload_hash, prev_hash, entry_hash)
    select x.run_id, $1, x.user_id, x.agent_id, x.parent_run_id, x.intent, x.input, x.output,
      x.cost_json, x.execution_trace_json, x.status, x.error_message, x.created_at, x.seq, 1,
      sha256(convert_to(x.run_id || '/payload', 'UTF8')), sha256(convert_to(x.run_id || '/prev', 'UTF8')),
      sha256(convert_to(x.run_id || '/entry', 'UTF8'))
    from jsonb_to_recordset($2::jsonb) as x(run_id text, user_id text, agent_id text, parent_run_id text,
      intent text, input jsonb, output jsonb, cost_json jsonb, execution_trace_json jsonb, status text,
      error_message text, created_at timestamptz, seq bigint)`,
    [projectId, JSON.stringify(rows.map((row, index) => ({ ...row, seq: index + 1 })))],
  );
}

const TEXT_COLUMNS = [
  'run_id',
  'project_id',
  'user_id',
  'agent_id',
  'parent_run_id',
  'intent',
  'status',
  'error_message',
  'input',
  'output',
  'cost_json',
  'execution_trace_json',
] as const;

/**
 * The stored columns as the JS-built export line read them, text columns (JSON as jsonb text)
 * travelling as hex of their UTF-8 bytes: PGlite's driver drops a leading U+FEFF from text it
 * returns, and the reference must hold exactly what is stored.
 */
const REFERENCE_COLUMNS = `e.id::text as id,
  ${TEXT_COLUMNS.map((name) => `encode(convert_to(e.${name}::text, 'UTF8'), 'hex') as ${name}`).join(', ')},
  to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at,
  e.seq::text as seq, e.hash_version::text as hash_version, encode(e.payload_hash, 'hex') as payload_hash,
  encode(e.prev_hash, 'hex') as prev_hash, encode(e.entry_hash, 'hex') as entry_hash`;

function fromHex(row: Record<string, unknown>): Record<string, unknown> {
  const decoded = { ...row };
  for (const name of TEXT_COLUMNS) {
    const hex = row[name];
    decoded[name] = typeof hex === 'string' ? Buffer.from(hex, 'hex').toString('utf8') : null;
  }
  return decoded;
}

/** The line exactly as the export wrote it when it was built in JS, from the columns above. */
function referenceLine(row: Record<string, unknown>): string {
  const text = JSON.stringify;
  return (
    `{"id":${text(row.id)},"run_id":${text(row.run_id)},"project_id":${text(row.project_id)},` +
    `"user_id":${text(row.user_id)},"agent_id":${text(row.agent_id)},` +
    `"parent_run_id":${text(row.parent_run_id)},"intent":${text(row.intent)},"input":${row.input},` +
    (row.output === null ? '' : `"output":${row.output},`) +
    `"cost_json":${row.cost_json},"execution_trace_json":${row.execution_trace_json},` +
    `"status":${text(row.status)},` +
    (row.error_message === null ? '' : `"error_message":${text(row.error_message)},`) +
    `"created_at":${text(row.created_at)},"seq":${row.seq},"hash_version":${row.hash_version},` +
    `"payload_hash":${text(row.payload_hash)},"prev_hash":${text(row.prev_hash)},` +
    `"entry_hash":${text(row.entry_hash)}}\n`
  );
}

describeEachEngine('NDJSON export bytes', (context) => {
  it('write every line byte for byte as JSON.stringify escapes the stored text', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { minLength: 1, maxLength: 6 }), async (rows) => {
        // The project id is text like any other: quotes, a backslash and a line separator.
        const projectId = context.project('bytes "\\ \u2028');
        await storeRows(context, projectId, rows);
        const stored = (
          await context.admin(
            `select ${REFERENCE_COLUMNS} from execution_ledger.executions e where e.project_id = $1
             order by e.seq`,
            [projectId],
          )
        ).map(fromHex);
        expect(stored).toHaveLength(rows.length);
        const exported = await readAll(context.ledger.exportNdjsonStream({ projectId, batchSize: 4 }));
        expect(exported).toBe(stored.map(referenceLine).join(''));
        // Across projects (time order, keyset reads) a row's line is the same.
        const userId = present(rows[0]).user_id;
        const byUser = await readAll(context.ledger.exportNdjsonStream({ userId }));
        const ours = byUser
          .split(/(?<=\n)/)
          .filter((line) => line.includes(`"project_id":${JSON.stringify(projectId)},`));
        const expected = stored.filter((row) => row.user_id === userId).map(referenceLine);
        expect(ours.sort()).toEqual(expected.sort());
      }),
      {
        numRuns: 25,
        examples: [
          [
            [
              {
                run_id: `every control ${String.fromCharCode(...Array.from({ length: 31 }, (_, i) => i + 1))}-${randomUUID()}`,
                user_id: 'user "quoted" \\ \u2028\u2029',
                agent_id: '\u001f\u007f\u0080',
                parent_run_id: null,
                intent: String.fromCharCode(...Array.from({ length: 31 }, (_, i) => i + 1)),
                input: { '\n': '\t', '"': '\\' },
                output: null,
                cost_json: { total: 0, breakdown: {}, note: '\b\f' },
                execution_trace_json: { steps: [], duration_ms: 0, note: '\r\n' },
                status: 'failed',
                error_message: '"\\/\u0001',
                created_at: '2026-02-13T10:30:00.123Z',
              },
            ],
          ],
        ],
      },
    );
  });
});
