import assert from 'node:assert/strict';
import { RUN_COST_MICRO_CENTS_MAX, RUN_PRICED_NAMES_MAX } from '../bounds.js';
import { LedgerError } from '../errors.js';
import { microsToCents, priceByMillion } from '../money.js';
import { BudgetExceededError } from './budget-exceeded-error.js';
import type { PriceTable } from './price-table.js';
import type { ModelPrice } from './price-table-input.js';
import { type ChargeNote, currentStep, OutsideCharges } from './step-attribution.js';

/** 'throw': a charge that takes the run past its budget raises; 'check': only reported. */
export type BudgetEnforcement = 'throw' | 'check';

export interface ModelTally {
  pricedAs: string;
  price: ModelPrice;
  /** All input tokens, cached ones included. */
  input: bigint;
  cached: bigint;
  output: bigint;
  micros: bigint;
}

export interface UnitTally {
  pricedAs: string;
  unitMicros: bigint;
  count: bigint;
}

export interface PenaltyTally {
  count: bigint;
  micros: bigint;
}

/** A hold on part of a run's budget, taken before work whose cost is only estimated. */
export interface Reservation {
  readonly runId: string;
  readonly id: number;
  readonly cents: number;
  /** False only under enforce 'check', when the hold did not fit in what was left. */
  readonly withinBudget: boolean;
}

const SAFE_QUANTITY_MAX = BigInt(Number.MAX_SAFE_INTEGER);

type Category = 'tokens' | 'toolCalls' | 'externalRequests' | 'penalties';

/**
 * The money of one run, in integer micro-cents. Tokens are priced on the run's accumulated
 * quantity per model and kind, so the total depends only on what was used, never on the order
 * or the split of the charges. Every charge validates and computes first and mutates last,
 * with no await in between: concurrent async callers cannot interleave inside a charge.
 */
export class RunCosts {
  readonly models = new Map<string, ModelTally>();
  readonly toolCalls = new Map<string, UnitTally>();
  readonly externalRequests = new Map<string, UnitTally>();
  readonly penalties = new Map<string, PenaltyTally>();
  readonly micros: Record<Category, bigint> = {
    tokens: 0n,
    toolCalls: 0n,
    externalRequests: 0n,
    penalties: 0n,
  };
  /** Charges made outside every step of the run (docs/costs.md, "Cost by step"). */
  readonly outside = new OutsideCharges();
  // Keyed by the reservation object itself, so only the very object reserve() returned settles it.
  readonly #holds = new Map<Reservation, bigint>();
  #heldMicros = 0n;
  #nextHoldId = 1;

  constructor(
    readonly runId: string,
    readonly agentId: string,
    readonly budgetMicros: bigint | null,
    readonly enforce: BudgetEnforcement,
    readonly prices: PriceTable,
  ) {}

  get totalMicros(): bigint {
    const { tokens, toolCalls, externalRequests, penalties } = this.micros;
    return tokens + toolCalls + externalRequests + penalties;
  }

  get heldMicros(): bigint {
    return this.#heldMicros;
  }

  get isExceeded(): boolean {
    return this.budgetMicros !== null && this.totalMicros > this.budgetMicros;
  }

