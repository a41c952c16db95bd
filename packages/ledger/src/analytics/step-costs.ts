import { PAGE_ROWS_MAX, TIME_SERIES_POINTS_MAX } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { decimalTextToMicros, microsToCents } from '../money.js';
import { requireLimit } from '../query/execution-filter.js';
import { STEP_KINDS, type StepKind } from '../step-shape.js';
import { queryWithSettings } from './analytics-query.js';
import { type AnalyticsScope, toAnalyticsScope } from './analytics-scope.js';
import type { AnalyticsFilter, TimeBucket } from './analytics-types.js';
import { isRowSecured } from './rollup-levels.js';
import {
  bucketStartSql,
  requireSeriesPoints,
  requireSeriesWindow,
  runSeriesQuery,
  type SeriesWindow,
  seriesFail,
} from './series-window.js';

/** How step costs are grouped: by tool (step kind and name) or by model. */
export type StepCostGroupBy = 'tool' | 'model';

export interface StepCostOptions extends AnalyticsFilter {
  /** Groups listed one by one, by cost (highest first); the rest are summed as `other`. Default 10. */
  limit?: number;
  /** getCostByTool only: the step kinds counted as tools; default ['tool', 'external']. */
  kinds?: StepKind[];
}

/** The typed steps of one group, or of several: how many, their tokens, their exact cost in cents. */
export interface StepCostTotals {
  steps: number;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  cost: number;
}

/** One tool (kind and name) or one model. A tool step without a name has name null. */
export interface StepCostGroup extends StepCostTotals {
  kind: StepKind | null;
  name: string | null;
  model: string | null;
}

export interface StepCostBreakdown {
  group_by: StepCostGroupBy;
  /** The `limit` costliest groups, costliest first (ties by kind, name or model). */
  top: StepCostGroup[];
  /** Every other group summed, with how many groups it holds; null when there are none. */
  other: (StepCostTotals & { groups: number }) | null;
  /** Every group of the scope: top and other together. */
  total: StepCostTotals;
}

export interface StepCostTimeSeriesOptions extends StepCostOptions {
  groupBy: StepCostGroupBy;
  bucket: TimeBucket;
  start: Date;
  end: Date;
  /** IANA time zone whose wall clock cuts days and weeks (weeks start on Monday); default 'UTC'. */
  timeZone?: string;
}

/** One bucket of one group; the group of everything past the top `limit` has key null. */
export interface StepCostTimeSeriesPoint extends StepCostTotals {
  bucket_start: string;
  bucket_local: string;
  /** The tool's name or the model; null for the group of all others. */
  key: string | null;
  /** The tool's kind (tool series only). */
  kind: StepKind | null;
}

export interface StepCostTimeSeries {
  group_by: StepCostGroupBy;
  bucket: TimeBucket;
  time_zone: string;
  /** Bucket by bucket, then group by group (the top groups by cost, then the others as key null). */
  points: StepCostTimeSeriesPoint[];
}

const STEP_COSTS_DEFAULT = 10;
const DAY_MS = 86_400_000;
const DEFAULT_TOOL_KINDS: StepKind[] = ['tool', 'external'];

const MEASURES = 'step_count, cost_sum, input_tokens_sum, output_tokens_sum, cached_input_tokens_sum';
const ENTRY_MEASURES = `1::bigint, t.cost, t.input_tokens, t.output_tokens, t.cached_input_tokens`;
const NEGATED_ENTRY_MEASURES = `-1::bigint, -t.cost, -t.input_tokens, -t.output_tokens, -t.cached_input_tokens`;
const FOLDED_ENTRY = `exists (select from execution_ledger.rollup_marks m
        where m.project_id = t.project_id and t.seq <= m.mark)`;

interface Grouping {
  /** Key columns over `step_source s`, as `kind, name` or `model`. */
  keys: string[];
  /** The condition a step must meet to belong to a group. */
  where: string;
}

/** Which steps form the groups, and by which columns, with `kinds` as a parameter. */
function grouping(groupBy: StepCostGroupBy, kinds: StepKind[], params: unknown[]): Grouping {
  if (groupBy === 'model') return { keys: ['s.model'], where: `s.model <> ''` };
  params.push(kinds);
  return { keys: ['s.kind', 's.name'], where: `s.kind = any($${params.length}::text[])` };
}

