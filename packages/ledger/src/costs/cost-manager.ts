import {
  CHARGE_REQUESTS_MAX,
  CHARGE_TOKENS_MAX,
  COST_RUNS_OPEN_MAX,
  DEFAULT_LIMITS,
  PENALTY_REASON_CHARS_MAX,
  RUN_COST_MICRO_CENTS_MAX,
} from '../bounds.js';
import type { BudgetReservation, LedgerBudgets, SettledReservation } from '../budgets/budgets.js';
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
  /**
   * The database budgets `createReservedExecution` reserves against (`ledger.budgets`), so that
   * any number of managers, processes and `ledger.run` calls share one budget (docs/budgets.md).
   */
  budgets?: DatabaseBudgets;
}

/** What a cost manager needs of the ledger's database budgets: `ledger.budgets`. */
export type DatabaseBudgets = Pick<LedgerBudgets, 'reserve' | 'settle' | 'release'>;

export interface ReservedExecutionOptions {
  /** The scope of the reservation is (project_id, the run's agent, user_id). */
  project_id: string;
  user_id: string;
  /**
   * Cents held against every database budget of the scope before work starts; a block budget
   * that cannot afford them refuses with BUDGET_BLOCKED and no run is opened. The run's own
   * budget is capped at them.
   */
  reserveCents: number;
  /** The run's own budget in cents, if smaller than reserveCents. */
  budgetCents?: number | null;
  enforce?: BudgetEnforcement;
  /** How long the hold lasts if the process dies before settling it; default 5 minutes. */
  ttlMs?: number;
  /** Where to reserve; default the manager's `budgets` option. */
  budgets?: DatabaseBudgets;
}

interface DatabaseHold {
  readonly reservation: BudgetReservation;
  readonly budgets: DatabaseBudgets;
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
  readonly #budgets: DatabaseBudgets | undefined;
  // Database reservations by run id, kept past endExecution until settled or released.
  readonly #holds = new Map<string, DatabaseHold>();

