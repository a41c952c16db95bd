import type { Queryable } from '../db/database.js';
import { namedSql } from '../db/named-sql.js';
import { type ExecutionFilter, type FilterScope, scopeClauses, whereSql } from '../query/execution-filter.js';
import type { CostStats, ExecutionStats } from '../types.js';
import { toAnalyticsScope } from './analytics-scope.js';
import { isRowSecured } from './rollup-levels.js';
import { rollupSourceSql } from './rollup-source.js';

/**
 * Statistics are SQL aggregates over the rollup levels plus the cut hours at the range's ends, never rows pulled into JS. Money stays numeric in SQL and is read as exact decimal text.
 * Averages divide the summed sums by the summed counts, which is exactly how PostgreSQL's avg()
 * computes its result, so the numbers equal a plain aggregate over the entries digit for digit.
 */
export async function queryAgentCostStats(
  q: Queryable,
  agentId: string,
  projectId: string | undefined,
  range: ExecutionFilter,
): Promise<CostStats> {
  const params: unknown[] = [];
  const scope = toAnalyticsScope({
    ...range,
    agentId,
    ...(projectId === undefined ? {} : { projectId }),
  });
  const source = rollupSourceSql(scope, params, { keys: ['agent_id'], rowSecured: isRowSecured(q) });
  const rows = await q.query<Record<'count' | 'total' | 'avg' | 'min' | 'max', string>>(
    namedSql(`${source.sql}
     select coalesce(sum(s.run_count), 0)::text as count, coalesce(sum(s.cost_sum), 0)::text as total,
       coalesce(round(sum(s.cost_sum) / nullif(sum(s.run_count), 0), 6), 0)::text as avg,
       coalesce(min(s.cost_min), 0)::text as min, coalesce(max(s.cost_max), 0)::text as max
     from source s`),
    params,
  );
  const row = rows[0];
  return {
    agent_id: agentId,
    project_id: projectId ?? null,
    count: Number(row?.count ?? 0),
    total_cost: Number(row?.total ?? 0),
    avg_cost: Number(row?.avg ?? 0),
    min_cost: Number(row?.min ?? 0),
    max_cost: Number(row?.max ?? 0),
  };
}

interface ProjectStatsRow {
  whole: boolean;
  agent_id: string | null;
  total: string;
  successful: string;
  failed: string;
  aborted: string;
  total_cost: string;
  avg_cost: string;
  avg_duration_ms: string;
}

export async function queryProjectStats(
  q: Queryable,
  projectId: string,
  range: ExecutionFilter,
): Promise<ExecutionStats> {
  const params: unknown[] = [];
  const source = rollupSourceSql(toAnalyticsScope({ ...range, projectId }), params, {
    keys: ['agent_id'],
    statusCounts: true,
    additive: true,
    rowSecured: isRowSecured(q),
  });
  // One round trip and one row: the grand total and the per-agent rows (grouping sets) as a JSON
  // array of text values, exact as the rows. PGlite hands each result row to Node at a cost that
  // grows with the rows, more than the query costs: 41 rows took longer than reading them.
  const result = await q.query<{ rows: string }>(
    namedSql(`${source.sql},
     stats as (
       select grouping(s.agent_id) = 1 as whole, s.agent_id,
         coalesce(sum(s.run_count), 0)::text as total,
         coalesce(sum(s.completed_count), 0)::text as successful,
         coalesce(sum(s.failed_count), 0)::text as failed,
         coalesce(sum(s.aborted_count), 0)::text as aborted,
         coalesce(sum(s.cost_sum), 0)::text as total_cost,
         coalesce(round(sum(s.cost_sum) / nullif(sum(s.run_count), 0), 6), 0)::text as avg_cost,
         coalesce(round(sum(s.duration_ms_sum) / nullif(sum(s.duration_count), 0)), 0)::text as avg_duration_ms
       from source s
       group by grouping sets ((), (s.agent_id))
       -- Pieces may be subtracted (additive): an agent whose runs all lie outside the range sums to zero.
       having grouping(s.agent_id) = 1 or sum(s.run_count) > 0
     )
     select coalesce(json_agg(st order by st.agent_id), '[]')::text as rows from stats st`),
    params,
  );
  const rows = JSON.parse(result[0]?.rows ?? '[]') as ProjectStatsRow[];
  const byAgent: ExecutionStats['by_agent'] = {};
  let total: ProjectStatsRow | undefined;
  for (const row of rows) {
    if (row.whole) {
      total = row;
      continue;
    }
    // defineProperty: an agent id such as "__proto__" must stay data, not a prototype switch.
    Object.defineProperty(byAgent, row.agent_id ?? '', {
      value: { count: Number(row.total), cost: Number(row.total_cost) },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return {
    total_executions: Number(total?.total ?? 0),
    successful: Number(total?.successful ?? 0),
    failed: Number(total?.failed ?? 0),
    aborted: Number(total?.aborted ?? 0),
    total_cost: Number(total?.total_cost ?? 0),
    avg_cost: Number(total?.avg_cost ?? 0),
    avg_duration_ms: Number(total?.avg_duration_ms ?? 0),
    by_agent: byAgent,
  };
}

/**
 * The number of runs a scope matches. Every field but a parent run is a rollup dimension, so the
 * rollup levels answer without counting rows; a parent run needs the plain count.
 */
export async function countRuns(q: Queryable, scope: FilterScope): Promise<number> {
  const params: unknown[] = [];
  const sql =
    scope.parentRunId === undefined
      ? namedSql(`${rollupSourceSql(scope, params, { keys: [], countsOnly: true, additive: true, rowSecured: isRowSecured(q) }).sql}
         select coalesce(sum(s.run_count), 0)::text as total from source s`)
      : `select count(*)::text as total from execution_ledger.executions e ${whereSql(scopeClauses(scope, params))}`;
  const rows = await q.query<{ total: string }>(sql, params);
  return Number(rows[0]?.total ?? 0);
}