/**
 * The typed steps of a scope as aggregate rows: whole UTC days inside the range from the daily
 * step rollups, and the days the range cuts from whichever side of the cut has fewer hours: the
 * steps of the entries inside the range, or the day's rollup rows less the steps of the entries
 * outside it (every measure is a count or a sum). Every instant belongs to one UTC day and each
 * day is read from one side, so sums over `step_source` equal the same sums over the entries'
 * steps; a group whose steps all lie outside the range nets to zero steps.
 */
function stepSourceSql(
  scope: AnalyticsScope,
  params: unknown[],
  rowSecured: boolean,
  bucket?: { unit: string; zone: string },
): string {
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
  const rollups =
    scope.agentId === undefined && scope.userId === undefined && scope.statuses === undefined
      ? PROJECT_LEVEL_OR_FULL
      : 'execution_ledger.step_rollups r';
  if (bucket === undefined) {
    const cut = cutDays(scope.start, scope.end, rowSecured);
    const from = `${add(cut.rollupFrom)}::timestamptz`;
    const to = `${add(cut.rollupTo)}::timestamptz`;
    // A piece inside the range adds its entries' steps. One outside it, in a day read from the
    // rollup rows, subtracts the steps those rows hold: only those of entries folded into them
    // (seq up to the project's mark), as one snapshot shows them.
    const pieces = cut.pieces.map(
      (piece) => `
      union all
      select t.created_at, t.kind, t.name, t.model, ${piece.inside ? ENTRY_MEASURES : NEGATED_ENTRY_MEASURES}
      from execution_ledger.step_rollup_terms t
      where ${[
        ...entryClauses,
        `t.created_at >= ${add(piece.from)}::timestamptz`,
        `t.created_at < ${add(piece.to)}::timestamptz`,
        ...(piece.inside ? [] : [FOLDED_ENTRY]),
      ].join(' and ')}`,
    );
    const rollupWhere = [...rollupClauses, `r.day >= ${from}`, `r.day < ${to}`, `${start} < ${end}`];
    return `
    with step_source as (
      select r.day as at, r.kind, r.name, r.model, ${MEASURES}
      from ${rollups}
      where ${rollupWhere.join(' and ')}
      ${pieces.join('')}
    )`;
  }
  // With buckets a day is whole when it lies inside the range and inside one bucket of the zone's
  // wall clock with no offset change in it. A day the range cuts that lies inside one bucket, with
  // more than half of it inside the range, is its rollup rows less the folded entries outside the
  // range, as in cutDays. A day inside the range that a bucket boundary splits (a local midnight
  // that is not UTC's, a week's start), with no offset change in it, is its rollup rows put in the
  // bucket of its longer part, with the folded entries of the shorter part moved to their own
  // bucket (taken out of the longer part's, added to theirs). Every other day is read from the
  // entries inside the range; a reader under row level security, who may not see every fold mark,
  // reads every day that is not whole that way.
  const { unit, zone } = bucket;
  // Hours, never '1 day', on a timestamptz: a day there follows the session's zone.
  const lastInstant = `(r.day + interval '24 hours' - interval '1 microsecond')`;
  const scopedWhere = [...rollupClauses, `r.day >= date_trunc('day', ${start}, 'UTC')`, `r.day < ${end}`];
  const mostlyInside = cutDays(scope.start, scope.end, rowSecured)
    .pieces.filter((piece) => !piece.inside)
    .map((piece) => floorDay(piece.from));
  const subtracted = `${add([...new Set(mostlyInside)])}::timestamptz[]`;
  const dayEntries = (range: string[]) => `
        select t.* from execution_ledger.step_rollup_terms t
        where ${[...entryClauses, ...range].join(' and ')}
        offset 0`;
  const dayEnd = (day: string) => `${day} + interval '24 hours'`;
  // The folded entries of a day read from its rows less what lies outside the range, negated.
  const outsideOfRange = (range: string[]) => `
      union all
      select t.created_at, t.kind, t.name, t.model, ${NEGATED_ENTRY_MEASURES}
      from outside_days o
      cross join lateral (${dayEntries([...range, FOLDED_ENTRY])}
      ) t`;
  return `
    with scoped as (
      select r.day, r.kind, r.name, r.model, ${MEASURES},
        (r.day >= ${start} and r.day + interval '24 hours' <= ${end}) as inside,
        (date_trunc(${unit}, r.day at time zone ${zone}) = date_trunc(${unit}, ${lastInstant} at time zone ${zone})
          and (${lastInstant} at time zone ${zone}) - (r.day at time zone ${zone})
            = interval '1 day' - interval '1 microsecond') as one_bucket,
        ${unit} <> 'hour' and (${lastInstant} at time zone ${zone}) - (r.day at time zone ${zone})
          = interval '1 day' - interval '1 microsecond' as steady,
        date_trunc(${unit}, ${lastInstant} at time zone ${zone}) at time zone ${zone} as boundary
      from ${rollups}
      where ${scopedWhere.join(' and ')}
    ),
    read_days as (
      select s.*, s.inside and s.one_bucket as whole,
        not s.inside and s.one_bucket and s.day = any(${subtracted}) as less_outside,
        ${rowSecured ? 'false' : 's.inside and not s.one_bucket and s.steady'} as split,
        -- A split day's rows go to the bucket of its longer part: the earlier one when it is
        -- half the day or more.
        case when s.boundary - s.day >= interval '12 hours' then s.day else s.boundary end as longer_at
      from scoped s
    ),
    partial_days as (
      select distinct d.day from read_days d where not d.whole and not d.less_outside and not d.split
    ),
    outside_days as (select distinct d.day from read_days d where d.less_outside),
    split_days as (select distinct d.day, d.boundary, d.longer_at from read_days d where d.split),
    step_source as (
      select case when d.split then d.longer_at else d.day end as at, d.kind, d.name, d.model, ${MEASURES}
      from read_days d where d.whole or d.less_outside or d.split
      union all
      select m.at, t.kind, t.name, t.model, m.sign::bigint, m.sign * t.cost, m.sign * t.input_tokens,
        m.sign * t.output_tokens, m.sign * t.cached_input_tokens
      from split_days sp
      cross join lateral (${dayEntries([
        `t.created_at >= case when sp.longer_at = sp.day then sp.boundary else sp.day end`,
        `t.created_at < case when sp.longer_at = sp.day then ${dayEnd('sp.day')} else sp.boundary end`,
        FOLDED_ENTRY,
      ])}
      ) t
      cross join lateral (values (t.created_at, 1), (sp.longer_at, -1)) as m(at, sign)
      union all
      select t.created_at, t.kind, t.name, t.model, ${ENTRY_MEASURES}
      from partial_days p
      -- offset 0 keeps each subquery a lateral one, run once per day as a range scan of the
      -- entries' (project_id, created_at) index: pulled up into a join, its range could not reach
      -- the index and every entry of the scope was expanded (1.3 s for a 30-day series at a
      -- million runs).
      cross join lateral (${dayEntries([
        `t.created_at >= greatest(p.day, ${start})`,
        `t.created_at < least(${dayEnd('p.day')}, ${end})`,
      ])}
      ) t
      ${outsideOfRange([`t.created_at >= o.day`, `t.created_at < least(${start}, ${dayEnd('o.day')})`])}
      ${outsideOfRange([`t.created_at >= greatest(${end}, o.day)`, `t.created_at < ${dayEnd('o.day')}`])}
    )`;
}

