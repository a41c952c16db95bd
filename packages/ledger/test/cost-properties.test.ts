import { makeExecution, present } from '@execution-ledger/test-support';
import {
  BudgetExceededError,
  CostManager,
  DEFAULT_LIMITS,
  type PriceTableInput,
  type Reservation,
  toExecutionCost,
} from 'execution-ledger';
import { normalizeExecution } from 'execution-ledger/validation';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { centsToMicros, decimalTextToMicros, isWholeCents } from '../src/money.js';

// Prices with awkward fractions, so per-charge rounding (the classic drift) would show.
const PRICES: PriceTableInput = {
  version: 'odd-prices',
  defaultModel: 'big',
  models: {
    big: { inputCentsPerMillion: 300, cachedInputCentsPerMillion: 30, outputCentsPerMillion: 1500 },
    small: { inputCentsPerMillion: 7.5, cachedInputCentsPerMillion: 0.75, outputCentsPerMillion: 30.3 },
    '*': { inputCentsPerMillion: 0.000001, outputCentsPerMillion: 0.333333 },
  },
  toolCallCents: { search: 0.7, '*': 0.000003 },
  externalRequestCents: { stripe: 1.1, '*': 2 },
};
const MODEL_PRICES_MICROS: Record<string, [bigint, bigint, bigint]> = {
  big: [300_000_000n, 30_000_000n, 1_500_000_000n],
  small: [7_500_000n, 750_000n, 30_300_000n],
  other: [1n, 1n, 333_333n],
};
const TOOL_MICROS: Record<string, bigint> = { search: 700_000n, deploy: 3n };
const SERVICE_MICROS: Record<string, bigint> = { stripe: 1_100_000n, github: 2_000_000n };

type Charge =
  | { kind: 'tokens'; model: string; input: number; cached: number; output: number }
  | { kind: 'tool'; name: string }
  | { kind: 'request'; name: string; count: number }
  | { kind: 'penalty'; reason: string; micros: number };

const chargeArbitrary: fc.Arbitrary<Charge> = fc.oneof(
  fc
    .record({
      model: fc.constantFrom('big', 'small', 'other'),
      input: fc.nat({ max: 2_000_000 }),
      cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
      output: fc.nat({ max: 500_000 }),
    })
    .map(({ model, input, cachedShare, output }) => ({
      kind: 'tokens' as const,
      model,
      input,
      cached: Math.floor(input * cachedShare),
      output,
    })),
  fc.record({ kind: fc.constant('tool' as const), name: fc.constantFrom('search', 'deploy') }),
  fc.record({
    kind: fc.constant('request' as const),
    name: fc.constantFrom('stripe', 'github'),
    count: fc.nat({ max: 50 }),
  }),
  fc.record({
    kind: fc.constant('penalty' as const),
    reason: fc.constantFrom('retry', 'timeout'),
    micros: fc.nat({ max: 10_000_000 }),
  }),
);

function apply(charges: Charge[]) {
  const manager = new CostManager({ prices: PRICES, enforce: 'check' });
  manager.createExecution('run-p', 'backend');
  for (const charge of charges) {
    if (charge.kind === 'tokens') {
      manager.accountTokens('run-p', charge.input, charge.output, {
        model: charge.model,
        cachedInputTokens: charge.cached,
      });
    } else if (charge.kind === 'tool') manager.accountToolCall('run-p', charge.name);
    else if (charge.kind === 'request') manager.accountExternalRequest('run-p', charge.name, charge.count);
    else manager.accountPenalty('run-p', charge.reason, charge.micros / 1e6);
  }
  return manager.getMetrics('run-p');
}

/** The cost written the simplest way: sum each quantity, then price and round once. */
function referenceMicros(charges: Charge[]): bigint {
  const tokens = new Map<string, [bigint, bigint, bigint]>();
  let rest = 0n;
  for (const charge of charges) {
    if (charge.kind === 'tokens') {
      const [uncached, cached, output] = tokens.get(charge.model) ?? [0n, 0n, 0n];
      tokens.set(charge.model, [
        uncached + BigInt(charge.input - charge.cached),
        cached + BigInt(charge.cached),
        output + BigInt(charge.output),
      ]);
    } else if (charge.kind === 'tool') rest += present(TOOL_MICROS[charge.name]);
    else if (charge.kind === 'request') rest += BigInt(charge.count) * present(SERVICE_MICROS[charge.name]);
    else rest += BigInt(charge.micros);
  }
  const roundHalfUp = (numerator: bigint) => (numerator + 500_000n) / 1_000_000n;
  for (const [model, quantities] of tokens) {
    const prices = present(MODEL_PRICES_MICROS[model]);
    quantities.forEach((quantity, index) => {
      rest += roundHalfUp(quantity * present(prices[index]));
    });
  }
  return rest;
}

const micros = (cents: number) => centsToMicros(cents, 'amount', 1e12);

