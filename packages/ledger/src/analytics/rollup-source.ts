import type { AnalyticsScope } from './analytics-scope.js';
import type { TimeBucket } from './analytics-types.js';
import {
  holds,
  type LevelNeeds,
  levelFor,
  type RollupKey,
  type RollupLevel,
  type RollupPeriod,
  requireLevel,
  ZONE_DAY_LEVEL,
} from './rollup-levels.js';
import { meetsUtcMidnight } from './series-window.js';

/** Buckets of a time series: their unit and the time zone whose wall clock cuts them. */
export interface BucketSpec {
  unit: TimeBucket;
  timeZone: string;
}

/** What a query reads from `source`, and who reads it. */
export interface SourceNeeds {
  /** The keys the outer query groups by or reads, besides the scope's own filters. */
  keys: readonly RollupKey[];
  /** Reads under row level security as one user (see rollup-levels.ts): user-keyed levels only. */
  rowSecured: boolean;
  /** Reads `completed_count`, `failed_count` and `aborted_count` of `source`. */
  statusCounts?: boolean;
  /**
   * Reads `run_count` and nothing else: a status filter may then count the chosen statuses'
   * columns of a level without status as a key (its other measures are then null).
   */
  countsOnly?: boolean;
  /**
   * Reads counts and sums only (no minimum, maximum or part map): a range may then be read as
   * whole periods reaching past its ends, less the pieces outside it (measures negated), when
   * that reads fewer rows, as for a range that ends a few minutes before a month or day does.
   * The outer query must drop groups whose run count sums to zero.
   */
  additive?: boolean;
  bucket?: BucketSpec;
  /**
   * The outer query groups by the bucket and `keys`. A UTC source of one project then marks
   * (`grouped`) the rows that are groups already: rows of a whole bucket (a day row for a day
   * bucket, an hour row for an hour bucket) of a level with no key beyond `keys` and the keys a
   * filter fixes. No other row shares their bucket and key, so the outer query may pass them
   * through and aggregate only the others.
   */
  grouped?: boolean;
}

/** The SQL of the `source` common table expressions and the placeholders an outer query reuses. */
export interface RollupSource {
  /** `with …, source as (…)`: append the outer `select … from source s`. */
  sql: string;
  /**
   * Set when bucketed: placeholders of the range, the unit ('hour', 'day', 'week') and the zone;
   * `source` then also has `label`, the wall-clock start of each row's bucket.
   */
  start?: string;
  end?: string;
  unit?: string;
  timeZone?: string;
  /** The level each period size is read from, for tests and benchmarks that count rows read. */
  levels: RollupLevel[];
  /** Set when `source` has the column `grouped` (SourceNeeds.grouped); it is then not materialized. */
  grouped?: true;
}

/**
 * The runs of a scope as aggregate rows of one shape. Each period size (year, month, day, hour)
 * is read from the level with the fewest keys that holds every key the query filters or groups
 * by; a range is read from the coarsest whole periods inside it, finer ones at its edges, and the
 * entries only for the hours it cuts. Every instant of [start, end) lies in exactly one of those
 * pieces, and each piece is read from exactly one side, so sums, counts, minima and maxima over
 * `source` equal the same aggregate over the entries.
 *
 * Rows of `source`: at (the period's start, or the entry's created_at), agent_id, user_id, status
 * (null when the level has no such key, and then the query never needs it), run_count,
 * completed_count, failed_count, aborted_count (null unless `statusCounts` or `countsOnly` was
 * asked for), cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum, external_requests_sum,
 * penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max.
 */
