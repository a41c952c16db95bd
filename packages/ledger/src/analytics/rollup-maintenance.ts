import { ROLLUP_MISMATCHES_MAX } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import type { RollupMismatch, RollupRebuildReport, RollupVerificationReport } from './analytics-types.js';

// Every measure a rollup row holds; verification compares each one.
const MEASURES = [
  'run_count',
  'cost_sum',
  'cost_min',
  'cost_max',
  'tokens_sum',
  'tool_calls_sum',
  'external_requests_sum',
  'penalties_sum',
  'other_parts',
  'duration_count',
  'duration_ms_sum',
  'duration_ms_max',
] as const;

/**
 * Recreates the rollups of one project, or of every project (each in its own short transaction
 * under that project's append lock, so appends elsewhere go on). Rollups are a cache: the
 * entries are the truth, and this is how a damaged cache is repaired.
 */
export async function rebuildProjectRollups(
  q: Queryable,
  projectId: string | undefined,
): Promise<RollupRebuildReport> {
  const projects = projectId === undefined ? await listRollupProjects(q) : [projectId];
  let groups = 0;
  for (const project of projects) {
    const rows = await q.query<{ groups: string | number }>(
      'select execution_ledger.rebuild_rollups($1) as groups',
      [project],
    );
    groups += Number(rows[0]?.groups ?? 0);
  }
  return { projects: projects.length, groups };
}

/**
 * Every project with entries or rollups, by a loose index scan (one index probe per project)
 * instead of reading every entry: rollups without entries behind them must go too.
 */
async function listRollupProjects(q: Queryable): Promise<string[]> {
  const rows = await q.query<{ project_id: string }>(
    `with recursive entries(project_id) as (
       select min(project_id) from execution_ledger.executions
       union all
       select (select min(e.project_id) from execution_ledger.executions e where e.project_id > p.project_id)
       from entries p where p.project_id is not null
     ), rollups(project_id) as (
       select min(project_id) from execution_ledger.execution_rollups
       union all
       select (select min(r.project_id) from execution_ledger.execution_rollups r where r.project_id > p.project_id)
       from rollups p where p.project_id is not null
     )
     select project_id from entries where project_id is not null
     union
     select project_id from rollups where project_id is not null
     order by 1`,
  );
  return rows.map((row) => row.project_id);
}

/**
 * Recomputes a project's rollups from its entries and compares them group by group. Reports,
 * never throws on bad data: a missing group, a group without entries, or each differing measure.
 */
export async function verifyProjectRollups(
  q: Queryable,
  projectId: string,
): Promise<RollupVerificationReport> {
  const differences = MEASURES.map(
    (measure) =>
      `case when x.${measure} is distinct from a.${measure} ` +
      `then format('${measure} is %s, the entries give %s', coalesce(a.${measure}::text, 'null'), coalesce(x.${measure}::text, 'null')) end`,
  ).join(',\n        ');
  const rows = await q.query<{ groups: string | number; mismatches: RollupMismatch[] | null }>(
    `with expected as (
       select t.hour, t.agent_id, t.user_id, t.status, count(*) as run_count,
         coalesce(sum(t.cost_total), 0) as cost_sum, min(t.cost_total) as cost_min,
         max(t.cost_total) as cost_max, sum(t.tokens) as tokens_sum, sum(t.tool_calls) as tool_calls_sum,
         sum(t.external_requests) as external_requests_sum, sum(t.penalties) as penalties_sum,
         execution_ledger.sum_part_maps(jsonb_agg(t.other_parts) filter (where t.other_parts is not null))
           as other_parts,
         count(t.duration_ms) as duration_count, coalesce(sum(t.duration_ms), 0) as duration_ms_sum,
         max(t.duration_ms) as duration_ms_max
       from execution_ledger.execution_rollup_terms t where t.project_id = $1
       group by 1, 2, 3, 4
     ),
     actual as (select r.* from execution_ledger.execution_rollups r where r.project_id = $1),
     compared as (
       select coalesce(x.hour, a.hour) as hour, coalesce(x.agent_id, a.agent_id) as agent_id,
         coalesce(x.user_id, a.user_id) as user_id, coalesce(x.status, a.status) as status,
         case when a.hour is null then 'entries of this group are missing from the rollups'
           when x.hour is null then 'this rollup group has no entries behind it'
           else concat_ws('; ',
        ${differences})
         end as reason
       from expected x
       full join actual a
         on a.hour = x.hour and a.agent_id = x.agent_id and a.user_id = x.user_id and a.status = x.status
     )
     select (select count(*) from compared) as groups,
       (select jsonb_agg(jsonb_build_object(
           'hour', to_char(m.hour at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'agent_id', m.agent_id, 'user_id', m.user_id, 'status', m.status, 'reason', m.reason)
         order by m.hour, m.agent_id, m.user_id, m.status)
        from (select c.* from compared c where c.reason <> ''
              order by c.hour, c.agent_id, c.user_id, c.status limit $2) m) as mismatches`,
    [projectId, ROLLUP_MISMATCHES_MAX],
  );
  const mismatches = rows[0]?.mismatches ?? [];
  return {
    ok: mismatches.length === 0,
    project_id: projectId,
    groups_checked: Number(rows[0]?.groups ?? 0),
    mismatches,
  };
}
