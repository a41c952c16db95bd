import { microsToCents } from '../money.js';
import type { JsonObject } from '../plain-json.js';
import type { CostPricing } from '../types.js';
import type { BudgetEnforcement, ModelTally, RunCosts, UnitTally } from './run-costs.js';

/** A snapshot of one run's cost. Amounts are cents, exact to the micro-cent. */
export interface CostMetrics {
  runId: string;
  agentId: string;
  totalCost: number;
  tokensCost: number;
  toolCallsCost: number;
  externalRequestsCost: number;
  penaltiesCost: number;
  /** Every input token, cached ones included; `cachedInputTokens` is the cached part of it. */
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  toolCalls: number;
  externalRequests: number;
  penalties: number;
  /** The budget in cents, or null when the run has none. */
  budget: number | null;
  /** Cents held by reservations not yet settled. */
  reserved: number;
  /** budget − totalCost − reserved: negative once spend passes the budget; null without a budget. */
  remaining: number | null;
  budgetExceeded: boolean;
  enforce: BudgetEnforcement;
  priceTableVersion: string;
  /** Provenance for `cost_json.pricing`: the unit prices and quantities behind every amount. */
  pricing: CostPricing;
}

/** The rounding rule, stored with every computed cost so that anyone can recompute it. */
export const TOKEN_ROUNDING_RULE =
  'tokens x cents per million / 1,000,000 on the run total of each model and token kind, half up to 0.000001 cent';

export function buildMetrics(run: RunCosts): CostMetrics {
  const total = run.totalMicros;
  let input = 0n;
  let cached = 0n;
  let output = 0n;
  for (const tally of run.models.values()) {
    input += tally.input;
    cached += tally.cached;
    output += tally.output;
  }
  const budget = run.budgetMicros;
  return {
    runId: run.runId,
    agentId: run.agentId,
    totalCost: microsToCents(total),
    tokensCost: microsToCents(run.micros.tokens),
    toolCallsCost: microsToCents(run.micros.toolCalls),
    externalRequestsCost: microsToCents(run.micros.externalRequests),
    penaltiesCost: microsToCents(run.micros.penalties),
    inputTokens: Number(input),
    cachedInputTokens: Number(cached),
    outputTokens: Number(output),
    toolCalls: Number(sumCounts(run.toolCalls)),
    externalRequests: Number(sumCounts(run.externalRequests)),
    penalties: Number(sumCounts(run.penalties)),
    budget: budget === null ? null : microsToCents(budget),
    reserved: microsToCents(run.heldMicros),
    remaining: budget === null ? null : microsToCents(budget - total - run.heldMicros),
    budgetExceeded: run.isExceeded,
    enforce: run.enforce,
    priceTableVersion: run.prices.version,
    pricing: buildPricing(run),
  };
}

function buildPricing(run: RunCosts): CostPricing {
  return {
    source: 'computed',
    price_table_version: run.prices.version,
    unit: 'cents',
    rounding: TOKEN_ROUNDING_RULE,
    models: entries(run.models, modelJson),
    tool_calls: entries(run.toolCalls, unitJson),
    external_requests: entries(run.externalRequests, unitJson),
    penalties: entries(run.penalties, (tally) => ({
      count: Number(tally.count),
      cost: microsToCents(tally.micros),
    })),
  };
}

function modelJson(tally: ModelTally, name: string): JsonObject {
  return {
    ...pricedAs(tally.pricedAs, name),
    input_tokens: Number(tally.input),
    cached_input_tokens: Number(tally.cached),
    output_tokens: Number(tally.output),
    input_cents_per_million: microsToCents(tally.price.inputMicrosPerMillion),
    cached_input_cents_per_million: microsToCents(tally.price.cachedInputMicrosPerMillion),
    output_cents_per_million: microsToCents(tally.price.outputMicrosPerMillion),
    cost: microsToCents(tally.micros),
  };
}

function unitJson(tally: UnitTally, name: string): JsonObject {
  return {
    ...pricedAs(tally.pricedAs, name),
    count: Number(tally.count),
    cents_each: microsToCents(tally.unitMicros),
    cost: microsToCents(tally.count * tally.unitMicros),
  };
}

/** Names a fallback price only when one was used, so the common case stays short. */
function pricedAs(entry: string, name: string): JsonObject {
  return entry === name ? {} : { priced_as: entry };
}

/** Built from entries so that a name such as "__proto__" stays an ordinary key. */
function entries<T>(tallies: Map<string, T>, toJson: (tally: T, name: string) => JsonObject): JsonObject {
  return Object.fromEntries([...tallies].map(([name, tally]) => [name, toJson(tally, name)]));
}

function sumCounts(tallies: Map<string, { count: bigint }>): bigint {
  let count = 0n;
  for (const tally of tallies.values()) count += tally.count;
  return count;
}