/**
 * Without an agent, user or status filter the project level (one row per project, day, kind, name
 * and model) answers, when the caller sees every entry: a role with the service role's rights.
 * Others (a scoped reader, under row level security) read the full level, whose rows carry the
 * user the policies need. The condition has no column in it, so PostgreSQL evaluates it once
 * and runs only one branch.
 */
const SEES_EVERY_ENTRY = `pg_has_role(current_user, 'execution_ledger_service', 'usage')`;
const PROJECT_LEVEL_OR_FULL = `(
        select p.project_id, p.day, p.kind, p.name, p.model, p.${MEASURES.replaceAll(', ', ', p.')}
        from execution_ledger.step_rollups_by_project p where ${SEES_EVERY_ENTRY}
        union all
        select f.project_id, f.day, f.kind, f.name, f.model, f.${MEASURES.replaceAll(', ', ', f.')}
        from execution_ledger.step_rollups f where not ${SEES_EVERY_ENTRY}
      ) r`;

const SUMS = `sum(s.step_count) as steps, sum(s.cost_sum) as cost, sum(s.input_tokens_sum) as input_tokens,
      sum(s.output_tokens_sum) as output_tokens, sum(s.cached_input_tokens_sum) as cached_input_tokens`;

interface TotalsRow {
  steps: string;
  cost: string;
  input_tokens: string;
  output_tokens: string;
  cached_input_tokens: string;
}