export function rollupSourceSql(scope: AnalyticsScope, params: unknown[], needs: SourceNeeds): RollupSource {
  const add = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const filters: [RollupKey, string][] = [];
  for (const [column, value] of [
    ['agent_id', scope.agentId],
    ['user_id', scope.userId],
  ] as const) {
    if (value !== undefined) filters.push([column, `= ${add(value)}`]);
  }
  const statuses = scope.statuses === undefined ? undefined : `${add(scope.statuses)}::text[]`;
  const project = scope.projectId === undefined ? undefined : add(scope.projectId);
  const keys = new Set<RollupKey>([...needs.keys, ...filters.map(([key]) => key)]);
  // A status filter needs status as a key unless the query counts runs and nothing else.
  if (statuses !== undefined && needs.countsOnly !== true) keys.add('status');
  if (needs.rowSecured) keys.add('user_id');
  const needed: LevelNeeds = {
    keys,
    statusCounts: needs.statusCounts === true || (statuses !== undefined && needs.countsOnly === true),
  };
  // Entries (no level) and levels keyed by status filter rows; the others count the statuses.
  const where = (alias: string, level?: RollupLevel) => [
    ...(project === undefined ? [] : [`${alias}.project_id = ${project}`]),
    ...filters.map(([key, test]) => `${alias}.${key} ${test}`),
    ...(statuses !== undefined && (level === undefined || level.keys.includes('status'))
      ? [`${alias}.status = any(${statuses})`]
      : []),
  ];
  const rows = (level: RollupLevel, alias: string, clauses: string[]) =>
    levelRows(level, alias, [...where(alias, level), ...clauses], statuses);
  const narrow = project !== undefined || scope.agentId !== undefined;
  const fixed = filters.map(([key]) => key);
  const parts: SourceParts = {
    add,
    where,
    rows,
    needed,
    narrow,
    additive: needs.additive === true,
    project,
    fixed,
  };
  if (needs.bucket === undefined) return edgesSource(scope, parts);
  if (needs.bucket.timeZone === 'UTC')
    return utcBucketedSource(scope, parts, needs.bucket, needs.grouped === true ? needs.keys : undefined);
  return bucketedSource(scope, parts, needs.bucket);
}

interface SourceParts {
  add: (value: unknown) => string;
  /** The scope's clauses over the entries (no level) or over a level's rows. */
  where: (alias: string, level?: RollupLevel) => string[];
  /** A level's rows matching the scope and the given clauses, in the shape of `source`. */
  rows: (level: RollupLevel, alias: string, clauses: string[]) => string;
  needed: LevelNeeds;
  /** Whether a project or agent filter narrows every level to an index range. */
  narrow: boolean;
  /** Whether pieces may be subtracted (SourceNeeds.additive). */
  additive: boolean;
  /** The placeholder of the scope's project, if it has one. */
  project: string | undefined;
  /** The keys a filter fixes to one value. */
  fixed: readonly RollupKey[];
}

const MEASURES = `cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum,
  external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max`;
// The same measures when a level's rows cover statuses the query does not count: never read.
const NO_MEASURES = `null::numeric as cost_sum, null::numeric as cost_min, null::numeric as cost_max,
  null::numeric as tokens_sum, null::numeric as tool_calls_sum, null::numeric as external_requests_sum,
  null::numeric as penalties_sum, null::jsonb as other_parts, null::bigint as duration_count,
  null::numeric as duration_ms_sum, null::bigint as duration_ms_max`;
const STATUSES = ['completed', 'failed', 'aborted'] as const;
const ENTRY_MEASURES = `1::bigint as run_count,
  ${STATUSES.map((status) => `(t.status = '${status}')::integer::bigint as ${status}_count`).join(', ')},
  t.cost_total as cost_sum, t.cost_total as cost_min,
  t.cost_total as cost_max, t.tokens as tokens_sum, t.tool_calls as tool_calls_sum,
  t.external_requests as external_requests_sum, t.penalties as penalties_sum, t.other_parts,
  (t.duration_ms is not null)::integer::bigint as duration_count,
  coalesce(t.duration_ms, 0)::numeric as duration_ms_sum, t.duration_ms as duration_ms_max`;
