import type { Queryable } from '../db/database.js';
import { entryClauses, toAnalyticsScope } from './analytics-scope.js';
import type { AnalyticsFilter, ExecutionPercentiles, PercentileSet } from './analytics-types.js';

/**
 * p50, p95 and p99 of cost and duration, exact over the entries (rollups cannot hold
 * percentiles). percentile_disc picks a value some run really had, so money stays an exact
 * recorded amount instead of an interpolation with more decimals than any run was charged.
 */
export async function queryPercentiles(
  q: Queryable,
  filter: AnalyticsFilter | undefined,
): Promise<ExecutionPercentiles> {
  const params: unknown[] = [];
  const where = entryClauses(toAnalyticsScope(filter), params).join(' and ');
  const rows = await q.query<{ count: string; cost: string[] | null; duration: string[] | null }>(
    `select count(*)::text as count,
       (percentile_disc(array[0.5, 0.95, 0.99]) within group (order by e.cost_total))::text[] as cost,
       (percentile_disc(array[0.5, 0.95, 0.99]) within group (order by e.duration_ms))::text[] as duration
     from execution_ledger.executions e where ${where}`,
    params,
  );
  const row = rows[0];
  return {
    count: Number(row?.count ?? 0),
    cost: toPercentileSet(row?.cost),
    duration_ms: toPercentileSet(row?.duration),
  };
}

function toPercentileSet(values: (string | null)[] | null | undefined): PercentileSet {
  // Empty sets give zeros, never null: percentile_disc over no rows is null.
  const at = (index: number) => Number(values?.[index] ?? 0);
  return { p50: at(0), p95: at(1), p99: at(2) };
}
