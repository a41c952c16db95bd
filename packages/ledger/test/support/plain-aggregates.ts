import type { EngineContext } from '@execution-ledger/test-support';
import type {
  CostByPart,
  CostStats,
  CostTimeSeriesPoint,
  ExecutionStats,
  SeriesGroupBy,
  TimeBucket,
  UserCost,
} from 'execution-ledger';

/**
 * The reference answers: plain SQL aggregates over every matching entry, as a superuser, with no
 * rollup involved. Analytics answered from rollups must equal these exactly.
 */
export interface PlainRange {
  start?: Date | undefined;
  end?: Date | undefined;
  /** Only this user's runs (what a non-member sees of a project through a scoped reader). */
  userId?: string | undefined;
  /** Only runs with one of these statuses. */
  statuses?: string[] | undefined;
}

function rangeSql(range: PlainRange, params: unknown[]): string {
  params.push(range.start?.toISOString() ?? '-infinity', range.end?.toISOString() ?? 'infinity');
  const clauses = [
    `e.created_at >= $${params.length - 1}::timestamptz and e.created_at < $${params.length}::timestamptz`,
  ];
  if (range.userId !== undefined) {
    params.push(range.userId);
    clauses.push(`e.user_id = $${params.length}`);
  }
  if (range.statuses !== undefined) {
    params.push(range.statuses);
    clauses.push(`e.status = any($${params.length}::text[])`);
  }
  return clauses.join(' and ');
}

export async function plainProjectStats(
  context: EngineContext,
  projectId: string,
  range: PlainRange,
): Promise<ExecutionStats> {
  const params: unknown[] = [projectId];
  const where = `e.project_id = $1 and ${rangeSql(range, params)}`;
  const [totals] = await context.admin(
    `select count(*)::text as total,
       count(*) filter (where e.status = 'completed')::text as successful,
       count(*) filter (where e.status = 'failed')::text as failed,
       count(*) filter (where e.status = 'aborted')::text as aborted,
       coalesce(sum(e.cost_total), 0)::text as total_cost,
       coalesce(round(avg(e.cost_total), 6), 0)::text as avg_cost,
       coalesce(round(avg(e.duration_ms)), 0)::text as avg_duration_ms
     from execution_ledger.executions e where ${where}`,
    params,
  );
  const agents = await context.admin(
    `select e.agent_id, count(*)::text as count, sum(e.cost_total)::text as cost
     from execution_ledger.executions e where ${where} group by e.agent_id order by e.agent_id`,
    params,
  );
  const row = totals as Record<string, string>;
  return {
    total_executions: Number(row.total),
    successful: Number(row.successful),
    failed: Number(row.failed),
    aborted: Number(row.aborted),
    total_cost: Number(row.total_cost),
    avg_cost: Number(row.avg_cost),
    avg_duration_ms: Number(row.avg_duration_ms),
    by_agent: Object.fromEntries(
      agents.map((agent) => [agent.agent_id, { count: Number(agent.count), cost: Number(agent.cost) }]),
    ),
  };
}

export async function plainAgentStats(
  context: EngineContext,
  agentId: string,
  projectId: string | undefined,
  range: PlainRange,
): Promise<CostStats> {
  const params: unknown[] = [agentId, projectId ?? null];
  const [row] = await context.admin(
    `select count(*)::text as count, coalesce(sum(e.cost_total), 0)::text as total,
       coalesce(round(avg(e.cost_total), 6), 0)::text as avg,
       coalesce(min(e.cost_total), 0)::text as min, coalesce(max(e.cost_total), 0)::text as max
     from execution_ledger.executions e
     where e.agent_id = $1 and ($2::text is null or e.project_id = $2) and ${rangeSql(range, params)}`,
    params,
  );
  return {
    agent_id: agentId,
    project_id: projectId ?? null,
    count: Number(row?.count),
    total_cost: Number(row?.total),
    avg_cost: Number(row?.avg),
    min_cost: Number(row?.min),
    max_cost: Number(row?.max),
  };
}

