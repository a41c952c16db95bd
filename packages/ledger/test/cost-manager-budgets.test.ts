import { randomUUID } from 'node:crypto';
import { describeEachEngine, expectLedgerError, makeExecution } from '@execution-ledger/test-support';
import { CostManager, type LedgerError, toExecutionCost } from 'execution-ledger';
import { expect, it } from 'vitest';

const prices = { version: 'pennies', externalRequestCents: { '*': 1 } };

describeEachEngine('CostManager with database budgets', (context) => {
  const blockBudget = async (project: string, limitCents: number) =>
    context.ledger.budgets.set({
      id: `budget-${project}`,
      project_id: project,
      period: 'total',
      limit_cents: limitCents,
      action: 'block',
    });

  /** One run through a manager: reserve, charge `cents`, record, settle (or release on failure). */
  async function managedRun(manager: CostManager, project: string, reserveCents: number, cents: number) {
    const runId = `run-${randomUUID()}`;
    await manager.createReservedExecution(runId, 'worker', {
      project_id: project,
      user_id: 'user-001',
      reserveCents,
    });
    try {
      manager.accountExternalRequest(runId, 'api', cents);
    } finally {
      manager.endExecution(runId);
    }
    return runId;
  }

  it('reserves before work, caps the run at its reservation and settles with the recorded cost', async () => {
    const project = context.project();
    await blockBudget(project, 100);
    const manager = new CostManager({ prices, budgets: context.ledger.budgets });
    const runId = `run-${randomUUID()}`;
    const reservation = await manager.createReservedExecution(runId, 'worker', {
      project_id: project,
      user_id: 'user-001',
      reserveCents: 30,
      budgetCents: 50,
    });
    expect(reservation.budgets).toMatchObject([{ budget_id: `budget-${project}`, held_cents: 30 }]);
    expect(manager.getReservation(runId)?.id).toBe(reservation.id);
    expect(await context.ledger.budgets.status(`budget-${project}`)).toMatchObject({ held_cents: 30 });
    // The run's own budget is the smaller of budgetCents and the reservation.
    expect(manager.getMetrics(runId).budget).toBe(30);
    manager.accountExternalRequest(runId, 'api', 12);
    // Settling needs the run ended and recorded first.
    await expectLedgerError(manager.settleExecution(runId), 'VALIDATION_FAILED', 'runId');
    const metrics = manager.endExecution(runId);
    await expectLedgerError(manager.settleExecution(runId), 'NOT_FOUND', 'run_id');
    await context.ledger.recordExecution(
      makeExecution(project, { run_id: runId, agent_id: 'worker', cost: toExecutionCost(metrics) }),
    );
    const settled = await manager.settleExecution(runId);
    expect(settled).toMatchObject({ reservation_id: reservation.id, actual_cents: 12, estimated_cents: 30 });
    expect(manager.getReservation(runId)).toBeNull();
    expect(await context.ledger.budgets.status(`budget-${project}`)).toMatchObject({
      spent_cents: 12,
      held_cents: 0,
    });
    await expectLedgerError(manager.settleExecution(runId), 'NOT_FOUND', 'runId');
  });

  it('gives a clear BUDGET_BLOCKED and opens no run when a block budget cannot afford the reservation', async () => {
    const project = context.project();
    await blockBudget(project, 20);
    const manager = new CostManager({ prices, budgets: context.ledger.budgets });
    const held = `run-${randomUUID()}`;
    await manager.createReservedExecution(held, 'worker', {
      project_id: project,
      user_id: 'user-001',
      reserveCents: 15,
    });
    const refusedId = `run-${randomUUID()}`;
    const refused = (await expectLedgerError(
      manager.createReservedExecution(refusedId, 'worker', {
        project_id: project,
        user_id: 'user-001',
        reserveCents: 6,
      }),
      'BUDGET_BLOCKED',
      'estimated_cents',
    )) as LedgerError;
    expect(refused.message).toContain(`budget-${project}`);
    expect(refused.details).toMatchObject({ limit_cents: 20, held_cents: 15, requested_cents: 6 });
    expect(manager.hasExecution(refusedId)).toBe(false);
    expect(manager.getReservation(refusedId)).toBeNull();
    // The work that held 15 cents was never recorded: releasing gives the budget back whole.
    manager.endExecution(held);
    await manager.releaseExecution(held);
    expect(await context.ledger.budgets.status(`budget-${project}`)).toMatchObject({
      spent_cents: 0,
      held_cents: 0,
    });
    await expectLedgerError(manager.releaseExecution(held), 'NOT_FOUND', 'runId');
  });

  it('refuses bad options before reserving anything', async () => {
    const project = context.project();
    await blockBudget(project, 20);
    const scope = { project_id: project, user_id: 'user-001' };
    await expectLedgerError(
      new CostManager({ prices }).createReservedExecution('run-x', 'worker', { ...scope, reserveCents: 1 }),
      'VALIDATION_FAILED',
      'budgets',
    );
    expect(() => new CostManager({ budgets: {} as never })).toThrow(/budgets must be the database budgets/);
    const manager = new CostManager({ prices, budgets: context.ledger.budgets });
    await expectLedgerError(
      manager.createReservedExecution('run-x', 'worker', { ...scope, reserveCents: -1 }),
      'VALIDATION_FAILED',
      'reserveCents',
    );
    await expectLedgerError(
      manager.createReservedExecution('run-x', 'worker', {
        ...scope,
        reserveCents: 1,
        budgetCents: Number.NaN,
      }),
      'VALIDATION_FAILED',
      'budgetCents',
    );
    await expectLedgerError(
      manager.createReservedExecution('run-x', 'worker', { ...scope, reserveCents: 1, ttlMs: 0 }),
      'VALIDATION_FAILED',
      'ttl_ms',
    );
    manager.createExecution('run-open', 'worker', null);
    await expectLedgerError(
      manager.createReservedExecution('run-open', 'worker', { ...scope, reserveCents: 1 }),
      'RUN_ID_CONFLICT',
      'runId',
    );
    expect(await context.ledger.budgets.status(`budget-${project}`)).toMatchObject({ held_cents: 0 });
    await expectLedgerError(manager.releaseExecution('run-open'), 'NOT_FOUND', 'runId');
  });

  it('two managers and ledger.run sharing one block budget never spend past it', async () => {
    const project = context.project();
    const limit = 60;
    await blockBudget(project, limit);
    const managers = [
      new CostManager({ prices, budgets: context.ledger.budgets }),
      new CostManager({ prices, budgets: context.ledger.budgets }),
    ];
    let blocked = 0;
    let recorded = 0;
    let released = 0;
    // Each worker reserves 7 cents and spends 1 to 7 of them; every third run fails and is
    // not recorded (its hold is released). The workers stop once the budget refuses them.
    const worker = async (index: number) => {
      for (let attempt = 0; attempt < 40; attempt += 1) {
        const cents = 1 + ((index * 5 + attempt * 3) % 7);
        try {
          if (index === 2) {
            await context.ledger.run(
              {
                project_id: project,
                user_id: 'user-001',
                agent_id: 'worker',
                intent: 'share one budget',
                input: { attempt },
                reserveCents: 7,
                prices,
              },
              (ctx) => {
                ctx.accountExternalRequest('api', cents);
              },
            );
            recorded += 1;
            continue;
          }
          const manager = managers[index] as CostManager;
          const runId = await managedRun(manager, project, 7, cents);
          if (attempt % 3 === 2) {
            await manager.releaseExecution(runId);
            released += 1;
            continue;
          }
          await context.ledger.recordExecution(
            makeExecution(project, {
              run_id: runId,
              agent_id: 'worker',
              cost: { total: cents, breakdown: { externalRequests: cents } },
            }),
          );
          await manager.settleExecution(runId);
          recorded += 1;
        } catch (error) {
          if ((error as LedgerError).code !== 'BUDGET_BLOCKED') throw error;
          blocked += 1;
          return;
        }
      }
    };
    await Promise.all([0, 1, 2].map(worker));
    expect(blocked).toBeGreaterThan(0);
    expect(released).toBeGreaterThan(0);
    const status = await context.ledger.budgets.status(`budget-${project}`);
    expect(status.held_cents).toBe(0);
    expect(status.spent_cents).toBeLessThanOrEqual(limit);
    expect(status.runs).toBe(recorded);
    const stats = await context.ledger.getProjectExecutionStats(project);
    expect(stats.total_cost).toBe(status.spent_cents);
    expect(stats.total_executions).toBe(recorded);
    for (const manager of managers) expect(manager.hasExecution('none')).toBe(false);
  });
});
