import { performance } from 'node:perf_hooks';
import { DEFAULT_LIMITS, STEP_ACTION_CHARS_MAX, STEP_ERROR_CHARS_MAX } from '../bounds.js';
import { LedgerError } from '../errors.js';
import { assertJsonText, assertPlainJson, type JsonObject, type JsonValue } from '../plain-json.js';
import { requireId } from '../record.js';
import { STEP_KINDS, type StepKind } from '../step-shape.js';
import type { ExecutionStep, ExecutionTrace } from '../types.js';
import type { CostManager, TokenChargeOptions } from './cost-manager.js';
import type { CostMetrics } from './cost-metrics.js';
import type { Reservation } from './run-costs.js';
import { StepCharges, type StepLabels } from './step-attribution.js';

interface StepState {
  io: { request: string; response: string } | undefined;
  timestamp: string;
  action: string;
  startMs: number;
  endMs: number | undefined;
  error: string | undefined;
  charges: StepCharges;
  labels: StepLabels;
}

/** One call a run function makes through `ctx.call`, as the handler that answers it sees it. */
export interface CapturedCall {
  /** 0 for the run's first call, 1 for the next… */
  index: number;
  kind: StepKind;
  name: string;
  request: JsonValue;
  /** Makes the call for real. */
  live: () => Promise<JsonValue>;
}

/** Answers calls: live and captured (ledger.run with capture), or from a recording (replayRun). */
export interface CallHandler {
  answer(call: CapturedCall): Promise<{ response: JsonValue; io: { request: string; response: string } }>;
}

export interface RunContextOptions {
  runId: string;
  /** How `ctx.call` is answered; without one a call is an ordinary step, nothing captured. */
  calls?: CallHandler;
  costs: CostManager;
  signal: AbortSignal;
  stepsMax: number;
  messageCharsMax: number;
}

/**
 * What a run function receives: steps that time themselves into the trace, and charges that go
 * to this run's budget. Times are whole milliseconds since the run began, so a step's duration
 * is the difference of two such offsets and sequential steps never add up to more than the run.
 */
export class RunContext {
  readonly runId: string;
  /** Aborted when the caller's signal is: long work should pass it on or check it. */
  readonly signal: AbortSignal;
  readonly #options: RunContextOptions;
  readonly #steps: StepState[] = [];
  readonly #startedMs = performance.now();
  #ended = false;
  #calls = 0;

  constructor(options: RunContextOptions) {
    this.runId = options.runId;
    this.signal = options.signal;
    this.#options = options;
  }

  /**
   * Runs `fn` as one traced step; refused once the signal is aborted, so work stops at a step
   * boundary. Every charge made inside it is the step's (docs/costs.md, "Cost by step"); its
   * kind, name and model are inferred from those charges unless `labels` gives them.
   */
  async step<T>(action: string, fn: () => T | Promise<T>, labels: StepLabels = {}): Promise<T> {
    return this.#step(action, () => fn(), labels);
  }

