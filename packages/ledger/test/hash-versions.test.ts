import { createHash } from 'node:crypto';
import {
  describeEachEngine,
  type EngineContext,
  expectLedgerError,
  makeExecution,
  present,
  readAll,
} from '@execution-ledger/test-support';
import { exportExecutionsToNDJSON } from 'execution-ledger';
import {
  type ExecutionRecord,
  type JsonbInput,
  JsonNumberText,
  jsonbText,
  numericText,
  verifyExport,
} from 'execution-ledger/verify';
import fc from 'fast-check';
import { parse as parseLossless } from 'lossless-json';
import { expect, it } from 'vitest';
import { historicalExecution, insertHistoricalRuns } from './support/historical-runs.js';

// A JSON number as anyone may write it: sign, digits, fraction, exponent in either case.
const NUMBER_TOKEN = fc
  .tuple(
    fc.constantFrom('', '-'),
    fc.stringMatching(/^(0|[1-9]\d{0,24})$/),
    fc.option(fc.stringMatching(/^\d{1,20}$/), { nil: undefined }),
    fc.option(
      fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 40 })),
      {
        nil: undefined,
      },
    ),
  )
  .map(([sign, whole, fraction, exponent]) => {
    const fractionText = fraction === undefined ? '' : `.${fraction}`;
    const exponentText = exponent === undefined ? '' : `${exponent[0]}${exponent[1]}${exponent[2]}`;
    return `${sign}${whole}${fractionText}${exponentText}`;
  });

const TEXT = fc
  .string({ unit: 'binary', maxLength: 10 })
  .filter((text) => text.isWellFormed() && !text.includes('\u0000'));

const JSON_TEXT_VALUE: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom('null', 'true', 'false'),
    NUMBER_TOKEN,
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
    TEXT.map((text) => JSON.stringify(text)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .uniqueArray(fc.tuple(TEXT, tie('value')), { maxLength: 4, selector: ([key]) => key })
      .map((members) => `{${members.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`),
  ),
})).value;

/** What the database prints for each JSON text, in one round trip. */
async function printedByDatabase(context: EngineContext, texts: string[]): Promise<string[]> {
  const rows = await context.admin(
    'select t.value::jsonb::text as printed from unnest($1::text[]) with ordinality as t(value, n) order by t.n',
    [texts],
  );
  return rows.map((row) => row.printed as string);
}

/** Runs append_batch as the writer role, as any client holding that role could. */
async function appendAsWriter(context: EngineContext, projectId: string, entries: unknown[]): Promise<void> {
  const text = JSON.stringify(entries).replaceAll("'", "''");
  await context.admin(`do $do$ begin
    set local role execution_ledger_writer;
    perform execution_ledger.append_batch('${projectId}', '${text}'::jsonb);
  end $do$`);
}

async function countEntries(context: EngineContext, projectId: string): Promise<number> {
  const rows = await context.admin(
    'select count(*)::int as n from execution_ledger.executions where project_id = $1',
    [projectId],
  );
  return present(rows[0]).n as number;
}

/** The twelve content fields of an execution, as append_batch takes them. */
function contentFields(projectId: string, input: unknown) {
  return {
    run_id: `run-${createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 12)}-${projectId}`,
    project_id: projectId,
    user_id: 'user-001',
    agent_id: 'backend',
    parent_run_id: null,
    intent: 'Price a plan',
    input,
    output: null,
    cost_json: { total: 1.5, breakdown: {} },
    execution_trace_json: { steps: [], duration_ms: 10 },
    status: 'completed',
    error_message: null,
  };
}

