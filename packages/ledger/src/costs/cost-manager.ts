import {
  CHARGE_REQUESTS_MAX,
  CHARGE_TOKENS_MAX,
  COST_RUNS_OPEN_MAX,
  DEFAULT_LIMITS,
  PENALTY_REASON_CHARS_MAX,
  RUN_COST_MICRO_CENTS_MAX,
} from '../bounds.js';
import { LedgerError } from '../errors.js';
import { centsToMicros, microsToCents } from '../money.js';
import { assertJsonText, type JsonObject } from '../plain-json.js';
import { requireId } from '../record.js';
import type { ExecutionCost } from '../types.js';
import { buildMetrics, type CostMetrics } from './cost-metrics.js';
import { DEFAULT_PRICE_TABLE } from './default-prices.js';
import { toExecutionCost } from './execution-cost.js';
import { PriceTable } from './price-table.js';
import type { PriceTableInput } from './price-table-input.js';
import { type BudgetEnforcement, type Reservation, RunCosts } from './run-costs.js';
import { outsideSteps, runInStep, type StepCharges } from './step-attribution.js';

export interface CostManagerOptions {
  /** The prices charges are computed from; default the built-in table (DEFAULT_PRICES). */
  prices?: PriceTable | PriceTableInput;
  /** How budgets behave unless a run says otherwise; default 'throw'. */
  enforce?: BudgetEnforcement;
  /** Runs held open at once; default COST_RUNS_OPEN_MAX. */
  runsOpenMax?: number;
}

export interface CreateExecutionOptions {
  enforce?: BudgetEnforcement;
}

export interface TokenChargeOptions {
  /** The model's entry in the price table; default the table's defaultModel. */
  model?: string;
  /** How many of `inputTokens` were read from the provider's cache (priced at the cached rate). */
  cachedInputTokens?: number;
}

const BUDGET_CENTS_MAX = microsToCents(RUN_COST_MICRO_CENTS_MAX);
const ENFORCEMENTS: readonly BudgetEnforcement[] = ['throw', 'check'];

/**
 * Counts what each run uses (tokens per model, tool calls, external requests, penalties),
 * prices it from a versioned table in exact micro-cents, and enforces each run's budget.
 * State lives in this process; every method is synchronous, so a charge is atomic with
 * respect to every other async task of the process.
 */
export class CostManager {
  readonly prices: PriceTable;
  readonly enforce: BudgetEnforcement;
  readonly #runsOpenMax: number;
  readonly #runs = new Map<string, RunCosts>();

  constructor(options: CostManagerOptions = {}) {
    this.prices = options.prices === undefined ? DEFAULT_PRICE_TABLE : PriceTable.from(options.prices);
    this.enforce = requireEnforcement(options.enforce ?? 'throw', 'enforce');
    this.#runsOpenMax = options.runsOpenMax ?? COST_RUNS_OPEN_MAX;
    if (!Number.isSafeInteger(this.#runsOpenMax) || this.#runsOpenMax < 1) {
      fail('runsOpenMax', `must be a positive whole number; got ${String(options.runsOpenMax)}`);
    }
  }

  /** Opens a run with an optional budget in cents (null or absent: no budget). */
  createExecution(
    runId: string,
    agentId: string,
    budgetCents?: number | null,
    options: CreateExecutionOptions = {},
  ): void {
    requireId(runId, 'runId', DEFAULT_LIMITS);
    requireId(agentId, 'agentId', DEFAULT_LIMITS);
    const budget = budgetCents == null ? null : centsToMicros(budgetCents, 'budgetCents', BUDGET_CENTS_MAX);
    const enforce = requireEnforcement(options.enforce ?? this.enforce, 'options.enforce');
    if (this.#runs.has(runId)) {
      throw new LedgerError(
        'RUN_ID_CONFLICT',
        `runId ${JSON.stringify(runId)} is already open in this cost manager; use a new run id, or endExecution() the old run first`,
        { field: 'runId' },
      );
    }
    if (this.#runs.size >= this.#runsOpenMax) {
      throw new LedgerError(
        'TOO_MANY_RUNS',
        `this cost manager already holds ${this.#runs.size} open runs, its maximum; call endExecution(runId) when a run is recorded`,
        { field: 'runId' },
      );
    }
    this.#runs.set(runId, new RunCosts(runId, agentId, budget, enforce, this.prices));
  }

  /** Charges tokens of one model call; cached input is part of `inputTokens` and priced once. */
  accountTokens(
    runId: string,
    inputTokens: number,
    outputTokens: number,
    options: TokenChargeOptions = {},
  ): void {
    const run = this.#run(runId);
    const input = requireCount(inputTokens, 'inputTokens', CHARGE_TOKENS_MAX);
    const output = requireCount(outputTokens, 'outputTokens', CHARGE_TOKENS_MAX);
    const cached = requireCount(options.cachedInputTokens ?? 0, 'cachedInputTokens', CHARGE_TOKENS_MAX);
    if (cached > input) {
      fail(
        'cachedInputTokens',
        `is ${cached} but inputTokens is ${input}; cached tokens are the part of inputTokens served from the cache, ` +
          'so pass inputTokens including them',
      );
    }
    const model = run.prices.resolveModel(
      options.model === undefined ? undefined : requireId(options.model, 'model', DEFAULT_LIMITS),
    );
    run.addTokens(model, input, cached, output);
  }

  accountToolCall(runId: string, toolName: string): void {
    const run = this.#run(runId);
    run.addUnits('toolCalls', requireId(toolName, 'toolName', DEFAULT_LIMITS), 1n);
  }

  accountExternalRequest(runId: string, service: string, count = 1): void {
    const run = this.#run(runId);
    const name = requireId(service, 'service', DEFAULT_LIMITS);
    run.addUnits('externalRequests', name, requireCount(count, 'count', CHARGE_REQUESTS_MAX));
  }

  /** Adds a fixed amount in cents, kept apart from priced usage under its reason. */
  accountPenalty(runId: string, reason: string, cents: number): void {
    const run = this.#run(runId);
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > PENALTY_REASON_CHARS_MAX) {
      fail('reason', `must be a non-empty string of at most ${PENALTY_REASON_CHARS_MAX} characters`);
    }
    assertJsonText(reason, 'reason');
    run.addPenalty(reason, centsToMicros(cents, 'cents', BUDGET_CENTS_MAX));
  }

