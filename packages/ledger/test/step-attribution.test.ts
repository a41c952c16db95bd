import { setTimeout as sleep } from 'node:timers/promises';
import { describeEachEngine, expectLedgerRejection, present } from '@execution-ledger/test-support';
import { BudgetExceededError, CostManager, type ExecutionRecord, type RunOptions } from 'execution-ledger';
import { expect, it } from 'vitest';
import { centsToMicros } from '../src/money.js';

const PRICES = {
  version: 'attribution-test',
  defaultModel: 'big',
  // Prices that leave fractions of a micro-cent per token, so per-charge rounding would drift.
  models: {
    big: {
      inputCentsPerMillion: 250.000001,
      cachedInputCentsPerMillion: 125,
      outputCentsPerMillion: 1000.333333,
    },
    small: { inputCentsPerMillion: 15.5, cachedInputCentsPerMillion: 7.7, outputCentsPerMillion: 60.1 },
  },
  toolCallCents: { deploy: 12.5, '*': 1 },
  externalRequestCents: { stripe: 0.3, '*': 2 },
};

const micros = (cents: unknown) => centsToMicros(cents, 'amount', 1e12);

function stepSum(record: ExecutionRecord): bigint {
  return record.execution_trace_json.steps.reduce(
    (sum, step) => sum + (step.cost === undefined ? 0n : micros(step.cost)),
    0n,
  );
}

