import { ROLLUP_MISMATCHES_MAX } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import type { RollupVerificationReport } from './analytics-types.js';
import { UP_TO_MARK } from './rollup-maintenance.js';

// Every measure a step rollup row holds; verification compares each one.
const MEASURES = [
  'step_count',
  'cost_sum',
  'input_tokens_sum',
  'output_tokens_sum',
  'cached_input_tokens_sum',
] as const;
const KEYS = ['day', 'agent_id', 'user_id', 'status', 'kind', 'name', 'model'] as const;

/** One group of the daily step rollups that disagrees with the entries' typed steps. */
export interface StepRollupMismatch {
  day: string;
  agent_id: string;
  user_id: string;
  status: string;
  kind: string;
  name: string;
  model: string;
  reason: string;
}

export interface StepRollupVerificationReport {
  ok: boolean;
  /** Step rollup groups (project, day, agent, user, status, kind, name, model) compared. */
  groups_checked: number;
  /** Up to a bounded number of disagreements, oldest day first. */
  mismatches: StepRollupMismatch[];
}

/** The run-level report with the step level beside it: ok only when both levels are. */
export function withStepVerification(
  report: RollupVerificationReport,
  steps: StepRollupVerificationReport,
): RollupVerificationReport & { steps: StepRollupVerificationReport } {
  return { ...report, ok: report.ok && steps.ok, steps };
}

/**
 * Recomputes a project's step rollups from its entries and compares them group by group: a
 * missing group, a group without steps behind it, or each differing measure. Never throws on
 * bad data.
 */
export async function verifyProjectStepRollups(
  q: Queryable,
  projectId: string,
): Promise<StepRollupVerificationReport> {
  const differences = MEASURES.map(
    (measure) =>
      `case when x.${measure} is distinct from a.${measure} ` +
      `then format('${measure} is %s, the entries give %s', coalesce(a.${measure}::text, 'null'), coalesce(x.${measure}::text, 'null')) end`,
  ).join(',\n        ');
  const keyList = KEYS.map((key) => `coalesce(x.${key}, a.${key}) as ${key}`).join(', ');
  const joinOn = KEYS.map((key) => `a.${key} = x.${key}`).join(' and ');
  const order = KEYS.map((key) => `m.${key}`).join(', ');
  const rows = await q.query<{ groups: string | number; mismatches: StepRollupMismatch[] | null }>(
    `with expected as (
       select t.day, t.agent_id, t.user_id, t.status, t.kind, t.name, t.model, count(*) as step_count,
         sum(t.cost) as cost_sum, sum(t.input_tokens) as input_tokens_sum,
         sum(t.output_tokens) as output_tokens_sum, sum(t.cached_input_tokens) as cached_input_tokens_sum
       from execution_ledger.step_rollup_terms t where t.project_id = $1 and ${UP_TO_MARK}
       group by 1, 2, 3, 4, 5, 6, 7
     ),
     actual as (select r.* from execution_ledger.step_rollups r where r.project_id = $1),
     compared as (
       select ${keyList},
         case when a.day is null then 'steps of this group are missing from the step rollups'
           when x.day is null then 'this step rollup group has no steps behind it'
           else concat_ws('; ',
        ${differences})
         end as reason
       from expected x full join actual a on ${joinOn}
     )
     select (select count(*) from compared) as groups,
       (select jsonb_agg(jsonb_build_object(
           'day', to_char(m.day at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'agent_id', m.agent_id, 'user_id', m.user_id, 'status', m.status, 'kind', m.kind,
           'name', m.name, 'model', m.model, 'reason', m.reason)
         order by ${order})
        from (select c.* from compared c where c.reason <> '' order by ${KEYS.map((key) => `c.${key}`).join(', ')}
              limit $2) m) as mismatches`,
    [projectId, ROLLUP_MISMATCHES_MAX],
  );
  const project = await verifyProjectLevel(q, projectId, differences);
  const mismatches = [...(rows[0]?.mismatches ?? []), ...project.mismatches].slice(0, ROLLUP_MISMATCHES_MAX);
  return {
    ok: mismatches.length === 0,
    groups_checked: Number(rows[0]?.groups ?? 0) + project.groups,
    mismatches,
  };
}

/** The project level (step_rollups_by_project) against the entries; its mismatches say agent, user and status '*'. */
async function verifyProjectLevel(
  q: Queryable,
  projectId: string,
  differences: string,
): Promise<{ groups: number; mismatches: StepRollupMismatch[] }> {
  const keys = ['day', 'kind', 'name', 'model'];
  const rows = await q.query<{ groups: string | number; mismatches: StepRollupMismatch[] | null }>(
    `with expected as (
       select t.day, t.kind, t.name, t.model, count(*) as step_count, sum(t.cost) as cost_sum,
         sum(t.input_tokens) as input_tokens_sum, sum(t.output_tokens) as output_tokens_sum,
         sum(t.cached_input_tokens) as cached_input_tokens_sum
       from execution_ledger.step_rollup_terms t where t.project_id = $1 and ${UP_TO_MARK}
       group by 1, 2, 3, 4
     ),
     actual as (select p.* from execution_ledger.step_rollups_by_project p where p.project_id = $1),
     compared as (
       select ${keys.map((key) => `coalesce(x.${key}, a.${key}) as ${key}`).join(', ')},
         case when a.day is null then 'project level: steps of this group are missing'
           when x.day is null then 'project level: this group has no steps behind it'
           else concat_ws('; ',
        ${differences})
         end as reason
       from expected x full join actual a on ${keys.map((key) => `a.${key} = x.${key}`).join(' and ')}
     )
     select (select count(*) from compared) as groups,
       (select jsonb_agg(jsonb_build_object(
           'day', to_char(m.day at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'agent_id', '*', 'user_id', '*', 'status', '*', 'kind', m.kind, 'name', m.name,
           'model', m.model, 'reason', m.reason)
         order by m.day, m.kind, m.name, m.model)
        from (select c.* from compared c where c.reason <> '' order by c.day, c.kind, c.name, c.model
              limit $2) m) as mismatches`,
    [projectId, ROLLUP_MISMATCHES_MAX],
  );
  return { groups: Number(rows[0]?.groups ?? 0), mismatches: rows[0]?.mismatches ?? [] };
}
