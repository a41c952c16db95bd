import assert from 'node:assert/strict';
import { PAGE_ROWS_MAX, USER_COSTS_DEFAULT } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { requireLimit } from '../query/execution-filter.js';
import { toAnalyticsScope } from './analytics-scope.js';
import type { AnalyticsFilter, CostByPart, UserCost, UserCostOptions } from './analytics-types.js';
import { isRowSecured } from './rollup-levels.js';
import { rollupSourceSql } from './rollup-source.js';

interface PartsRow {
  count: string;
  total_cost: string;
  tokens: string;
  tool_calls: string;
  external_requests: string;
  penalties: string;
  others: Record<string, string> | null;
  unattributed_cost: string;
}

/**
 * The cost of the scope split by breakdown part: the four parts the seed names from typed rollup
 * columns, any other part from the rollups' part map, and what runs recorded without a breakdown
 * cost. Sums and the difference are computed in numeric, so nothing is lost to floats.
 */
export async function queryCostByPart(
  q: Queryable,
  filter: AnalyticsFilter | undefined,
): Promise<CostByPart> {
  const params: unknown[] = [];
  const source = rollupSourceSql(toAnalyticsScope(filter), params, { keys: [], rowSecured: isRowSecured(q) });
  const rows = await q.query<PartsRow>(
    `${source.sql},
    others as (
      select p.key, sum(p.value::numeric) as amount
      from source s cross join lateral jsonb_each_text(s.other_parts) as p
      group by p.key
    ),
    known as (
      select coalesce(sum(s.run_count), 0) as count, coalesce(sum(s.cost_sum), 0) as total_cost,
        coalesce(sum(s.tokens_sum), 0) as tokens, coalesce(sum(s.tool_calls_sum), 0) as tool_calls,
        coalesce(sum(s.external_requests_sum), 0) as external_requests,
        coalesce(sum(s.penalties_sum), 0) as penalties
      from source s
    )
    select k.count::text, k.total_cost::text, k.tokens::text, k.tool_calls::text,
      k.external_requests::text, k.penalties::text,
      (select jsonb_object_agg(o.key, o.amount::text order by o.key) from others o) as others,
      (k.total_cost - k.tokens - k.tool_calls - k.external_requests - k.penalties
        - coalesce((select sum(o.amount) from others o), 0))::text as unattributed_cost
    from known k`,
    params,
  );
  const row = rows[0];
  assert(row !== undefined, 'an aggregate without group by returns one row');
  const parts: Record<string, number> = {};
  const setPart = (name: string, amount: string) =>
    // defineProperty: a part named "__proto__" must stay data, not a prototype switch.
    Object.defineProperty(parts, name, {
      value: Number(amount),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  setPart('tokens', row.tokens);
  setPart('toolCalls', row.tool_calls);
  setPart('externalRequests', row.external_requests);
  setPart('penalties', row.penalties);
  for (const [name, amount] of Object.entries(row.others ?? {})) setPart(name, amount);
  return {
    count: Number(row.count),
    total_cost: Number(row.total_cost),
    parts,
    unattributed_cost: Number(row.unattributed_cost),
  };
}

/** Users of the scope by cost, highest first (ties by user id), from the rollups. */
export async function queryCostByUser(
  q: Queryable,
  options: UserCostOptions | undefined,
): Promise<UserCost[]> {
  const limit = requireLimit(options?.limit, 'limit', USER_COSTS_DEFAULT, PAGE_ROWS_MAX);
  const params: unknown[] = [];
  const source = rollupSourceSql(toAnalyticsScope(options), params, {
    keys: ['user_id'],
    additive: true,
    rowSecured: isRowSecured(q),
  });
  params.push(limit);
  const rows = await q.query<{ user_id: string; count: string; total_cost: string; avg_cost: string }>(
    `${source.sql}
    select s.user_id, sum(s.run_count)::text as count, sum(s.cost_sum)::text as total_cost,
      round(sum(s.cost_sum) / sum(s.run_count), 6)::text as avg_cost
    from source s
    group by s.user_id
    -- Pieces may be subtracted (additive): a user whose runs all lie outside the range sums to zero.
    having sum(s.run_count) > 0
    order by sum(s.cost_sum) desc, s.user_id
    limit $${params.length}`,
    params,
  );
  return rows.map((row) => ({
    user_id: row.user_id,
    count: Number(row.count),
    total_cost: Number(row.total_cost),
    avg_cost: Number(row.avg_cost),
  }));
}
