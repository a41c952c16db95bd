import { TIME_SERIES_BUCKETS_MAX, TIME_SERIES_POINTS_MAX } from '../bounds.js';
import type { NamedSql, Queryable } from '../db/database.js';
import { LedgerError } from '../errors.js';
import { queryWithSettings } from './analytics-query.js';
import { type AnalyticsScope, toAnalyticsScope } from './analytics-scope.js';
import type { AnalyticsFilter, TimeBucket } from './analytics-types.js';

/**
 * What every time series (runs by agent, user or status; steps by tool or model) shares: the
 * check of its window (bucket, range, time zone), the first instant of a wall-clock bucket, and
 * the query that turns a zone the database does not know into VALIDATION_FAILED.
 */
const BUCKET_MS: Record<TimeBucket, number> = { hour: 3_600_000, day: 86_400_000, week: 604_800_000 };
// IANA names only ("Asia/Kolkata", "UTC", "Etc/GMT+5"): PostgreSQL would also read "+05:30" as
// a POSIX zone with the sign inverted, which no caller means.
const TIME_ZONE_PATTERN = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

export interface SeriesWindowOptions extends AnalyticsFilter {
  bucket: TimeBucket;
  timeZone?: string;
}

export interface SeriesWindow {
  bucket: TimeBucket;
  timeZone: string;
  /** The filter checked by the one filter check (ids, statuses, dates). */
  scope: AnalyticsScope;
}

/** Bucket, [start, end) and zone of a series, checked after the caller checked its own grouping. */
export function requireSeriesWindow(options: SeriesWindowOptions): SeriesWindow {
  const { bucket, timeZone = 'UTC' } = options;
  if (!Object.hasOwn(BUCKET_MS, bucket))
    seriesFail('bucket', `must be hour, day or week; got ${String(bucket)}`);
  if (options.start === undefined) seriesFail('start', 'is required: a time series covers [start, end)');
  if (options.end === undefined) seriesFail('end', 'is required: a time series covers [start, end)');
  const scope = toAnalyticsScope(options);
  const startMs = Date.parse(scope.start);
  const endMs = Date.parse(scope.end);
  if (endMs <= startMs) seriesFail('end', 'must be later than start');
  const buckets = (endMs - startMs) / BUCKET_MS[bucket];
  if (buckets > TIME_SERIES_BUCKETS_MAX) {
    seriesFail(
      'end',
      `makes ${Math.ceil(buckets)} ${bucket} buckets, more than ${TIME_SERIES_BUCKETS_MAX}; narrow the range or use a coarser bucket`,
    );
  }
  requireTimeZone(timeZone);
  return { bucket, timeZone, scope };
}

/** An IANA zone name this process knows, or VALIDATION_FAILED naming `timeZone`. */
export function requireTimeZone(timeZone: unknown): asserts timeZone is string {
  if (typeof timeZone !== 'string' || !TIME_ZONE_PATTERN.test(timeZone) || !isKnownZone(timeZone)) {
    seriesFail(
      'timeZone',
      `must be an IANA time zone such as "Europe/Paris"; got ${JSON.stringify(timeZone)}`,
    );
  }
}

/**
 * The first instant of a wall-clock bucket. PostgreSQL reads a wall-clock time that occurs twice
 * (the hour repeated when daylight saving ends) as the later one; the same time a day earlier,
 * moved on by 24 hours, gives the earlier reading. The earliest reading still inside the bucket
 * wins. Hours, never '1 day', on a timestamptz: a day there follows the session's zone, which
 * read the repeated hour as the later one again in a session in the series' own zone.
 */
export function bucketStartSql(label: string, unit: string, zone: string): string {
  return `coalesce((select min(c.at) from (values (${label} at time zone ${zone}),
      (((${label} - interval '1 day') at time zone ${zone}) + interval '24 hours')) as c(at)
    where date_trunc(${unit}, c.at at time zone ${zone}) = ${label}), ${label} at time zone ${zone})`;
}

/** Runs a series query; a zone that passed the name check but this server does not know is the caller's. */
export async function runSeriesQuery<Row>(
  q: Queryable,
  sql: string | NamedSql,
  params: unknown[],
): Promise<Row[]> {
  try {
    return await queryWithSettings<Row>(q, { jit: 'off' }, sql, params);
  } catch (error) {
    throw unknownZoneError(error);
  }
}

/**
 * The error to throw for a failed statement that took a time zone: PostgreSQL's "time zone not
 * recognized" (22023) becomes the caller's VALIDATION_FAILED on timeZone; anything else as it was.
 */
export function unknownZoneError(error: unknown): unknown {
  if ((error as { code?: unknown }).code !== '22023' || !/time zone/i.test(String(error))) return error;
  return new LedgerError(
    'VALIDATION_FAILED',
    `timeZone is not known to the database: ${(error as Error).message}; use an IANA name such as "Europe/Paris"`,
    { field: 'timeZone', cause: error },
  );
}

/**
 * Refuses a series of more than TIME_SERIES_POINTS_MAX points (the query reads one more to know),
 * saying how this series can be shortened and which option to change.
 */
export function requireSeriesPoints(points: number, shorten: string, field: string): void {
  if (points <= TIME_SERIES_POINTS_MAX) return;
  throw new LedgerError(
    'VALIDATION_FAILED',
    `${field}: the time series would have more than ${TIME_SERIES_POINTS_MAX} points; ${shorten}`,
    { field },
  );
}

export function seriesFail(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}

// Zones found known, checked once each: building a formatter costs about half a millisecond.
// Only names that passed TIME_ZONE_PATTERN and are IANA zones get in, so the set stays small.
const KNOWN_ZONES = new Set<string>();

function isKnownZone(timeZone: string): boolean {
  if (KNOWN_ZONES.has(timeZone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    return false;
  }
  KNOWN_ZONES.add(timeZone);
  return true;
}

// Per zone and UTC year: whether the zone's clock reads midnight at some UTC midnight of that
// year. Filled on first use (about 2 ms: one offset per day), bounded by the known zones' years.
const UTC_MIDNIGHT_YEARS = new Map<string, boolean>();
const UTC_MIDNIGHT_YEARS_MAX = 4096;

/**
 * Whether a UTC day may lie inside one local day of `timeZone` somewhere in [startMs, endMs):
 * only where the zone's offset is zero at a UTC midnight (London in winter, never Kolkata). A
 * planning hint from this process's zone data: a query that skips the UTC days on `false` still
 * reads every hour, so a database with other zone data gets the same answer, only slower.
 */
export function meetsUtcMidnight(timeZone: string, startMs: number, endMs: number): boolean {
  if (timeZone === 'UTC') return true;
  const first = new Date(startMs).getUTCFullYear();
  const last = new Date(endMs).getUTCFullYear();
  for (let year = first; year <= last; year += 1) {
    const key = `${timeZone}\u0000${year}`;
    let meets = UTC_MIDNIGHT_YEARS.get(key);
    if (meets === undefined) {
      const format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
      meets = false;
      for (let day = Date.UTC(year, 0, 1); day < Date.UTC(year + 1, 0, 1); day += 86_400_000) {
        const offset = format.formatToParts(day).find((part) => part.type === 'timeZoneName');
        if (/^GMT([+-]00:00)?$/.test(offset?.value ?? '')) {
          meets = true;
          break;
        }
      }
      if (UTC_MIDNIGHT_YEARS.size >= UTC_MIDNIGHT_YEARS_MAX) UTC_MIDNIGHT_YEARS.clear();
      UTC_MIDNIGHT_YEARS.set(key, meets);
    }
    if (meets) return true;
  }
  return false;
}
