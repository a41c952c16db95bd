import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { parse } from 'csv-parse/sync';
import {
  ALLOCATION_CSV_COLUMNS,
  type AllocationReport,
  type AllocationRule,
  type AllocationRuleSetInput,
  allocationReportToCsv,
} from 'execution-ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitExactly } from '../src/allocation/exact-split.js';

/** Exact micro-cents of a cents number (every amount here has at most six decimals). */
function micros(cents: number): bigint {
  const [whole = '0', fraction = ''] = cents.toFixed(6).split('.');
  return BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
}

function centsOf(value: bigint): number {
  return Number(`${value / 1_000_000n}.${(value % 1_000_000n).toString().padStart(6, '0')}`);
}

/** Every source's lines add up to the source, and the totals to the sum of the sources. */
function expectExactSums(report: AllocationReport): void {
  let allEffective = 0n;
  let allMarkup = 0n;
  for (const source of report.sources) {
    const lines = report.lines.filter((line) => line.rule_id === source.rule_id);
    const effective = lines.reduce((sum, line) => sum + micros(line.effective_cost), 0n);
    const markup = lines.reduce((sum, line) => sum + micros(line.markup), 0n);
    expect(effective, source.rule_id).toBe(micros(source.amount));
    expect(markup, source.rule_id).toBe(micros(source.markup));
    for (const line of lines) {
      expect(micros(line.billed_cost)).toBe(micros(line.effective_cost) + micros(line.markup));
    }
    allEffective += effective;
    allMarkup += markup;
  }
  expect(micros(report.totals.effective_cost)).toBe(allEffective);
  expect(micros(report.totals.markup)).toBe(allMarkup);
  expect(micros(report.totals.billed_cost)).toBe(allEffective + allMarkup);
  const centers = report.cost_centers.reduce((sum, center) => sum + micros(center.billed_cost), 0n);
  expect(centers).toBe(allEffective + allMarkup);
}

const currentPeriod = () => new Date().toISOString().slice(0, 7);