  constructor(options: CostManagerOptions = {}) {
    this.prices = options.prices === undefined ? DEFAULT_PRICE_TABLE : PriceTable.from(options.prices);
    this.enforce = requireEnforcement(options.enforce ?? 'throw', 'enforce');
    this.#runsOpenMax = options.runsOpenMax ?? COST_RUNS_OPEN_MAX;
    if (!Number.isSafeInteger(this.#runsOpenMax) || this.#runsOpenMax < 1) {
      fail('runsOpenMax', `must be a positive whole number; got ${String(options.runsOpenMax)}`);
    }
    this.#budgets = options.budgets === undefined ? undefined : requireBudgets(options.budgets, 'budgets');
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
    this.#checkOpenable(runId);
    this.#runs.set(runId, new RunCosts(runId, agentId, budget, enforce, this.prices));
  }

  /**
   * Opens a run after reserving `reserveCents` against the database budgets of (project_id,
   * agentId, user_id), atomically in the database (the same SQL functions as
   * `ledger.run({ reserveCents })`). BUDGET_BLOCKED, and no run, when a block budget cannot
   * afford it. Once the run is ended and recorded, `settleExecution` settles the hold with the
   * recorded run's exact cost; work that is not recorded gives it back with `releaseExecution`.
   */
  async createReservedExecution(
    runId: string,
    agentId: string,
    options: ReservedExecutionOptions,
  ): Promise<BudgetReservation> {
    requireId(runId, 'runId', DEFAULT_LIMITS);
    requireId(agentId, 'agentId', DEFAULT_LIMITS);
    if (options === null || typeof options !== 'object') {
      fail('options', 'must be { project_id, user_id, reserveCents }');
    }
    const budgets =
      options.budgets === undefined ? this.#budgets : requireBudgets(options.budgets, 'options.budgets');
    if (budgets === undefined) {
      fail(
        'budgets',
        'is not set: build the manager with new CostManager({ budgets: ledger.budgets }) to reserve against database budgets',
      );
    }
    const reserveCents = options.reserveCents;
    centsToMicros(reserveCents, 'reserveCents', BUDGET_CENTS_MAX);
    if (options.budgetCents != null) centsToMicros(options.budgetCents, 'budgetCents', BUDGET_CENTS_MAX);
    // The run's own budget never passes what it reserved.
    const budgetCents =
      options.budgetCents == null ? reserveCents : Math.min(reserveCents, options.budgetCents);
    const enforce = requireEnforcement(options.enforce ?? this.enforce, 'options.enforce');
    this.#checkReservable(runId);
    const reservation = await budgets.reserve(
      { project_id: options.project_id, agent_id: agentId, user_id: options.user_id },
      reserveCents,
      options.ttlMs === undefined ? {} : { ttl_ms: options.ttlMs },
    );
    try {
      // Another task of this process may have taken the run id while the reservation was made.
      this.#checkReservable(runId);
      this.createExecution(runId, agentId, budgetCents, { enforce });
    } catch (error) {
      await budgets.release(reservation);
      throw error;
    }
    this.#holds.set(runId, { reservation, budgets });
    return reservation;
  }

  /**
   * Settles the run's database reservation with its recorded entry (by default the entry whose
   * run_id is `runId`): the recorded cost_total is the actual amount and the hold is given back.
   * The run must be ended (endExecution) and recorded first.
   */
  async settleExecution(runId: string, options: { run_id?: string } = {}): Promise<SettledReservation> {
    const hold = this.#closedHold(runId, 'settleExecution');
    const settled = await hold.budgets.settle(hold.reservation, { run_id: options?.run_id ?? runId });
    this.#holds.delete(runId);
    return settled;
  }

  /** Gives the run's database reservation back without a recorded run (the work was not recorded). */
  async releaseExecution(runId: string): Promise<void> {
    const hold = this.#closedHold(runId, 'releaseExecution');
    await hold.budgets.release(hold.reservation);
    this.#holds.delete(runId);
  }

  /** The database reservation the run holds, until it is settled or released; null when none. */
  getReservation(runId: string): BudgetReservation | null {
    return this.#holds.get(runId)?.reservation ?? null;
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

  #checkReservable(runId: string): void {
    this.#checkOpenable(runId);
    if (this.#holds.has(runId)) {
      throw new LedgerError(
        'RUN_ID_CONFLICT',
        `runId ${JSON.stringify(runId)} still holds a database reservation in this cost manager; ` +
          'settleExecution() or releaseExecution() it first, or use a new run id',
        { field: 'runId' },
      );
    }
  }

  #checkOpenable(runId: string): void {
    if (this.#runs.has(runId)) {
      throw new LedgerError(
        'RUN_ID_CONFLICT',
        `runId ${JSON.stringify(runId)} is already open in this cost manager; use a new run id, or endExecution() the old run first`,
        { field: 'runId' },
      );
    }
    if (this.#runs.size >= this.#runsOpenMax || this.#holds.size >= this.#runsOpenMax) {
      throw new LedgerError(
        'TOO_MANY_RUNS',
        `this cost manager already holds ${Math.max(this.#runs.size, this.#holds.size)} open runs or database ` +
          'reservations, its maximum; call endExecution(runId) when a run is recorded, and settle or release its reservation',
        { field: 'runId' },
      );
    }
  }

  #closedHold(runId: string, method: string): DatabaseHold {
    const hold = this.#holds.get(requireId(runId, 'runId', DEFAULT_LIMITS));
    if (hold === undefined) {
      throw new LedgerError(
        'NOT_FOUND',
        `runId ${JSON.stringify(runId)} holds no database reservation in this cost manager; ${method}() applies ` +
          'to a run opened with createReservedExecution() and not yet settled or released',
        { field: 'runId' },
      );
    }
    if (this.#runs.has(runId)) {
      fail(
        'runId',
        `${JSON.stringify(runId)} is still open: call endExecution(runId) (and record the run) before ${method}(), ` +
          'so no charge can follow the settlement',
      );
    }
    return hold;
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

function requireBudgets(value: unknown, field: string): DatabaseBudgets {
  const budgets = value as Partial<DatabaseBudgets> | null;
  if (
    budgets === null ||
    typeof budgets !== 'object' ||
    typeof budgets.reserve !== 'function' ||
    typeof budgets.settle !== 'function' ||
    typeof budgets.release !== 'function'
  ) {
    fail(field, 'must be the database budgets of a ledger: ledger.budgets');
  }
  return value as DatabaseBudgets;
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