  /**
   * A model call, tool call or external request as one step (docs/replay.md): `fn(request)` makes
   * it. With capture on, the request and the response (after the redaction hook) are stored as
   * content-addressed blobs and the step keeps their SHA-256 in `io`; under replayRun the
   * recorded response is served instead, in order. Request and response must be plain JSON.
   * Charge what the call cost in `charge(response)`: it runs inside the step for a live and a
   * replayed response alike, so a replay costs what the original did (`fn` is not run then).
   */
  async call<T extends JsonValue>(
    kind: StepKind,
    name: string,
    request: JsonValue,
    fn: (request: JsonValue) => T | Promise<T>,
    options: { charge?: (response: T) => void } = {},
  ): Promise<T> {
    this.#assertOpen();
    if (!(STEP_KINDS as readonly unknown[]).includes(kind)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `kind must be one of ${STEP_KINDS.join(', ')}; got ${String(kind)}`,
        {
          field: 'kind',
        },
      );
    }
    assertPlainJson(request, 'request', DEFAULT_LIMITS.json_depth_max);
    const index = this.#calls;
    this.#calls += 1;
    const handler = this.#options.calls;
    return this.#step(
      name,
      async (state) => {
        let response: T;
        if (handler === undefined) response = await fn(request);
        else {
          const answered = await handler.answer({
            index,
            kind,
            name,
            request,
            live: async () => fn(request),
          });
          state.io = answered.io;
          response = answered.response as T;
        }
        options.charge?.(response);
        return response;
      },
      { kind, name },
    );
  }

  async #step<T>(action: string, fn: (state: StepState) => T | Promise<T>, labels: StepLabels): Promise<T> {
    this.#assertOpen();
    const checkedLabels = checkLabels(labels);
    if (typeof action !== 'string' || action.trim() === '' || action.length > STEP_ACTION_CHARS_MAX) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `action must be a non-empty string of at most ${STEP_ACTION_CHARS_MAX} characters, e.g. 'deploy_kubernetes'`,
        { field: 'action' },
      );
    }
    assertJsonText(action, 'action');
    if (this.#steps.length >= this.#options.stepsMax) {
      throw new LedgerError(
        'PAYLOAD_TOO_LARGE',
        `run ${JSON.stringify(this.runId)} already has ${this.#steps.length} steps, the most a trace holds; ` +
          'group small steps into one, or raise limits.trace_steps_max',
        { field: 'execution_trace.steps' },
      );
    }
    this.signal.throwIfAborted();
    const state: StepState = {
      io: undefined,
      timestamp: new Date().toISOString(),
      action,
      startMs: this.#nowMs(),
      endMs: undefined,
      error: undefined,
      charges: new StepCharges(),
      labels: checkedLabels,
    };
    this.#steps.push(state);
    try {
      return await this.#options.costs.inStep(this.runId, state.charges, () => fn(state));
    } catch (error) {
      state.error = errorText(error, Math.min(STEP_ERROR_CHARS_MAX, this.#options.messageCharsMax));
      throw error;
    } finally {
      state.endMs = this.#nowMs();
    }
  }

  accountTokens(inputTokens: number, outputTokens: number, options?: TokenChargeOptions): void {
    this.#costs().accountTokens(this.runId, inputTokens, outputTokens, options);
  }

  accountToolCall(toolName: string): void {
    this.#costs().accountToolCall(this.runId, toolName);
  }

  accountExternalRequest(service: string, count?: number): void {
    this.#costs().accountExternalRequest(this.runId, service, count);
  }

  accountPenalty(reason: string, cents: number): void {
    this.#costs().accountPenalty(this.runId, reason, cents);
  }

  reserve(estimatedCents: number): Reservation {
    return this.#costs().reserve(this.runId, estimatedCents);
  }

  settle(reservation: Reservation): void {
    this.#costs().settle(reservation);
  }

  isBudgetExceeded(): boolean {
    return this.#costs().isBudgetExceeded(this.runId);
  }

  getMetrics(): CostMetrics {
    return this.#costs().getMetrics(this.runId);
  }

  /**
   * Closes the context and returns the trace; a step still running is recorded as such. Each
   * step carries what it cost; `outside` (CostManager.getOutsideSteps) follows them, so the
   * steps account for every charge of the run and their costs add up to its total.
   */
  end(metrics: CostMetrics, outside: JsonObject[] = []): ExecutionTrace {
    this.#ended = true;
    const endMs = this.#nowMs();
    const steps = this.#steps.map((state): ExecutionStep => {
      const step: ExecutionStep = {
        timestamp: state.timestamp,
        action: state.action,
        started_ms: state.startMs,
        duration_ms: (state.endMs ?? endMs) - state.startMs,
      };
      if (state.endMs === undefined)
        step.error = 'still running when the run ended (the step was not awaited)';
      else if (state.error !== undefined) step.error = state.error;
      else step.result = 'success';
      step.status = step.error === undefined ? 'ok' : 'error';
      if (state.io !== undefined) step.io = state.io;
      return Object.assign(step, state.charges.fields(state.labels));
    });
    steps.push(...outside);
    const trace: ExecutionTrace = {
      steps,
      duration_ms: endMs,
      tool_calls: metrics.toolCalls,
      api_calls: metrics.externalRequests,
    };
    if (metrics.budget !== null) trace.budget_cents = metrics.budget;
    return trace;
  }

  #costs(): CostManager {
    this.#assertOpen();
    return this.#options.costs;
  }

  #assertOpen(): void {
    if (this.#ended) {
      throw new LedgerError(
        'NOT_FOUND',
        `run ${JSON.stringify(this.runId)} has ended and is recorded, so it takes no more steps or charges; ` +
          'await every step and charge inside the run function',
        { field: 'run_id' },
      );
    }
  }

  #nowMs(): number {
    return Math.round(performance.now() - this.#startedMs);
  }
}

/** The labels a caller gave a step, checked now so a bad one fails the step, not the record. */
function checkLabels(labels: StepLabels): StepLabels {
  if (labels === null || typeof labels !== 'object') {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'labels must be an object such as { kind: "tool", name: "deploy" }',
      {
        field: 'labels',
      },
    );
  }
  const checked: StepLabels = {};
  if (labels.kind !== undefined) {
    if (!(STEP_KINDS as readonly unknown[]).includes(labels.kind)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `labels.kind must be one of ${STEP_KINDS.join(', ')}; got ${JSON.stringify(labels.kind) ?? typeof labels.kind}`,
        { field: 'labels.kind' },
      );
    }
    checked.kind = labels.kind;
  }
  if (labels.name !== undefined) checked.name = requireId(labels.name, 'labels.name', DEFAULT_LIMITS);
  if (labels.model !== undefined) checked.model = requireId(labels.model, 'labels.model', DEFAULT_LIMITS);
  return checked;
}

/** An error's message as text the ledger can store: never empty, well-formed, without NUL, bounded. */
export function errorText(error: unknown, charsMax: number): string {
  const raw = error instanceof Error ? error.message || error.name : String(error);
  const text = (raw.trim() === '' ? 'unknown error' : raw).replaceAll('\u0000', '\uFFFD').toWellFormed();
  if (text.length <= charsMax) return text;
  // Cut at a code point boundary so the shortened text stays well-formed.
  return `${text.slice(0, charsMax - 1)}…`.toWellFormed();
}
