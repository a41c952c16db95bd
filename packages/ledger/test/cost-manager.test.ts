import { randomUUID } from 'node:crypto';
import { expectLedgerErrorSync, makeExecution } from '@execution-ledger/test-support';
import {
  CostManager,
  DEFAULT_LIMITS,
  getCostManager,
  initializeCostManager,
  toExecutionCost,
} from 'execution-ledger';
import { normalizeExecution } from 'execution-ledger/validation';
import { describe, expect, it } from 'vitest';
import { centsToMicros } from '../src/money.js';

function openRun(manager = new CostManager(), budgetCents: number | null = null) {
  const runId = `run-${randomUUID()}`;
  manager.createExecution(runId, 'backend', budgetCents);
  return { manager, runId };
}

describe('CostManager', () => {
  it("prices the specification's calls from the default table, exactly", () => {
    const { manager, runId } = openRun(new CostManager(), 5000);
    manager.accountTokens(runId, 10_000, 15_000);
    manager.accountToolCall(runId, 'deployService');
    manager.accountExternalRequest(runId, 'stripe', 3);
    const metrics = manager.getMetrics(runId);
    // gpt-4o (the default model): 10,000 × 250 / 1M + 15,000 × 1,000 / 1M = 2.5 + 15 cents.
    expect(metrics).toMatchObject({
      tokensCost: 17.5,
      toolCallsCost: 1,
      externalRequestsCost: 3,
      penaltiesCost: 0,
      totalCost: 21.5,
      inputTokens: 10_000,
      cachedInputTokens: 0,
      outputTokens: 15_000,
      toolCalls: 1,
      externalRequests: 3,
      penalties: 0,
      budget: 5000,
      reserved: 0,
      remaining: 4978.5,
      budgetExceeded: false,
      priceTableVersion: 'default-2025-06',
    });
  });

  it('counts cached input tokens once, at the cached price, as part of inputTokens', () => {
    const { manager, runId } = openRun();
    manager.accountTokens(runId, 1_000_000, 0, { model: 'gpt-4o', cachedInputTokens: 400_000 });
    const metrics = manager.getMetrics(runId);
    // 600,000 uncached × 250 / 1M + 400,000 cached × 125 / 1M; counting the cached ones twice would give 300.
    expect(metrics.tokensCost).toBe(200);
    expect(metrics.inputTokens).toBe(1_000_000);
    expect(metrics.cachedInputTokens).toBe(400_000);
    expect(metrics.pricing.models).toEqual({
      'gpt-4o': {
        input_tokens: 1_000_000,
        cached_input_tokens: 400_000,
        output_tokens: 0,
        input_cents_per_million: 250,
        cached_input_cents_per_million: 125,
        output_cents_per_million: 1000,
        cost: 200,
      },
    });
  });

  it('prices a model without a cached price at its input price', () => {
    const manager = new CostManager({
      prices: { version: 'v1', models: { m: { inputCentsPerMillion: 100, outputCentsPerMillion: 300 } } },
    });
    const { runId } = openRun(manager);
    manager.accountTokens(runId, 2_000_000, 1_000_000, { model: 'm', cachedInputTokens: 1_000_000 });
    expect(manager.getMetrics(runId).tokensCost).toBe(500);
  });

  it('sums one million charges of 0.000001 cents to exactly 1 cent, where floats drift', () => {
    const { manager, runId } = openRun();
    let floatSum = 0;
    for (let index = 0; index < 1_000_000; index += 1) {
      manager.accountPenalty(runId, 'micro', 0.000001);
      floatSum += 0.000001;
    }
    const metrics = manager.getMetrics(runId);
    expect(metrics.penaltiesCost).toBe(1);
    expect(metrics.totalCost).toBe(1);
    expect(metrics.penalties).toBe(1_000_000);
    expect(floatSum).not.toBe(1);
  });

  it('rounds tokens once on the run total, so splitting a call into many charges costs the same', () => {
    const whole = openRun();
    whole.manager.accountTokens(whole.runId, 1000, 1000, { model: 'gpt-4o-mini', cachedInputTokens: 333 });
    const split = openRun();
    for (let index = 0; index < 1000; index += 1) {
      split.manager.accountTokens(split.runId, 1, 1, {
        model: 'gpt-4o-mini',
        cachedInputTokens: index < 333 ? 1 : 0,
      });
    }
    // 667 × 15 / 1M + 333 × 7.5 / 1M + 1000 × 60 / 1M = 0.010005 + 0.0024975 (→ 0.002498) + 0.06 cents.
    expect(whole.manager.getMetrics(whole.runId).tokensCost).toBe(0.072503);
    expect(split.manager.getMetrics(split.runId).tokensCost).toBe(0.072503);
  });

  it('turns metrics into a ledger cost whose breakdown the ledger accepts as summing to its total', () => {
    const { manager, runId } = openRun();
    manager.accountTokens(runId, 12_345, 6_789, { model: 'claude-sonnet-4', cachedInputTokens: 1_111 });
    manager.accountToolCall(runId, 'search');
    manager.accountPenalty(runId, 'retry storm', 0.333333);
    const cost = toExecutionCost(manager.getMetrics(runId));
    const parts = Object.values(cost.breakdown).map((part) => centsToMicros(part, 'part', 1e12));
    expect(parts.reduce((sum, part) => sum + part, 0n)).toBe(centsToMicros(cost.total, 'total', 1e12));
    const normalized = normalizeExecution(makeExecution('proj-x', { cost }), DEFAULT_LIMITS);
    expect(normalized.cost_json.pricing).toMatchObject({
      source: 'computed',
      price_table_version: 'default-2025-06',
    });
  });

  it('keeps a tool named "__proto__" as an ordinary name priced by the fallback', () => {
    const { manager, runId } = openRun();
    manager.accountToolCall(runId, '__proto__');
    const toolCalls = manager.getMetrics(runId).pricing.tool_calls as Record<string, unknown>;
    expect(Object.keys(toolCalls)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(toolCalls)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(toolCalls, '__proto__')?.value).toEqual({
      priced_as: '*',
      count: 1,
      cents_each: 1,
      cost: 1,
    });
  });

  it('frees a run with endExecution, returning its final metrics, and refuses its later charges', () => {
    const { manager, runId } = openRun();
    manager.accountToolCall(runId, 'deploy');
    expect(manager.endExecution(runId).totalCost).toBe(1);
    expect(manager.hasExecution(runId)).toBe(false);
    expectLedgerErrorSync(() => manager.accountToolCall(runId, 'deploy'), 'NOT_FOUND');
  });

  it('gives one process-wide manager until initializeCostManager replaces it', () => {
    const first = getCostManager();
    expect(getCostManager()).toBe(first);
    const replaced = initializeCostManager({ enforce: 'check' });
    expect(getCostManager()).toBe(replaced);
    expect(replaced.enforce).toBe('check');
  });
});