describeEachEngine('hash version 2', (context) => {
  it('prints every JSON number exactly as the database prints it in jsonb', async () => {
    const tokens = fc.sample(NUMBER_TOKEN, { numRuns: 400, seed: 20261206 });
    tokens.push(
      '1.50',
      '1E2',
      '1.5e-7',
      '-0',
      '-0.00',
      '0.1e1',
      '100e-1',
      '1e21',
      '12345678901234567891',
      '5e-324',
    );
    const printed = await printedByDatabase(context, tokens);
    expect(tokens.map(numericText)).toEqual(printed);
  });

  it('writes any JSON value as the database prints its jsonb, numbers kept as written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(JSON_TEXT_VALUE, { minLength: 1, maxLength: 20 }), async (texts) => {
        const printed = await printedByDatabase(context, texts);
        const ours = texts.map((text) =>
          jsonbText(parseLossless(text, null, (n) => new JsonNumberText(n)) as JsonbInput),
        );
        expect(ours).toEqual(printed);
      }),
      { numRuns: 40 },
    );
  });

  it('writes any double as the database prints the text JSON.stringify gave it', async () => {
    const doubles = fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true }), { numRuns: 300, seed: 7 });
    const printed = await printedByDatabase(
      context,
      doubles.map((n) => JSON.stringify(n)),
    );
    expect(doubles.map((n) => jsonbText(n))).toEqual(printed);
  });

  it('refuses an entry that brings its own payload_hash or chain fields, and stores nothing', async () => {
    const projectId = context.project('forged');
    const entry = contentFields(projectId, { a: 1 });
    for (const extra of [{ payload_hash: '0'.repeat(64) }, { seq: 1 }, { entry_hash: 'ab'.repeat(32) }]) {
      await expect(appendAsWriter(context, projectId, [{ ...entry, ...extra }])).rejects.toThrow(
        new RegExp(`entry 1 has the field ${Object.keys(extra)[0]}, which append_batch does not take`),
      );
    }
    expect(await countEntries(context, projectId)).toBe(0);
  });

  it('hashes what it stores when a writer calls append_batch directly, whatever numbers it writes', async () => {
    const projectId = context.project('direct');
    const inputs = [{ price: 1.5 }, { written: 'as-is' }];
    await appendAsWriter(
      context,
      projectId,
      inputs.map((input) => contentFields(projectId, input)),
    );
    // Numbers a double cannot hold, written in SQL as the text they are: 1.50 keeps its zero.
    await context.admin(`do $do$ begin
      set local role execution_ledger_writer;
      perform execution_ledger.append_batch('${projectId}', jsonb_build_array(jsonb_build_object(
        'run_id', 'exotic-${projectId}', 'project_id', '${projectId}', 'user_id', 'u', 'agent_id', 'a',
        'intent', 'Exotic numbers', 'input', '{"price": 1.50, "big": 12345678901234567891, "tiny": 1e-7}'::jsonb,
        'cost_json', '{"total": 0, "breakdown": {}}'::jsonb,
        'execution_trace_json', '{"steps": [], "duration_ms": 0}'::jsonb, 'status', 'completed')));
    end $do$`);
    // Every field present but a number where text goes: stored as text, so the entry's own text
    // is not its payload's and the hash must come from what is stored ("7", not 7).
    await appendAsWriter(context, projectId, [
      { ...contentFields(projectId, { typed: 'loosely' }), user_id: 7 },
    ]);
    const rows = await context.admin(
      `select encode(payload_hash, 'hex') as stored,
         encode(sha256(convert_to(execution_ledger.payload_v2(run_id, project_id, user_id, agent_id,
           parent_run_id, intent, input, output, cost_json, execution_trace_json, status,
           error_message)::text, 'UTF8')), 'hex') as derived, hash_version
       from execution_ledger.executions where project_id = $1 order by seq`,
      [projectId],
    );
    expect(rows).toHaveLength(4);
    for (const row of rows) expect(row).toMatchObject({ stored: row.derived, hash_version: 2 });
    expect(await context.ledger.verifyLedger(projectId)).toMatchObject({ ok: true, entries_checked: 4 });
    const exported = await readAll(context.ledger.exportNdjsonStream({ projectId }));
    expect(exported).toContain('"price": 1.50');
    expect(await verifyExport({ ndjson: exported })).toMatchObject({ ok: true, entries_checked: 4 });
  });

  it('verifies a chain that starts in version 1 and goes on in version 2, online and offline', async () => {
    const projectId = context.project('mixed');
    const day = 24 * 60 * 60 * 1000;
    await insertHistoricalRuns(
      context,
      projectId,
      [3, 2, 1].map((days) => ({ createdAt: new Date(Date.now() - days * day) })),
    );
    for (let index = 0; index < 2; index += 1) await context.ledger.recordExecution(makeExecution(projectId));
    const records: ExecutionRecord[] = [];
    for await (const record of context.ledger.streamExecutions({ projectId })) records.push(record);
    expect(records.map((record) => record.hash_version)).toEqual([1, 1, 1, 2, 2]);
    expect(await context.ledger.verifyLedger(projectId)).toMatchObject({ ok: true, entries_checked: 5 });
    const fromDatabase = await readAll(context.ledger.exportNdjsonStream({ projectId }));
    expect(await verifyExport({ ndjson: fromDatabase })).toMatchObject({ ok: true, entries_checked: 5 });
    const fromLibrary = await readAll(exportExecutionsToNDJSON(context.ledger, projectId));
    expect(await verifyExport({ ndjson: fromLibrary })).toMatchObject({ ok: true, entries_checked: 5 });
  });

  it('replays a version 1 entry sent again with the same content, and refuses other content', async () => {
    const projectId = context.project('replay-v1');
    const run = { createdAt: new Date(Date.now() - 60_000), runId: `v1-${projectId}` };
    await insertHistoricalRuns(context, projectId, [run]);
    const [stored] = await context.admin(
      `select encode(payload_hash, 'hex') as payload_hash from execution_ledger.executions where run_id = $1`,
      [run.runId],
    );
    const again = await context.ledger.recordExecution(historicalExecution(projectId, run));
    expect(again).toMatchObject({
      replayed: true,
      seq: 1,
      hash_version: 1,
      payload_hash: present(stored).payload_hash,
    });
    await expectLedgerError(
      context.ledger.recordExecution({ ...historicalExecution(projectId, run), intent: 'Something else' }),
      'RUN_ID_CONFLICT',
    );
    expect(await countEntries(context, projectId)).toBe(1);
  });
});

it('names an unknown hash_version in an export instead of guessing how it was hashed', async () => {
  const line = {
    seq: 1,
    id: '00000000-0000-4000-8000-000000000000',
    run_id: 'r',
    project_id: 'p',
    user_id: 'u',
    agent_id: 'a',
    parent_run_id: null,
    intent: 'i',
    input: {},
    output: null,
    cost_json: { total: 0, breakdown: {} },
    execution_trace_json: { steps: [], duration_ms: 0 },
    status: 'completed',
    error_message: null,
    created_at: '2026-12-06T00:00:00.000Z',
    hash_version: 3,
    payload_hash: '0'.repeat(64),
    prev_hash: '0'.repeat(64),
    entry_hash: '0'.repeat(64),
  };
  const report = await verifyExport({ ndjson: `${JSON.stringify(line)}\n` });
  expect(report.ok).toBe(false);
  expect(report.problems.map((problem) => problem.reason)).toContain('unknown hash_version 3');
});
