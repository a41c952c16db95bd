import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  suiteFolderLedger,
} from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
// The built module: its errors are the package's LedgerError, as a caller sees them.
import { exportEntries, importEntries, projectHead } from '../dist/sharding/shard-queries.js';

// Moving a project to another shard copies its entries exactly as stored (id, seq, created_at,
// every hash) with import_entries, which re-derives every hash and link before storing anything.
// The source is each engine's ledger; the target a second, empty ledger (embedded).
describeEachEngine('import_entries: a chain copied to another server', (context) => {
  const target = suiteFolderLedger('ledger-import-');

  async function seeded(count: number) {
    const projectId = context.project();
    for (let index = 0; index < count; index += 1) {
      await context.ledger.recordExecution(
        makeExecution(projectId, {
          cost: { total: 0.123456 + index, breakdown: {} },
          input: { ratio: 0.1 + index / 3, index },
        }),
      );
    }
    const source = await context.ownerDatabase();
    const exported = await exportEntries(source, projectId, 0, 1000);
    return { projectId, exported, entries: JSON.parse(exported.text) as Record<string, unknown>[] };
  }

  async function stored(projectId: string): Promise<number> {
    return (await projectHead(await target().database(), projectId))?.seq ?? 0;
  }

  it('copies a chain in batches: same ids, times and hashes, and it verifies on the target', async () => {
    const { projectId, exported } = await seeded(5);
    expect(exported.count).toBe(5);
    const source = await context.ownerDatabase();
    const first = await exportEntries(source, projectId, 0, 2);
    expect(await importEntries(await target().database(), projectId, first.text)).toBe(2);
    const rest = await exportEntries(source, projectId, first.lastSeq, 1000);
    expect(await importEntries(await target().database(), projectId, rest.text)).toBe(5);
    const report = await target().verifyLedger(projectId);
    expect(report.ok).toBe(true);
    expect(report.entries_checked).toBe(5);
    const copied = await target().listExecutions({ projectId }, { limit: 10 });
    const original = await context.ledger.listExecutions({ projectId }, { limit: 10 });
    expect(copied.data.map((entry) => [entry.id, entry.seq, entry.created_at, entry.entry_hash])).toEqual(
      original.data.map((entry) => [entry.id, entry.seq, entry.created_at, entry.entry_hash]),
    );
    // The content is the same text: the copy goes from JSON text to JSON text, never through Node.
    const contentSql = `select string_agg(input::text || cost_json::text || execution_trace_json::text, '|' order by seq) as text
      from execution_ledger.executions where project_id = $1`;
    const [copiedText] = await (await target().database()).query<{ text: string }>(contentSql, [projectId]);
    const [originalText] = await source.query<{ text: string }>(contentSql, [projectId]);
    expect(copiedText?.text).toBe(originalText?.text);
    // The copy appends on: the next entry links to the imported head.
    const next = await target().recordExecution(makeExecution(projectId));
    expect(next.seq).toBe(6);
    expect((await target().verifyLedger(projectId)).ok).toBe(true);
  });

  const REFUSALS: [string, (entries: Record<string, unknown>[]) => Record<string, unknown>[], RegExp][] = [
    [
      'changed content',
      (entries) => entries.map((entry, index) => (index === 1 ? { ...entry, intent: 'changed' } : entry)),
      /payload_hash does not match/,
    ],
    [
      'a changed entry_hash',
      (entries) =>
        entries.map((entry, index) => (index === 2 ? { ...entry, entry_hash: '00'.repeat(32) } : entry)),
      /does not link|entry_hash does not match/,
    ],
    [
      'a gap',
      (entries) => entries.filter((_, index) => index !== 1),
      /has seq 3, but the chain .* ends at seq 1/,
    ],
    ['a start after the tip', (entries) => entries.slice(1), /has seq 2, but the chain .* ends at seq 0/],
    [
      'a changed time',
      (entries) =>
        entries.map((entry, index) =>
          index === 2 ? { ...entry, created_at: '2020-01-01T00:00:00.000Z' } : entry,
        ),
      /older than the entry before it|entry_hash does not match/,
    ],
    [
      'another project',
      (entries) => entries.map((entry) => ({ ...entry, project_id: 'elsewhere' })),
      /belongs to project elsewhere/,
    ],
  ];

  it.each(REFUSALS)(
    'refuses %s with VALIDATION_FAILED and stores nothing of the batch',
    async (_what, change, message) => {
      const { projectId, entries } = await seeded(3);
      const error = await expectLedgerError(
        importEntries(await target().database(), projectId, JSON.stringify(change(entries))),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(message);
      expect(error.message).toContain(projectId);
      expect(await stored(projectId)).toBe(0);
    },
  );

  it('refuses entries already stored: an import never rewrites the chain', async () => {
    const { projectId, exported } = await seeded(2);
    await importEntries(await target().database(), projectId, exported.text);
    const error = await expectLedgerError(
      importEntries(await target().database(), projectId, exported.text),
      'VALIDATION_FAILED',
    );
    expect(error.message).toMatch(/has seq 1, but the chain .* ends at seq 2/);
    expect(await stored(projectId)).toBe(2);
  });

  it('is not open to the runtime role: only execution_ledger_importer may import', async () => {
    if (context.engine !== 'postgres') return;
    const { projectId, exported } = await seeded(1);
    await expectLedgerError(
      importEntries(
        await context.ledger.database(),
        `${projectId}-copy`,
        exported.text.replaceAll(projectId, `${projectId}-copy`),
      ),
      'PERMISSION_DENIED',
    );
  });
});
