import assert from 'node:assert/strict';
import { BudgetExceededError, CostManager } from 'execution-ledger';

const prices = { version: 'pennies', externalRequestCents: { '*': 1 } };
const costs = new CostManager({ prices }); // enforce: 'throw' is the default

// 'throw': the charge that crosses the budget is counted, then raises.
costs.createExecution('run-hard', 'devops', 5000);
costs.accountExternalRequest('run-hard', 'cloud-api', 4000);
try {
  costs.accountExternalRequest('run-hard', 'cloud-api', 6000);
  assert.fail('the crossing charge raises');
} catch (error) {
  assert.ok(error instanceof BudgetExceededError);
  assert.equal(error.code, 'BUDGET_EXCEEDED');
  assert.equal(error.allocatedCents, 5000);
  assert.equal(error.spentCents, 10000);
  assert.equal(error.abortMessage, 'Execution aborted: Budget exceeded. Allocated: $50.00, Spent: $100.00');
}
assert.throws(() => costs.accountExternalRequest('run-hard', 'cloud-api'), BudgetExceededError); // and every later one

// 'check': nothing raises; the run reports where it stands.
costs.createExecution('run-soft', 'devops', 5000, { enforce: 'check' });
costs.accountExternalRequest('run-soft', 'cloud-api', 10000);
assert.equal(costs.isBudgetExceeded('run-soft'), true);
assert.equal(costs.getMetrics('run-soft').remaining, -5000);

// Reserve before work whose cost is estimated; settle once its real cost is charged.
costs.createExecution('run-reserved', 'backend', 100);
const hold = costs.reserve('run-reserved', 80);
assert.throws(() => costs.reserve('run-reserved', 30), BudgetExceededError); // 80 + 30 > 100: refused, nothing held
costs.accountExternalRequest('run-reserved', 'llm', 65);
costs.settle(hold);
assert.deepEqual(
  [costs.getMetrics('run-reserved').totalCost, costs.getMetrics('run-reserved').remaining],
  [65, 35],
);
