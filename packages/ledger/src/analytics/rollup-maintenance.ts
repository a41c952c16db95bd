import { ROLLUP_MISMATCHES_MAX } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import type {
  RollupLevelReport,
  RollupMismatch,
  RollupRebuildOptions,
  RollupRebuildReport,
  RollupVerificationReport,
} from './analytics-types.js';
import { ROLLUP_LEVELS, type RollupLevel, ZONE_DAY_LEVEL } from './rollup-levels.js';

// Every level verification and rebuilds cover: the UTC levels and the days of the zones kept.
const ALL_LEVELS = [...ROLLUP_LEVELS, ZONE_DAY_LEVEL];

// The level name rebuild_project_rollups gives the step levels' groups.
const STEP_LEVEL = 'steps';

/**
 * The entries a verification compares with the levels: those up to the project's fold mark,
 * which the levels hold, whatever is appended meanwhile. Read in the verifying statement, so the
 * mark and the levels are of one snapshot.
 */
export const UP_TO_MARK = `t.seq <= coalesce((select m.mark from execution_ledger.rollup_marks m
         where m.project_id = $1), 0)`;

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
// The count of each status, kept by the levels without status as a key.
const STATUS_COUNTS = ['completed_count', 'failed_count', 'aborted_count'] as const;

/**
 * Recreates every rollup level and the daily step rollups of one project, or of every project
 * (each in one transaction under that project's append lock, so appends elsewhere go
 * on). Rollups are a cache: the entries are the truth, and this is how a damaged cache is
 * repaired.
 */
export async function rebuildProjectRollups(
  q: Queryable,
  projectId: string | undefined,
  options: RollupRebuildOptions = {},
): Promise<RollupRebuildReport> {
  const projects = projectId === undefined ? await listRollupProjects(q) : [projectId];
  const levels: Record<string, number> = Object.fromEntries(ALL_LEVELS.map((level) => [level.name, 0]));
  let stepGroups = 0;
  for (const [index, project] of projects.entries()) {
    // One transaction per project: every level, the zone days and the step levels from all its
    // entries, and its fold mark set to the head they end at.
    const rows = await q.query<{ r_level: string; r_groups: string | number }>(
      'select r_level, r_groups from execution_ledger.rebuild_project_rollups($1)',
      [project],
    );
    for (const row of rows) {
      if (row.r_level === STEP_LEVEL) stepGroups += Number(row.r_groups);
      else levels[row.r_level] = (levels[row.r_level] ?? 0) + Number(row.r_groups);
    }
    options.onProject?.(index + 1, projects.length);
  }
  const groups = Object.values(levels).reduce((sum, count) => sum + count, 0);
  return { projects: projects.length, groups, levels, step_groups: stepGroups };
}

/**
 * Every project with entries (the heads table, one row per project) or rollups at any level,
 * steps included: rollups without entries behind them must go too. The rollup tables are read in
 * full, which a rebuild of every project, reading every entry, outweighs many times over.
 */
export async function listRollupProjects(q: Queryable): Promise<string[]> {
  const tables = [...new Set([...ALL_LEVELS.map((level) => level.table), 'step_rollups'])];
  const rows = await q.query<{ project_id: string }>(
    `select project_id from execution_ledger.heads
     ${tables.map((table) => `union select distinct project_id from execution_ledger.${table}`).join('\n     ')}
     order by 1`,
  );
  return rows.map((row) => row.project_id);
}

/**
 * Recomputes every level of a project from its entries and compares them group by group. Reports,
 * never throws on bad data: a missing group, a group without entries, or each differing measure,
 * each naming its level.
 */
export async function verifyProjectRollups(
  q: Queryable,
  projectId: string,
): Promise<RollupVerificationReport> {
  const levels: RollupLevelReport[] = [];
  const mismatches: RollupMismatch[] = [];
  for (const level of ALL_LEVELS) {
    const rows = await q.query<{ groups: string | number; mismatches: RollupMismatch[] | null }>(
      verifyLevelSql(level),
      [projectId, ROLLUP_MISMATCHES_MAX],
    );
    const found = rows[0]?.mismatches ?? [];
    levels.push({ level: level.name, ok: found.length === 0, groups_checked: Number(rows[0]?.groups ?? 0) });
    mismatches.push(...found);
  }
  return {
    ok: mismatches.length === 0,
    project_id: projectId,
    groups_checked: levels.reduce((sum, level) => sum + level.groups_checked, 0),
    levels,
    mismatches,
  };
}

