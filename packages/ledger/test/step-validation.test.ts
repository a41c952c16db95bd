import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { DEFAULT_LIMITS, type ExecutionInput, type LedgerErrorCode } from 'execution-ledger';
import { normalizeExecution } from 'execution-ledger/validation';
import { expect, it } from 'vitest';

const HASH = 'a'.repeat(64);

/** A run of 850 cents whose three typed steps account for every cent. */
function typedRun(projectId: string, steps?: Record<string, unknown>[]): ExecutionInput {
  return makeExecution(projectId, {
    execution_trace: {
      steps: steps ?? [
        {
          action: 'plan',
          kind: 'llm',
          name: 'gpt-4o',
          model: 'gpt-4o',
          started_ms: 0,
          duration_ms: 120,
          status: 'ok',
          cost: 300,
          tokens: { input: 1000, output: 200, cached_input: 100 },
          io: { request: HASH, response: HASH },
        },
        {
          action: 'deploy',
          kind: 'tool',
          name: 'deploy',
          started_ms: 120,
          duration_ms: 900,
          cost: 449.999999,
        },
        {
          action: 'notify',
          kind: 'external',
          name: 'slack',
          duration_ms: 30,
          status: 'error',
          error: 'timeout',
          cost: 100.000001,
          child_run_id: 'run-child-1',
        },
        // A free-form step beside typed ones: no cost, checked as before.
        { timestamp: '2026-02-13T10:30:00Z', action: 'log', duration_ms: 1, result: 'success' },
      ],
      duration_ms: 1050,
    },
  });
}

type Change = (steps: Record<string, unknown>[]) => void;
type Case = [title: string, change: Change, code: LedgerErrorCode, field: string];

const CASES: Case[] = [
  [
    'an unknown kind',
    (s) => Object.assign(present(s[1]), { kind: 'robot' }),
    'VALIDATION_FAILED',
    'execution_trace.steps[1].kind',
  ],
  [
    'a cost as a string',
    (s) => Object.assign(present(s[1]), { cost: '449' }),
    'VALIDATION_FAILED',
    'execution_trace.steps[1].cost',
  ],
  [
    'a negative cost',
    (s) => Object.assign(present(s[1]), { cost: -1 }),
    'VALIDATION_FAILED',
    'execution_trace.steps[1].cost',
  ],
  [
    'a cost with seven decimals',
    (s) => Object.assign(present(s[2]), { cost: 100.0000011 }),
    'VALIDATION_FAILED',
    'execution_trace.steps[2].cost',
  ],
  [
    'a typed step without action',
    (s) => delete present(s[1]).action,
    'VALIDATION_FAILED',
    'execution_trace.steps[1].action',
  ],
  [
    'a typed step without duration',
    (s) => delete present(s[0]).duration_ms,
    'VALIDATION_FAILED',
    'execution_trace.steps[0].duration_ms',
  ],
  [
    'an empty name',
    (s) => Object.assign(present(s[1]), { name: '' }),
    'VALIDATION_FAILED',
    'execution_trace.steps[1].name',
  ],
  [
    'a model with a newline',
    (s) => Object.assign(present(s[0]), { model: 'gpt\n4o' }),
    'VALIDATION_FAILED',
    'execution_trace.steps[0].model',
  ],
  [
    'a negative start',
    (s) => Object.assign(present(s[1]), { started_ms: -5 }),
    'VALIDATION_FAILED',
    'execution_trace.steps[1].started_ms',
  ],
  [
    'an unknown status',
    (s) => Object.assign(present(s[1]), { status: 'done' }),
    'VALIDATION_FAILED',
    'execution_trace.steps[1].status',
  ],
  [
    'an empty error',
    (s) => Object.assign(present(s[2]), { error: '' }),
    'VALIDATION_FAILED',
    'execution_trace.steps[2].error',
  ],
  [
    'fractional tokens',
    (s) => Object.assign(present(s[0]), { tokens: { input: 1.5, output: 2 } }),
    'VALIDATION_FAILED',
    'execution_trace.steps[0].tokens.input',
  ],
  [
    'tokens without output',
    (s) => Object.assign(present(s[0]), { tokens: { input: 10 } }),
    'VALIDATION_FAILED',
    'execution_trace.steps[0].tokens.output',
  ],
  [
    'cached input above input',
    (s) => Object.assign(present(s[0]), { tokens: { input: 10, output: 1, cached_input: 11 } }),
    'VALIDATION_FAILED',
    'execution_trace.steps[0].tokens.cached_input',
  ],
  [
    'an unknown token field',
    (s) => Object.assign(present(s[0]), { tokens: { input: 10, output: 1, reasoning: 3 } }),
    'VALIDATION_FAILED',
    'execution_trace.steps[0].tokens.reasoning',
  ],
  [
    'an io hash that is not hex',
    (s) => Object.assign(present(s[0]), { io: { request: 'abc' } }),
    'VALIDATION_FAILED',
    'execution_trace.steps[0].io.request',
  ],
  [
    'an unknown io field',
    (s) => Object.assign(present(s[0]), { io: { prompt: HASH } }),
    'VALIDATION_FAILED',
    'execution_trace.steps[0].io.prompt',
  ],
  [
    'a child run id with surrounding spaces',
    (s) => Object.assign(present(s[2]), { child_run_id: ' run-1' }),
    'VALIDATION_FAILED',
    'execution_trace.steps[2].child_run_id',
  ],
  [
    'step costs one micro-cent short of the total',
    (s) => Object.assign(present(s[1]), { cost: 449.999998 }),
    'COST_MISMATCH',
    'execution_trace.steps',
  ],
  [
    'step costs above the total',
    (s) => s.push({ action: 'retry', kind: 'other', duration_ms: 0, cost: 1 }),
    'COST_MISMATCH',
    'execution_trace.steps',
  ],
  [
    'a step without cost where the others do not cover the total',
    (s) => delete present(s[2]).cost,
    'COST_MISMATCH',
    'execution_trace.steps',
  ],
];

