import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { LedgerLimits } from '../bounds.js';
import { LedgerError } from '../errors.js';
import { normalizeExecution } from '../record.js';
import type { BlobStore } from '../replay/blob-store.js';
import { type CaptureOptions, CapturingHandler, checkCaptureOptions } from '../replay/call-capture.js';
import type { ExecutionInput, ExecutionStatus, ExecutionTrace, RecordedExecution } from '../types.js';
import { BudgetExceededError } from './budget-exceeded-error.js';
import { CostManager, type DatabaseBudgets, getCostManager } from './cost-manager.js';
import type { CostMetrics } from './cost-metrics.js';
import { toExecutionCost } from './execution-cost.js';
import type { PriceTable } from './price-table.js';
import type { PriceTableInput } from './price-table-input.js';
import { type CallHandler, errorText, RunContext } from './run-context.js';
import type { BudgetEnforcement } from './run-costs.js';

export interface RunOptions {
  /** The run's id; a new `run-<uuid>` when absent. */
  run_id?: string;
  project_id: string;
  user_id: string;
  agent_id: string;
  parent_run_id?: string | null;
  intent: string;
  input: Record<string, unknown>;
  /** The run's budget in cents; none when absent. */
  budgetCents?: number;
  /**
   * Reserve this many cents against the database budgets of the run's project, agent and user
   * before the run function starts (BUDGET_BLOCKED, and no run, when a block budget cannot
   * afford it). The run's own budget is capped at it, and the recorded run settles it.
   */
  reserveCents?: number;
  /** How long the reservation holds if this process dies before settling it; default 5 minutes. */
  reserveTtlMs?: number;
  enforce?: BudgetEnforcement;
  /** Prices for this run; default those of `costManager`. */
  prices?: PriceTable | PriceTableInput;
  /** Where the run's charges are counted; default getCostManager(). */
  costManager?: CostManager;
  /** Aborting it ends the run as 'aborted' once the run function gives up. */
  signal?: AbortSignal;
  /**
   * Called when the run's record cannot be appended, with the record that was refused (append
   * it again later: the same content replays). Without it, that failure is thrown.
   */
  onRecordError?: (error: unknown, execution: ExecutionInput) => void | Promise<void>;
  /**
   * Capture what each `ctx.call` sends and receives as content-addressed blobs, after the
   * redaction hook, so the run can be replayed (docs/replay.md). Off by default.
   */
  capture?: boolean | CaptureOptions;
}

export interface RunResult<T> {
  output: T;
  /** The appended record; null only when onRecordError took a failure to append. */
  record: RecordedExecution | null;
  metrics: CostMetrics;
}

/** What the run helper needs of a ledger. */
export interface RunRecorder {
  readonly limits: LedgerLimits;
  /** The database budgets; needed only for runs with `reserveCents`. */
  readonly budgets?: DatabaseBudgets;
  recordExecution(execution: ExecutionInput): Promise<RecordedExecution>;
  /** Where captured requests and responses are stored. */
  readonly blobs?: BlobStore;
}

type Settled<T> = { ok: true; output: T } | { ok: false; error: unknown };

interface Ending {
  status: ExecutionStatus;
  errorMessage: string | null;
  /** What the caller gets thrown unless completed: the run's own error, or the budget error it swallowed. */
  error: unknown;
}

/**
 * Runs `fn` as one execution and appends exactly one record for it: 'completed' with its output,
 * 'failed' with its error, or 'aborted' when the hard budget was passed or the signal aborted.
 * The run's own error is always what the caller gets; a failure to record is never swallowed.
 */
