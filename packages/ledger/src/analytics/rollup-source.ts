import assert from 'node:assert/strict';
import type { AnalyticsScope } from './analytics-scope.js';
import type { TimeBucket } from './analytics-types.js';

/** Buckets of a time series: their unit and the time zone whose wall clock cuts them. */
export interface BucketSpec {
  unit: TimeBucket;
  timeZone: string;
}

/** The SQL of the `source` common table expressions and the placeholders an outer query reuses. */
export interface RollupSource {
  /** `with …, source as (…)`: append the outer `select … from source s`. */
  sql: string;
  start: string;
  end: string;
  /** Set when bucketed: placeholders of the unit ('hour', 'day', 'week') and the time zone. */
  unit?: string;
  timeZone?: string;
}

/**
 * The runs of a scope as aggregate rows of one shape, read from the hourly rollups wherever a
 * whole UTC hour lies inside the range (and, when bucketed, inside one bucket), and from the
 * entries only for the remaining partial hours. Every instant of [start, end) belongs to exactly
 * one UTC hour, and each hour is read from exactly one side, so sums, counts, minima and maxima
 * over `source` equal the same aggregate over the entries.
 *
 * Rows of `source`: at (the hour, or the entry's created_at), agent_id, user_id, status,
 * run_count, cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum, external_requests_sum,
 * penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max.
 */
export function rollupSourceSql(scope: AnalyticsScope, params: unknown[], bucket?: BucketSpec): RollupSource {
  const add = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const start = `${add(scope.start)}::timestamptz`;
  const end = `${add(scope.end)}::timestamptz`;
  const rollupClauses: string[] = [];
  const entryClauses: string[] = [];
  for (const [column, value] of [
    ['project_id', scope.projectId],
    ['agent_id', scope.agentId],
    ['user_id', scope.userId],
  ] as const) {
    if (value === undefined) continue;
    const placeholder = add(value);
    rollupClauses.push(`r.${column} = ${placeholder}`);
    entryClauses.push(`t.${column} = ${placeholder}`);
  }
  if (scope.statuses !== undefined) {
    const placeholder = add(scope.statuses);
    rollupClauses.push(`r.status = any(${placeholder}::text[])`);
    entryClauses.push(`t.status = any(${placeholder}::text[])`);
  }
  const source: RollupSource = { sql: '', start, end };
  if (bucket === undefined) {
    const firstWholeHour = ceilHour(scope.start);
    const lastCut = floorHour(scope.end);
    const edges = {
      firstWholeHour: `${add(firstWholeHour)}::timestamptz`,
      lastCut: `${add(lastCut)}::timestamptz`,
      lowerCut: firstWholeHour !== scope.start,
      upperCut: lastCut !== scope.end,
    };
    source.sql = edgesSourceSql(source, rollupClauses, entryClauses, edges);
    return source;
  }
  source.unit = `${add(bucket.unit)}::text`;
  source.timeZone = `${add(bucket.timeZone)}::text`;
  source.sql = bucketedSourceSql(source, rollupClauses, entryClauses);
  return source;
}

const ROLLUP_MEASURES = `r.run_count, r.cost_sum, r.cost_min, r.cost_max, r.tokens_sum, r.tool_calls_sum,
  r.external_requests_sum, r.penalties_sum, r.other_parts, r.duration_count, r.duration_ms_sum, r.duration_ms_max`;
const ENTRY_MEASURES = `1::bigint, t.cost_total, t.cost_total, t.cost_total, t.tokens, t.tool_calls,
  t.external_requests, t.penalties, t.other_parts, (t.duration_ms is not null)::integer::bigint,
  coalesce(t.duration_ms, 0)::numeric, t.duration_ms`;

/**
 * Without buckets only the range's two ends can cut an hour, and those hours are known up front:
 * whole hours [first whole hour, last cut) from the rollups, [start, first whole hour) and
 * [last cut, end) from the entries. Plain index range scans, nothing materialised.
 */
