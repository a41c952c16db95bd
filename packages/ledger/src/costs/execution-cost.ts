import type { CostBreakdown, ExecutionCost } from '../types.js';
import type { CostMetrics } from './cost-metrics.js';

/**
 * The ledger's `cost` for a run: the four parts of the specification's breakdown, their total,
 * and the pricing provenance. Every amount comes from integer micro-cents below 10^15, so each
 * number is exact and the parts add up to the total exactly, as the ledger checks.
 */
export function toExecutionCost(metrics: CostMetrics): ExecutionCost {
  return {
    total: metrics.totalCost,
    breakdown: {
      tokens: metrics.tokensCost,
      toolCalls: metrics.toolCallsCost,
      externalRequests: metrics.externalRequestsCost,
      penalties: metrics.penaltiesCost,
    },
    pricing: metrics.pricing,
  };
}

/**
 * A cost the caller was billed (an invoice, a provider's usage report) rather than one computed
 * from a price table: recorded with `pricing.source: 'reported'` so readers can tell them apart.
 */
export function reportedCost(total: number, breakdown: CostBreakdown = {}, note?: string): ExecutionCost {
  return {
    total,
    breakdown,
    pricing: note === undefined ? { source: 'reported' } : { source: 'reported', note },
  };
}