  /** True once spend is above the budget (holds do not count: nothing is spent yet). */
  isBudgetExceeded(runId: string): boolean {
    return this.#run(runId).isExceeded;
  }

  /**
   * Holds `estimatedCents` of the budget before doing work, so that concurrent tasks cannot all
   * start work the run cannot afford. Under 'throw' a hold that does not fit raises
   * BUDGET_EXCEEDED and holds nothing; under 'check' it is granted with `withinBudget: false`.
   */
  reserve(runId: string, estimatedCents: number): Reservation {
    const run = this.#run(runId);
    return run.reserve(centsToMicros(estimatedCents, 'estimatedCents', BUDGET_CENTS_MAX), estimatedCents);
  }

  /** Releases a hold once the work is done and its real cost has been charged. */
  settle(reservation: Reservation): void {
    if (reservation === null || typeof reservation !== 'object') {
      fail('reservation', 'must be the object reserve() returned');
    }
    this.#run(reservation.runId).settle(reservation);
  }

  getMetrics(runId: string): CostMetrics {
    return buildMetrics(this.#run(runId));
  }

  /** The ledger's `cost` for the run: breakdown, exact total, pricing provenance. */
  getExecutionCost(runId: string): ExecutionCost {
    return toExecutionCost(this.getMetrics(runId));
  }

  /** Closes a run and frees its state; returns its final metrics. */
  endExecution(runId: string): CostMetrics {
    const metrics = this.getMetrics(runId);
    this.#runs.delete(runId);
    return metrics;
  }

  /**
   * Runs `fn` as one step of the run: every charge to the run made from inside it (including its
   * async work) is added to `charges` instead of to the charges outside steps. Steps nest; a
   * charge goes to the innermost. RunContext.step uses it; so can a hand-written integration.
   */
  inStep<T>(runId: string, charges: StepCharges, fn: () => T): T {
    return runInStep(this.#run(runId), charges, fn);
  }

  /**
   * The run's charges made outside every step, as typed steps (one per model, tool and service,
   * one for all penalties), with exact costs. A trace whose steps are these (and the steps made
   * with inStep) accounts for every charge, so its step costs add up to the run's total.
   */
  getOutsideSteps(runId: string): JsonObject[] {
    return outsideSteps(this.#run(runId).outside);
  }

  hasExecution(runId: string): boolean {
    return this.#runs.has(runId);
  }

  #run(runId: string): RunCosts {
    // An open run's id was validated when it was created; only a miss needs the checks.
    const run = this.#runs.get(runId) ?? this.#runs.get(requireId(runId, 'runId', DEFAULT_LIMITS));
    if (run === undefined) {
      throw new LedgerError(
        'NOT_FOUND',
        `runId ${JSON.stringify(runId)} is not open in this cost manager; call createExecution(runId, agentId, ` +
          'budgetCents) first (a run stops taking charges once it has ended)',
        { field: 'runId' },
      );
    }
    return run;
  }
}

let current: CostManager | undefined;

/** The process-wide cost manager, as in the specification; built-in prices unless initialised. */
export function getCostManager(): CostManager {
  current ??= new CostManager();
  return current;
}

/** Sets the process-wide cost manager (your prices, your enforcement) and returns it. */
export function initializeCostManager(manager: CostManager | CostManagerOptions = {}): CostManager {
  current = manager instanceof CostManager ? manager : new CostManager(manager);
  return current;
}

function requireCount(value: unknown, field: string, max: number): bigint {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    fail(
      field,
      `must be a whole number from 0 to ${max}; got ${typeof value === 'number' ? value : typeof value}`,
    );
  }
  return BigInt(value);
}

function requireEnforcement(value: unknown, field: string): BudgetEnforcement {
  if (!ENFORCEMENTS.includes(value as BudgetEnforcement)) {
    fail(field, `must be 'throw' or 'check'; got ${JSON.stringify(value) ?? typeof value}`);
  }
  return value as BudgetEnforcement;
}

function fail(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}