/** The non-empty buckets of a time series, grouped on the zone's wall clock. */
export async function plainTimeSeries(
  context: EngineContext,
  projectId: string,
  range: PlainRange & { start: Date; end: Date },
  bucket: TimeBucket,
  groupBy: SeriesGroupBy,
  timeZone: string,
): Promise<CostTimeSeriesPoint[]> {
  const key = { agent: 'e.agent_id', user: 'e.user_id', status: 'e.status', none: 'null::text' }[groupBy];
  const params: unknown[] = [projectId, bucket, timeZone];
  const rows = await context.admin(
    // A bucket starts at the earliest minute whose wall clock falls in it, found by brute force
    // over three hours either side (daylight-saving shifts are at most two hours).
    `select to_char((select min(t) from generate_series((l.label at time zone $3) - interval '3 hours',
         (l.label at time zone $3) + interval '3 hours', interval '1 minute') as t
         where date_trunc($2, t at time zone $3) = l.label) at time zone 'UTC',
         'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as bucket_start,
       to_char(l.label, 'YYYY-MM-DD"T"HH24:MI:SS') as bucket_local, l.key, l.count, l.total_cost,
       l.avg_cost, l.min_cost, l.max_cost
     from (
       select date_trunc($2, e.created_at at time zone $3) as label, ${key} as key, count(*)::text as count,
         sum(e.cost_total)::text as total_cost, round(avg(e.cost_total), 6)::text as avg_cost,
         min(e.cost_total)::text as min_cost, max(e.cost_total)::text as max_cost
       from execution_ledger.executions e
       where e.project_id = $1 and ${rangeSql(range, params)}
       group by 1, 2
     ) l
     order by l.label, l.key`,
    params,
  );
  return rows.map((row) => ({
    bucket_start: String(row.bucket_start),
    bucket_local: String(row.bucket_local),
    key: row.key === null ? null : String(row.key),
    count: Number(row.count),
    total_cost: Number(row.total_cost),
    avg_cost: Number(row.avg_cost),
    min_cost: Number(row.min_cost),
    max_cost: Number(row.max_cost),
  }));
}

export async function plainCostByPart(
  context: EngineContext,
  projectId: string,
  range: PlainRange,
): Promise<CostByPart> {
  const params: unknown[] = [projectId];
  const where = `e.project_id = $1 and ${rangeSql(range, params)}`;
  const [totals] = await context.admin(
    `select count(*)::text as count, coalesce(sum(e.cost_total), 0)::text as total_cost
     from execution_ledger.executions e where ${where}`,
    params,
  );
  const parts = await context.admin(
    `select p.key, sum(p.value::numeric)::text as amount
     from execution_ledger.executions e, jsonb_each_text(e.cost_json -> 'breakdown') p
     where ${where} group by p.key`,
    params,
  );
  const [unattributed] = await context.admin(
    `select coalesce(sum(e.cost_total), 0)::text as amount from execution_ledger.executions e
     where ${where} and e.cost_json -> 'breakdown' = '{}'::jsonb`,
    params,
  );
  const byPart: Record<string, number> = { tokens: 0, toolCalls: 0, externalRequests: 0, penalties: 0 };
  for (const part of parts) byPart[String(part.key)] = Number(part.amount);
  return {
    count: Number(totals?.count),
    total_cost: Number(totals?.total_cost),
    parts: byPart,
    unattributed_cost: Number(unattributed?.amount),
  };
}

export async function plainCostByUser(
  context: EngineContext,
  projectId: string,
  range: PlainRange,
): Promise<UserCost[]> {
  const params: unknown[] = [projectId];
  const rows = await context.admin(
    `select e.user_id, count(*)::text as count, sum(e.cost_total)::text as total_cost,
       round(avg(e.cost_total), 6)::text as avg_cost
     from execution_ledger.executions e where e.project_id = $1 and ${rangeSql(range, params)}
     group by e.user_id order by sum(e.cost_total) desc, e.user_id`,
    params,
  );
  return rows.map((row) => ({
    user_id: String(row.user_id),
    count: Number(row.count),
    total_cost: Number(row.total_cost),
    avg_cost: Number(row.avg_cost),
  }));
}