describeEachEngine('typed trace steps', (context) => {
  it('stores typed steps beside free-form ones exactly as given', async () => {
    const execution = typedRun(context.project());
    const record = await context.ledger.recordExecution(execution);
    expect(record.execution_trace_json).toEqual(execution.execution_trace);
    expect((await context.ledger.verifyLedger(execution.project_id)).ok).toBe(true);
  });

  it('accepts a kind without a cost, and free-form steps with any other keys', async () => {
    const execution = typedRun(context.project(), [
      { action: 'think', kind: 'agent', duration_ms: 5 },
      { action: 'free', duration_ms: 3, status: 'whatever', name: 42, cost_note: 'none' },
    ]);
    await context.ledger.recordExecution(execution);
    expect((await context.ledger.getExecutionByRunId(execution.run_id))?.execution_trace_json).toEqual(
      execution.execution_trace,
    );
  });

  it.each(CASES)(
    'rejects %s, naming the step and field, and stores nothing',
    async (_title, change, code, field) => {
      const execution = typedRun(context.project());
      change(execution.execution_trace.steps as Record<string, unknown>[]);
      const error = await expectLedgerError(context.ledger.recordExecution(execution), code, field);
      expect(error.message).toContain(field);
      expect((await context.ledger.listExecutionsByProject(execution.project_id)).total).toBe(0);
      expect(await context.ledger.getExecutionByRunId(execution.run_id)).toBeNull();
    },
  );
});

it('compares step costs in micro-cents, so 0.1 + 0.2 matches a total of 0.3', () => {
  const execution = typedRun('proj-sum', [
    { action: 'a', kind: 'llm', duration_ms: 1, cost: 0.1 },
    { action: 'b', kind: 'tool', duration_ms: 1, cost: 0.2 },
  ]);
  execution.cost = 0.3;
  expect(() => normalizeExecution(execution, DEFAULT_LIMITS)).not.toThrow();
});
