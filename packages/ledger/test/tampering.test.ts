import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { tamperAsSuperuser } from './support/tamper.js';

// A superuser can switch the guards off; verification must still name what changed and where.
// Each tampering runs in one transaction that re-enables the guards before it commits, so
// concurrent tests never see them down (ALTER TABLE holds its lock until commit).
describeEachEngine('verifyLedger against a superuser who tampers', (context) => {
  async function chainOf(length: number): Promise<string> {
    const projectId = context.project();
    for (let index = 1; index <= length; index += 1) {
      await context.ledger.recordExecution(
        makeExecution(projectId, { cost: 100 * index, intent: `step ${index}` }),
      );
    }
    expect((await context.ledger.verifyLedger(projectId)).ok).toBe(true);
    return projectId;
  }

  async function tamper(statements: string): Promise<void> {
    await tamperAsSuperuser(
      context,
      statements.split(/;\n/).map((statement) => statement.trim()),
    );
  }

  it('reports a changed cost at its seq', async () => {
    const projectId = await chainOf(5);
    await tamper(`update execution_ledger.executions set cost_json = jsonb_set(cost_json, '{total}', '1')
      where project_id = '${projectId}' and seq = 3`);
    const report = await context.ledger.verifyLedger(projectId);
    expect(report).toMatchObject({ ok: false, first_bad_seq: 3, entries_checked: 5 });
    expect(report.reason).toMatch(/payload_hash does not match/);
    expect(report.problems.map((problem) => problem.seq)).toEqual([3]);
  });

  it('reports a deleted row as a gap at the missing seq', async () => {
    const projectId = await chainOf(5);
    await tamper(`delete from execution_ledger.executions where project_id = '${projectId}' and seq = 2`);
    const report = await context.ledger.verifyLedger(projectId);
    expect(report).toMatchObject({ ok: false, first_bad_seq: 3, entries_checked: 4 });
    expect(report.reason).toMatch(/entries 2\.\.2 are missing/);
  });

  it('reports two rows swapped in the chain at the first of them', async () => {
    const projectId = await chainOf(5);
    await tamper(`update execution_ledger.executions set seq = 1000 where project_id = '${projectId}' and seq = 3;
      update execution_ledger.executions set seq = 3 where project_id = '${projectId}' and seq = 4;
      update execution_ledger.executions set seq = 4 where project_id = '${projectId}' and seq = 1000`);
    const report = await context.ledger.verifyLedger(projectId);
    expect(report).toMatchObject({ ok: false, first_bad_seq: 3 });
    expect(report.reason).toMatch(/prev_hash does not match/);
  });

  it('reports two rows whose contents were swapped at the first of them', async () => {
    const projectId = await chainOf(4);
    await tamper(`update execution_ledger.executions a set intent = b.intent, cost_json = b.cost_json
      from execution_ledger.executions b
      where a.project_id = '${projectId}' and b.project_id = a.project_id
        and ((a.seq = 2 and b.seq = 3) or (a.seq = 3 and b.seq = 2))`);
    const report = await context.ledger.verifyLedger(projectId);
    expect(report).toMatchObject({ ok: false, first_bad_seq: 2 });
    expect(report.problems.map((problem) => problem.seq)).toEqual([2, 3]);
  });

  it('reports a rewritten entry_hash and the broken link after it', async () => {
    const projectId = await chainOf(3);
    await tamper(`update execution_ledger.executions set entry_hash = sha256('forged')
      where project_id = '${projectId}' and seq = 2`);
    const report = await context.ledger.verifyLedger(projectId);
    expect(report.problems).toEqual([
      { seq: 2, reason: expect.stringMatching(/entry_hash does not match/) },
      { seq: 3, reason: expect.stringMatching(/prev_hash does not match/) },
    ]);
  });

  it('verifies an empty project as ok with nothing checked', async () => {
    const report = await context.ledger.verifyLedger(context.project());
    expect(report).toMatchObject({ ok: true, entries_checked: 0, head: null, first_bad_seq: null });
  });
});
