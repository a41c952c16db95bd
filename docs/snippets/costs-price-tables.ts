import assert from 'node:assert/strict';
import {
  CostManager,
  DEFAULT_PRICE_TABLE,
  extendPriceTable,
  initializeCostManager,
  isLedgerError,
  loadPriceTableFile,
} from 'execution-ledger';

// A table from a JSON file, validated when it is loaded.
const acme = await loadPriceTableFile(new URL('./costs-acme-prices.json', import.meta.url));
const costs = initializeCostManager({ prices: acme }); // getCostManager() now returns this manager

costs.createExecution('run-7', 'backend');
costs.accountTokens('run-7', 1_000_000, 100_000, { cachedInputTokens: 500_000 }); // house-model
costs.accountTokens('run-7', 1_000, 1_000, { model: 'a-model-not-listed' }); // priced by "*"
costs.accountToolCall('run-7', 'deployService');
const { pricing, tokensCost } = costs.getMetrics('run-7');
assert.equal(tokensCost, 50 + 5 + 40 + 1 + 3);
assert.equal(pricing.price_table_version, 'acme-2026-02');
assert.equal(
  (pricing.models as Record<string, { priced_as?: string }>)['a-model-not-listed']?.priced_as,
  '*',
);

// No price and no "*" entry: PRICE_NOT_FOUND, and the run is unchanged.
assert.throws(
  () => costs.accountExternalRequest('run-7', 'twilio'),
  (error) => isLedgerError(error, 'PRICE_NOT_FOUND'),
);

// The built-in prices with a few of your own, under a version of your own.
const negotiated = extendPriceTable(DEFAULT_PRICE_TABLE, {
  version: 'default-2025-06+acme-discount',
  models: {
    'gpt-4o': { inputCentsPerMillion: 200, cachedInputCentsPerMillion: 100, outputCentsPerMillion: 800 },
  },
});
const discounted = new CostManager({ prices: negotiated });
discounted.createExecution('run-8', 'backend');
discounted.accountTokens('run-8', 10_000, 15_000);
assert.equal(discounted.getMetrics('run-8').tokensCost, 14);

// A mistake in a table names the field and the fix.
assert.throws(
  () => new CostManager({ prices: { version: 'v2', toolCallCents: { deployService: -1 } } }),
  /prices\.toolCallCents\["deployService"\] must be zero or more/,
);