  addTokens(model: string, input: bigint, cached: bigint, output: bigint): void {
    const current = this.models.get(model) ?? this.#newTally(model, () => this.#modelTally(model));
    const next: ModelTally = {
      ...current,
      input: safeQuantity(current.input + input, 'inputTokens'),
      cached: current.cached + cached,
      output: safeQuantity(current.output + output, 'outputTokens'),
    };
    next.micros = tokensMicros(next);
    const micros = next.micros - current.micros;
    this.#charge({ category: 'tokens', name: model, micros, count: 1n, input, cached, output }, () =>
      this.models.set(model, next),
    );
  }

  addUnits(category: 'toolCalls' | 'externalRequests', name: string, count: bigint): void {
    const tallies = this[category];
    const current =
      tallies.get(name) ??
      this.#newTally(name, () => {
        const { pricedAs, price } =
          category === 'toolCalls' ? this.prices.toolCallPrice(name) : this.prices.externalRequestPrice(name);
        return { pricedAs, unitMicros: price, count: 0n };
      });
    const next = { ...current, count: safeQuantity(current.count + count, 'count') };
    this.#charge({ category, name, micros: count * current.unitMicros, count }, () =>
      tallies.set(name, next),
    );
  }

  addPenalty(reason: string, micros: bigint): void {
    const current = this.penalties.get(reason) ?? this.#newTally(reason, () => ({ count: 0n, micros: 0n }));
    const next = { count: current.count + 1n, micros: current.micros + micros };
    this.#charge({ category: 'penalties', name: reason, micros, count: 1n }, () =>
      this.penalties.set(reason, next),
    );
  }

  /** Holds `micros` of the budget; refused (under 'throw') when it does not fit beside spend and holds. */
  reserve(micros: bigint, cents: number): Reservation {
    const fits =
      this.budgetMicros === null || this.totalMicros + this.#heldMicros + micros <= this.budgetMicros;
    if (!fits && this.enforce === 'throw') {
      // Only a budget can make a reservation not fit.
      assert(this.budgetMicros !== null);
      throw new BudgetExceededError(
        this.runId,
        microsToCents(this.budgetMicros),
        microsToCents(this.totalMicros),
        {
          requestedCents: cents,
          reservedCents: microsToCents(this.#heldMicros),
        },
      );
    }
    const reservation = Object.freeze({
      runId: this.runId,
      id: this.#nextHoldId++,
      cents,
      withinBudget: fits,
    });
    this.#holds.set(reservation, micros);
    this.#heldMicros += micros;
    return reservation;
  }

  /** Releases a hold; the work's real cost arrives through the charges made meanwhile. */
  settle(reservation: Reservation): void {
    const micros = this.#holds.get(reservation);
    if (micros === undefined) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `reservation ${reservation.id} of run ${JSON.stringify(this.runId)} is already settled or is not one ` +
          'reserve() returned for this run; settle each reservation once',
        { field: 'reservation' },
      );
    }
    this.#holds.delete(reservation);
    this.#heldMicros -= micros;
  }

  #modelTally(model: string): ModelTally {
    const { pricedAs, price } = this.prices.modelPrice(model);
    return { pricedAs, price, input: 0n, cached: 0n, output: 0n, micros: 0n };
  }

  /** A tally for a name not seen yet in this run, refused past the bound on distinct names. */
  #newTally<T>(name: string, create: () => T): T {
    const names = this.models.size + this.toolCalls.size + this.externalRequests.size + this.penalties.size;
    if (names >= RUN_PRICED_NAMES_MAX) {
      throw new LedgerError(
        'PAYLOAD_TOO_LARGE',
        `run ${JSON.stringify(this.runId)} already charges ${names} distinct models, tools, services and ` +
          `penalty reasons, the most one run may; ${JSON.stringify(name)} is one too many: group them`,
        { field: 'run_id' },
      );
    }
    return create();
  }

  /**
   * Applies a charge after the run-total bound, gives it to the step the caller is inside (or to
   * the run's charges outside steps), then enforces the budget on the new total.
   */
  #charge(charge: ChargeNote, commit: () => void): void {
    const { category, micros: deltaMicros } = charge;
    const total = this.totalMicros + deltaMicros;
    if (total > RUN_COST_MICRO_CENTS_MAX) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `run ${JSON.stringify(this.runId)} would cost more than ${microsToCents(RUN_COST_MICRO_CENTS_MAX)} cents, ` +
          'beyond what one run can hold exactly; split the work into several runs',
        { field: category },
      );
    }
    commit();
    this.micros[category] += deltaMicros;
    (currentStep(this) ?? this.outside).add(charge);
    // The money is already spent when a charge is reported, so it counts before the refusal.
    if (this.enforce === 'throw' && this.isExceeded) {
      // Only a budget can be exceeded.
      assert(this.budgetMicros !== null);
      throw new BudgetExceededError(
        this.runId,
        microsToCents(this.budgetMicros),
        microsToCents(this.totalMicros),
      );
    }
  }
}

/** A model's cost: each token kind priced once on its whole quantity, cached input at its own price. */
function tokensMicros(tally: ModelTally): bigint {
  const { price } = tally;
  return (
    priceByMillion(tally.input - tally.cached, price.inputMicrosPerMillion) +
    priceByMillion(tally.cached, price.cachedInputMicrosPerMillion) +
    priceByMillion(tally.output, price.outputMicrosPerMillion)
  );
}

/** Quantities are reported as JS numbers, so a run's running count stays a safe integer. */
function safeQuantity(quantity: bigint, field: string): bigint {
  if (quantity > SAFE_QUANTITY_MAX) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} would add up to more than ${Number.MAX_SAFE_INTEGER} in one run; split the work into several runs`,
      { field },
    );
  }
  return quantity;
}
