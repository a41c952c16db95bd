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
  /** JSON: the key of each group that has runs, in the order of `sums`. */
  group_keys: string;
  /**
   * "label epoch,count,total_cost,avg_cost,min_cost,max_cost" of each group that has runs,
   * joined by ";" (null when none has): plain numbers, no JSON to build for each group.
   */
  sums: string | null;
}

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
  });
  const { unit, timeZone: zone, start, end } = source;
  assert(
    unit !== undefined && zone !== undefined && start !== undefined && end !== undefined,
    'a source built with a bucket has its placeholders',
  );
  const epoch = (label: string) => `extract(epoch from ${label})::bigint`;
  const sql = `${source.sql},
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
      (select coalesce(json_agg(json_build_array(${epoch('l.label')},
          to_char(l.label, 'YYYY-MM-DD"T"HH24:MI:SS'),
          to_char(${bucketStartSql('l.label', unit, zone)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
          order by l.label), '[]')
        from label_list l)::text as labels,
      (${groupBy === 'none' ? `select '[null]'` : `select coalesce(json_agg(k.key order by k.key), '[]') from (select distinct a.key from agg a) k`})::text as keys,
      -- Two aggregates of one query level read the same rows in the same order: the n-th key
      -- belongs to the n-th sums.
      g.group_keys, g.sums
    from (
      select coalesce(json_agg(a.key), '[]')::text as group_keys,
        string_agg(${epoch('a.label')} || ',' || a.n || ',' || a.cost || ','
          || coalesce(round(a.cost / nullif(a.n, 0), 6), 0) || ',' || coalesce(a.min_cost, 0) || ','
          || coalesce(a.max_cost, 0), ';') as sums
      from agg a
    ) g`;
  // In UTC the text depends only on the pieces the range needs and on the filters given: named,
  // it is planned once per connection. Other zones classify days and hours of their own.
  const rows = await runSeriesQuery<SeriesRow>(q, timeZone === 'UTC' ? namedSql(sql) : sql, params);
  const row = rows[0];
  assert(row !== undefined, 'an aggregate query answers one row');
  const labels = JSON.parse(row.labels) as [number, string, string][];
  const keys = JSON.parse(row.keys) as (string | null)[];
  requireSeriesPoints(
    labels.length * keys.length,
    'narrow the range, use a coarser bucket, filter by project or agent, or group by fewer values',
    'groupBy',
  );
  const groupKeys = JSON.parse(row.group_keys) as (string | null)[];
  const sums = row.sums === null ? [] : row.sums.split(';');
  assert(sums.length === groupKeys.length, 'one key for each group');
  const groups = new Map<string, Map<string | null, string[]>>();
  sums.forEach((text, index) => {
    const [label = '', ...numbers] = text.split(',');
    let byKey = groups.get(label);
    if (byKey === undefined) {
      byKey = new Map();
      groups.set(label, byKey);
    }
    byKey.set(groupKeys[index] ?? null, numbers);
  });
  const points: CostTimeSeriesPoint[] = [];
  for (const [label, bucketLocal, bucketStart] of labels) {
    const byKey = groups.get(String(label));
    for (const key of keys) {
      const [count = 0, totalCost = 0, avgCost = 0, minCost = 0, maxCost = 0] = byKey?.get(key) ?? [];
      points.push({
        bucket_start: bucketStart,
        bucket_local: bucketLocal,
        key,
        count: Number(count),
        total_cost: Number(totalCost),
        avg_cost: Number(avgCost),
        min_cost: Number(minCost),
        max_cost: Number(maxCost),
      });
    }
  }
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
