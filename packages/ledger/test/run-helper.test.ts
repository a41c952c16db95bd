import { setTimeout as sleep } from 'node:timers/promises';
import {
  describeEachEngine,
  expectLedgerRejection,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import {
  BudgetExceededError,
  CostManager,
  type ExecutionInput,
  type ExecutionRecord,
  type LedgerError,
  type RunContext,
  type RunOptions,
} from 'execution-ledger';
import { expect, it } from 'vitest';
import { centsToMicros } from '../src/money.js';

const PRICES = { version: 'run-test', toolCallCents: { '*': 1 }, externalRequestCents: { '*': 1 } };

function stepTotal(record: ExecutionRecord): number {
  return record.execution_trace_json.steps.reduce((sum, step) => sum + (step.duration_ms ?? 0), 0);
}

function breakdownAddsUp(record: ExecutionRecord): boolean {
  const toMicros = (cents: number) => centsToMicros(cents, 'amount', 1e12);
  const parts = Object.values(record.cost_json.breakdown).reduce(
    (sum, part) => sum + toMicros(present(part)),
    0n,
  );
  return parts === toMicros(record.cost_json.total);
}

describeEachEngine('ledger.run', (context) => {
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

  it('records a completed run with its output, cost and a trace whose step durations add up', async () => {
    const result = await context.ledger.run(options({ budgetCents: 5000 }), async (ctx) => {
      await ctx.step('build_docker_image', async () => {
        await sleep(15);
        ctx.accountToolCall('docker');
      });
      await ctx.step('deploy_kubernetes', async () => {
        await sleep(25);
        ctx.accountExternalRequest('kubernetes', 2);
      });
      return { deployed: true };
    });
    expect(result.output).toEqual({ deployed: true });
    expect(result.record?.run_id).toMatch(/^run-[0-9a-f-]{36}$/);
    const record = await stored(present(result.record).run_id);
    expect(record).toMatchObject({ status: 'completed', output: { deployed: true } });
    expect(record.cost_json).toMatchObject({ total: 3, breakdown: { toolCalls: 1, externalRequests: 2 } });
    expect(record.cost_json.pricing).toMatchObject({ source: 'computed', price_table_version: 'run-test' });
    const trace = record.execution_trace_json;
    expect(trace).toMatchObject({ tool_calls: 1, api_calls: 2, budget_cents: 5000 });
    expect(trace.steps.map((step) => [step.action, step.result])).toEqual([
      ['build_docker_image', 'success'],
      ['deploy_kubernetes', 'success'],
    ]);
    expect(present(trace.steps[0]).duration_ms).toBeGreaterThanOrEqual(14);
    expect(present(trace.steps[1]).duration_ms).toBeGreaterThanOrEqual(24);
    expect(stepTotal(record)).toBeLessThanOrEqual(trace.duration_ms);
    expect(Date.parse(present(present(trace.steps[1]).timestamp))).toBeGreaterThanOrEqual(
      Date.parse(present(present(trace.steps[0]).timestamp)),
    );
  });

  it('records a failed run with the error, and the caller gets that same error', async () => {
    const failure = new Error('Constraint violation on users.email UNIQUE index');
    const runOptions = options({ run_id: `run-failed-${context.project()}` });
    const thrown = await context.ledger
      .run(runOptions, async (ctx) => {
        await ctx.step('backup_database', async () => {
          await sleep(5);
          ctx.accountToolCall('pg_dump');
        });
        await ctx.step('validate_and_migrate', () => {
          throw failure;
        });
      })
      .catch((error: unknown) => error);
    expect(thrown).toBe(failure);
    const record = await stored(present(runOptions.run_id));
    expect(record).toMatchObject({ status: 'failed', error_message: failure.message });
    expect(record.output).toBeUndefined();
    expect(record.cost_json.total).toBe(1);
    expect(record.execution_trace_json.steps[1]).toMatchObject({
      action: 'validate_and_migrate',
      error: failure.message,
    });
    expect(record.execution_trace_json.steps[1]).not.toHaveProperty('result');
    expect(stepTotal(record)).toBeLessThanOrEqual(record.execution_trace_json.duration_ms);
  });

  it('records an aborted run in the specification’s words when a charge passes the budget', async () => {
    const runOptions = options({ run_id: `run-aborted-${context.project()}`, budgetCents: 5000 });
    const thrown = await context.ledger
      .run(runOptions, async (ctx) => {
        await ctx.step('audit_compute_resources', () => ctx.accountExternalRequest('cloud-api', 4000));
        await ctx.step('audit_networking', () => ctx.accountPenalty('runaway audit', 6000));
        await ctx.step('never_reached', () => undefined);
      })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(BudgetExceededError);
    const record = await stored(present(runOptions.run_id));
    expect(record.status).toBe('aborted');
    expect(record.error_message).toBe(
      'Execution aborted: Budget exceeded. Allocated: $50.00, Spent: $100.00',
    );
    expect(record.cost_json).toMatchObject({
      total: 10000,
      breakdown: { externalRequests: 4000, penalties: 6000 },
    });
    expect(record.execution_trace_json.steps.map((step) => step.action)).toEqual([
      'audit_compute_resources',
      'audit_networking',
    ]);
    expect(breakdownAddsUp(record)).toBe(true);
  });

  it('still records aborted, and still raises, when the run function swallows the budget error', async () => {
    const runOptions = options({ run_id: `run-swallow-${context.project()}`, budgetCents: 1 });
    const thrown = await context.ledger
      .run(runOptions, async (ctx) => {
        try {
          ctx.accountExternalRequest('api', 2);
        } catch {
          // A careless run function that carries on regardless.
        }
        return { done: true };
      })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(BudgetExceededError);
    const record = await stored(present(runOptions.run_id));
    expect(record).toMatchObject({
      status: 'aborted',
      error_message: 'Execution aborted: Budget exceeded. Allocated: $0.01, Spent: $0.02',
    });
    expect(record.output).toBeUndefined();
  });

  it('records aborted when many concurrent steps charge one run past its hard budget', async () => {
    const runOptions = options({ run_id: `run-concurrent-${context.project()}`, budgetCents: 10 });
    const thrown = await context.ledger
      .run(runOptions, (ctx) =>
        Promise.all(
          Array.from({ length: 20 }, (_, index) =>
            ctx.step(`call_${index}`, async () => {
              await sleep(index % 4);
              ctx.accountToolCall('llm');
            }),
          ),
        ),
      )
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(BudgetExceededError);
    const record = await stored(present(runOptions.run_id));
    expect(record.status).toBe('aborted');
    expect(record.cost_json.total).toBeGreaterThan(10);
    expect(record.execution_trace_json.steps.filter((step) => step.result === 'success')).toHaveLength(10);
  });

  it('records aborted with the reason when the signal aborts, and starts no further step', async () => {
    const controller = new AbortController();
    const runOptions = options({ run_id: `run-signal-${context.project()}`, signal: controller.signal });
    let reachedSecondStep = false;
    const thrown = await context.ledger
      .run(runOptions, async (ctx) => {
        await ctx.step('long_poll', async () => {
          controller.abort(new Error('operator pressed stop'));
        });
        await ctx.step('after_stop', () => {
          reachedSecondStep = true;
        });
      })
      .catch((error: unknown) => error);
    expect((thrown as Error).message).toBe('operator pressed stop');
    expect(reachedSecondStep).toBe(false);
    const record = await stored(present(runOptions.run_id));
    expect(record).toMatchObject({
      status: 'aborted',
      error_message: 'Execution aborted: operator pressed stop',
    });
    expect(record.execution_trace_json.steps).toHaveLength(1);
  });

  it('gives the run error and the recording error together when the record cannot be appended', async () => {
    const taken = makeExecution(context.project(), { run_id: `run-taken-${context.project()}` });
    await context.ledger.recordExecution(taken);
    const failure = new Error('step exploded');
    const thrown = await context.ledger
      .run(options({ run_id: taken.run_id }), () => {
        throw failure;
      })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(AggregateError);
    const { errors } = thrown as AggregateError;
    expect(errors[0]).toBe(failure);
    expect((errors[1] as LedgerError).code).toBe('RUN_ID_CONFLICT');
    expect((await stored(taken.run_id)).intent).toBe(taken.intent);
  });

  it('throws the recording error when a completed run cannot be appended', async () => {
    const taken = makeExecution(context.project(), { run_id: `run-taken2-${context.project()}` });
    await context.ledger.recordExecution(taken);
    await expectLedgerRejection(
      context.ledger.run(options({ run_id: taken.run_id }), () => ({ ok: true })),
      'RUN_ID_CONFLICT',
    );
  });

  it('hands the recording failure and the refused record to onRecordError, then ends as the run did', async () => {
    const taken = makeExecution(context.project(), { run_id: `run-taken3-${context.project()}` });
    await context.ledger.recordExecution(taken);
    const reported: [unknown, ExecutionInput][] = [];
    const result = await context.ledger.run(
      options({
        run_id: taken.run_id,
        onRecordError: (error, execution) => void reported.push([error, execution]),
      }),
      () => ({ ok: true }),
    );
    expect(result).toMatchObject({ output: { ok: true }, record: null });
    expect(reported).toHaveLength(1);
    expect((present(reported[0])[0] as LedgerError).code).toBe('RUN_ID_CONFLICT');
    expect(present(reported[0])[1]).toMatchObject({
      run_id: taken.run_id,
      status: 'completed',
      output: { ok: true },
    });
  });

  it('records the input as it was when the run started, whatever the run function does to it', async () => {
    const input = { service: 'user-api', replicas: 3 };
    const result = await context.ledger.run(options({ input }), () => {
      input.replicas = 99;
      return null;
    });
    expect((await stored(present(result.record).run_id)).input).toEqual({ service: 'user-api', replicas: 3 });
  });

  it('refuses bad options before the work starts, recording and opening nothing', async () => {
    const costManager = new CostManager();
    const runOptions: RunOptions = {
      run_id: 'run-never',
      project_id: '',
      user_id: 'user-001',
      agent_id: 'backend',
      intent: 'Deploy service',
      input: {},
      costManager,
    };
    let called = false;
    const error = await expectLedgerRejection(
      context.ledger.run(runOptions, () => {
        called = true;
      }),
      'VALIDATION_FAILED',
    );
    expect(error.field).toBe('project_id');
    expect(called).toBe(false);
    expect(costManager.hasExecution('run-never')).toBe(false);
    expect(await context.ledger.getExecutionByRunId('run-never')).toBeNull();
  });

  it('refuses steps and charges after the run has ended, and records a step left running', async () => {
    let leaked: RunContext | undefined;
    let release: () => void = () => undefined;
    const result = await context.ledger.run(options(), (ctx) => {
      leaked = ctx;
      void ctx.step('fire_and_forget', () => new Promise<void>((resolve) => (release = resolve)));
      return 'returned early';
    });
    release();
    expect(() => present(leaked).accountToolCall('late')).toThrowError(/has ended and is recorded/);
    await expectLedgerRejection(
      present(leaked).step('late', () => undefined),
      'NOT_FOUND',
    );
    const record = await stored(present(result.record).run_id);
    expect(record.execution_trace_json.steps[0]).toMatchObject({
      action: 'fire_and_forget',
      error: 'still running when the run ended (the step was not awaited)',
    });
  });
});
