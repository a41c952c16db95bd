import { describeEachEngine, present } from '@execution-ledger/test-support';
import {
  BudgetExceededError,
  type CostManagerOptions,
  getCostManager,
  getExecutionByRunId,
  initializeCostManager,
  initializeExecutionLedger,
  recordExecution,
} from 'execution-ledger';
import { beforeAll, expect, it } from 'vitest';
import { centsToMicros } from '../src/money.js';

/**
 * The specification's "Integration with Cost Manager" example as written, with the import path
 * adjusted, the elided parts filled in, and the project and budget as parameters so that the
 * same code takes the success path and both failure paths.
 */
async function seedIntegration(projectId: string, budgetCents: number): Promise<string> {
  // During execution
  const costManager = getCostManager();
  const runId = `run-${Date.now()}-${projectId}`;

  costManager.createExecution(runId, 'backend', budgetCents); // $50 budget

  try {
    // Execute operations
    costManager.accountTokens(runId, 10000, 15000);
    costManager.accountToolCall(runId, 'deployService');
    costManager.accountExternalRequest(runId, 'stripe', 3);

    // Check budget
    if (costManager.isBudgetExceeded(runId)) {
      const metrics = costManager.getMetrics(runId);
      throw new BudgetExceededError(runId, present(metrics.budget), metrics.totalCost);
    }

    // Record successful execution
    const metrics = costManager.getMetrics(runId);
    await recordExecution({
      run_id: runId,
      project_id: projectId,
      user_id: 'user-001',
      agent_id: 'backend',
      intent: 'Deploy service',
      input: { service: 'user-api' },
      output: { deployed: true },
      cost: {
        total: metrics.totalCost,
        breakdown: {
          tokens: metrics.tokensCost,
          toolCalls: metrics.toolCallsCost,
          externalRequests: metrics.externalRequestsCost,
          penalties: metrics.penaltiesCost,
        },
      },
      execution_trace: { steps: [{ action: 'deploy_service', duration_ms: 1200 }], duration_ms: 1200 },
      status: 'completed',
    });
  } catch (error) {
    await recordExecution({
      run_id: runId,
      project_id: projectId,
      user_id: 'user-001',
      agent_id: 'backend',
      intent: 'Deploy service',
      input: { service: 'user-api' },
      cost: costManager.getMetrics(runId).totalCost,
      execution_trace: { steps: [{ action: 'deploy_service', duration_ms: 300 }], duration_ms: 300 },
      status: 'failed',
      error_message: (error as Error).message,
    });
  }
  return runId;
}

const micros = (cents: number) => centsToMicros(cents, 'amount', 1e12);

describeEachEngine('the specification’s Cost Manager integration', (context) => {
  beforeAll(() => {
    initializeExecutionLedger(context.ledger);
  });

  async function runWith(options: CostManagerOptions, budgetCents: number) {
    initializeCostManager(options);
    const runId = await seedIntegration(context.project('proj-001'), budgetCents);
    const record = await getExecutionByRunId(runId);
    expect(record).not.toBeNull();
    return { runId, record: present(record) };
  }

  it('records a completed run whose stored breakdown adds up exactly to its total', async () => {
    const { runId, record } = await runWith({}, 5000);
    expect(record.status).toBe('completed');
    expect(record.cost_json).toEqual({
      total: 21.5,
      breakdown: { tokens: 17.5, toolCalls: 1, externalRequests: 3, penalties: 0 },
    });
    const parts = Object.values(record.cost_json.breakdown).reduce(
      (sum, part) => sum + micros(present(part)),
      0n,
    );
    expect(parts).toBe(micros(record.cost_json.total));
    expect(getCostManager().getMetrics(runId).totalCost).toBe(record.cost_json.total);
  });

  it("records a failed run when isBudgetExceeded says so under enforce: 'check'", async () => {
    const { record } = await runWith({ enforce: 'check' }, 20);
    expect(record.status).toBe('failed');
    expect(record.error_message).toContain('Allocated: $0.20, Spent: $0.215');
    expect(record.cost_json).toEqual({ total: 21.5, breakdown: {} });
  });

  it("records a failed run when the charge itself raises under enforce: 'throw'", async () => {
    const { runId, record } = await runWith({ enforce: 'throw' }, 10);
    expect(record.status).toBe('failed');
    expect(record.error_message).toContain('is over its budget. Allocated: $0.10, Spent: $0.175');
    // The first charge crossed the budget, so the tool call and requests were never made.
    expect(getCostManager().getMetrics(runId)).toMatchObject({ totalCost: 17.5, toolCalls: 0 });
    expect(record.cost_json.total).toBe(17.5);
  });
});
