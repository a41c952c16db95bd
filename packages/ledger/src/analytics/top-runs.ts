import { PAGE_ROWS_MAX, TOP_RUNS_DEFAULT } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { type ExecutionRow, RECORD_COLUMNS, rowToRecord } from '../db/execution-queries.js';
import type { ExecutionRecord } from '../types.js';
import { entryClauses, requireLimit, toAnalyticsScope } from './analytics-scope.js';
import type { TopRunsOptions } from './analytics-types.js';

/**
 * The most expensive runs of a scope, highest cost first (ties: newest first). The ranking reads
 * only the covering index columns; full records are fetched for the winners alone.
 */
export async function queryMostExpensiveRuns(
  q: Queryable,
  options: TopRunsOptions | undefined,
): Promise<ExecutionRecord[]> {
  const limit = requireLimit(options?.limit, 'limit', TOP_RUNS_DEFAULT, PAGE_ROWS_MAX);
  const params: unknown[] = [];
  const where = entryClauses(toAnalyticsScope(options), params).join(' and ');
  params.push(limit);
  const rows = await q.query<ExecutionRow>(
    `with ranked as (
       select e.id, e.cost_total, e.created_at from execution_ledger.executions e where ${where}
       order by e.cost_total desc, e.created_at desc, e.id desc limit $${params.length}
     )
     select ${RECORD_COLUMNS} from ranked r join execution_ledger.executions e on e.id = r.id
     order by r.cost_total desc, r.created_at desc, r.id desc`,
    params,
  );
  return rows.map(rowToRecord);
}