export async function runExecution<T>(
  recorder: RunRecorder,
  options: RunOptions,
  fn: (context: RunContext) => T | Promise<T>,
  calls?: CallHandler,
): Promise<RunResult<T>> {
  const handler = calls ?? captureHandler(recorder, options);
  const { costs, fields } = prepareRun(recorder, options, fn);
  const runId = fields.run_id;
  const reserved = options.reserveCents !== undefined;
  if (reserved) await reserveForRun(recorder, costs, fields, options);
  const context = new RunContext({
    runId,
    ...(handler === undefined ? {} : { calls: handler }),
    costs,
    signal: options.signal ?? new AbortController().signal,
    stepsMax: recorder.limits.trace_steps_max,
    messageCharsMax: recorder.limits.error_message_chars_max,
  });
  let settled: Settled<T>;
  try {
    settled = { ok: true, output: await fn(context) };
  } catch (error) {
    settled = { ok: false, error };
  }
  // Synchronous from here to the append: no charge of a straggling task can slip in between.
  const outside = costs.getOutsideSteps(runId);
  const metrics = costs.endExecution(runId);
  const trace = context.end(metrics, outside);
  const ending = endingOf(settled, metrics, context.signal, recorder.limits.error_message_chars_max);
  const execution = buildExecution(fields, settled, ending, trace, metrics);
  let record: RecordedExecution | null = null;
  try {
    record = await recorder.recordExecution(execution);
  } catch (recordError) {
    if (reserved) await costs.releaseExecution(runId);
    await reportRecordFailure(options, execution, ending, recordError);
  }
  // The recorded run's exact cost settles the hold (its spend was counted when it was appended).
  if (reserved && record !== null) await costs.settleExecution(runId, { run_id: record.run_id });
  if (ending.status !== 'completed') throw ending.error;
  assert(settled.ok, 'a run that did not fail returned its output');
  return { output: settled.output, record, metrics };
}

function captureHandler(recorder: RunRecorder, options: RunOptions): CallHandler | undefined {
  if (options?.capture === undefined || options.capture === false) return undefined;
  const capture = checkCaptureOptions(options.capture);
  if (recorder.blobs === undefined) {
    throw new LedgerError('VALIDATION_FAILED', 'capture needs a ledger to store blobs in; use ledger.run()', {
      field: 'capture',
    });
  }
  return new CapturingHandler(recorder.blobs, capture);
}

type RecordFields = Pick<
  ExecutionInput,
  'run_id' | 'project_id' | 'user_id' | 'agent_id' | 'parent_run_id' | 'intent' | 'input'
>;

/**
 * Checks everything the record will need before any work starts, takes a copy of the input as
 * it is now (the run function may change the caller's object), then opens the cost run.
 */
function prepareRun(
  recorder: RunRecorder,
  options: RunOptions,
  fn: unknown,
): { costs: CostManager; fields: RecordFields } {
  if (options === null || typeof options !== 'object') {
    throw new LedgerError('VALIDATION_FAILED', 'options must be an object: { project_id, user_id, … }', {
      field: 'options',
    });
  }
  if (typeof fn !== 'function') {
    throw new LedgerError('VALIDATION_FAILED', 'fn must be the run function, (ctx) => output', {
      field: 'fn',
    });
  }
  if (options.prices !== undefined && options.costManager !== undefined) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'prices and costManager were both given; pass prices only, or build the CostManager with them',
      { field: 'prices' },
    );
  }
  const fields: RecordFields = {
    run_id: options.run_id ?? `run-${randomUUID()}`,
    project_id: options.project_id,
    user_id: options.user_id,
    agent_id: options.agent_id,
    parent_run_id: options.parent_run_id ?? null,
    intent: options.intent,
    input: options.input,
  };
  const draft = { ...fields, cost: 0, execution_trace: { steps: [], duration_ms: 0 }, status: 'completed' };
  normalizeExecution(draft, recorder.limits);
  fields.input = structuredClone(options.input);
  const costs =
    options.prices === undefined
      ? (options.costManager ?? getCostManager())
      : new CostManager({ prices: options.prices });
  const budgetCents = runBudgetCents(options);
  // A run with a database reservation is opened once the reservation is granted (reserveForRun).
  if (options.reserveCents === undefined) {
    costs.createExecution(
      fields.run_id,
      options.agent_id,
      budgetCents,
      options.enforce === undefined ? {} : { enforce: options.enforce },
    );
  }
  return { costs, fields };
}

