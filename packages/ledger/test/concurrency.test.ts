import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import type { Ledger } from 'execution-ledger';
import { expect, it } from 'vitest';

describeEachEngine('concurrent appends and replays', (context) => {
  it('keeps seq gapless and the chain valid with 16 concurrent writers', async () => {
    const projectId = context.project();
    // Separate ledgers (separate pools on the server) so the database lock, not one process's
    // group commit, is what orders the writers.
    const writers: Ledger[] = Array.from({ length: 16 }, (_, index) =>
      index === 0 ? context.ledger : context.openAnother(),
    );
    await Promise.all(
      writers.map(async (writer, index) => {
        for (let round = 0; round < 10; round += 1) {
          await writer.recordExecution(makeExecution(projectId, { user_id: `writer-${index}` }));
        }
      }),
    );
    const seqs: number[] = [];
    for await (const record of context.ledger.streamExecutions({ projectId })) seqs.push(record.seq);
    expect(seqs).toEqual(Array.from({ length: 160 }, (_, index) => index + 1));
    const report = await context.ledger.verifyLedger(projectId);
    expect(report).toMatchObject({ ok: true, entries_checked: 160, head: { seq: 160 } });
  });

  it('coalesces concurrent appends of one project into few transactions', async () => {
    const projectId = context.project();
    const records = await Promise.all(
      Array.from({ length: 100 }, () => context.ledger.recordExecution(makeExecution(projectId))),
    );
    // Entries appended in one transaction share its created_at.
    const transactions = new Set(records.map((record) => record.created_at));
    expect(transactions.size).toBeLessThan(10);
    expect(records.map((record) => record.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 100 }, (_, index) => index + 1),
    );
  });

  it('appends a replayed run once, sequentially', async () => {
    const projectId = context.project();
    const execution = makeExecution(projectId);
    const first = await context.ledger.recordExecution(execution);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const again = await context.ledger.recordExecution(execution);
      expect(again).toMatchObject({ replayed: true, id: first.id, seq: 1, entry_hash: first.entry_hash });
      expect(again.created_at).toBe(first.created_at);
    }
    expect((await context.ledger.listExecutionsByProject(projectId)).total).toBe(1);
  });

  it('appends a run replayed 50 times in parallel, from several ledgers, exactly once', async () => {
    const projectId = context.project();
    const execution = makeExecution(projectId);
    const ledgers = [context.ledger, context.openAnother(), context.openAnother()];
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        present(ledgers[index % ledgers.length]).recordExecution(execution),
      ),
    );
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    expect(new Set(results.map((result) => result.id)).size).toBe(1);
    expect((await context.ledger.listExecutionsByProject(projectId)).total).toBe(1);
  });

  it('treats reordered keys and other whitespace as the same content', async () => {
    const projectId = context.project();
    const first = makeExecution(projectId, { input: JSON.parse('{"b": 2, "a": {"y": [1, 2], "x": "1"}}') });
    const reordered = { ...first, input: JSON.parse('{ "a" : { "x":"1","y":[1,2] } ,"b":2 }') };
    await context.ledger.recordExecution(first);
    expect((await context.ledger.recordExecution(reordered)).replayed).toBe(true);
  });

  it('raises RUN_ID_CONFLICT for the same run_id with other content, and appends nothing', async () => {
    const projectId = context.project();
    const execution = makeExecution(projectId);
    await context.ledger.recordExecution(execution);
    await expectLedgerError(
      context.ledger.recordExecution({ ...execution, output: { deployed: false } }),
      'RUN_ID_CONFLICT',
      'run_id',
    );
    // The same run_id in another project is a conflict too: run ids are global.
    const elsewhere = context.project();
    await expectLedgerError(
      context.ledger.recordExecution({ ...execution, project_id: elsewhere }),
      'RUN_ID_CONFLICT',
      'run_id',
    );
    expect((await context.ledger.listExecutionsByProject(projectId)).total).toBe(1);
    expect((await context.ledger.listExecutionsByProject(elsewhere)).total).toBe(0);
  });

  it('gives each caller of a batch its own result when one entry fails in the database', async () => {
    const projectId = context.project();
    // Limits raised past the database's backstop (ids up to 1,024 characters): this entry
    // passes validation and fails the table's check constraint, alone.
    const loose = context.openAnother({ limits: { id_chars_max: 5_000 } });
    const results = await loose.recordExecutions([
      makeExecution(projectId),
      makeExecution(projectId, { agent_id: 'a'.repeat(2_000) }),
      makeExecution(projectId),
      makeExecution(projectId, { cost: Number.NaN }),
    ]);
    expect(results.map((result) => result.ok)).toEqual([true, false, true, false]);
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect(results[3]).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED', field: 'cost' } });
    const report = await loose.verifyLedger(projectId);
    expect(report).toMatchObject({ ok: true, entries_checked: 2 });
  });

  it('answers a stored run_id among new ones in a batch, and the new ones follow the chain without a gap', async () => {
    // The batch is first inserted whole, without a lookup (0032); the stored run_id undoes that
    // attempt, and nothing of it may stay: no entry, no seq taken, no head moved.
    const projectId = context.project();
    const stored = makeExecution(projectId);
    await context.ledger.recordExecution(stored);
    const results = await context.ledger.recordExecutions([
      makeExecution(projectId),
      stored,
      makeExecution(projectId),
      { ...stored, intent: 'different' },
    ]);
    expect(
      results.map((result) => (result.ok ? [result.record.seq, result.record.replayed] : 'refused')),
    ).toEqual([[2, false], [1, true], [3, false], 'refused']);
    expect(results[3]).toMatchObject({ ok: false, error: { code: 'RUN_ID_CONFLICT' } });
    const next = await context.ledger.recordExecution(makeExecution(projectId));
    expect(next.seq).toBe(4);
    expect(await context.ledger.verifyLedger(projectId)).toMatchObject({ ok: true, entries_checked: 4 });
  });

  it('within one batch, treats a repeated run_id as a replay or a conflict of the first', async () => {
    const projectId = context.project();
    const execution = makeExecution(projectId);
    const results = await context.ledger.recordExecutions([
      execution,
      execution,
      { ...execution, intent: 'different' },
    ]);
    expect(results[0]).toMatchObject({ ok: true, record: { replayed: false, seq: 1 } });
    expect(results[1]).toMatchObject({ ok: true, record: { replayed: true, seq: 1 } });
    expect(results[2]).toMatchObject({ ok: false, error: { code: 'RUN_ID_CONFLICT' } });
    expect((await context.ledger.listExecutionsByProject(projectId)).total).toBe(1);
  });
});
