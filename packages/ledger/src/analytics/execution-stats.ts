import type { Queryable } from '../db/database.js';
import { filterClauses, whereSql } from '../db/execution-queries.js';
import type { CostStats, ExecutionFilter, ExecutionStats } from '../types.js';

/**
 * Statistics are SQL aggregates over the typed columns (cost_total, duration_ms), never rows
 * pulled into JS. Money stays numeric in SQL and is read as exact decimal text.
 */
export async function queryAgentCostStats(
  q: Queryable,
  agentId: string,
  projectId: string | undefined,
  filter: ExecutionFilter,
): Promise<CostStats> {
  const params: unknown[] = [];
  const where = whereSql(
    filterClauses({ ...filter, agentId, ...(projectId === undefined ? {} : { projectId }) }, params),
  );
  const rows = await q.query<Record<'count' | 'total' | 'avg' | 'min' | 'max', string>>(
    `select count(*)::text as count, coalesce(sum(e.cost_total), 0)::text as total,
       coalesce(round(avg(e.cost_total), 6), 0)::text as avg,
       coalesce(min(e.cost_total), 0)::text as min, coalesce(max(e.cost_total), 0)::text as max
     from execution_ledger.executions e ${where}`,
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

export async function queryProjectStats(
  q: Queryable,
  projectId: string,
  filter: ExecutionFilter,
): Promise<ExecutionStats> {
  const params: unknown[] = [];
  const where = whereSql(filterClauses({ ...filter, projectId }, params));
  const totals = await q.query<Record<string, string>>(
    `select count(*)::text as total,
       count(*) filter (where e.status = 'completed')::text as successful,
       count(*) filter (where e.status = 'failed')::text as failed,
       count(*) filter (where e.status = 'aborted')::text as aborted,
       coalesce(sum(e.cost_total), 0)::text as total_cost,
       coalesce(round(avg(e.cost_total), 6), 0)::text as avg_cost,
       coalesce(round(avg(e.duration_ms)), 0)::text as avg_duration_ms
     from execution_ledger.executions e ${where}`,
    params,
  );
  const agents = await q.query<{ agent_id: string; count: string; cost: string }>(
    `select e.agent_id, count(*)::text as count, sum(e.cost_total)::text as cost
     from execution_ledger.executions e ${where} group by e.agent_id order by e.agent_id`,
    params,
  );
  const row = totals[0] ?? {};
  const byAgent: ExecutionStats['by_agent'] = {};
  for (const agent of agents) {
    // defineProperty: an agent id such as "__proto__" must stay data, not a prototype switch.
    Object.defineProperty(byAgent, agent.agent_id, {
      value: { count: Number(agent.count), cost: Number(agent.cost) },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return {
    total_executions: Number(row.total ?? 0),
    successful: Number(row.successful ?? 0),
    failed: Number(row.failed ?? 0),
    aborted: Number(row.aborted ?? 0),
    total_cost: Number(row.total_cost ?? 0),
    avg_cost: Number(row.avg_cost ?? 0),
    avg_duration_ms: Number(row.avg_duration_ms ?? 0),
    by_agent: byAgent,
  };
}