describe('CostManager refuses bad input and changes nothing', () => {
  function withRun() {
    const { manager, runId } = openRun(new CostManager({ runsOpenMax: 3 }), 100);
    manager.accountTokens(runId, 10, 10);
    return { manager, runId, before: manager.getMetrics(runId) };
  }

  it('names an unknown run id with NOT_FOUND', () => {
    const { manager, runId, before } = withRun();
    const error = expectLedgerErrorSync(() => manager.accountTokens('run-unknown', 1, 1), 'NOT_FOUND');
    expect(error.message).toContain('createExecution(runId, agentId');
    expectLedgerErrorSync(() => manager.getMetrics('run-unknown'), 'NOT_FOUND');
    expect(manager.getMetrics(runId)).toEqual(before);
  });

  it.each([
    ['a negative count', -1],
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['a string', '10'],
    ['more than a trillion', 1e12 + 1],
  ])('refuses %s of tokens with VALIDATION_FAILED naming the field', (_name, tokens) => {
    const { manager, runId, before } = withRun();
    const error = expectLedgerErrorSync(
      () => manager.accountTokens(runId, tokens as number, 1),
      'VALIDATION_FAILED',
    );
    expect(error.field).toBe('inputTokens');
    expect(error.message).toMatch(/^inputTokens must be a whole number from 0 to/);
    expectLedgerErrorSync(() => manager.accountTokens(runId, 1, tokens as number), 'VALIDATION_FAILED');
    expect(manager.getMetrics(runId)).toEqual(before);
  });

  it('refuses more cached tokens than input tokens, explaining that cached ones are part of the input', () => {
    const { manager, runId, before } = withRun();
    const error = expectLedgerErrorSync(
      () => manager.accountTokens(runId, 10, 0, { cachedInputTokens: 11 }),
      'VALIDATION_FAILED',
    );
    expect(error.message).toContain('pass inputTokens including them');
    expect(manager.getMetrics(runId)).toEqual(before);
  });

  it('refuses a model with no price and no fallback with PRICE_NOT_FOUND', () => {
    const { manager, runId, before } = withRun();
    const error = expectLedgerErrorSync(
      () => manager.accountTokens(runId, 1, 1, { model: 'gpt-9' }),
      'PRICE_NOT_FOUND',
    );
    expect(error.message).toContain('"gpt-9" has no price in table "default-2025-06"');
    expect(manager.getMetrics(runId)).toEqual(before);
  });

  it('refuses a charge without a model when the table has no default model', () => {
    const manager = new CostManager({
      prices: { version: 'v1', models: { m: { inputCentsPerMillion: 1, outputCentsPerMillion: 1 } } },
    });
    const { runId } = openRun(manager);
    const error = expectLedgerErrorSync(() => manager.accountTokens(runId, 1, 1), 'PRICE_NOT_FOUND');
    expect(error.message).toContain('pass { model }');
    expect(manager.getMetrics(runId).tokensCost).toBe(0);
  });

  it('refuses to open a run id twice with RUN_ID_CONFLICT', () => {
    const { manager, runId, before } = withRun();
    expectLedgerErrorSync(() => manager.createExecution(runId, 'backend', 999), 'RUN_ID_CONFLICT');
    expect(manager.getMetrics(runId)).toEqual(before);
  });

  it('refuses a run past runsOpenMax with TOO_MANY_RUNS until one ends', () => {
    const { manager, runId } = withRun();
    manager.createExecution('run-2', 'backend');
    manager.createExecution('run-3', 'backend');
    const error = expectLedgerErrorSync(() => manager.createExecution('run-4', 'backend'), 'TOO_MANY_RUNS');
    expect(error.message).toContain('endExecution(runId)');
    expect(manager.hasExecution('run-4')).toBe(false);
    manager.endExecution(runId);
    manager.createExecution('run-4', 'backend');
    expect(manager.hasExecution('run-4')).toBe(true);
  });

  it('refuses bad budgets, enforcement modes, penalties and names with VALIDATION_FAILED', () => {
    const { manager, runId, before } = withRun();
    expect(
      expectLedgerErrorSync(() => manager.createExecution('run-b', 'a', -5), 'VALIDATION_FAILED').field,
    ).toBe('budgetCents');
    expect(
      expectLedgerErrorSync(
        () => manager.createExecution('run-b', 'a', 5, { enforce: 'warn' as 'check' }),
        'VALIDATION_FAILED',
      ).field,
    ).toBe('options.enforce');
    expect(manager.hasExecution('run-b')).toBe(false);
    expectLedgerErrorSync(() => manager.accountPenalty(runId, '', 5), 'VALIDATION_FAILED');
    expectLedgerErrorSync(() => manager.accountPenalty(runId, 'late', 0.0000001), 'VALIDATION_FAILED');
    expectLedgerErrorSync(() => manager.accountToolCall(runId, ' padded '), 'VALIDATION_FAILED');
    expectLedgerErrorSync(() => manager.accountExternalRequest(runId, 'stripe', -2), 'VALIDATION_FAILED');
    expect(manager.getMetrics(runId)).toEqual(before);
  });

  it('refuses a charge that would take one run past $10M, beyond exact JS numbers', () => {
    const { manager, runId, before } = withRun();
    manager.createExecution('run-big', 'backend', null, { enforce: 'check' });
    manager.accountPenalty('run-big', 'large', 999_999_999);
    const error = expectLedgerErrorSync(
      () => manager.accountPenalty('run-big', 'large', 1),
      'VALIDATION_FAILED',
    );
    expect(error.message).toContain('split the work into several runs');
    expect(manager.getMetrics('run-big').totalCost).toBe(999_999_999);
    expect(manager.getMetrics(runId)).toEqual(before);
  });

  it('refuses a thousand and first distinct name in one run with PAYLOAD_TOO_LARGE', () => {
    const { manager, runId } = openRun();
    for (let index = 0; index < 1000; index += 1) manager.accountToolCall(runId, `tool-${index}`);
    const before = manager.getMetrics(runId);
    expectLedgerErrorSync(() => manager.accountToolCall(runId, 'tool-1000'), 'PAYLOAD_TOO_LARGE');
    manager.accountToolCall(runId, 'tool-0');
    expect(manager.getMetrics(runId).toolCalls).toBe(before.toolCalls + 1);
  });
});