/**
 * One level's comparison: the level as the entries give it, full-joined with the level as stored.
 * A zoned level is compared in each zone the project keeps, with the zone as a key, and its
 * mismatches name the zone.
 */
function verifyLevelSql(level: RollupLevel): string {
  const zoned = level.zoned === true;
  const period = `date_trunc('${level.period}', t.created_at, ${zoned ? 'z.time_zone' : "'UTC'"})`;
  const keys: string[] = zoned ? ['zone_id', ...level.keys] : [...level.keys];
  const measures = level.statusCounts ? [...MEASURES, ...STATUS_COUNTS] : MEASURES;
  const differences = measures
    .map(
      (measure) =>
        `case when x.${measure} is distinct from a.${measure} ` +
        `then format('${measure} is %s, the entries give %s', coalesce(a.${measure}::text, 'null'), coalesce(x.${measure}::text, 'null')) end`,
    )
    .join(',\n        ');
  const keyOf = (key: string) =>
    keys.includes(key as never) ? `coalesce(x.${key}, a.${key})` : 'null::text';
  const order = ['m.period', ...keys.map((key) => `m.${key}`)].join(', ');
  return `with expected as (
       select ${period} as period, ${keys.map((key) => (key === 'zone_id' ? 'z.zone_id' : `t.${key}`)).join(', ')}, count(*) as run_count,
         coalesce(sum(t.cost_total), 0) as cost_sum, min(t.cost_total) as cost_min,
         max(t.cost_total) as cost_max, sum(t.tokens) as tokens_sum, sum(t.tool_calls) as tool_calls_sum,
         sum(t.external_requests) as external_requests_sum, sum(t.penalties) as penalties_sum,
         execution_ledger.sum_part_maps(jsonb_agg(t.other_parts) filter (where t.other_parts is not null))
           as other_parts,
         count(t.duration_ms) as duration_count, coalesce(sum(t.duration_ms), 0) as duration_ms_sum,
         max(t.duration_ms) as duration_ms_max,
         count(*) filter (where t.status = 'completed') as completed_count,
         count(*) filter (where t.status = 'failed') as failed_count,
         count(*) filter (where t.status = 'aborted') as aborted_count
       from execution_ledger.execution_rollup_terms t
       ${zoned ? 'join execution_ledger.rollup_time_zones z on z.project_id = t.project_id' : ''}
       where t.project_id = $1 and ${UP_TO_MARK}
       group by ${['1', ...keys.map((_, index) => String(index + 2))].join(', ')}
     ),
     actual as (
       select a.${level.period} as period, a.* from execution_ledger.${level.table} a where a.project_id = $1
     ),
     compared as (
       select coalesce(x.period, a.period) as period,
         ${keyOf('agent_id')} as agent_id, ${keyOf('user_id')} as user_id, ${keyOf('status')} as status,
         ${zoned ? 'coalesce(x.zone_id, a.zone_id)' : 'null::smallint'} as zone_id,
         case when a.period is null then 'entries of this group are missing from the rollups'
           when x.period is null then 'this rollup group has no entries behind it'
           else concat_ws('; ',
        ${differences})
         end as reason
       from expected x
       full join actual a on ${['period', ...keys].map((key) => `a.${key} = x.${key}`).join(' and ')}
     )
     select (select count(*) from compared) as groups,
       (select jsonb_agg(jsonb_build_object('level', '${level.name}',
           'period_start', to_char(m.period at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'agent_id', m.agent_id, 'user_id', m.user_id, 'status', m.status,
           'reason', ${zoned ? `'in ' || (select z.time_zone from execution_ledger.rollup_time_zones z where z.zone_id = m.zone_id) || ': ' || m.reason` : 'm.reason'})
         order by ${order})
        from (select c.* from compared c where c.reason <> ''
              order by ${order.replaceAll('m.', 'c.')} limit $2) m) as mismatches`;
}
