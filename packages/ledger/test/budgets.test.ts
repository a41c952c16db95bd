import { setTimeout as sleep } from 'node:timers/promises';
import { expectLedgerErrorSync } from '@execution-ledger/test-support';
import { BudgetExceededError, CostManager, LedgerError } from 'execution-ledger';
import { describe, expect, it } from 'vitest';

// One cent per tool call and per request, so spend in these tests is a plain count.
const PENNY_PRICES = { version: 'pennies', toolCallCents: { '*': 1 }, externalRequestCents: { '*': 1 } };

function budgeted(budgetCents: number, enforce: 'throw' | 'check' = 'throw') {
  const manager = new CostManager({ prices: PENNY_PRICES, enforce });
  manager.createExecution('run-1', 'backend', budgetCents);
  return manager;
}

describe("budgets under enforce: 'throw'", () => {
  it('raises at the charge that crosses the budget, counting that charge, with allocated and spent', () => {
    const manager = budgeted(5000);
    manager.accountExternalRequest('run-1', 'audit', 5000);
    expect(manager.isBudgetExceeded('run-1')).toBe(false);
    const error = expectLedgerErrorSync(
      () => manager.accountExternalRequest('run-1', 'audit', 5000),
      'BUDGET_EXCEEDED',
    );
    expect(error).toBeInstanceOf(BudgetExceededError);
    const budgetError = error as BudgetExceededError;
    expect([budgetError.allocatedCents, budgetError.spentCents, budgetError.runId]).toEqual([
      5000,
      10000,
      'run-1',
    ]);
    expect(budgetError.statusCode).toBe(402);
    expect(budgetError.message).toContain('Allocated: $50.00, Spent: $100.00');
    expect(budgetError.abortMessage).toBe(
      'Execution aborted: Budget exceeded. Allocated: $50.00, Spent: $100.00',
    );
    expect(manager.getMetrics('run-1')).toMatchObject({
      totalCost: 10000,
      remaining: -5000,
      budgetExceeded: true,
    });
  });

  it('keeps raising on every later charge, so no task can spend on unnoticed', () => {
    const manager = budgeted(1);
    manager.accountToolCall('run-1', 'a');
    expectLedgerErrorSync(() => manager.accountToolCall('run-1', 'b'), 'BUDGET_EXCEEDED');
    expectLedgerErrorSync(() => manager.accountPenalty('run-1', 'nothing', 0), 'BUDGET_EXCEEDED');
  });

  it('treats spend equal to the budget as within it', () => {
    const manager = budgeted(3);
    manager.accountExternalRequest('run-1', 'api', 3);
    expect(manager.isBudgetExceeded('run-1')).toBe(false);
    expect(manager.getMetrics('run-1').remaining).toBe(0);
  });

  it('shows a sub-cent overspend in the message instead of rounding it away', () => {
    const manager = budgeted(1);
    manager.accountToolCall('run-1', 'a');
    const error = expectLedgerErrorSync(
      () => manager.accountPenalty('run-1', 'tiny', 0.000001),
      'BUDGET_EXCEEDED',
    );
    expect((error as BudgetExceededError).abortMessage).toContain('Allocated: $0.01, Spent: $0.01000001');
  });

  it('lets many concurrent async tasks spend exactly up to the budget and raises for every charge past it', async () => {
    const manager = budgeted(100);
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, async (_, index) => {
        await sleep(index % 7);
        try {
          manager.accountToolCall('run-1', 'work');
          return 'charged';
        } catch (error) {
          return error;
        }
      }),
    );
    const refusals = outcomes.filter((outcome) => outcome !== 'charged');
    expect(outcomes.length - refusals.length).toBe(100);
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(BudgetExceededError);
      expect((refusal as BudgetExceededError).spentCents).toBeGreaterThan(100);
    }
    expect(manager.getMetrics('run-1').totalCost).toBe(200);
  });
});

