import { once } from 'node:events';
import { describeEachEngine, makeExecution, readAll } from '@execution-ledger/test-support';
import { parse } from 'csv-parse/sync';
import { type ExecutionRecord, isLedgerError } from 'execution-ledger';
import { CSV_COLUMNS } from 'execution-ledger/record-fields';
import { computeEntryHash, computePayloadHash, genesisHash, type HashVersion } from 'execution-ledger/verify';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ChainTip, insertHistoricalRuns } from './support/historical-runs.js';

async function recordsOf(
  context: { ledger: { streamExecutions: (f: object) => AsyncGenerator<ExecutionRecord> } },
  projectId: string,
) {
  const records: ExecutionRecord[] = [];
  for await (const record of context.ledger.streamExecutions({ projectId })) records.push(record);
  return records;
}

// Text a naive CSV writer or a spreadsheet gets wrong: separators, quotes, every kind of line
// break, and cells a spreadsheet would run as formulas.
const TRICKY_INTENTS = [
  'Deploy, then "verify"',
  'line one\nline two\r\nline three\rend',
  '=HYPERLINK("http://evil.example","click")',
  '+1 more',
  '@SUM(A1:A9)',
  '-2 rollback',
  'ünïcödé ✓ 𝄞',
];

describeEachEngine('exports', (context) => {
  const projectId = context.project('export');
  beforeAll(async () => {
    const results = await context.ledger.recordExecutions(
      TRICKY_INTENTS.map((intent, index) =>
        makeExecution(projectId, {
          intent,
          parent_run_id: index === 0 ? null : `parent-${index}`,
          cost:
            index % 2 === 0
              ? {
                  total: 10.25,
                  breakdown: { tokens: 5, toolCalls: 5, externalRequests: 0.2, penalties: 0.05 },
                }
              : 0.000001,
          execution_trace: {
            steps: [{ action: 'a' }, { action: 'b' }],
            duration_ms: 1.5,
            tool_calls: 2,
            api_calls: 3,
          },
          ...(index === 3
            ? { status: 'failed' as const, error_message: '=cmd|"/c calc"!A1, then, "more"' }
            : {}),
          ...(index === 4 ? { output: { nested: { list: [1, 2.5, 'x'] } } } : {}),
        }),
      ),
    );
    expect(results.every((result) => result.ok)).toBe(true);
  });

  it('write CSV that a real parser reads back to the same values, formulas neutralised', async () => {
    const records = await recordsOf(context, projectId);
    const text = await readAll(context.ledger.exportCsvStream({ projectId, batchSize: 3 }));
    const rows = parse(text, { columns: true, relax_quotes: false }) as Record<string, string>[];
    expect(Object.keys(rows[0] ?? {})).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(records.length);
    const asText = (value: unknown) => (value === undefined || value === null ? '' : String(value));
    const guarded = (value: unknown) =>
      /^[=+\-@\t\r]/.test(asText(value)) ? `'${asText(value)}` : asText(value);
    records.forEach((record, index) => {
      const breakdown = record.cost_json.breakdown;
      expect(rows[index]).toEqual({
        seq: String(record.seq),
        created_at: record.created_at,
        run_id: record.run_id,
        project_id: record.project_id,
        user_id: record.user_id,
        agent_id: record.agent_id,
        parent_run_id: asText(record.parent_run_id),
        intent: guarded(record.intent),
        status: record.status,
        error_message: guarded(record.error_message),
        cost_total: asText(record.cost_json.total),
        cost_tokens: asText(breakdown.tokens),
        cost_tool_calls: asText(breakdown.toolCalls),
        cost_external_requests: asText(breakdown.externalRequests),
        cost_penalties: asText(breakdown.penalties),
        duration_ms: asText(record.execution_trace_json.duration_ms),
        steps: String(record.execution_trace_json.steps.length),
        tool_calls: asText(record.execution_trace_json.tool_calls),
        api_calls: asText(record.execution_trace_json.api_calls),
        id: record.id,
        entry_hash: record.entry_hash,
      });
    });
    expect(rows[2]?.intent).toBe(`'=HYPERLINK("http://evil.example","click")`);
    expect(rows[1]?.intent).toBe('line one\nline two\r\nline three\rend');
    expect(text.endsWith('\r\n')).toBe(true);
  });

  it('keep exportExecutionsToCSV returning the same text as the stream', async () => {
    const text = await context.ledger.exportExecutionsToCSV(projectId);
    expect(text).toBe(await readAll(context.ledger.exportCsvStream({ projectId })));
  });

  it('write only the header when nothing matches', async () => {
    const text = await readAll(context.ledger.exportCsvStream({ projectId: context.project('none') }));
    expect(text).toBe(`${CSV_COLUMNS.join(',')}\r\n`);
    expect(await readAll(context.ledger.exportNdjsonStream({ projectId: context.project('none') }))).toBe('');
  });

  it('write NDJSON lines equal to the records, from which an offline verifier re-derives every hash', async () => {
    const records = await recordsOf(context, projectId);
    const text = await readAll(context.ledger.exportNdjsonStream({ projectId, batchSize: 2 }));
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    const entries = lines.map((line) => JSON.parse(line) as ExecutionRecord);
    expect(entries).toEqual(records);
    let prevHash = genesisHash(projectId);
    entries.forEach((entry, index) => {
      expect(entry.seq).toBe(index + 1);
      expect(entry.prev_hash).toBe(prevHash.toString('hex'));
      const payloadHash = computePayloadHash(
        {
          ...entry,
          output: entry.output ?? null,
          error_message: entry.error_message ?? null,
        } as unknown as Parameters<typeof computePayloadHash>[0],
        entry.hash_version as HashVersion,
      );
      expect(payloadHash.toString('hex')).toBe(entry.payload_hash);
      const entryHash = computeEntryHash({
        projectId,
        hashVersion: entry.hash_version as HashVersion,
        seq: entry.seq,
        createdAtMs: Date.parse(entry.created_at),
        payloadHash,
        prevHash,
      });
      expect(entryHash.toString('hex')).toBe(entry.entry_hash);
      prevHash = entryHash;
    });
  });

  it('order runs of several projects by time and id, batch after batch', async () => {
    const userId = `user-${context.project('cross')}`;
    const other = context.project('other');
    await insertHistoricalRuns(context, other, [
      { createdAt: new Date('2026-02-13T10:00:00Z'), userId },
      { createdAt: new Date('2026-02-13T10:00:00Z'), userId },
    ]);
    await context.ledger.recordExecutions([makeExecution(projectId, { user_id: userId })]);
    const text = await readAll(context.ledger.exportNdjsonStream({ userId, batchSize: 1 }));
    const entries = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as ExecutionRecord);
    expect(entries.map((entry) => entry.project_id)).toEqual([other, other, projectId]);
    const keys = entries.map((entry) => `${entry.created_at} ${entry.id}`);
    expect([...keys].sort()).toEqual(keys);
  });

  it('give a scoped reader only the rows row level security lets them see', async () => {
    const own = `reader-${projectId}`;
    await context.ledger.recordExecution(makeExecution(projectId, { user_id: own }));
    const text = await readAll(context.ledger.as({ userId: own }).exportNdjsonStream({ projectId }));
    const entries = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as ExecutionRecord);
    expect(entries.map((entry) => entry.user_id)).toEqual([own]);
  });

  it('refuse a bad filter at once with VALIDATION_FAILED', () => {
    for (const [filter, field] of [
      [{ batchSize: 0 }, 'batchSize'],
      [{ projectId, status: 'lost' }, 'status'],
      [{ startDate: new Date('nope') }, 'startDate'],
    ] as const) {
      let caught: unknown;
      try {
        context.ledger.exportCsvStream(filter as object);
      } catch (error) {
        caught = error;
      }
      expect(isLedgerError(caught, 'VALIDATION_FAILED')).toBe(true);
      expect((caught as { field?: string }).field).toBe(field);
    }
  });

  describe('with back-pressure', () => {
    const bigProject = context.project('big');
    const intent = 'x'.repeat(1_900);
    const runAt = (index: number) => ({ createdAt: new Date(Date.UTC(2026, 1, 13, 10, 0, index)), intent });
    let tip: ChainTip | undefined;
    beforeAll(async () => {
      tip = await insertHistoricalRuns(
        context,
        bigProject,
        Array.from({ length: 400 }, (_, index) => runAt(index)),
      );
    });

    it('buffer a bounded amount and read no further while the reader waits', async () => {
      const stream = context.ledger.exportNdjsonStream({ projectId: bigProject, batchSize: 10 });
      await once(stream, 'readable');
      // The reader takes nothing for a while; a stream without back-pressure would read the whole
      // export (about 1 MB) meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(stream.readableLength).toBeLessThanOrEqual(stream.readableHighWaterMark + 64 * 1024);
      expect(stream.readableEnded).toBe(false);
      // Runs appended while the export waits lie beyond what it has read so far: it still
      // delivers them, which an export that had read ahead to the end could not.
      await insertHistoricalRuns(context, bigProject, [runAt(400), runAt(401)], tip);
      const text = await readAll(stream);
      expect(text.length).toBeGreaterThan(stream.readableHighWaterMark * 2);
      expect(text.trimEnd().split('\n')).toHaveLength(402);
    });
  });
});