const prefixed = (alias: string) => MEASURES.replace(/(\w+)/g, `${alias}.$1`);
// A piece read with the opposite sign: counts and sums negated, the rest never read.
const NEGATED = `n.at, n.agent_id, n.user_id, n.status, -n.run_count as run_count,
  -n.completed_count as completed_count, -n.failed_count as failed_count, -n.aborted_count as aborted_count,
  -n.cost_sum as cost_sum, null::numeric as cost_min, null::numeric as cost_max, -n.tokens_sum as tokens_sum,
  -n.tool_calls_sum as tool_calls_sum, -n.external_requests_sum as external_requests_sum,
  -n.penalties_sum as penalties_sum, null::jsonb as other_parts, -n.duration_count as duration_count,
  -n.duration_ms_sum as duration_ms_sum, null::bigint as duration_ms_max`;

/** `agent_id, user_id, status` of a level's rows, with null for the keys it does not hold. */
function keyColumns(level: RollupLevel, alias: string): string {
  return (['agent_id', 'user_id', 'status'] as const)
    .map((key) => (level.keys.includes(key) ? `${alias}.${key}` : `null::text as ${key}`))
    .join(', ');
}

/**
 * The run count and the count of each status of a level's rows: stored, derived from the status
 * key, or (a level without status as a key, under a status filter) the chosen statuses' counts.
 */
function countColumns(level: RollupLevel, alias: string, statuses: string | undefined): string {
  if (level.keys.includes('status')) {
    return `${alias}.run_count, ${STATUSES.map(
      (status) =>
        `case when ${alias}.status = '${status}' then ${alias}.run_count else 0::bigint end as ${status}_count`,
    ).join(', ')}`;
  }
  if (!level.statusCounts) {
    return `${alias}.run_count, ${STATUSES.map((status) => `null::bigint as ${status}_count`).join(', ')}`;
  }
  if (statuses === undefined) {
    return `${alias}.run_count, ${STATUSES.map((status) => `${alias}.${status}_count`).join(', ')}`;
  }
  const counted = STATUSES.map(
    (status) => `case when '${status}' = any(${statuses}) then ${alias}.${status}_count else 0::bigint end`,
  );
  return `${counted.join(' + ')} as run_count, ${counted.map((count, index) => `${count} as ${STATUSES[index]}_count`).join(', ')}`;
}

function levelRows(level: RollupLevel, alias: string, clauses: string[], statuses?: string): string {
  const counting = statuses !== undefined && !level.keys.includes('status');
  return `select ${alias}.${level.period} as at, ${keyColumns(level, alias)},
        ${countColumns(level, alias, counting ? statuses : undefined)}, ${counting ? NO_MEASURES : prefixed(alias)}
      from execution_ledger.${level.table} ${alias}
      where ${clauses.join(' and ')}`;
}

function entryRows(clauses: string[]): string {
  return `select t.created_at as at, t.agent_id, t.user_id, t.status, ${ENTRY_MEASURES}
      from execution_ledger.execution_rollup_terms t
      where ${clauses.join(' and ')}`;
}

/** A piece of the range: whole periods of a level, or the entries of a cut hour; added or subtracted. */
interface Piece {
  period: RollupPeriod | 'entries';
  from: number;
  to: number;
  sign: 1 | -1;
}

const PERIODS: readonly RollupPeriod[] = ['year', 'month', 'day', 'hour'];

/**
 * Without buckets only the range's two ends cut periods, so the pieces are known up front: the
 * whole years inside the range, whole months, days and hours at each edge, then the entries of
 * the at most two cut hours. Each piece is one index range scan; nothing is materialised.
 */
function edgesSource(scope: AnalyticsScope, parts: SourceParts): RollupSource {
  const periods = PERIODS.filter((period) => levelFor(period, parts.needed) !== undefined);
  return {
    sql: `with source as (\n      ${pieceBranches(scope, parts, periods).join('\n      union all\n      ')}\n    )`,
    levels: periods.map((period) => requireLevel(period, parts.needed)),
  };
}

/**
 * The branches (one index range scan each) that cover [start, end) with whole periods of the
 * given sizes and the entries of the cut hours; at least one, typed as `source`.
 */
