import { LedgerError } from 'execution-ledger';

/** The range presets of every page, and `custom` for two dates the user picks. */
export const RANGE_PRESETS = ['today', '24h', '7d', '30d', '90d', 'custom'] as const;
export type RangePreset = (typeof RANGE_PRESETS)[number];

export interface PageRange {
  preset: RangePreset;
  /** [start, end) as instants. */
  start: Date;
  end: Date;
  timeZone: string;
  /** The series bucket that keeps a chart between a few and a few hundred points. */
  bucket: 'hour' | 'day' | 'week';
  /** The custom dates as typed (YYYY-MM-DD), for the form. */
  startDate: string;
  endDate: string;
}

const DAY_MS = 86_400_000;
const DATE_TEXT = /^\d{4}-\d{2}-\d{2}$/;

/** An IANA zone the runtime knows, or VALIDATION_FAILED naming the field. */
export function requireTimeZone(text: string | undefined): string {
  const zone = text === undefined || text === '' ? 'UTC' : text;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `tz ${JSON.stringify(zone)} is not a time zone this server knows; use an IANA name such as Europe/Paris or UTC`,
      { field: 'tz' },
    );
  }
}

/** How far the zone is ahead of UTC at an instant, in ms. */
function zoneOffsetMs(timeZone: string, at: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(at);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(
    part('year'),
    part('month') - 1,
    part('day'),
    part('hour'),
    part('minute'),
    part('second'),
  );
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

/** The instant a local midnight (YYYY-MM-DD in the zone) begins. */
export function zonedMidnight(dateText: string, timeZone: string): Date {
  const [year, month, day] = dateText.split('-').map(Number) as [number, number, number];
  const guess = Date.UTC(year, month - 1, day);
  // Twice: the offset at the guess may differ from the offset at the answer across a DST change.
  const first = guess - zoneOffsetMs(timeZone, new Date(guess));
  return new Date(guess - zoneOffsetMs(timeZone, new Date(first)));
}

/** The local date (YYYY-MM-DD) of an instant in a zone. */
export function zonedDate(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(at);
}

/** The local midnight that begins the day `days` after the one holding `at` (negative: before). */
export function dayStart(at: Date, timeZone: string, days = 0): Date {
  const local = zonedDate(at, timeZone);
  const shifted = new Date(Date.parse(`${local}T12:00:00Z`) + days * DAY_MS);
  return zonedMidnight(shifted.toISOString().slice(0, 10), timeZone);
}

function requireDate(text: string | undefined, field: string): string {
  if (text === undefined || !DATE_TEXT.test(text) || Number.isNaN(Date.parse(`${text}T00:00:00Z`))) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} must be a date such as 2026-12-01 for a custom range`,
      {
        field,
      },
    );
  }
  return text;
}

export function parseRange(
  query: { range?: string; from?: string; to?: string; tz?: string },
  now = new Date(),
): PageRange {
  const timeZone = requireTimeZone(query.tz);
  const preset = (query.range ?? '7d') as RangePreset;
  if (!RANGE_PRESETS.includes(preset)) {
    throw new LedgerError('VALIDATION_FAILED', `range must be one of ${RANGE_PRESETS.join(', ')}`, {
      field: 'range',
    });
  }
  let start: Date;
  let end: Date;
  if (preset === 'custom') {
    const from = requireDate(query.from, 'from');
    const to = requireDate(query.to, 'to');
    start = zonedMidnight(from, timeZone);
    // The end date is included: the range ends at the midnight after it.
    end = dayStart(zonedMidnight(to, timeZone), timeZone, 1);
    if (end.getTime() <= start.getTime()) {
      throw new LedgerError('VALIDATION_FAILED', 'to must be on or after from', { field: 'to' });
    }
  } else if (preset === 'today') {
    start = dayStart(now, timeZone);
    end = dayStart(now, timeZone, 1);
  } else {
    const days = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 }[preset];
    end = now;
    start = new Date(now.getTime() - days * DAY_MS);
  }
  const spanMs = end.getTime() - start.getTime();
  const bucket = spanMs <= 2 * DAY_MS ? 'hour' : spanMs <= 92 * DAY_MS ? 'day' : 'week';
  return {
    preset,
    start,
    end,
    timeZone,
    bucket,
    startDate: query.from ?? zonedDate(start, timeZone),
    endDate: query.to ?? zonedDate(new Date(end.getTime() - 1), timeZone),
  };
}

/** Chart buckets at most; a longer range is drawn from the buckets that hold data only. */
const BUCKETS_FILLED_MAX = 2_000;

/**
 * Every bucket start of the range in its zone (hours, local midnights, local Mondays), so a chart
 * shows the quiet buckets as zero instead of joining the busy ones with a line.
 */
export function bucketStarts(range: PageRange): Date[] {
  const starts: Date[] = [];
  const endMs = range.end.getTime();
  if (range.bucket === 'hour') {
    // Zones off the hour by 30 or 45 minutes are placed by the series' own starts, which are merged in.
    for (let at = Math.floor(range.start.getTime() / 3_600_000) * 3_600_000; at < endMs; at += 3_600_000) {
      starts.push(new Date(at));
      if (starts.length >= BUCKETS_FILLED_MAX) break;
    }
    return starts;
  }
  let day = dayStart(range.start, range.timeZone);
  if (range.bucket === 'week') {
    const weekday = new Date(`${zonedDate(day, range.timeZone)}T12:00:00Z`).getUTCDay();
    day = dayStart(day, range.timeZone, -((weekday + 6) % 7));
  }
  const stride = range.bucket === 'week' ? 7 : 1;
  while (day.getTime() < endMs && starts.length < BUCKETS_FILLED_MAX) {
    starts.push(day);
    day = dayStart(day, range.timeZone, stride);
  }
  return starts;
}
