import assert from 'node:assert/strict';
import { TIME_SERIES_POINTS_MAX } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import type {
  CostTimeSeries,
  CostTimeSeriesOptions,
  CostTimeSeriesPoint,
  SeriesGroupBy,
} from './analytics-types.js';
import { isRowSecured, type RollupKey } from './rollup-levels.js';
import { rollupSourceSql } from './rollup-source.js';
import {
  bucketStartSql,
  requireSeriesPoints,
  requireSeriesWindow,
  runSeriesQuery,
  type SeriesWindow,
  seriesFail,
} from './series-window.js';

const GROUP_COLUMNS: Record<SeriesGroupBy, string> = {
  agent: 's.agent_id',
  user: 's.user_id',
  status: 's.status',
  none: 'null::text',
};
const GROUP_KEYS: Record<SeriesGroupBy, RollupKey[]> = {
  agent: ['agent_id'],
  user: ['user_id'],
  status: ['status'],
  none: [],
};

interface PointRow {
  bucket_start: string;
  bucket_local: string;
  key: string | null;
  count: string;
  total_cost: string;
  avg_cost: string;
  min_cost: string;
  max_cost: string;
}

/**
 * Cost per bucket (hour, day or Monday-started week on the zone's wall clock) and per series,
 * over [start, end). UTC days and hours that lie inside one bucket come from the rollup levels;
 * hours a bucket edge cuts (zones whose offset is not a whole hour, daylight-saving changes, the
 * range's ends) from the entries. Every
 * series lists every bucket of the range, with zeros where nothing ran.
 */
export async function queryCostTimeSeries(
  q: Queryable,
  options: CostTimeSeriesOptions,
): Promise<CostTimeSeries> {
  const { bucket, groupBy, timeZone, scope } = validateSeriesOptions(options);
  const params: unknown[] = [];
  const source = rollupSourceSql(scope, params, {
    keys: GROUP_KEYS[groupBy],
    rowSecured: isRowSecured(q),
    bucket: { unit: bucket, timeZone },
  });
  const { unit, timeZone: zone, start, end } = source;
  assert(
    unit !== undefined && zone !== undefined && start !== undefined && end !== undefined,
    'a source built with a bucket has its placeholders',
  );
  params.push(TIME_SERIES_POINTS_MAX + 1);
  const rows = await runSeriesQuery<PointRow>(
    q,
    `${source.sql},
    agg as (
      select s.label, ${GROUP_COLUMNS[groupBy]} as key,
        sum(s.run_count) as n, sum(s.cost_sum) as cost, min(s.cost_min) as min_cost,
        max(s.cost_max) as max_cost
      from source s group by 1, 2
    ),
    label_list as (
      select g.label from generate_series(
          date_trunc(${unit}, ${start} at time zone ${zone}),
          date_trunc(${unit}, (${end} - interval '1 microsecond') at time zone ${zone}),
          ('1 ' || ${unit})::interval) as g(label)
        -- A wall-clock hour skipped by daylight saving has no instants: list it only if it has runs.
        where ${unit} <> 'hour' or (g.label at time zone ${zone}) at time zone ${zone} = g.label
      union
      select a.label from agg a
    ),
    -- Each bucket's first instant once per bucket, not once per bucket and series.
    labels as materialized (
      select l.label, to_char(${bucketStartSql('l.label', unit, zone)} at time zone 'UTC',
          'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as bucket_start
      from label_list l
    ),
    keys as (${groupBy === 'none' ? 'select null::text as key' : 'select distinct a.key from agg a'})
    select l.bucket_start,
      to_char(l.label, 'YYYY-MM-DD"T"HH24:MI:SS') as bucket_local, k.key,
      coalesce(a.n, 0)::text as count, coalesce(a.cost, 0)::text as total_cost,
      coalesce(round(a.cost / nullif(a.n, 0), 6), 0)::text as avg_cost,
      coalesce(a.min_cost, 0)::text as min_cost, coalesce(a.max_cost, 0)::text as max_cost
    from labels l cross join keys k
    -- coalesce, not IS NOT DISTINCT FROM, so the join can hash: no id or status is empty.
    left join agg a on a.label = l.label and coalesce(a.key, '') = coalesce(k.key, '')
    order by l.label, k.key
    limit $${params.length}`,
    params,
  );
  requireSeriesPoints(
    rows.length,
    'narrow the range, use a coarser bucket, filter by project or agent, or group by fewer values',
    'groupBy',
  );
  return { bucket, group_by: groupBy, time_zone: timeZone, points: rows.map(toPoint) };
}

function toPoint(row: PointRow): CostTimeSeriesPoint {
  return {
    bucket_start: row.bucket_start,
    bucket_local: row.bucket_local,
    key: row.key,
    count: Number(row.count),
    total_cost: Number(row.total_cost),
    avg_cost: Number(row.avg_cost),
    min_cost: Number(row.min_cost),
    max_cost: Number(row.max_cost),
  };
}

function validateSeriesOptions(options: CostTimeSeriesOptions): SeriesWindow & { groupBy: SeriesGroupBy } {
  if (typeof options !== 'object' || options === null) {
    seriesFail('options', 'must be an object such as { projectId, bucket: "day", start, end }');
  }
  const { groupBy = 'none' } = options;
  if (!Object.hasOwn(GROUP_COLUMNS, groupBy)) {
    seriesFail('groupBy', `must be agent, user, status or none; got ${String(groupBy)}`);
  }
  return { ...requireSeriesWindow(options), groupBy };
}