interface BreakdownRow extends TotalsRow {
  kind: string | null;
  name: string | null;
  model: string | null;
  is_other: boolean;
  groups: string;
}

/** Cost of the scope's typed steps by tool or by model, the costliest `limit` groups and the rest. */
export async function queryStepCosts(
  q: Queryable,
  groupBy: StepCostGroupBy,
  options: StepCostOptions | undefined,
): Promise<StepCostBreakdown> {
  const limit = requireLimit(options?.limit, 'limit', STEP_COSTS_DEFAULT, PAGE_ROWS_MAX);
  const kinds = requireKinds(options?.kinds);
  const params: unknown[] = [];
  const source = stepSourceSql(toAnalyticsScope(options), params, isRowSecured(q));
  const group = grouping(groupBy, kinds, params);
  params.push(limit);
  const keyList = group.keys.join(', ');
  const keyNames = group.keys.map((key) => key.slice(2));
  const rows = await queryWithSettings<BreakdownRow>(
    q,
    { jit: 'off' },
    `${source},
    grouped as (
      select ${keyList}, ${SUMS}
      from step_source s where ${group.where}
      group by ${keyList}
      having sum(s.step_count) <> 0
    ),
    ranked as (
      select g.*, row_number() over (order by g.cost desc, ${keyNames.map((name) => `g.${name}`).join(', ')}) as rank
      from grouped g
    )
    select ${keyNames.map((name) => `case when r.rank <= $${params.length} then r.${name} end as ${name}`).join(', ')},
      r.rank > $${params.length} as is_other, count(*)::text as groups, sum(r.steps)::text as steps,
      sum(r.cost)::text as cost, sum(r.input_tokens)::text as input_tokens,
      sum(r.output_tokens)::text as output_tokens, sum(r.cached_input_tokens)::text as cached_input_tokens
    from ranked r
    group by 1${keyNames.length > 1 ? ', 2' : ''}, is_other
    order by is_other, min(r.rank)`,
    params,
  );
  const top: StepCostGroup[] = [];
  let other: StepCostBreakdown['other'] = null;
  for (const row of rows) {
    const amounts = toTotals(row);
    if (row.is_other) other = { ...amounts, groups: Number(row.groups) };
    else top.push({ ...groupLabels(groupBy, row.kind, row.name, row.model), ...amounts });
  }
  return { group_by: groupBy, top, other, total: sumTotals(rows) };
}

interface SeriesRow extends TotalsRow {
  bucket_start: string;
  bucket_local: string;
  key: string | null;
  kind: string | null;
}

/**
 * Cost per bucket of the top `limit` tools or models of the range (and the rest as key null),
 * on the zone's wall clock. Whole UTC days inside one bucket come from the step rollups, other
 * days from the entries. Every group lists every bucket of the range, with zeros where none ran.
 */
