import { setTimeout as sleep } from 'node:timers/promises';
import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import type { BudgetDefinition, ExecutionInput, LedgerError } from 'execution-ledger';
import { expect, it } from 'vitest';

function costing(projectId: string, cents: number, overrides: Partial<ExecutionInput> = {}): ExecutionInput {
  return makeExecution(projectId, { cost: { total: cents, breakdown: { tokens: cents } }, ...overrides });
}

describeEachEngine('database budgets', (context) => {
  const scopeOf = (project: string) => ({ project_id: project, agent_id: 'backend', user_id: 'user-001' });
  const budgetFor = (project: string, overrides: Partial<BudgetDefinition> = {}): BudgetDefinition => ({
    id: `budget-${project}`,
    project_id: project,
    period: 'day',
    limit_cents: 1000,
    action: 'block',
    ...overrides,
  });

  it('defines a budget and derives its spend from runs already recorded', async () => {
    const project = context.project();
    await context.ledger.recordExecution(costing(project, 120.5));
    await context.ledger.recordExecution(costing(project, 79.5));
    const status = await context.ledger.budgets.set(budgetFor(project, { time_zone: 'Europe/Paris' }));
    expect(status).toMatchObject({
      id: `budget-${project}`,
      project_id: project,
      agent_id: null,
      period: 'day',
      time_zone: 'Europe/Paris',
      limit_cents: 1000,
      thresholds: [50, 80, 100],
      action: 'block',
      spent_cents: 200,
      runs: 2,
      held_cents: 0,
      remaining_cents: 800,
    });
    expect(status.period_start).toMatch(/^\d{4}-\d\d-\d\dT(22|23):00:00\.000Z$/);
    const listed = await context.ledger.budgets.list();
    expect(listed.map((budget) => budget.id)).toContain(`budget-${project}`);
  });

  it('counts each appended run in the same transaction, exactly, and rebuild re-derives the same spend', async () => {
    const project = context.project();
    await context.ledger.budgets.set(budgetFor(project, { period: 'total', limit_cents: 1_000_000 }));
    for (const cents of [0.000001, 10, 33.333333])
      await context.ledger.recordExecution(costing(project, cents));
    await context.ledger.recordExecutions([costing(project, 1), costing(project, 2)]);
    const before = await context.ledger.budgets.status(`budget-${project}`);
    expect(before).toMatchObject({ spent_cents: 46.333334, runs: 5, period_start: null });
    expect((await context.ledger.budgets.rebuild(`budget-${project}`)).periods).toBe(1);
    expect(await context.ledger.budgets.status(`budget-${project}`)).toMatchObject({
      spent_cents: 46.333334,
      runs: 5,
    });
  });

  it('matches scope by every id it names, across projects for an agent budget', async () => {
    const one = context.project();
    const two = context.project();
    const agent = `agent-${one}`;
    await context.ledger.budgets.set({
      id: `agent-${one}`,
      agent_id: agent,
      period: 'month',
      limit_cents: 500,
    });
    await context.ledger.budgets.set({
      id: `pair-${one}`,
      project_id: one,
      user_id: 'user-009',
      period: 'week',
      limit_cents: 500,
    });
    await context.ledger.recordExecution(costing(one, 5, { agent_id: agent }));
    await context.ledger.recordExecution(costing(two, 7, { agent_id: agent, user_id: 'user-009' }));
    await context.ledger.recordExecution(costing(one, 11, { user_id: 'user-009' }));
    expect((await context.ledger.budgets.status(`agent-${one}`)).spent_cents).toBe(12);
    expect((await context.ledger.budgets.status(`pair-${one}`)).spent_cents).toBe(11);
  });

  it('counts a batch toward exactly the budgets its runs fall in, whatever other budgets exist', async () => {
    const one = context.project();
    const two = context.project();
    const agent = `agent-${one}`;
    const user = `user-${one}`;
    // Every combination of scope keys, some matching the runs below and some not, plus budgets
    // of other projects that no run here can count toward.
    const scopes: Partial<BudgetDefinition>[] = [
      { project_id: one },
      { project_id: two },
      { agent_id: agent },
      { user_id: user },
      { project_id: one, agent_id: agent },
      { project_id: two, user_id: user },
      { agent_id: agent, user_id: user },
      { project_id: one, agent_id: agent, user_id: user },
      { project_id: one, agent_id: 'another-agent' },
      { agent_id: 'another-agent', user_id: user },
      ...Array.from({ length: 20 }, (_, index) => ({ project_id: `${one}-other-${index}` })),
    ];
    const ids = scopes.map((_, index) => `scope-${one}-${index}`);
    for (const [index, scope] of scopes.entries())
      await context.ledger.budgets.set({
        id: ids[index] ?? '',
        period: 'total',
        limit_cents: 1_000_000,
        ...scope,
      });
    const runs: ExecutionInput[] = [];
    for (let index = 0; index < 24; index += 1)
      runs.push(
        costing(index % 2 === 0 ? one : two, 1 + index, {
          agent_id: index % 3 === 0 ? agent : 'backend',
          user_id: index % 4 < 2 ? user : 'user-001',
        }),
      );
    await context.ledger.recordExecutions(runs.slice(0, 12));
    for (const run of runs.slice(12)) await context.ledger.recordExecution(run);
    for (const [index, scope] of scopes.entries()) {
      const expected = runs.filter(
        (run) =>
          (scope.project_id === undefined || scope.project_id === run.project_id) &&
          (scope.agent_id === undefined || scope.agent_id === run.agent_id) &&
          (scope.user_id === undefined || scope.user_id === run.user_id),
      );
      const id = ids[index] ?? '';
      const counted = await context.ledger.budgets.status(id);
      const cents = expected.reduce(
        (sum, run) => sum + (typeof run.cost === 'number' ? run.cost : run.cost.total),
        0,
      );
      expect({ id, spent: counted.spent_cents, runs: counted.runs }).toEqual({
        id,
        spent: cents,
        runs: expected.length,
      });
      await context.ledger.budgets.rebuild(id);
      expect((await context.ledger.budgets.status(id)).spent_cents, id).toBe(cents);
    }
  });

  it('reserves, refuses what a block budget cannot hold, and settles with the recorded cost', async () => {
    const project = context.project();
    const budgets = context.ledger.budgets;
    await budgets.set(budgetFor(project, { limit_cents: 100 }));
    const first = await budgets.reserve(scopeOf(project), 60);
    expect(first.budgets).toEqual([
      { budget_id: `budget-${project}`, action: 'block', limit_cents: 100, spent_cents: 0, held_cents: 60 },
    ]);
    const refused = await expectLedgerError(
      budgets.reserve(scopeOf(project), 41),
      'BUDGET_BLOCKED',
      'estimated_cents',
    );
    expect(refused.statusCode).toBe(402);
    expect(refused.details).toMatchObject({
      limit_cents: 100,
      spent_cents: 0,
      held_cents: 60,
      requested_cents: 41,
    });
    const second = await budgets.reserve(scopeOf(project), 40);
    expect((await budgets.status(`budget-${project}`)).held_cents).toBe(100);

    const run = costing(project, 55);
    await context.ledger.recordExecution(run);
    // Recorded and still held: counted twice until settled, never less.
    expect(await budgets.status(`budget-${project}`)).toMatchObject({ spent_cents: 55, held_cents: 100 });
    const settled = await budgets.settle(first, { run_id: run.run_id, actual_cents: 55 });
    expect(settled).toMatchObject({ estimated_cents: 60, actual_cents: 55, expired: false, replayed: false });
    expect(await budgets.status(`budget-${project}`)).toMatchObject({
      spent_cents: 55,
      held_cents: 40,
      remaining_cents: 5,
    });
    expect((await budgets.settle(first.id, { run_id: run.run_id })).replayed).toBe(true);
    expect(await budgets.reservation(first.id)).toMatchObject({
      state: 'settled',
      run_id: run.run_id,
      actual_cents: 55,
    });

    await budgets.release(second);
    expect((await budgets.reservation(second.id)).state).toBe('released');
    await expectLedgerError(budgets.release(second), 'RESERVATION_CLOSED', 'reservation_id');
    expect((await budgets.status(`budget-${project}`)).held_cents).toBe(0);
  });

  it('lets a warn budget reserve past its limit and reserves with no budget at all', async () => {
    const project = context.project();
    await context.ledger.budgets.set(budgetFor(project, { action: 'warn', limit_cents: 1 }));
    const held = await context.ledger.budgets.reserve(scopeOf(project), 50);
    expect(held.budgets[0]).toMatchObject({ action: 'warn', held_cents: 50 });
    const free = await context.ledger.budgets.reserve(scopeOf(context.project()), 50);
    expect(free.budgets).toEqual([]);
  });

  it('frees the hold of a reservation once it expires', async () => {
    const project = context.project();
    const budgets = context.ledger.budgets;
    await budgets.set(budgetFor(project, { limit_cents: 10 }));
    const hold = await budgets.reserve(scopeOf(project), 10, { ttl_ms: 300 });
    await expectLedgerError(budgets.reserve(scopeOf(project), 1), 'BUDGET_BLOCKED');
    await sleep(400);
    expect((await budgets.reservation(hold.id)).state).toBe('expired');
    expect((await budgets.status(`budget-${project}`)).held_cents).toBe(0);
    await budgets.reserve(scopeOf(project), 10);
  });

  it('refuses every bad settle with its own code and changes nothing', async () => {
    const project = context.project();
    const budgets = context.ledger.budgets;
    const hold = await budgets.reserve(scopeOf(project), 5);
    const other = costing(context.project(), 1);
    await context.ledger.recordExecution(other);
    await expectLedgerError(budgets.settle(hold, { run_id: 'run-never-recorded' }), 'NOT_FOUND', 'run_id');
    await expectLedgerError(budgets.settle(hold, { run_id: other.run_id }), 'RESERVATION_MISMATCH', 'run_id');
    await expectLedgerError(
      budgets.settle('00000000-0000-4000-8000-000000000000', { run_id: other.run_id }),
      'RESERVATION_NOT_FOUND',
      'reservation_id',
    );
    await expectLedgerError(
      budgets.settle('nope', { run_id: other.run_id }),
      'VALIDATION_FAILED',
      'reservation_id',
    );
    const run = costing(project, 3);
    await context.ledger.recordExecution(run);
    await expectLedgerError(
      budgets.settle(hold, { run_id: run.run_id, actual_cents: 4 }),
      'VALIDATION_FAILED',
      'actual_cents',
    );
    expect((await budgets.reservation(hold.id)).state).toBe('held');
    await budgets.settle(hold, { run_id: run.run_id });
    const again = await budgets.reserve(scopeOf(project), 5);
    await expectLedgerError(budgets.settle(again, { run_id: run.run_id }), 'RESERVATION_MISMATCH', 'run_id');
    await expectLedgerError(budgets.settle(hold, { run_id: other.run_id }), 'RESERVATION_CLOSED');
  });

  it('refuses bad budget definitions and reservation input with the field named', async () => {
    const project = context.project();
    const set = (overrides: Record<string, unknown>) =>
      context.ledger.budgets.set({ ...budgetFor(project), ...overrides } as BudgetDefinition);
    await expectLedgerError(set({ project_id: undefined }), 'VALIDATION_FAILED', 'project_id');
    await expectLedgerError(set({ period: 'year' }), 'VALIDATION_FAILED', 'period');
    await expectLedgerError(set({ action: 'stop' }), 'VALIDATION_FAILED', 'action');
    await expectLedgerError(set({ limit_cents: 0 }), 'VALIDATION_FAILED', 'limit_cents');
    await expectLedgerError(set({ limit_cents: 0.0000001 }), 'VALIDATION_FAILED', 'limit_cents');
    await expectLedgerError(set({ time_zone: 'Mars/Olympus' }), 'VALIDATION_FAILED', 'time_zone');
    await expectLedgerError(set({ thresholds: [50, 50] }), 'VALIDATION_FAILED', 'thresholds[1]');
    await expectLedgerError(set({ thresholds: [0] }), 'VALIDATION_FAILED', 'thresholds[0]');
    await expectLedgerError(set({ colour: 'red' }), 'VALIDATION_FAILED', 'colour');
    await expectLedgerError(
      context.ledger.budgets.reserve({ project_id: project, agent_id: 'a' } as never, 1),
      'VALIDATION_FAILED',
      'user_id',
    );
    await expectLedgerError(
      context.ledger.budgets.reserve(scopeOf(project), -1),
      'VALIDATION_FAILED',
      'estimated_cents',
    );
    await expectLedgerError(
      context.ledger.budgets.reserve(scopeOf(project), 1, { ttl_ms: 0 }),
      'VALIDATION_FAILED',
      'ttl_ms',
    );
    await expectLedgerError(context.ledger.budgets.status('no-such-budget'), 'BUDGET_NOT_FOUND', 'budget_id');
    await expectLedgerError(context.ledger.budgets.delete('no-such-budget'), 'BUDGET_NOT_FOUND', 'budget_id');
    expect((await context.ledger.budgets.list()).some((budget) => budget.id === `budget-${project}`)).toBe(
      false,
    );
  });

  it('fires each threshold once per period as an event, in the append transaction, and a block once', async () => {
    const project = context.project();
    const budgets = context.ledger.budgets;
    await budgets.set(budgetFor(project, { limit_cents: 100, thresholds: [50, 80, 100] }));
    const start = await context.ledger.events.list({ project_id: project });
    expect(start.events).toEqual([]);
    await context.ledger.recordExecution(costing(project, 49));
    await context.ledger.recordExecution(costing(project, 40)); // 89: crosses 50 and 80
    await context.ledger.recordExecution(costing(project, 1)); // 90: nothing new
    await context.ledger.recordExecution(costing(project, 20)); // 110: crosses 100
    await expectLedgerError(budgets.reserve(scopeOf(project), 1), 'BUDGET_BLOCKED');
    await expectLedgerError(budgets.reserve(scopeOf(project), 1), 'BUDGET_BLOCKED');
    const page = await context.ledger.events.list({ project_id: project });
    expect(page.events.map((event) => [event.type, event.payload.threshold_percent ?? null])).toEqual([
      ['budget.threshold', 50],
      ['budget.threshold', 80],
      ['budget.threshold', 100],
      ['budget.blocked', null],
    ]);
    expect(page.events[1]).toMatchObject({ budget_id: `budget-${project}`, project_id: project });
    const seqs = page.events.map((event) => event.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    const later = await context.ledger.events.list({ project_id: project, cursor: page.next_cursor });
    expect(later.events).toEqual([]);
    expect(later.next_cursor).toBe(page.next_cursor);
    const twoByTwo = await context.ledger.events.list({ project_id: project, limit: 2 });
    const rest = await context.ledger.events.list({
      project_id: project,
      limit: 2,
      cursor: twoByTwo.next_cursor,
    });
    expect([...twoByTwo.events, ...rest.events].map((event) => event.id)).toEqual(
      page.events.map((event) => event.id),
    );

    const blocked = present(page.events[3]);
    const dismissal = present(await context.ledger.events.dismiss(blocked.id, { note: 'raised next month' }));
    expect(dismissal).toMatchObject({ type: 'event.dismissed', budget_id: `budget-${project}` });
    expect(dismissal.payload).toMatchObject({ event_id: blocked.id, event_type: 'budget.blocked' });
    expect(await context.ledger.events.dismiss(blocked.id)).toBeNull();
    await expectLedgerError(
      context.ledger.events.dismiss('00000000-0000-4000-8000-000000000000'),
      'EVENT_NOT_FOUND',
      'event_id',
    );
    await expectLedgerError(context.ledger.events.list({ cursor: 'zzz' }), 'INVALID_CURSOR', 'cursor');
    await expectLedgerError(context.ledger.events.list({ limit: 0 }), 'VALIDATION_FAILED', 'limit');
  });

  it('keeps events append-only in the database', async () => {
    const error = await context
      .admin('update execution_ledger.events set type = type')
      .catch((caught: unknown) => caught);
    expect(String((error as Error | undefined)?.message)).toContain('append-only');
  });

  it('runs ledger.run against database budgets: reserve, cap, settle with the recorded cost', async () => {
    const project = context.project();
    const prices = { version: 'pennies', toolCallCents: { '*': 1 } };
    await context.ledger.budgets.set(budgetFor(project, { limit_cents: 10 }));
    const base = {
      project_id: project,
      user_id: 'user-001',
      agent_id: 'backend',
      intent: 'work',
      input: {},
      prices,
    };
    const result = await context.ledger.run({ ...base, reserveCents: 6 }, async (ctx) => {
      ctx.accountToolCall('a');
      ctx.accountToolCall('b');
      return 'done';
    });
    expect(result.record?.cost_json.total).toBe(2);
    expect(await context.ledger.budgets.status(`budget-${project}`)).toMatchObject({
      spent_cents: 2,
      held_cents: 0,
    });
    const refused = await expectLedgerError(
      context.ledger.run({ ...base, reserveCents: 9 }, () => 'never runs'),
      'BUDGET_BLOCKED',
    );
    expect((refused as LedgerError).details).toMatchObject({ spent_cents: 2, requested_cents: 9 });
    // The reservation caps the run's own budget: the third charge passes 2 cents and aborts.
    await expect(
      context.ledger.run({ ...base, reserveCents: 2 }, async (ctx) => {
        for (let i = 0; i < 5; i += 1) ctx.accountToolCall('c');
      }),
    ).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED' });
    expect(await context.ledger.budgets.status(`budget-${project}`)).toMatchObject({
      spent_cents: 5,
      held_cents: 0,
    });
  });
});
