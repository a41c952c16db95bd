import { describeEachEngine, expectLedgerError, makeExecution } from '@execution-ledger/test-support';
import type { Ledger } from 'execution-ledger';
import { expect, it } from 'vitest';

// Ids PostgreSQL cannot compare: each would otherwise reach it and fail as an internal error.
const BAD_IDS: [string, RegExp][] = [
  ['a\u0000b', /NUL/],
  ['\ud800', /lone UTF-16 surrogate/],
  ['', /non-empty/],
];

const LOOKUPS: [string, string, (ledger: Ledger, id: string) => Promise<unknown>][] = [
  ['getExecutionByRunId', 'runId', (ledger, id) => ledger.getExecutionByRunId(id)],
  ['listExecutionsByProject', 'projectId', (ledger, id) => ledger.listExecutionsByProject(id)],
  ['listExecutionsByAgent', 'agentId', (ledger, id) => ledger.listExecutionsByAgent(id)],
  ['getFailedExecutions', 'projectId', (ledger, id) => ledger.getFailedExecutions(id)],
  ['getProjectExecutionStats', 'projectId', (ledger, id) => ledger.getProjectExecutionStats(id)],
  ['getAgentCostStats', 'agentId', (ledger, id) => ledger.getAgentCostStats(id)],
  ['getExecutionPercentiles', 'agentId', (ledger, id) => ledger.getExecutionPercentiles({ agentId: id })],
  ['getCostByPart', 'userId', (ledger, id) => ledger.getCostByPart({ userId: id })],
  ['listExecutions by parent', 'parentRunId', (ledger, id) => ledger.listExecutions({ parentRunId: id })],
];

describeEachEngine('ids given to reads', (context) => {
  it('refuse a NUL, a lone surrogate or nothing with VALIDATION_FAILED naming the parameter', async () => {
    await context.ledger.recordExecution(makeExecution(context.project('lookup')));
    for (const [name, field, lookup] of LOOKUPS) {
      for (const [id, problem] of BAD_IDS) {
        const error = await expectLedgerError(lookup(context.ledger, id), 'VALIDATION_FAILED');
        expect({ name, field: error.field, message: error.message }).toMatchObject({ name, field });
        expect(error.message).toMatch(problem);
      }
    }
  });

  it('find nothing, without an error, for ids no recorded execution could have', async () => {
    const projectId = context.project('lookup-miss');
    await context.ledger.recordExecution(makeExecution(projectId));
    for (const id of ['tab\there', ' padded', 'x'.repeat(5_000)]) {
      expect(await context.ledger.getExecutionByRunId(id)).toBeNull();
      expect((await context.ledger.listExecutions({ projectId, userId: id })).total).toBe(0);
    }
  });

  it('still finds an id longer than the default bound, which a ledger may be configured to store', async () => {
    const projectId = `${context.project('long')}-${'x'.repeat(250)}`;
    const ledger = context.openAnother({ limits: { id_chars_max: 400 } });
    const record = await ledger.recordExecution(makeExecution(projectId));
    expect((await context.ledger.listExecutionsByProject(projectId)).data.map((r) => r.run_id)).toEqual([
      record.run_id,
    ]);
    // A ledger opened with the default bounds (the CLI's `verify --all`) still verifies it.
    expect(await context.ledger.verifyLedger(projectId)).toMatchObject({ ok: true, entries_checked: 1 });
  });
});