export async function queryStepCostTimeSeries(
  q: Queryable,
  options: StepCostTimeSeriesOptions,
): Promise<StepCostTimeSeries> {
  const { bucket, timeZone, groupBy, scope } = validateSeries(options);
  const limit = requireLimit(options.limit, 'limit', STEP_COSTS_DEFAULT, PAGE_ROWS_MAX);
  const kinds = requireKinds(options.kinds);
  const params: unknown[] = [];
  const unit = `$${params.push(bucket)}::text`;
  const zone = `$${params.push(timeZone)}::text`;
  const source = stepSourceSql(scope, params, isRowSecured(q), { unit, zone });
  const startParam = `$${params.push(options.start.toISOString())}::timestamptz`;
  const endParam = `$${params.push(options.end.toISOString())}::timestamptz`;
  const group = grouping(groupBy, kinds, params);
  const limitParam = `$${params.push(limit)}`;
  const pointsParam = `$${params.push(TIME_SERIES_POINTS_MAX + 1)}`;
  const keyColumn = groupBy === 'model' ? 's.model' : 's.name';
  const kindColumn = groupBy === 'model' ? 'null::text' : 's.kind';
  const rows = await runSeriesQuery<SeriesRow>(
    q,
    `${source},
    keyed as (
      select date_trunc(${unit}, s.at at time zone ${zone}) as label, ${kindColumn} as kind, ${keyColumn} as key,
        s.step_count, s.cost_sum, s.input_tokens_sum, s.output_tokens_sum, s.cached_input_tokens_sum
      from step_source s where ${group.where}
    ),
    ranked as (
      select k.kind, k.key, row_number() over (order by sum(k.cost_sum) desc, k.kind, k.key) as rank
      from keyed k group by k.kind, k.key
      having sum(k.step_count) <> 0
    ),
    agg as (
      select k.label, case when r.rank <= ${limitParam} then r.rank end as rank,
        case when r.rank <= ${limitParam} then k.kind end as kind,
        case when r.rank <= ${limitParam} then k.key end as key,
        sum(k.step_count) as steps, sum(k.cost_sum) as cost, sum(k.input_tokens_sum) as input_tokens,
        sum(k.output_tokens_sum) as output_tokens, sum(k.cached_input_tokens_sum) as cached_input_tokens
      from keyed k join ranked r on r.kind is not distinct from k.kind and r.key = k.key
      group by 1, 2, 3, 4
    ),
    labels as (
      select g.label from generate_series(
          date_trunc(${unit}, ${startParam} at time zone ${zone}),
          date_trunc(${unit}, (${endParam} - interval '1 microsecond') at time zone ${zone}),
          ('1 ' || ${unit})::interval) as g(label)
        where ${unit} <> 'hour' or (g.label at time zone ${zone}) at time zone ${zone} = g.label
      union
      select a.label from agg a
    ),
    series as (select distinct a.rank, a.kind, a.key from agg a)
    select to_char(${bucketStartSql('l.label', unit, zone)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        as bucket_start,
      to_char(l.label, 'YYYY-MM-DD"T"HH24:MI:SS') as bucket_local, g.kind, g.key,
      coalesce(a.steps, 0)::text as steps, coalesce(a.cost, 0)::text as cost,
      coalesce(a.input_tokens, 0)::text as input_tokens, coalesce(a.output_tokens, 0)::text as output_tokens,
      coalesce(a.cached_input_tokens, 0)::text as cached_input_tokens
    from labels l cross join series g
    left join agg a on a.label = l.label and a.rank is not distinct from g.rank
    order by l.label, g.rank nulls last
    limit ${pointsParam}`,
    params,
  );
  requireSeriesPoints(rows.length, 'narrow the range, use a coarser bucket or a smaller limit', 'limit');
  return {
    group_by: groupBy,
    bucket,
    time_zone: timeZone,
    points: rows.map((row) => ({
      bucket_start: row.bucket_start,
      bucket_local: row.bucket_local,
      key: row.key === '' ? null : row.key,
      kind: row.kind as StepKind | null,
      ...toTotals(row),
    })),
  };
}

function groupLabels(
  groupBy: StepCostGroupBy,
  kind: string | null,
  name: string | null,
  model: string | null,
): Pick<StepCostGroup, 'kind' | 'name' | 'model'> {
  if (groupBy === 'model') return { kind: null, name: null, model };
  return { kind: kind === '' ? null : (kind as StepKind), name: name === '' ? null : name, model: null };
}

function toTotals(row: TotalsRow): StepCostTotals {
  return {
    steps: Number(row.steps),
    input_tokens: Number(row.input_tokens),
    output_tokens: Number(row.output_tokens),
    cached_input_tokens: Number(row.cached_input_tokens),
    cost: Number(row.cost),
  };
}

/** The totals of every row, the cost summed in exact micro-cents. */
function sumTotals(rows: TotalsRow[]): StepCostTotals {
  let micros = 0n;
  const total: StepCostTotals = {
    steps: 0,
    input_tokens: 0,
    output_tokens: 0,
    cached_input_tokens: 0,
    cost: 0,
  };
  for (const row of rows) {
    micros += decimalTextToMicros(row.cost) ?? 0n;
    total.steps += Number(row.steps);
    total.input_tokens += Number(row.input_tokens);
    total.output_tokens += Number(row.output_tokens);
    total.cached_input_tokens += Number(row.cached_input_tokens);
  }
  total.cost = microsToCents(micros);
  return total;
}