/** The run's own budget: the smaller of budgetCents and the database reservation. */
function runBudgetCents(options: RunOptions): number | null {
  const { budgetCents, reserveCents } = options;
  if (reserveCents === undefined) return budgetCents ?? null;
  if (typeof reserveCents !== 'number' || !Number.isFinite(reserveCents) || reserveCents < 0) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `reserveCents must be a number of cents, zero or more; got ${String(reserveCents)}`,
      {
        field: 'reserveCents',
      },
    );
  }
  return budgetCents === undefined ? reserveCents : Math.min(budgetCents, reserveCents);
}

/**
 * Reserves against the database budgets of the run's scope and opens the cost run, through the
 * cost manager (the same path as CostManager.createReservedExecution).
 */
async function reserveForRun(
  recorder: RunRecorder,
  costs: CostManager,
  fields: RecordFields,
  options: RunOptions,
): Promise<void> {
  if (recorder.budgets === undefined) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'reserveCents needs a ledger with database budgets; call ledger.run(), not runExecution() on another recorder',
      { field: 'reserveCents' },
    );
  }
  await costs.createReservedExecution(fields.run_id, fields.agent_id, {
    project_id: fields.project_id,
    user_id: fields.user_id,
    reserveCents: options.reserveCents ?? 0,
    ...(options.budgetCents === undefined ? {} : { budgetCents: options.budgetCents }),
    ...(options.enforce === undefined ? {} : { enforce: options.enforce }),
    ...(options.reserveTtlMs === undefined ? {} : { ttlMs: options.reserveTtlMs }),
    budgets: recorder.budgets,
  });
}

function endingOf<T>(
  settled: Settled<T>,
  metrics: CostMetrics,
  signal: AbortSignal,
  charsMax: number,
): Ending {
  const error = settled.ok ? undefined : settled.error;
  if (error instanceof BudgetExceededError) {
    return { status: 'aborted', errorMessage: error.abortMessage, error };
  }
  // A hard budget passed counts even when the run function caught the budget error and went on.
  if (metrics.enforce === 'throw' && metrics.budgetExceeded) {
    // Only a budget can be exceeded.
    assert(metrics.budget !== null && metrics.budget !== undefined);
    const budgetError = new BudgetExceededError(metrics.runId, metrics.budget, metrics.totalCost);
    return {
      status: 'aborted',
      errorMessage: budgetError.abortMessage,
      error: error ?? budgetError,
    };
  }
  if (settled.ok) return { status: 'completed', errorMessage: null, error: undefined };
  if (signal.aborted) {
    const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
    return {
      status: 'aborted',
      errorMessage: errorText(`Execution aborted: ${reason}`, charsMax),
      error,
    };
  }
  return { status: 'failed', errorMessage: errorText(error, charsMax), error };
}

function buildExecution<T>(
  fields: RecordFields,
  settled: Settled<T>,
  ending: Ending,
  trace: ExecutionTrace,
  metrics: CostMetrics,
): ExecutionInput {
  const execution: ExecutionInput = {
    ...fields,
    cost: toExecutionCost(metrics),
    execution_trace: trace,
    status: ending.status,
  };
  if (ending.status === 'completed' && settled.ok && settled.output !== undefined) {
    execution.output = settled.output;
  }
  if (ending.errorMessage !== null) execution.error_message = ending.errorMessage;
  return execution;
}

/**
 * The hook, when given, takes the recording failure and the run ends as it would have. Without
 * it the caller gets both errors: an AggregateError whose first error is the run's own.
 */
async function reportRecordFailure(
  options: RunOptions,
  execution: ExecutionInput,
  ending: Ending,
  recordError: unknown,
): Promise<void> {
  const completed = ending.status === 'completed';
  const runErrors = completed ? [] : [ending.error];
  const summary = `run ${execution.run_id} ended ${ending.status} but its record could not be appended`;
  if (options.onRecordError === undefined) {
    if (completed) throw recordError;
    throw new AggregateError([...runErrors, recordError], `${summary}; errors[0] is the run's error`);
  }
  try {
    await options.onRecordError(recordError, execution);
  } catch (hookError) {
    throw new AggregateError([...runErrors, recordError, hookError], `${summary}, and onRecordError threw`);
  }
}
