import assert from 'node:assert/strict';
import { CostManager, toExecutionCost } from 'execution-ledger';

const costs = new CostManager(); // the built-in prices, DEFAULT_PRICES
costs.createExecution('run-42', 'backend', 5000); // a $50.00 budget

costs.accountTokens('run-42', 10_000, 15_000); // the table's default model, gpt-4o
costs.accountTokens('run-42', 120_000, 2_000, { model: 'claude-sonnet-4', cachedInputTokens: 100_000 });
costs.accountToolCall('run-42', 'deployService');
costs.accountExternalRequest('run-42', 'stripe', 3);
costs.accountPenalty('run-42', 'retried a failed deploy', 25);

const metrics = costs.getMetrics('run-42');
assert.equal(metrics.tokensCost, 29.5); // 2.5 + 15 for gpt-4o; 6 + 3 + 3 for claude-sonnet-4
assert.equal(metrics.totalCost, 58.5); // 29.5 + 1 + 3 + 25 cents
assert.equal(metrics.inputTokens, 130_000); // cached tokens are part of the input, counted once
assert.equal(metrics.remaining, 4941.5);

const cost = toExecutionCost(metrics); // what recordExecution takes as `cost`
assert.deepEqual(cost.breakdown, { tokens: 29.5, toolCalls: 1, externalRequests: 3, penalties: 25 });
assert.equal(cost.total, 58.5);
assert.deepEqual(cost.pricing, {
  source: 'computed',
  price_table_version: 'default-2025-06',
  unit: 'cents',
  rounding:
    'tokens x cents per million / 1,000,000 on the run total of each model and token kind, half up to 0.000001 cent',
  models: {
    'gpt-4o': {
      input_tokens: 10_000,
      cached_input_tokens: 0,
      output_tokens: 15_000,
      input_cents_per_million: 250,
      cached_input_cents_per_million: 125,
      output_cents_per_million: 1000,
      cost: 17.5,
    },
    'claude-sonnet-4': {
      input_tokens: 120_000,
      cached_input_tokens: 100_000,
      output_tokens: 2_000,
      input_cents_per_million: 300,
      cached_input_cents_per_million: 30,
      output_cents_per_million: 1500,
      cost: 12,
    },
  },
  tool_calls: { deployService: { priced_as: '*', count: 1, cents_each: 1, cost: 1 } },
  external_requests: { stripe: { priced_as: '*', count: 3, cents_each: 1, cost: 3 } },
  penalties: { 'retried a failed deploy': { count: 1, cost: 25 } },
});

costs.endExecution('run-42'); // frees the run once it is recorded
