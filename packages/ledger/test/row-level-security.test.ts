import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';

// Scoped readers run as the non-superuser reader role with request.jwt.claims set, so the RLS
// policy in the database decides what they see; no WHERE clause in the library does.
describeEachEngine('row level security for scoped readers', (context) => {
  it('shows a user their own runs and their projects, and never another project', async () => {
    const mine = context.project('mine');
    const theirs = context.project('theirs');
    const shared = context.project('shared');
    const alice = `alice-${mine}`;
    const bob = `bob-${mine}`;
    await context.ledger.recordExecution(makeExecution(mine, { user_id: alice }));
    const hidden = await context.ledger.recordExecution(makeExecution(theirs, { user_id: bob }));
    await context.ledger.recordExecution(makeExecution(shared, { user_id: bob }));
    await context.ledger.addProjectMember(shared, alice);

    const asAlice = context.ledger.as({ userId: alice });
    expect((await asAlice.listExecutionsByProject(mine)).total).toBe(1);
    expect((await asAlice.listExecutionsByProject(shared)).total).toBe(1);
    expect((await asAlice.listExecutionsByProject(theirs)).total).toBe(0);
    expect(await asAlice.getExecutionByRunId(hidden.run_id)).toBeNull();
    expect((await asAlice.getProjectExecutionStats(theirs)).total_executions).toBe(0);
    expect((await asAlice.getFailedExecutions(theirs)).length).toBe(0);
    const streamed = [];
    for await (const record of asAlice.streamExecutions({ agentId: 'backend', userId: bob }))
      streamed.push(record.project_id);
    expect(streamed).toEqual([shared]);

    await context.ledger.removeProjectMember(shared, alice);
    expect((await asAlice.listExecutionsByProject(shared)).total).toBe(0);
    // The unscoped ledger (service role) still sees everything.
    expect((await context.ledger.listExecutionsByProject(theirs)).total).toBe(1);
  });

  it('shows nothing to a session without an identity', async () => {
    const projectId = context.project();
    await context.ledger.recordExecution(makeExecution(projectId));
    const database = await context.ledger.database();
    const rows = await database.transaction(async (tx) => {
      await tx.query('set local role execution_ledger_reader');
      return tx.query('select count(*)::int as n from execution_ledger.executions where project_id = $1', [
        projectId,
      ]);
    });
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('runs scoped reads as a role that is neither superuser nor BYPASSRLS', async () => {
    const rows = await context.admin(
      `select rolsuper, rolbypassrls from pg_roles where rolname = 'execution_ledger_reader'`,
    );
    expect(rows).toEqual([{ rolsuper: false, rolbypassrls: false }]);
  });
});
