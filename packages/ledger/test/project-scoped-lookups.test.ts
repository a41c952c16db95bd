import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import pg from 'pg';
import { expect, it } from 'vitest';

// What a deployment sharded by project needs from the single-node schema (docs/scaling.md,
// "Where the schema stands against Citus's list"): every lookup the append makes names the
// project, so it is answered by the one shard that holds the project's chain.

/**
 * The plans of every statement `sql` runs, nested ones included (the statements inside
 * append_batch), as auto_explain prints them; only a superuser on a server may load it.
 */
async function nestedPlans(sql: string, params: unknown[]): Promise<string[]> {
  const client = new pg.Client({ connectionString: present(process.env.TEST_ADMIN_DATABASE_URL) });
  const plans: string[] = [];
  client.on('notice', (notice) => plans.push(notice.message ?? ''));
  await client.connect();
  try {
    await client.query(`load 'auto_explain'`);
    await client.query('set auto_explain.log_min_duration = 0');
    await client.query('set auto_explain.log_nested_statements = on');
    await client.query('set auto_explain.log_level = notice');
    await client.query('set client_min_messages = notice');
    await client.query(sql, params);
    return plans;
  } finally {
    await client.end();
  }
}

describeEachEngine('lookups by project in the append', (context) => {
  it.skipIf(context.engine !== 'postgres')(
    'looks up a replayed run_id among its own project rows only (EXPLAIN of the statement in append_batch)',
    async () => {
      const projectId = context.project();
      const execution = makeExecution(projectId);
      await context.ledger.recordExecution(execution);
      const entry = {
        run_id: execution.run_id,
        project_id: projectId,
        user_id: execution.user_id,
        agent_id: execution.agent_id,
        intent: execution.intent,
        input: execution.input,
        output: execution.output,
        cost_json: execution.cost,
        execution_trace_json: execution.execution_trace,
        status: execution.status,
      };
      const plans = await nestedPlans(
        'select r_outcome from execution_ledger.append_batch($1::text, $2::jsonb)',
        [projectId, JSON.stringify([entry])],
      );
      const lookup = plans.find((plan) => plan.includes('jsonb_object_agg'));
      expect(lookup, plans.join('\n---\n')).toBeDefined();
      // The scan of the entries names the project: an index condition or a filter on project_id.
      expect(present(lookup)).toMatch(/(Index Cond|Filter): .*\bproject_id = /);
    },
  );

  it('still refuses a run_id another project recorded, as RUN_ID_CONFLICT, and appends nothing', async () => {
    const first = context.project();
    const second = context.project();
    const execution = makeExecution(first);
    await context.ledger.recordExecution(execution);
    // Same content but the project: the lookup of the second project does not find it, and the
    // unique constraint on run_id refuses it at the insert.
    await expectLedgerError(
      context.ledger.recordExecution({ ...execution, project_id: second }),
      'RUN_ID_CONFLICT',
      'run_id',
    );
    // In a batch with neighbours, it fails alone.
    const results = await context.ledger.recordExecutions([
      makeExecution(second),
      { ...execution, project_id: second },
      makeExecution(second),
    ]);
    expect(results.map((result) => result.ok)).toEqual([true, false, true]);
    expect((await context.ledger.listExecutionsByProject(second)).total).toBe(2);
    expect((await context.ledger.verifyLedger(second)).ok).toBe(true);
  });
});
