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

/** The series as one row: PGlite hands each result row to Node at a cost of its own. */
interface SeriesRow {
  /** JSON [[label epoch, bucket_local, bucket_start], …] in bucket order. */
  labels: string;
  /** JSON: every series' key, in the database's order (nulls last). */
  keys: string;
  /**
   * JSON [[label epoch, key, count, total_cost, avg_cost, min_cost, max_cost], …] of each group
   * that has runs (null when none has), concatenated as text: the numbers are the database's
   * exact decimals, read by JSON.parse as Number would read them.
   */
  groups: string | null;
}

/** A group of `SeriesRow.groups`. */
type GroupSums = [
  label: number,
  key: string | null,
  count: number,
  total: number,
  avg: number,
  min: number,
  max: number,
];

/**
 * Cost per bucket (hour, day or Monday-started week on the zone's wall clock) and per series,
 * over [start, end). UTC days and hours that lie inside one bucket come from the rollup levels;
 * hours a bucket edge cuts (zones whose offset is not a whole hour, daylight-saving changes, the
 * range's ends) from the entries. Every series lists every bucket of the range, with zeros where
 * nothing ran: the database sums the groups that have runs and lists the buckets and the series
 * (their labels and order are its own), and the points are filled in here.
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
    grouped: true,
  });
  const { unit, timeZone: zone, start, end } = source;
  assert(
    unit !== undefined && zone !== undefined && start !== undefined && end !== undefined,
    'a source built with a bucket has its placeholders',
  );
  // date_part gives a double, exact for whole seconds; extract would compute a numeric per group.
  const epoch = (label: string) => `date_part('epoch', ${label})::bigint`;
  const sql = `${source.sql},
    agg as (${
      source.grouped === true
        ? `
      select s.label, ${GROUP_COLUMNS[groupBy]} as key, s.run_count::numeric as n, s.cost_sum as cost,
        s.cost_min as min_cost, s.cost_max as max_cost
      from source s where s.grouped
      union all`
        : ''
    }
      select s.label, ${GROUP_COLUMNS[groupBy]} as key,
        sum(s.run_count) as n, sum(s.cost_sum) as cost, min(s.cost_min) as min_cost,
        max(s.cost_max) as max_cost
      from source s ${source.grouped === true ? 'where not s.grouped' : ''} group by 1, 2
    ),
    label_list as (
      select g.label from generate_series(
          date_trunc(${unit}, ${start} at time zone ${zone}),
          date_trunc(${unit}, (${end} - interval '1 microsecond') at time zone ${zone}),
          ('1 ' || ${unit})::interval) as g(label)
        -- A wall-clock hour skipped by daylight saving has no instants: list it only if it has runs
        -- (a half-hour shift skips half an hour).
        where ${unit} <> 'hour' or (g.label at time zone ${zone}) at time zone ${zone} = g.label
      ${
        // Days and weeks are all listed, and every hour of UTC: no group's label to add.
        bucket === 'hour' && timeZone !== 'UTC' ? 'union select a.label from agg a' : ''
      }
    )
    select
      (select coalesce(json_agg(json_build_array(${epoch('l.label')},
          to_char(l.label, 'YYYY-MM-DD"T"HH24:MI:SS'),
          to_char(${bucketStartSql('l.label', unit, zone)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
          order by l.label), '[]')
        from label_list l)::text as labels,
      (${groupBy === 'none' ? `select '[null]'` : `select coalesce(json_agg(k.key order by k.key), '[]') from (select distinct a.key from agg a) k`})::text as keys,
      g.groups
    from (
      select '[' || string_agg('[' || ${epoch('a.label')} || ',' || coalesce(to_json(a.key)::text, 'null')
          || ',' || a.n || ',' || a.cost || ',' || coalesce(round(a.cost / nullif(a.n, 0), 6), 0) || ','
          || coalesce(a.min_cost, 0) || ',' || coalesce(a.max_cost, 0) || ']', ',') || ']' as groups
      from agg a
    ) g`;
  // The text depends only on the pieces the range needs (in UTC), on the bucket and on the filters
  // given, never on their values: named, it is parsed once per connection and the plan cache
  // plans it at most a few times. Planning a series in another zone took 4 to 5 ms of its 16 (a
  // 30-day daily series by agent in a zone the project keeps, at 1M runs).
  const rows = await runSeriesQuery<SeriesRow>(q, namedSql(sql), params);
  const row = rows[0];
  assert(row !== undefined, 'an aggregate query answers one row');
  const labels = JSON.parse(row.labels) as [number, string, string][];
  const keys = JSON.parse(row.keys) as (string | null)[];
  requireSeriesPoints(
    labels.length * keys.length,
    'narrow the range, use a coarser bucket, filter by project or agent, or group by fewer values',
    'groupBy',
  );
  const groups = new Map<number, Map<string | null, GroupSums>>();
  for (const group of row.groups === null ? [] : (JSON.parse(row.groups) as GroupSums[])) {
    let byKey = groups.get(group[0]);
    if (byKey === undefined) {
      byKey = new Map();
      groups.set(group[0], byKey);
    }
    assert(!byKey.has(group[1]), 'one group per bucket and key');
    byKey.set(group[1], group);
  }
  const points: CostTimeSeriesPoint[] = [];
  let listed = 0;
  for (const [label, bucketLocal, bucketStart] of labels) {
    const byKey = groups.get(label);
    if (byKey !== undefined) listed += 1;
    for (const key of keys) {
      const sums = byKey?.get(key);
      points.push({
        bucket_start: bucketStart,
        bucket_local: bucketLocal,
        key,
        count: sums?.[2] ?? 0,
        total_cost: sums?.[3] ?? 0,
        avg_cost: sums?.[4] ?? 0,
        min_cost: sums?.[5] ?? 0,
        max_cost: sums?.[6] ?? 0,
      });
    }
  }
  // Every run's bucket lies between the range's first and last: each group's label is listed.
  assert(listed === groups.size, 'every bucket with runs is one of the listed buckets');
  return { bucket, group_by: groupBy, time_zone: timeZone, points };
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