function edgesSourceSql(
  source: RollupSource,
  rollupClauses: string[],
  entryClauses: string[],
  edges: { firstWholeHour: string; lastCut: string; lowerCut: boolean; upperCut: boolean },
): string {
  const { start, end } = source;
  const where = (clauses: string[], range: string[]) => [...clauses, ...range].join(' and ');
  const entries = (range: string[]) => `
      union all
      select t.created_at, t.agent_id, t.user_id, t.status, ${ENTRY_MEASURES}
      from execution_ledger.execution_rollup_terms t
      where ${where(entryClauses, range)}`;
  // An open or hour-aligned end cuts no hour: its branch is left out, not planned and run empty.
  // `start < end` always holds for a non-empty range; it also keeps both parameters in the text
  // so PostgreSQL can type them when neither branch is.
  return `
    with source as (
      select r.hour as at, r.agent_id, r.user_id, r.status, ${ROLLUP_MEASURES}
      from execution_ledger.execution_rollups r
      where ${where(rollupClauses, [`r.hour >= ${edges.firstWholeHour}`, `r.hour < ${edges.lastCut}`, `${start} < ${end}`])}
      ${edges.lowerCut ? entries([`t.created_at >= ${start}`, `t.created_at < least(${edges.firstWholeHour}, ${end})`]) : ''}
      ${
        edges.upperCut
          ? entries([
              `t.created_at >= greatest(${edges.lastCut}, ${edges.firstWholeHour}, ${start})`,
              `t.created_at < ${end}`,
            ])
          : ''
      }
    )`;
}

/**
 * With buckets any hour may be cut (zones whose offset is not a whole hour, daylight-saving
 * changes), so each rollup row of the range is classified: whole when it lies inside the range
 * and inside one bucket. Hours that are not whole, and only those, are read from the entries.
 */
function bucketedSourceSql(source: RollupSource, rollupClauses: string[], entryClauses: string[]): string {
  const { start, end, unit, timeZone } = source;
  assert(unit !== undefined && timeZone !== undefined, 'only a bucketed source reads bucket edges');
  const oneBucket = wholeHourInOneBucketSql('r.hour', unit, timeZone);
  const scopedWhere = [...rollupClauses, `r.hour >= date_trunc('hour', ${start}, 'UTC')`, `r.hour < ${end}`];
  const entryWhere = [
    ...entryClauses,
    `t.created_at >= greatest(p.hour, ${start})`,
    `t.created_at < least(p.hour + interval '1 hour', ${end})`,
  ];
  return `
    with scoped as (
      select r.hour, r.agent_id, r.user_id, r.status, ${ROLLUP_MEASURES},
        (r.hour >= ${start} and r.hour + interval '1 hour' <= ${end}${oneBucket}) as whole
      from execution_ledger.execution_rollups r
      where ${scopedWhere.join(' and ')}
    ),
    partial_hours as (select distinct s.hour from scoped s where not s.whole),
    source as (
      select s.hour as at, s.agent_id, s.user_id, s.status, ${ROLLUP_MEASURES.replaceAll('r.', 's.')}
      from scoped s where s.whole
      union all
      select t.created_at, t.agent_id, t.user_id, t.status, ${ENTRY_MEASURES}
      from partial_hours p
      cross join lateral (
        select t.* from execution_ledger.execution_rollup_terms t where ${entryWhere.join(' and ')}
      ) t
    )`;
}

const HOUR_MS = 3_600_000;

/** The first whole UTC hour at or after an instant ('-infinity' stays open). */
function ceilHour(instant: string): string {
  const ms = Date.parse(instant);
  if (Number.isNaN(ms)) return instant;
  return new Date(Math.ceil(ms / HOUR_MS) * HOUR_MS).toISOString();
}

/** The UTC hour an instant falls in ('infinity' stays open). */
function floorHour(instant: string): string {
  const ms = Date.parse(instant);
  if (Number.isNaN(ms)) return instant;
  return new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString();
}

/**
 * True when the UTC hour starting at `hour` lies inside one bucket of the zone's wall clock:
 * its first and last instants get the same bucket, and no offset change (daylight saving) falls
 * inside it, so the wall clock runs straight through. Other hours are read from the entries.
 */
function wholeHourInOneBucketSql(hour: string, unit: string, timeZone: string): string {
  const last = `(${hour} + interval '1 hour' - interval '1 microsecond')`;
  return `
        and date_trunc(${unit}, ${hour} at time zone ${timeZone})
          = date_trunc(${unit}, ${last} at time zone ${timeZone})
        and (${last} at time zone ${timeZone}) - (${hour} at time zone ${timeZone})
          = interval '1 hour' - interval '1 microsecond'`;
}

/** The bucket of an instant: its wall-clock time in the zone, truncated to the unit. */
export function bucketLabelSql(at: string, source: RollupSource): string {
  return `date_trunc(${source.unit}, ${at} at time zone ${source.timeZone})`;
}
