import { PERCENTILE_SORT_MEMORY_MB } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { microsToDecimalText } from '../money.js';
import { scopeClauses, whereSql } from '../query/execution-filter.js';
import { queryWithSettings } from './analytics-query.js';
import { toAnalyticsScope } from './analytics-scope.js';
import type { AnalyticsFilter, ExecutionPercentiles, PercentileSet } from './analytics-types.js';

// Costs are sorted as whole micro-cents in a bigint: a third faster than sorting numeric, and
// exact for every amount the library accepts (limits.cost_cents_max is 10^12 cents). Larger
// amounts, which only a writer bypassing validation could store, sort as this ceiling instead of
// overflowing the bigint.
const COST_CENTS_SORTABLE_MAX = 9_000_000_000_000;

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
  const where = whereSql(scopeClauses(toAnalyticsScope(filter), params));
  // Two sorts of every matching run: with the default 4 MB of work_mem they spill to disk past
  // about 100,000 runs.
  const rows = await queryWithSettings<{ count: string; cost: string[] | null; duration: string[] | null }>(
    q,
    { jit: 'off', work_mem: `${PERCENTILE_SORT_MEMORY_MB}MB` },
    `select count(*)::text as count,
       (percentile_disc(array[0.5, 0.95, 0.99]) within group (order by
         (least(e.cost_total, ${COST_CENTS_SORTABLE_MAX}) * 1000000)::bigint))::text[] as cost,
       (percentile_disc(array[0.5, 0.95, 0.99]) within group (order by e.duration_ms))::text[] as duration
     from execution_ledger.executions e ${where}`,
    params,
  );
  const row = rows[0];
  return {
    count: Number(row?.count ?? 0),
    cost: toPercentileSet(row?.cost?.map((micros) => microsToDecimalText(BigInt(micros)))),
    duration_ms: toPercentileSet(row?.duration),
  };
}

function toPercentileSet(values: (string | null)[] | null | undefined): PercentileSet {
  // Empty sets give zeros, never null: percentile_disc over no rows is null.
  const at = (index: number) => Number(values?.[index] ?? 0);
  return { p50: at(0), p95: at(1), p99: at(2) };
}