describe('cost properties', () => {
  it('turns any amount into the micro-cents its decimal text says, whole cents without the text', () => {
    const amount = fc.oneof(fc.integer({ min: 0, max: 1e12 }), fc.double({ min: 0, max: 1e12, noNaN: true }));
    fc.assert(
      fc.property(amount, (cents) => {
        const expected = Object.is(cents, -0) ? undefined : decimalTextToMicros(String(cents));
        if (expected === undefined) expect(() => micros(cents)).toThrow(/amount/);
        else expect(micros(cents)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('takes whole cents without the field name only where centsToMicros accepts them as they are', () => {
    const value = fc.oneof(
      fc.integer({ min: -1e13, max: 1e13 }),
      fc.double({ min: -1e13, max: 1e13 }),
      fc.constantFrom(-0, 0, 1e12, 1e12 + 1, Number.MAX_SAFE_INTEGER, '5', null, undefined),
    );
    fc.assert(
      fc.property(value, (cents) => {
        if (isWholeCents(cents, 1e12)) expect(micros(cents)).toBe(BigInt(cents) * 1_000_000n);
        else if (typeof cents === 'number' && Number.isInteger(cents))
          expect(() => micros(cents)).toThrow(/amount/);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the same metrics for any order of the same charges', () => {
    const chargesAndShuffle = fc
      .array(chargeArbitrary, { maxLength: 40 })
      .chain((charges) =>
        fc
          .shuffledSubarray(charges, { minLength: charges.length, maxLength: charges.length })
          .map((shuffled) => [charges, shuffled] as const),
      );
    fc.assert(
      fc.property(chargesAndShuffle, ([charges, shuffled]) => {
        expect(apply(shuffled)).toEqual(apply(charges));
      }),
    );
  });

  it('totals exactly what pricing the summed quantities once gives', () => {
    fc.assert(
      fc.property(fc.array(chargeArbitrary, { maxLength: 40 }), (charges) => {
        expect(micros(apply(charges).totalCost)).toBe(referenceMicros(charges));
      }),
    );
  });

  it('always yields a breakdown that adds up exactly to the total, as the ledger requires', () => {
    fc.assert(
      fc.property(fc.array(chargeArbitrary, { maxLength: 40 }), (charges) => {
        const cost = toExecutionCost(apply(charges));
        const parts = Object.values(cost.breakdown).reduce((sum, part) => sum + micros(present(part)), 0n);
        expect(parts).toBe(micros(cost.total));
        expect(() => normalizeExecution(makeExecution('proj-p', { cost }), DEFAULT_LIMITS)).not.toThrow();
      }),
    );
  });
});

type BudgetOp =
  | { op: 'charge'; micros: number }
  | { op: 'reserve'; micros: number }
  | { op: 'settle'; pick: number };

const budgetOpArbitrary: fc.Arbitrary<BudgetOp> = fc.oneof(
  fc.record({ op: fc.constant('charge' as const), micros: fc.nat({ max: 3_000_000 }) }),
  fc.record({ op: fc.constant('reserve' as const), micros: fc.nat({ max: 3_000_000 }) }),
  fc.record({ op: fc.constant('settle' as const), pick: fc.nat() }),
);

describe('budget properties', () => {
  it('raise, hold and report exactly as a simple model of spend and holds says', () => {
    const scenario = fc.record({
      budgetMicros: fc.nat({ max: 20_000_000 }),
      enforce: fc.constantFrom('throw' as const, 'check' as const),
      ops: fc.array(budgetOpArbitrary, { maxLength: 30 }),
    });
    fc.assert(
      fc.property(scenario, ({ budgetMicros, enforce, ops }) => {
        const manager = new CostManager({ enforce });
        manager.createExecution('run-b', 'backend', budgetMicros / 1e6);
        const model = { spent: 0, held: [] as { hold: Reservation; micros: number }[] };
        for (const step of ops) checkStep(manager, model, step, budgetMicros, enforce);
        const heldMicros = model.held.reduce((sum, entry) => sum + entry.micros, 0);
        expect(manager.isBudgetExceeded('run-b')).toBe(model.spent > budgetMicros);
        expect(micros(manager.getMetrics('run-b').totalCost)).toBe(BigInt(model.spent));
        expect(manager.getMetrics('run-b').remaining).toBe((budgetMicros - model.spent - heldMicros) / 1e6);
      }),
    );
  });
});

function checkStep(
  manager: CostManager,
  model: { spent: number; held: { hold: Reservation; micros: number }[] },
  step: BudgetOp,
  budgetMicros: number,
  enforce: 'throw' | 'check',
): void {
  const heldMicros = model.held.reduce((sum, entry) => sum + entry.micros, 0);
  if (step.op === 'charge') {
    model.spent += step.micros;
    const shouldThrow = enforce === 'throw' && model.spent > budgetMicros;
    const act = () => manager.accountPenalty('run-b', 'work', step.micros / 1e6);
    if (shouldThrow) expect(act).toThrow(BudgetExceededError);
    else act();
  } else if (step.op === 'reserve') {
    const fits = model.spent + heldMicros + step.micros <= budgetMicros;
    const act = () => manager.reserve('run-b', step.micros / 1e6);
    if (!fits && enforce === 'throw') {
      expect(act).toThrow(BudgetExceededError);
      return;
    }
    const hold = act();
    expect(hold.withinBudget).toBe(fits);
    model.held.push({ hold, micros: step.micros });
  } else if (model.held.length > 0) {
    const [entry] = model.held.splice(step.pick % model.held.length, 1);
    manager.settle(present(entry).hold);
  }
}