describeEachEngine('cost by step', (context) => {
  const options = (overrides: Partial<RunOptions> = {}): RunOptions => ({
    project_id: context.project(),
    user_id: 'user-001',
    agent_id: 'backend',
    intent: 'Deploy service',
    input: { service: 'user-api' },
    prices: PRICES,
    ...overrides,
  });
  const stored = async (runId: string) => present(await context.ledger.getExecutionByRunId(runId));

  it('gives each charge to the step it was made in, and the steps add up to the total exactly', async () => {
    const result = await context.ledger.run(options(), async (ctx) => {
      await ctx.step('plan', () => {
        for (let call = 0; call < 7; call += 1)
          ctx.accountTokens(333, 77, { model: 'big', cachedInputTokens: 11 });
      });
      await ctx.step('deploy_service', () => ctx.accountToolCall('deploy'));
      await ctx.step('charge_card', () => ctx.accountExternalRequest('stripe', 3));
      await ctx.step('summarise', () => ctx.accountTokens(1001, 333, { model: 'small' }));
      await ctx.step('audit', () => ctx.accountPenalty('late answer', 0.000007));
      await ctx.step('idle', () => undefined);
      // Outside every step: a tool call, more tokens of a model a step used, and a penalty.
      ctx.accountToolCall('lint');
      ctx.accountTokens(5, 5, { model: 'big' });
      ctx.accountPenalty('retry', 1);
      return 'ok';
    });
    const record = await stored(present(result.record).run_id);
    expect(stepSum(record)).toBe(micros(record.cost_json.total));
    const steps = record.execution_trace_json.steps;
    expect(steps.map((step) => [step.action, step.kind, step.name, step.model])).toEqual([
      ['plan', 'llm', 'big', 'big'],
      ['deploy_service', 'tool', 'deploy', undefined],
      ['charge_card', 'external', 'stripe', undefined],
      ['summarise', 'llm', 'small', 'small'],
      ['audit', 'other', undefined, undefined],
      ['idle', undefined, undefined, undefined],
      ['outside_steps', 'llm', 'big', 'big'],
      ['outside_steps', 'tool', 'lint', undefined],
      ['outside_steps', 'other', 'penalties', undefined],
    ]);
    expect(steps[0]).toMatchObject({ tokens: { input: 2331, output: 539, cached_input: 77 }, status: 'ok' });
    expect(steps[1]).toMatchObject({ cost: 12.5, started_ms: expect.any(Number) });
    expect(present(steps[2]).cost).toBe(0.9);
    expect(present(steps[4]).cost).toBe(0.000007);
    expect(present(steps[5]).cost).toBe(0);
    expect(present(steps[8]).cost).toBe(1);
    // The tokens of 'big' were priced once on the run's total; the two steps share it exactly.
    const bigPricing = present(
      (record.cost_json.pricing as unknown as { models: Record<string, { cost: number }> }).models.big,
    );
    expect(micros(present(steps[0]).cost) + micros(present(steps[6]).cost)).toBe(micros(bigPricing.cost));
  });

  it('keeps concurrent steps apart, and gives a nested step its own charges', async () => {
    const result = await context.ledger.run(options(), async (ctx) => {
      await Promise.all(
        Array.from({ length: 12 }, (_, index) =>
          ctx.step(`call_${index}`, async () => {
            await sleep(index % 3);
            ctx.accountToolCall(`tool_${index}`);
            await sleep(1);
            ctx.accountExternalRequest(`service_${index}`, index + 1);
          }),
        ),
      );
      await ctx.step('outer', async () => {
        ctx.accountToolCall('outer_tool');
        await ctx.step('inner', async () => ctx.accountTokens(100, 10, { model: 'small' }));
      });
    });
    const record = await stored(present(result.record).run_id);
    const steps = record.execution_trace_json.steps;
    for (let index = 0; index < 12; index += 1) {
      const step = present(steps.find((candidate) => candidate.action === `call_${index}`));
      expect(step).toMatchObject({ kind: 'tool', name: `tool_${index}`, cost: 1 + 2 * (index + 1) });
    }
    expect(steps.find((step) => step.action === 'outer')).toMatchObject({
      kind: 'tool',
      name: 'outer_tool',
      cost: 1,
    });
    expect(steps.find((step) => step.action === 'inner')).toMatchObject({ kind: 'llm', model: 'small' });
    expect(stepSum(record)).toBe(micros(record.cost_json.total));
  });

  it('takes a kind, name and model given to the step over the inferred ones', async () => {
    const result = await context.ledger.run(options(), async (ctx) => {
      await ctx.step(
        'write_release_notes',
        () => {
          ctx.accountTokens(10, 10, { model: 'big' });
          ctx.accountToolCall('search');
        },
        { kind: 'agent', name: 'writer' },
      );
    });
    const step = (await stored(present(result.record).run_id)).execution_trace_json.steps[0];
    expect(step).toMatchObject({ kind: 'agent', name: 'writer', model: 'big' });
  });

  it('refuses bad step labels before the step runs', async () => {
    await context.ledger
      .run(options(), async (ctx) => {
        let ran = false;
        await expectLedgerRejection(
          ctx.step('x', () => (ran = true), { kind: 'robot' as 'tool' }),
          'VALIDATION_FAILED',
        );
        await expectLedgerRejection(
          ctx.step('x', () => (ran = true), { name: ' padded' }),
          'VALIDATION_FAILED',
        );
        expect(ran).toBe(false);
      })
      .catch(() => undefined);
  });

  it('gives the charge that passes the budget to its step, and the aborted record still adds up', async () => {
    const runOptions = options({ run_id: `run-budget-${context.project()}`, budgetCents: 20 });
    const thrown = await context.ledger
      .run(runOptions, async (ctx) => {
        await ctx.step('first', () => ctx.accountToolCall('deploy'));
        await ctx.step('second', () => ctx.accountToolCall('deploy'));
      })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(BudgetExceededError);
    const record = await stored(present(runOptions.run_id));
    expect(record.status).toBe('aborted');
    expect(record.execution_trace_json.steps.map((step) => [step.action, step.cost, step.status])).toEqual([
      ['first', 12.5, 'ok'],
      ['second', 12.5, 'error'],
    ]);
    expect(stepSum(record)).toBe(micros(record.cost_json.total));
  });

  it('gives the seed-style integration per-step cost through getOutsideSteps', async () => {
    const costManager = new CostManager({ prices: PRICES });
    const runId = `run-seed-${context.project()}`;
    costManager.createExecution(runId, 'backend', 5000);
    costManager.accountTokens(runId, 10000, 15000);
    costManager.accountToolCall(runId, 'deployService');
    costManager.accountExternalRequest(runId, 'stripe', 3);
    const metrics = costManager.getMetrics(runId);
    const steps = costManager.getOutsideSteps(runId);
    costManager.endExecution(runId);
    const record = await context.ledger.recordExecution({
      run_id: runId,
      project_id: context.project(),
      user_id: 'user-001',
      agent_id: 'backend',
      intent: 'Deploy service',
      input: {},
      cost: metrics.totalCost,
      execution_trace: { steps, duration_ms: 10 },
      status: 'completed',
    });
    expect(record.execution_trace_json.steps.map((step) => [step.kind, step.name])).toEqual([
      ['llm', 'big'],
      ['tool', 'deployService'],
      ['external', 'stripe'],
    ]);
    expect(stepSum(record)).toBe(micros(metrics.totalCost));
  });

  it('attributes direct CostManager charges made inside a step of ledger.run to that step', async () => {
    const costManager = new CostManager({ prices: PRICES });
    const { prices: _prices, ...withoutPrices } = options();
    const result = await context.ledger.run({ ...withoutPrices, costManager }, async (ctx) => {
      await ctx.step('deploy', async () => {
        await sleep(1);
        costManager.accountToolCall(ctx.runId, 'deploy');
      });
    });
    const steps = (await stored(present(result.record).run_id)).execution_trace_json.steps;
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ kind: 'tool', name: 'deploy', cost: 12.5 });
  });
});