describe("budgets under enforce: 'check'", () => {
  it('never raises, and reports the overspend through isBudgetExceeded and remaining', () => {
    const manager = budgeted(10, 'check');
    manager.accountExternalRequest('run-1', 'api', 25);
    expect(manager.isBudgetExceeded('run-1')).toBe(true);
    expect(manager.getMetrics('run-1')).toMatchObject({ totalCost: 25, remaining: -15, enforce: 'check' });
  });

  it('is chosen per run, over the manager default', () => {
    const manager = new CostManager({ prices: PENNY_PRICES, enforce: 'check' });
    manager.createExecution('hard', 'backend', 1, { enforce: 'throw' });
    manager.accountToolCall('hard', 'a');
    expectLedgerErrorSync(() => manager.accountToolCall('hard', 'b'), 'BUDGET_EXCEEDED');
  });
});

describe('reservations', () => {
  it('hold budget before the work and are released by settle', () => {
    const manager = budgeted(100);
    const hold = manager.reserve('run-1', 60);
    expect(hold).toMatchObject({ runId: 'run-1', cents: 60, withinBudget: true });
    expect(manager.getMetrics('run-1')).toMatchObject({ reserved: 60, remaining: 40 });
    manager.accountExternalRequest('run-1', 'api', 55);
    manager.settle(hold);
    expect(manager.getMetrics('run-1')).toMatchObject({ reserved: 0, totalCost: 55, remaining: 45 });
  });

  it('refuse work the run cannot afford with BUDGET_EXCEEDED and hold nothing', () => {
    const manager = budgeted(100);
    manager.accountExternalRequest('run-1', 'api', 30);
    manager.reserve('run-1', 50);
    const before = manager.getMetrics('run-1');
    const error = expectLedgerErrorSync(
      () => manager.reserve('run-1', 21),
      'BUDGET_EXCEEDED',
    ) as BudgetExceededError;
    expect([error.requestedCents, error.reservedCents, error.spentCents]).toEqual([21, 50, 30]);
    expect(error.message).toContain('cannot reserve $0.21. Allocated: $1.00, Spent: $0.30, Reserved: $0.50');
    expect(manager.getMetrics('run-1')).toEqual(before);
  });

  it("are granted under 'check' but say they do not fit", () => {
    const manager = budgeted(10, 'check');
    expect(manager.reserve('run-1', 11).withinBudget).toBe(false);
    expect(manager.getMetrics('run-1').remaining).toBe(-1);
  });

  it('refuse a second settle of the same reservation, and a copy of one', () => {
    const manager = budgeted(100);
    const hold = manager.reserve('run-1', 10);
    expectLedgerErrorSync(() => manager.settle({ ...hold }), 'VALIDATION_FAILED');
    expect(manager.getMetrics('run-1').reserved).toBe(10);
    manager.settle(hold);
    const error = expectLedgerErrorSync(() => manager.settle(hold), 'VALIDATION_FAILED');
    expect(error.field).toBe('reservation');
    expect(manager.getMetrics('run-1').reserved).toBe(0);
  });

  it('keep concurrent tasks that reserve first from ever spending past the budget', async () => {
    const manager = budgeted(100);
    let highest = 0;
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, async (_, index) => {
        await sleep(index % 5);
        let hold: ReturnType<CostManager['reserve']>;
        try {
          hold = manager.reserve('run-1', 10);
        } catch (error) {
          if (error instanceof LedgerError && error.code === 'BUDGET_EXCEEDED') return 'refused';
          throw error;
        }
        await sleep(3);
        manager.accountExternalRequest('run-1', 'api', 1 + (index % 10));
        highest = Math.max(highest, manager.getMetrics('run-1').totalCost);
        manager.settle(hold);
        return 'done';
      }),
    );
    expect(outcomes).toContain('refused');
    expect(outcomes).toContain('done');
    expect(highest).toBeLessThanOrEqual(100);
    expect(manager.isBudgetExceeded('run-1')).toBe(false);
  });
});