function pieceBranches(
  scope: AnalyticsScope,
  parts: SourceParts,
  periods: readonly RollupPeriod[],
  grouped?: (piece: Piece) => boolean,
): string[] {
  const pieces = coverRange(instant(scope.start), instant(scope.end), periods, parts.additive).pieces();
  const time = (ms: number) => `${parts.add(instantText(ms))}::timestamptz`;
  const branches = pieces.map((piece) => {
    let branch: string;
    if (piece.period === 'entries') {
      branch = entryRows([
        ...parts.where('t'),
        `t.created_at >= ${time(piece.from)}`,
        `t.created_at < ${time(piece.to)}`,
      ]);
    } else {
      const level = requireLevel(piece.period, parts.needed);
      const column = `r.${level.period}`;
      branch = parts.rows(level, 'r', [`${column} >= ${time(piece.from)}`, `${column} < ${time(piece.to)}`]);
    }
    const signed = piece.sign === 1 ? branch : `select ${NEGATED} from (${branch}) n`;
    return grouped === undefined ? signed : `select g.*, ${grouped(piece)} as grouped from (${signed}) g`;
  });
  // An empty range reads nothing; one typed branch that returns no row keeps the outer query valid.
  if (branches.length === 0) {
    const none = entryRows([...parts.where('t'), 'false']);
    branches.push(grouped === undefined ? none : `select g.*, false as grouped from (${none}) g`);
  }
  return branches;
}

/**
 * Buckets on the UTC wall clock: every UTC hour inside the range lies inside one bucket, and so
 * does every UTC day for day and week buckets (weeks start on a UTC Monday midnight), with no
 * offset change anywhere. The range is then covered as statistics cover it (edgesSource): whole
 * days inside it from the day level (none for hour buckets), whole hours at its edges from the
 * hour level, and the entries of the at most two hours it cuts; no calendar of days and hours is
 * built and classified, and each piece is one index range scan. Each row's bucket is the bucket
 * of its period's start (or of the entry's instant). Months never lie inside a day or a week.
 */
function utcBucketedSource(
  scope: AnalyticsScope,
  parts: SourceParts,
  bucket: BucketSpec,
  groupKeys?: readonly RollupKey[],
): RollupSource {
  const periods: RollupPeriod[] = bucket.unit === 'hour' ? ['hour'] : ['day', 'hour'];
  // A whole period the size of the bucket is the whole bucket: only its rows have its label. Its
  // rows are groups when the level has no key beyond the grouped and the fixed ones; every level
  // is keyed by project too, so only with a project filter.
  const whole: RollupPeriod | undefined = bucket.unit === 'week' ? undefined : bucket.unit;
  const grouped =
    groupKeys === undefined || parts.project === undefined
      ? undefined
      : (piece: Piece) =>
          piece.sign === 1 &&
          piece.period === whole &&
          requireLevel(piece.period, parts.needed).keys.every(
            (key) => groupKeys.includes(key) || parts.fixed.includes(key),
          );
  const branches = pieceBranches(scope, parts, periods, grouped);
  const start = `${parts.add(scope.start)}::timestamptz`;
  const end = `${parts.add(scope.end)}::timestamptz`;
  const unit = `${parts.add(bucket.unit)}::text`;
  const zone = `${parts.add(bucket.timeZone)}::text`;
  // Read twice when marked (the groups, the rest): inlined each time, so each reference keeps
  // only the branches its filter on the constant `grouped` leaves.
  const sql = `with source as ${grouped === undefined ? '' : 'not materialized '}(
      select b.*, date_trunc(${unit}, b.at at time zone ${zone}) as label from (
        ${branches.join('\n      union all\n      ')}
      ) b
    )`;
  return {
    sql,
    start,
    end,
    unit,
    timeZone: zone,
    levels: periods.map((period) => requireLevel(period, parts.needed)),
    ...(grouped === undefined ? {} : { grouped: true as const }),
  };
}