function requireKinds(value: unknown): StepKind[] {
  if (value === undefined) return DEFAULT_TOOL_KINDS;
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((kind) => (STEP_KINDS as readonly unknown[]).includes(kind));
  if (!ok) {
    seriesFail(
      'kinds',
      `must be a non-empty list of ${STEP_KINDS.join(', ')}; got ${JSON.stringify(value) ?? typeof value}`,
    );
  }
  return value as StepKind[];
}

/** Day bounds of a range: the first whole UTC day at or after an instant ('-infinity' stays open). */
function ceilDay(instant: string): string {
  const ms = Date.parse(instant);
  return Number.isNaN(ms) ? instant : new Date(Math.ceil(ms / DAY_MS) * DAY_MS).toISOString();
}

/** The rollup days a range reads, [rollupFrom, rollupTo), and the entries at its cut days. */
interface CutDays {
  rollupFrom: string;
  rollupTo: string;
  /** Entries inside the range (added) or outside it in a day read from the rollups (subtracted). */
  pieces: { from: string; to: string; inside: boolean }[];
}

/**
 * How a range reads the UTC days it cuts: a cut day whose part inside the range is longer than
 * half a day is read from its rollup rows less the entries of the rest of the day, any other from
 * its entries inside the range. A 30-day range ending a few minutes ago reads minutes of entries,
 * not the day so far. '-infinity' and 'infinity' cut nothing.
 */
function cutDays(start: string, end: string, rowSecured: boolean): CutDays {
  const startMs = Date.parse(start);
  const endMs = Date.parse(end);
  const iso = (ms: number) => new Date(ms).toISOString();
  const result: CutDays = { rollupFrom: ceilDay(start), rollupTo: floorDay(end), pieces: [] };
  // An empty range reads nothing (its rollup rows are held off by start < end); an open end
  // (NaN here) cuts no day, and the comparison is false.
  if (startMs >= endMs) return result;
  // A reader under row level security (ledger.as()) sees the rollup rows and entries of their own
  // runs in projects whose fold marks they may not see, so which entries a day's rows hold cannot
  // be told: such a reader reads every cut day from its entries.
  const fromRows = (insideMs: number) => !rowSecured && insideMs > DAY_MS / 2;
  const startDay = Math.floor(startMs / DAY_MS) * DAY_MS;
  const endDay = Math.floor(endMs / DAY_MS) * DAY_MS;
  const startCut = !Number.isNaN(startMs) && startMs !== startDay;
  const endCut = !Number.isNaN(endMs) && endMs !== endDay;
  if (startCut && endCut && startDay === endDay) {
    // Both ends inside one day.
    if (fromRows(endMs - startMs)) {
      result.rollupFrom = iso(startDay);
      result.rollupTo = iso(startDay + DAY_MS);
      result.pieces.push({ from: iso(startDay), to: start, inside: false });
      result.pieces.push({ from: end, to: iso(startDay + DAY_MS), inside: false });
    } else {
      result.pieces.push({ from: start, to: end, inside: true });
    }
    return result;
  }
  if (startCut) {
    if (fromRows(startDay + DAY_MS - startMs)) {
      result.rollupFrom = iso(startDay);
      result.pieces.push({ from: iso(startDay), to: start, inside: false });
    } else {
      result.pieces.push({ from: start, to: iso(startDay + DAY_MS), inside: true });
    }
  }
  if (endCut) {
    if (fromRows(endMs - endDay)) {
      result.rollupTo = iso(endDay + DAY_MS);
      result.pieces.push({ from: end, to: iso(endDay + DAY_MS), inside: false });
    } else {
      result.pieces.push({ from: iso(endDay), to: end, inside: true });
    }
  }
  return result;
}

/** The UTC day an instant falls in ('infinity' stays open). */
function floorDay(instant: string): string {
  const ms = Date.parse(instant);
  return Number.isNaN(ms) ? instant : new Date(Math.floor(ms / DAY_MS) * DAY_MS).toISOString();
}

function validateSeries(options: StepCostTimeSeriesOptions): SeriesWindow & { groupBy: StepCostGroupBy } {
  if (typeof options !== 'object' || options === null) {
    seriesFail('options', 'must be an object such as { groupBy: "tool", bucket: "day", start, end }');
  }
  const { groupBy } = options;
  if (groupBy !== 'tool' && groupBy !== 'model')
    seriesFail('groupBy', `must be tool or model; got ${String(groupBy)}`);
  return { ...requireSeriesWindow(options), groupBy };
}
