import { PAGE_ROWS_MAX, TOP_RUNS_DEFAULT } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { type ExecutionRow, RECORD_COLUMNS, rowToRecord } from '../db/execution-queries.js';
import { requireLimit, scopeClauses, whereSql } from '../query/execution-filter.js';
import type { ExecutionRecord } from '../types.js';
import { toAnalyticsScope } from './analytics-scope.js';
import type { TopRunsOptions } from './analytics-types.js';

/**
 * The most expensive runs of a scope, highest cost first (ties: newest first, then by id). The
 * ranking reads (cost, created_at) from the covering index alone; only entries with a winning
 * pair are then read in full, instead of every entry of the scope.
 */
export async function queryMostExpensiveRuns(
  q: Queryable,
  options: TopRunsOptions | undefined,
): Promise<ExecutionRecord[]> {
  const limit = requireLimit(options?.limit, 'limit', TOP_RUNS_DEFAULT, PAGE_ROWS_MAX);
  const params: unknown[] = [];
  const clauses = scopeClauses(toAnalyticsScope(options), params);
  params.push(limit);
  const rows = await q.query<ExecutionRow>(
    `with ranked as (
       select e.cost_total, e.created_at from execution_ledger.executions e ${whereSql(clauses)}
       order by e.cost_total desc, e.created_at desc limit $${params.length}
     )
     select ${RECORD_COLUMNS} from execution_ledger.executions e
     ${whereSql([...clauses, '(e.created_at, e.cost_total) in (select r.created_at, r.cost_total from ranked r)'])}
     order by e.cost_total desc, e.created_at desc, e.id desc limit $${params.length}`,
    params,
  );
  return rows.map(rowToRecord);
}