/** Pieces that cover a range exactly, and an estimate of the rows they read. */
interface Cover {
  pieces: () => Piece[];
  cost: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const PERIOD_MS: Record<RollupPeriod, number> = {
  hour: HOUR_MS,
  day: DAY_MS,
  month: 30.44 * DAY_MS,
  year: 365.25 * DAY_MS,
};
// Cost estimates, in rows of one period of a level: a piece's index scan costs about one period
// more; an hour of entries about two periods (at real density an hour of a busy project holds
// more runs than a period of an agent-keyed level holds rows). An open end counts as a century.
const PIECE_COST = 1;
const ENTRY_HOUR_COST = 2;
const HORIZON_MS = 100 * 365 * DAY_MS;

function span(from: number, to: number): number {
  return Number.isFinite(to - from) ? to - from : HORIZON_MS;
}

// Covers are compared by cost; only the chosen one lists its pieces.
function joined(covers: Cover[]): Cover {
  return {
    pieces: () => covers.flatMap((cover) => cover.pieces()),
    cost: covers.reduce((sum, cover) => sum + cover.cost, 0),
  };
}

function negated(cover: Cover): Cover {
  return {
    cost: cover.cost,
    pieces: () => cover.pieces().map((piece) => ({ ...piece, sign: piece.sign === 1 ? -1 : 1 })),
  };
}

const NOTHING: Cover = { pieces: () => [], cost: 0 };

/**
 * The cheapest exact cover of [from, to): whole periods of the coarsest size inside it, the edges
 * left over by finer sizes, and the entries only for the hours it cuts. With `additive`, the whole
 * periods may also reach past either end, less a cover of the part outside the range (subtracted),
 * when that is cheaper: a range ending a few minutes before a month ends reads the month and
 * subtracts those minutes' entries instead of reading its days and hours. Every instant of the
 * range is counted exactly once in total, every instant outside it zero times.
 */
function coverRange(
  from: number,
  to: number,
  periods: readonly RollupPeriod[],
  additive: boolean,
  known: KnownCovers = new Map(),
): Cover {
  if (!(from < to)) return NOTHING;
  // The search meets the same edge ranges again and again (each end is tried at the period
  // boundaries on both sides of it): each is solved once per call, by the number of period
  // sizes left (periods are always a suffix of the same list), its start and its end.
  const key = `${periods.length}:${from}:${to}`;
  let cover = known.get(key);
  if (cover === undefined) {
    cover = searchCover(from, to, periods, additive, known);
    known.set(key, cover);
  }
  return cover;
}

type KnownCovers = Map<string, Cover>;

function searchCover(
  from: number,
  to: number,
  periods: readonly RollupPeriod[],
  additive: boolean,
  known: KnownCovers,
): Cover {
  const [period, ...finer] = periods;
  if (period === undefined) {
    return {
      pieces: () => [{ period: 'entries', from, to, sign: 1 }],
      cost: PIECE_COST + (ENTRY_HOUR_COST * span(from, to)) / HOUR_MS,
    };
  }
  const inner = [ceilTo(period, from), floorTo(period, to)] as const;
  const starts = additive ? new Set([inner[0], floorTo(period, from)]) : [inner[0]];
  const ends = additive ? new Set([inner[1], ceilTo(period, to)]) : [inner[1]];
  // Whole periods of this size win a tie with finer ones, and periods inside the range one with
  // periods reaching past it.
  let best: Cover | undefined;
  for (const low of starts) {
    for (const high of ends) {
      if (!(low < high)) continue;
      const candidate = joined([
        {
          pieces: () => [{ period, from: low, to: high, sign: 1 }],
          cost: PIECE_COST + span(low, high) / PERIOD_MS[period],
        },
        low < from
          ? negated(coverRange(low, from, finer, additive, known))
          : coverRange(from, low, finer, additive, known),
        high > to
          ? negated(coverRange(to, high, finer, additive, known))
          : coverRange(high, to, finer, additive, known),
      ]);
      if (best === undefined || candidate.cost < best.cost) best = candidate;
    }
  }
  const finerOnly = coverRange(from, to, finer, additive, known);
  return best === undefined || finerOnly.cost < best.cost ? finerOnly : best;
}

function instant(text: string): number {
  if (text === '-infinity') return Number.NEGATIVE_INFINITY;
  if (text === 'infinity') return Number.POSITIVE_INFINITY;
  return Date.parse(text);
}

function instantText(ms: number): string {
  if (ms === Number.NEGATIVE_INFINITY) return '-infinity';
  if (ms === Number.POSITIVE_INFINITY) return 'infinity';
  return new Date(ms).toISOString();
}

/** The start of the UTC period an instant falls in (infinities stay where they are). */
function floorTo(period: RollupPeriod, ms: number): number {
  if (!Number.isFinite(ms)) return ms;
  if (period === 'hour') return Math.floor(ms / HOUR_MS) * HOUR_MS;
  if (period === 'day') return Math.floor(ms / DAY_MS) * DAY_MS;
  const date = new Date(ms);
  return Date.UTC(date.getUTCFullYear(), period === 'year' ? 0 : date.getUTCMonth(), 1);
}

/** The first start of a UTC period at or after an instant. */
function ceilTo(period: RollupPeriod, ms: number): number {
  const floor = floorTo(period, ms);
  if (floor === ms) return ms;
  if (period === 'hour' || period === 'day') return floor + PERIOD_MS[period];
  const date = new Date(floor);
  return period === 'year'
    ? Date.UTC(date.getUTCFullYear() + 1, 0, 1)
    : Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

/**
 * With buckets a UTC period is usable only when it lies inside the range and inside one bucket of
 * the zone's wall clock, with no offset change (daylight saving) inside it: then every run it
 * holds gets that bucket. UTC days are classified first (days never fit an hour bucket; in UTC
 * each fits a day or week bucket; in zones whose midnight is not a UTC midnight none does); the
 * hours of the other days come from the hourly level, classified the same way, and the hours that
 * are not usable, and only those, from the entries. Months never lie inside a day or a week.
 * Days and hours are classified and labelled once each, not once per row; `source` carries the
 * bucket label of every row.
 *
 * A zone whose days the project keeps (ZONE_DAY_LEVEL, sql/0029_zone_day_level.sql) gives its
 * day and week buckets their whole local days from that level, one row per agent
 * and day: only the range's two ends, before its first local midnight and after its last, are
 * then classified as above. Each local day lies in one day or week bucket, and its rows hold
 * exactly the runs from one local midnight to the next.
 */
function bucketedSource(scope: AnalyticsScope, parts: SourceParts, bucket: BucketSpec): RollupSource {
  // A UTC day lies inside one bucket only for weeks, or for days where the zone's midnight is a
  // UTC midnight somewhere in the range: otherwise no day row is read and every day is cut.
  const utcDays =
    bucket.unit === 'week' ||
    (bucket.unit === 'day' && meetsUtcMidnight(bucket.timeZone, instant(scope.start), instant(scope.end)));
  const dayLevel = utcDays ? requireLevel('day', parts.needed) : undefined;
  const hourLevel = requireLevel('hour', parts.needed);
  const start = `${parts.add(scope.start)}::timestamptz`;
  const end = `${parts.add(scope.end)}::timestamptz`;
  const unit = `${parts.add(bucket.unit)}::text`;
  const zone = `${parts.add(bucket.timeZone)}::text`;
  const localDays =
    bucket.unit !== 'hour' && parts.project !== undefined && holds(ZONE_DAY_LEVEL, parts.needed);
  // Each piece of the range the UTC levels cover, [lo, hi): all of it, or its ends around the
  // zone's whole local days.
  const inOneBucket = (at: string, length: string, lo: string, hi: string) => {
    const last = `(${at} + interval '${length}' - interval '1 microsecond')`;
    return `${at} >= ${lo} and ${at} + interval '${length}' <= ${hi}
        and date_trunc(${unit}, ${at} at time zone ${zone}) = date_trunc(${unit}, ${last} at time zone ${zone})
        and (${last} at time zone ${zone}) - (${at} at time zone ${zone}) = interval '${length}' - interval '1 microsecond'`;
  };
  const label = (at: string) => `date_trunc(${unit}, ${at} at time zone ${zone})`;
  // A project or agent filter makes each hour an index probe, so only the hours of the days that
  // are not usable are read; without one, the range's hours are read in one scan and matched.
  // OFFSET 0 keeps the probe a probe: the planner would otherwise flatten it into a join that
  // reads every hour of the project.
  const hours = parts.narrow
    ? `select r.*, s.label from slots s
      cross join lateral (${parts.rows(hourLevel, 'r', ['r.hour = s.hour'])} offset 0) r
      where s.whole`
    : `select r.*, s.label
      from (${parts.rows(hourLevel, 'r', [`r.hour >= date_trunc('hour', ${start}, 'UTC')`, `r.hour < ${end}`])}) r
      join slots s on s.hour = r.at
      where s.whole`;
  // The first and the last local midnight of the range; date_trunc gives a day's first instant
  // even where midnight itself is skipped. Intervals in hours, never '1 day', on timestamptz:
  // adding a day to a timestamptz follows the session's zone.
  const zoneDays = localDays
    ? `zone_days as (
      select z.zone_id, c.first_midnight, c.last_midnight
      from execution_ledger.rollup_time_zones z
      cross join lateral (
        select case when date_trunc('day', ${start}, ${zone}) = ${start} then ${start}
            else date_trunc('day', (date_trunc('day', ${start} at time zone ${zone}) + interval '1 day')
              at time zone ${zone}, ${zone}) end as first_midnight,
          date_trunc('day', ${end}, ${zone}) as last_midnight
      ) c
      where z.project_id = ${parts.project} and z.time_zone = ${zone} and c.first_midnight >= ${start}
        and c.first_midnight < c.last_midnight
    ),
    pieces as (
      select p.lo, p.hi from (
        select ${start} as lo, coalesce((select zd.first_midnight from zone_days zd), ${end}) as hi
        union all
        select (select zd.last_midnight from zone_days zd), ${end}
      ) p
      where p.lo < p.hi
    ),`
    : `pieces as (select ${start} as lo, ${end} as hi),`;
  const zoneDayRows = localDays
    ? `
      union all
      select r.*, ${label('r.at')} from (
        ${parts.rows(ZONE_DAY_LEVEL, 'r', [
          'r.zone_id = (select zd.zone_id from zone_days zd)',
          'r.day >= (select zd.first_midnight from zone_days zd)',
          'r.day < (select zd.last_midnight from zone_days zd)',
        ])}
      ) r`
    : '';
  const sql = `
    with ${zoneDays}
    days as (
      select d.day, p.lo, p.hi, (${utcDays ? inOneBucket('d.day', '24 hours', 'p.lo', 'p.hi') : 'false'}) as whole,
        ${label('d.day')} as label
      from pieces p
      cross join lateral generate_series(date_trunc('day', p.lo, 'UTC'), p.hi - interval '1 microsecond',
        interval '24 hours') as d(day)
    ),
    slots as (
      select h.hour, d.lo, d.hi, (${inOneBucket('h.hour', '1 hour', 'd.lo', 'd.hi')}) as whole, ${label('h.hour')} as label
      from days d
      cross join lateral generate_series(greatest(d.day, date_trunc('hour', d.lo, 'UTC')),
        least(d.day + interval '24 hours', d.hi) - interval '1 microsecond', interval '1 hour') as h(hour)
      where not d.whole
    ),
    source as (${
      dayLevel === undefined
        ? ''
        : `
      select r.*, d.label from (
        ${parts.rows(dayLevel, 'r', [`r.day >= date_trunc('day', ${start}, 'UTC')`, `r.day < ${end}`])}
      ) r
      join days d on d.day = r.at
      where d.whole
      union all`
    }
      ${hours}
      union all
      select t.*, ${label('t.at')} from slots s
      cross join lateral (
        ${entryRows([
          ...parts.where('t'),
          't.created_at >= greatest(s.hour, s.lo)',
          "t.created_at < least(s.hour + interval '1 hour', s.hi)",
        ])}
      ) t
      where not s.whole${zoneDayRows}
    )`;
  return {
    sql,
    start,
    end,
    unit,
    timeZone: zone,
    levels: [
      ...(dayLevel === undefined ? [] : [dayLevel]),
      hourLevel,
      ...(localDays ? [ZONE_DAY_LEVEL] : []),
    ],
  };
}
