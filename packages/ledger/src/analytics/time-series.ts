import assert from 'node:assert/strict';
import type { Queryable } from '../db/database.js';
import { namedSql } from '../db/named-sql.js';
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

/** A bucket with runs: bucket_local, key, count, total_cost, avg_cost, min_cost, max_cost, as text. */
type PointRow = [string, string | null, string, string, string, string, string];

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
  // One row: the buckets, the series keys and the non-empty points, each a JSON array of text
  // values (exact as rows would be); the zero points of the grid are filled in here. PGlite hands
  // each result row to Node at a cost that outgrew the query (30 days by 40 agents is 1,200
  // points), and building, sorting and joining the whole grid in SQL cost more than the read.
  // Named: the text depends only on the grouping and the filters given, never on their values.
  const result = await runSeriesQuery<{ labels: string; keys: string; points: string }>(
    q,
    namedSql(`${source.sql},
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
    )
    select
      -- Each bucket's first instant and wall-clock start, in order.
      (select coalesce(json_agg(array[to_char(${bucketStartSql('l.label', unit, zone)} at time zone 'UTC',
          'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), to_char(l.label, 'YYYY-MM-DD"T"HH24:MI:SS')] order by l.label), '[]')
        from label_list l)::text as labels,
      (${
        groupBy === 'none'
          ? `select '[null]'`
          : `select coalesce(json_agg(k.key order by k.key), '[]') from (select distinct a.key from agg a) k`
      })::text as keys,
      (select coalesce(json_agg(array[to_char(a.label, 'YYYY-MM-DD"T"HH24:MI:SS'), a.key,
          a.n::text, coalesce(a.cost, 0)::text, coalesce(round(a.cost / nullif(a.n, 0), 6), 0)::text,
          coalesce(a.min_cost, 0)::text, coalesce(a.max_cost, 0)::text]), '[]')
        from agg a)::text as points`),
    params,
  );
  const row = result[0];
  assert(row !== undefined, 'a series query answers one row');
  const labels = JSON.parse(row.labels) as [string, string][];
  const keys = JSON.parse(row.keys) as (string | null)[];
  requireSeriesPoints(
    labels.length * keys.length,
    'narrow the range, use a coarser bucket, filter by project or agent, or group by fewer values',
    'groupBy',
  );
  const filled = new Map<string, PointRow>();
  for (const point of JSON.parse(row.points) as PointRow[]) filled.set(gridKey(point[0], point[1]), point);
  const points: CostTimeSeriesPoint[] = [];
  for (const [bucketStart, bucketLocal] of labels) {
    for (const key of keys) {
      const point = filled.get(gridKey(bucketLocal, key));
      points.push({
        bucket_start: bucketStart,
        bucket_local: bucketLocal,
        key,
        count: Number(point?.[2] ?? 0),
        total_cost: Number(point?.[3] ?? 0),
        avg_cost: Number(point?.[4] ?? 0),
        min_cost: Number(point?.[5] ?? 0),
        max_cost: Number(point?.[6] ?? 0),
      });
    }
  }
  return { bucket, group_by: groupBy, time_zone: timeZone, points };
}

/** A point of the grid by bucket and series key; keys are never empty, so '' stands for none. */
function gridKey(bucketLocal: string, key: string | null): string {
  return `${bucketLocal}\u0000${key ?? ''}`;
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