describe('the largest remainder split', () => {
  it('adds up exactly for any amount and weights', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { minLength: 1, maxLength: 50 }),
        (amount, weights) => {
          const shares = splitExactly(amount, weights);
          expect(shares.reduce((sum, share) => sum + share, 0n)).toBe(amount);
          const total = weights.reduce((sum, weight) => sum + weight, 0n);
          shares.forEach((share, index) => {
            expect(share >= 0n).toBe(true);
            // No share is a micro-cent or more away from its exact quota.
            if (total > 0n) {
              const quota = amount * present(weights[index]);
              expect(share * total - quota < total && quota - share * total < total).toBe(true);
            }
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gives 100 three ways as 34, 33, 33 and splits evenly when no target weighs anything', () => {
    expect(splitExactly(100n, [1n, 1n, 1n])).toEqual([34n, 33n, 33n]);
    expect(splitExactly(10n, [0n, 0n])).toEqual([5n, 5n]);
    expect(splitExactly(1n, [1n, 3n])).toEqual([0n, 1n]);
  });
});

describeEachEngine('cost allocation rules', (context) => {
  it('splits a worked example exactly, naming the version and hash', async () => {
    const projectId = context.project();
    const runs = [
      { agent_id: 'research', cost: { total: 600, breakdown: { tokens: 500, toolCalls: 100 } } },
      { agent_id: 'research', cost: { total: 300, breakdown: { tokens: 250, toolCalls: 50 } } },
      { agent_id: 'support', cost: { total: 100.000001, breakdown: { tokens: 100.000001 } } },
    ];
    for (const run of runs) await context.ledger.recordExecution(makeExecution(projectId, run));
    const published = await context.ledger.publishAllocationRuleSet({
      effective_from: '2026-01-01',
      rules: [
        {
          id: 'tokens-by-usage',
          scope: { project_id: [projectId] },
          source: { part: 'tokens' },
          method: 'proportional',
          basis: 'cost',
          targets: [
            { cost_center: 'cc-research', scope: { agent_id: ['research'] } },
            { cost_center: 'cc-support', scope: { agent_id: ['support'] } },
          ],
          markup_percent: 10,
        },
        {
          id: 'platform-pool',
          source: { pool: 'platform', amount: 1000 },
          method: 'fixed',
          targets: [
            { cost_center: 'cc-research', percent: 66.666667 },
            { cost_center: 'cc-support', percent: 33.333333 },
          ],
        },
        {
          id: 'tools-even',
          scope: { project_id: [projectId] },
          source: { part: 'toolCalls' },
          method: 'even',
          targets: [{ cost_center: 'a' }, { cost_center: 'b' }, { cost_center: 'c' }],
        },
      ],
    });
    expect(published.hash).toMatch(/^[0-9a-f]{64}$/);
    const report = await context.ledger.getAllocationReport({
      period: currentPeriod(),
      ruleSetVersion: published.version,
    });
    expect(report.rule_set).toEqual({
      version: published.version,
      hash: published.hash,
      effective_from: '2026-01-01',
    });
    expect(
      report.sources.map((source) => [source.rule_id, source.amount, source.markup, source.runs]),
    ).toEqual([
      ['tokens-by-usage', 850.000001, 85, 3],
      ['platform-pool', 1000, 0, null],
      ['tools-even', 150, 0, 3],
    ]);
    const line = (rule: string, center: string) =>
      present(report.lines.find((l) => l.rule_id === rule && l.cost_center === center));
    // 850.000001 split 900 : 100.000001 by cost.
    expect(line('tokens-by-usage', 'cc-research')).toMatchObject({ effective_cost: 765, weight: '900' });
    expect(line('tokens-by-usage', 'cc-support')).toMatchObject({
      effective_cost: 85.000001,
      weight: '100.000001',
    });
    expect(line('platform-pool', 'cc-research').effective_cost).toBe(666.66667);
    expect(line('platform-pool', 'cc-support').effective_cost).toBe(333.33333);
    expect(['a', 'b', 'c'].map((center) => line('tools-even', center).effective_cost)).toEqual([50, 50, 50]);
    expectExactSums(report);

    const csv = parse(allocationReportToCsv(report), { columns: true }) as Record<string, string>[];
    expect(Object.keys(present(csv[0]))).toEqual([...ALLOCATION_CSV_COLUMNS]);
    expect(csv).toHaveLength(report.lines.length);
    expect(present(csv[0])).toMatchObject({
      BillingCurrency: 'USD',
      ChargePeriodStart: report.period_start,
      EffectiveCost: '7.65',
      BilledCost: '8.415',
      AllocatedMethodId: 'tokens-by-usage/proportional:cost',
      AllocatedResourceId: 'part:tokens',
      x_CostCenter: 'cc-research',
      x_RuleSetHash: published.hash,
    });
  });

  it('sums back exactly for any rule set and any amounts', async () => {
    const projectId = context.project();
    const agents = ['a1', 'a2', 'a3'];
    const runAmounts = fc.sample(
      fc.record({
        agent: fc.constantFrom(...agents),
        tokens: fc.integer({ min: 0, max: 10 ** 9 }),
        tools: fc.integer({ min: 0, max: 10 ** 9 }),
      }),
      { numRuns: 40, seed: 42 },
    );
    const results = await context.ledger.recordExecutions(
      runAmounts.map((run) =>
        makeExecution(projectId, {
          agent_id: run.agent,
          cost: {
            total: centsOf(BigInt(run.tokens + run.tools)),
            breakdown: { tokens: centsOf(BigInt(run.tokens)), toolCalls: centsOf(BigInt(run.tools)) },
          },
        }),
      ),
    );
    expect(results.every((result) => result.ok)).toBe(true);
    const expectedPart = (part: 'tokens' | 'tools') =>
      runAmounts.reduce((sum, run) => sum + BigInt(run[part]), 0n);

    const target = (index: number) => `cc-${index}`;
    const ruleArbitrary = fc
      .record({
        kind: fc.constantFrom('even', 'fixed', 'cost', 'tokens', 'runs'),
        pool: fc.option(fc.integer({ min: 0, max: 10 ** 12 }), { nil: undefined }),
        part: fc.constantFrom('tokens', 'toolCalls', 'total', 'absent'),
        targets: fc.integer({ min: 1, max: 7 }),
        markup: fc.integer({ min: 0, max: 300_000_000 }),
        cuts: fc.array(fc.integer({ min: 0, max: 100_000_000 }), { minLength: 6, maxLength: 6 }),
      })
      .map(({ kind, pool, part, targets, markup, cuts }): AllocationRule => {
        const source = pool === undefined ? { part } : { pool: 'shared', amount: centsOf(BigInt(pool)) };
        const base = {
          id: 'r',
          scope: { project_id: [projectId] },
          source,
          markup_percent: markup / 1_000_000,
        };
        const centers = Array.from({ length: targets }, (_, index) => target(index));
        if (kind === 'even') {
          return { ...base, method: 'even', targets: centers.map((center) => ({ cost_center: center })) };
        }
        if (kind === 'fixed') {
          // Units of 10^-6 percent cut at sorted points of [0, 100,000,000]: they add up to 100 exactly.
          const points = [0, ...cuts.slice(0, targets - 1).sort((x, y) => x - y), 100_000_000];
          return {
            ...base,
            method: 'fixed',
            targets: centers.map((center, index) => ({
              cost_center: center,
              percent: (present(points[index + 1]) - present(points[index])) / 1_000_000,
            })),
          };
        }
        return {
          ...base,
          method: 'proportional',
          basis: kind,
          targets: centers.map((center, index) => ({
            cost_center: center,
            scope: { agent_id: [present(agents[index % agents.length])] },
          })),
        };
      });

    await fc.assert(
      fc.asyncProperty(fc.array(ruleArbitrary, { minLength: 1, maxLength: 4 }), async (rules) => {
        const ruleSet: AllocationRuleSetInput = {
          effective_from: '2026-01-01',
          rules: rules.map((rule, index) => ({ ...rule, id: `rule-${index}` })),
        };
        const published = await context.ledger.publishAllocationRuleSet(ruleSet);
        const report = await context.ledger.getAllocationReport({
          period: currentPeriod(),
          ruleSetVersion: published.version,
        });
        expectExactSums(report);
        ruleSet.rules.forEach((rule, index) => {
          const source = present(report.sources[index]);
          if ('pool' in rule.source) expect(source.amount).toBe(rule.source.amount);
          else if (rule.source.part === 'tokens') expect(micros(source.amount)).toBe(expectedPart('tokens'));
          else if (rule.source.part === 'toolCalls')
            expect(micros(source.amount)).toBe(expectedPart('tools'));
          else if (rule.source.part === 'total') {
            expect(micros(source.amount)).toBe(expectedPart('tokens') + expectedPart('tools'));
          } else expect(source.amount).toBe(0);
        });
      }),
      { numRuns: 50 },
    );
  }, 180_000);

  it('never changes a report made with an older version when a new one is published', async () => {
    const projectId = context.project();
    await context.ledger.recordExecution(makeExecution(projectId, { cost: 99.999999 }));
    const rule = (centers: string[]): AllocationRule => ({
      id: 'all',
      scope: { project_id: [projectId] },
      source: { part: 'total' },
      method: 'even',
      targets: centers.map((center) => ({ cost_center: center })),
    });
    const period = currentPeriod();
    const first = await context.ledger.publishAllocationRuleSet({
      effective_from: '2026-01-01',
      rules: [rule(['x', 'y'])],
    });
    const before = await context.ledger.getAllocationReport({ period, ruleSetVersion: first.version });
    expect(before.lines.map((line) => line.effective_cost)).toEqual([50, 49.999999]);

    const second = await context.ledger.publishAllocationRuleSet({
      effective_from: '2026-01-01',
      rules: [rule(['x', 'y', 'z'])],
    });
    expect(second.version).toBe(first.version + 1);
    expect(second.hash).not.toBe(first.hash);
    const future = await context.ledger.publishAllocationRuleSet({
      effective_from: '2999-01-01',
      rules: [rule(['later'])],
    });
    expect(await context.ledger.getAllocationReport({ period, ruleSetVersion: first.version })).toEqual(
      before,
    );
    // Without a version: the newest in effect on the month's first day, not the future one.
    const current = await context.ledger.getAllocationReport({ period });
    expect(current.rule_set.version).toBe(second.version);
    expect(current.lines.map((line) => line.effective_cost)).toEqual([33.333333, 33.333333, 33.333333]);
    expect((await context.ledger.getAllocationRuleSet(first.version)).hash).toBe(first.hash);
    expect((await context.ledger.getAllocationRuleSet()).version).toBeGreaterThanOrEqual(future.version);
    const versions = await context.ledger.listAllocationRuleSets();
    expect(versions.map((set) => set.version)).toContain(second.version);
    await expectLedgerError(
      context.ledger.getAllocationReport({ period: '1999-01' }),
      'RULE_SET_NOT_FOUND',
      'period',
    );
    await expectLedgerError(
      context.ledger.getAllocationReport({ period, ruleSetVersion: 10_000_000 }),
      'RULE_SET_NOT_FOUND',
      'ruleSetVersion',
    );
  });

  it('refuses bad rule sets and options, naming the field, and stores nothing', async () => {
    const before = (await context.ledger.listAllocationRuleSets()).length;
    const first: AllocationRule = {
      id: 'r',
      source: { part: 'total' },
      method: 'even',
      targets: [{ cost_center: 'a' }],
    };
    const valid: AllocationRuleSetInput = { effective_from: '2026-11-01', rules: [first] };
    const refuse = async (change: unknown, field: string) =>
      expectLedgerError(
        context.ledger.publishAllocationRuleSet(change as AllocationRuleSetInput),
        'VALIDATION_FAILED',
        field,
      );
    const withRule = (rule: Record<string, unknown>) => ({ ...valid, rules: [{ ...first, ...rule }] });
    await refuse({ ...valid, effective_from: '2026-02-30' }, 'effective_from');
    await refuse({ ...valid, rules: [] }, 'rules');
    await refuse({ ...valid, rules: [first, first] }, 'rules[1].id');
    await refuse(withRule({ method: 'split' }), 'rules[0].method');
    await refuse(
      withRule({ method: 'proportional', targets: [{ cost_center: 'a', scope: { agent_id: ['x'] } }] }),
      'rules[0].basis',
    );
    await refuse(withRule({ method: 'proportional', basis: 'cost' }), 'rules[0].targets[0].scope');
    await refuse(
      withRule({
        method: 'fixed',
        targets: [
          { cost_center: 'a', percent: 60 },
          { cost_center: 'b', percent: 30 },
        ],
      }),
      'rules[0].targets',
    );
    await refuse(
      withRule({ targets: [{ cost_center: 'a' }, { cost_center: 'a' }] }),
      'rules[0].targets[1].cost_center',
    );
    await refuse(withRule({ targets: [{ cost_center: 'a', percent: 100 }] }), 'rules[0].targets[0].percent');
    await refuse(withRule({ markup_percent: -1 }), 'rules[0].markup_percent');
    await refuse(withRule({ markup_percent: 0.0000001 }), 'rules[0].markup_percent');
    await refuse(withRule({ source: { pool: 'p', amount: -5 } }), 'rules[0].source.amount');
    await refuse(withRule({ source: { bucket: 'x' } }), 'rules[0].source');
    await refuse(withRule({ scope: {} }), 'rules[0].scope');
    await refuse(withRule({ colour: 'red' }), 'rules[0].colour');
    expect((await context.ledger.listAllocationRuleSets()).length).toBe(before);
    await expectLedgerError(
      context.ledger.getAllocationReport({ period: '2026-13' }),
      'VALIDATION_FAILED',
      'period',
    );
    await expectLedgerError(
      context.ledger.getAllocationReport({ period: '2026-11', ruleSetVersion: 0 }),
      'VALIDATION_FAILED',
      'ruleSetVersion',
    );
  });

  it('keeps versions append-only, and refuses to report from one changed past the guards', async () => {
    const published = await context.ledger.publishAllocationRuleSet({
      effective_from: '2026-01-01',
      rules: [
        { id: 'r', source: { pool: 'p', amount: 10 }, method: 'even', targets: [{ cost_center: 'a' }] },
      ],
    });
    const database = await context.ledger.database();
    await expect(
      database.query(
        'update execution_ledger.allocation_rule_sets set effective_from = $1 where version = $2',
        ['2020-01-01', published.version],
      ),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(
      database.query('delete from execution_ledger.allocation_rule_sets where version = $1', [
        published.version,
      ]),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    // A superuser can switch the guards off: the hash then tells.
    const rewrite = (amount: number) =>
      context.admin(
        `begin;
         alter table execution_ledger.allocation_rule_sets disable trigger allocation_rule_sets_append_only_row;
         alter table execution_ledger.allocation_rule_sets disable trigger allocation_rule_sets_append_only_statement;
         update execution_ledger.allocation_rule_sets
           set body = jsonb_set(body, '{rules,0,source,amount}', '${amount}') where version = ${published.version};
         alter table execution_ledger.allocation_rule_sets enable always trigger allocation_rule_sets_append_only_row;
         alter table execution_ledger.allocation_rule_sets enable always trigger allocation_rule_sets_append_only_statement;
         commit;`,
      );
    await rewrite(1);
    await expectLedgerError(
      context.ledger.getAllocationReport({ period: currentPeriod(), ruleSetVersion: published.version }),
      'RULE_SET_MISMATCH',
    );
    await expectLedgerError(context.ledger.getAllocationRuleSet(published.version), 'RULE_SET_MISMATCH');
    // Put back as it was, the hash agrees again.
    await rewrite(10);
    expect((await context.ledger.getAllocationRuleSet(published.version)).hash).toBe(published.hash);
  });
});
