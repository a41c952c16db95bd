import assert from 'node:assert/strict';
import { BudgetExceededError, createLedger, reportedCost } from 'execution-ledger';

const ledger = createLedger({ database: 'memory:' });
const run = {
  project_id: 'proj-001',
  user_id: 'user-001',
  agent_id: 'backend',
  input: { service: 'user-api' },
};

// Completed: the output, the computed cost and a timed trace, in one record.
const { output, record, metrics } = await ledger.run(
  { ...run, intent: 'Deploy service', budgetCents: 5000 },
  async (ctx) => {
    await ctx.step('build_docker_image', async () => {
      ctx.accountTokens(10_000, 15_000);
      ctx.accountToolCall('docker');
    });
    await ctx.step('deploy_kubernetes', async () => ctx.accountExternalRequest('kubernetes', 3));
    return { deployed: true };
  },
);
assert.deepEqual(output, { deployed: true });
assert.equal(record?.status, 'completed');
assert.equal(record?.cost_json.total, metrics.totalCost); // 17.5 + 1 + 3 = 21.5 cents
assert.deepEqual(
  record?.execution_trace_json.steps.map((step) => step.result),
  ['success', 'success'],
);

// Aborted: the budget error reaches the caller, and the record says why, in dollars.
const aborted = await ledger
  .run({ ...run, run_id: 'run-aborted-001', intent: 'Full audit', budgetCents: 5000 }, async (ctx) => {
    await ctx.step('audit_compute_resources', async () => ctx.accountPenalty('runaway audit', 10_000));
  })
  .catch((error: unknown) => error);
assert.ok(aborted instanceof BudgetExceededError);
const stored = await ledger.getExecutionByRunId('run-aborted-001');
assert.equal(stored?.status, 'aborted');
assert.equal(stored?.error_message, 'Execution aborted: Budget exceeded. Allocated: $50.00, Spent: $100.00');

// A cost billed elsewhere is recorded as reported, not computed.
const billed = await ledger.recordExecution({
  ...run,
  run_id: 'run-billed-001',
  intent: 'Nightly batch',
  cost: reportedCost(1234.5, { tokens: 1234.5 }, 'provider invoice 2026-02'),
  execution_trace: { steps: [], duration_ms: 0 },
  status: 'completed',
});
assert.equal(billed.cost_json.pricing?.source, 'reported');

await ledger.close();
