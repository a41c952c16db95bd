import { describe, expect, it } from 'vitest';
import { toAnalyticsScope } from '../src/analytics/analytics-scope.js';
import { rollupSourceSql } from '../src/analytics/rollup-source.js';
import { meetsUtcMidnight } from '../src/analytics/series-window.js';

// Which zones' series may read UTC days: a planning hint, so it is checked here without a
// database; rollup-levels.test.ts checks the answers on both engines.
describe('the UTC days a zoned series reads', () => {
  const year2026 = [Date.UTC(2026, 0, 1), Date.UTC(2026, 11, 31)] as const;

  it('knows the zones whose clock reads midnight at some UTC midnight of the range', () => {
    const meets = (zone: string) => meetsUtcMidnight(zone, ...year2026);
    expect(['UTC', 'Europe/London', 'Africa/Abidjan', 'Atlantic/Reykjavik', 'Etc/GMT'].map(meets)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(
      ['Asia/Kolkata', 'Asia/Kathmandu', 'America/New_York', 'Europe/Paris', 'Etc/GMT+1'].map(meets),
    ).toEqual([false, false, false, false, false]);
    // Per UTC year: Lisbon was on UTC+1 all of 1993 and 1994, back on UTC in winter from 1996.
    expect(meetsUtcMidnight('Europe/Lisbon', Date.UTC(1993, 5, 1), Date.UTC(1994, 5, 1))).toBe(false);
    expect(meetsUtcMidnight('Europe/Lisbon', Date.UTC(1993, 5, 1), Date.UTC(1997, 5, 1))).toBe(true);
  });

  it('plans no day-level read for day buckets in Kolkata or for hour buckets, and does for London and weeks', () => {
    const levels = (bucket: 'hour' | 'day' | 'week', timeZone: string) =>
      rollupSourceSql(
        toAnalyticsScope({
          projectId: 'p',
          start: new Date('2026-02-01T00:00:00Z'),
          end: new Date('2026-03-01T00:00:00Z'),
        }),
        [],
        { keys: ['agent_id'], rowSecured: false, bucket: { unit: bucket, timeZone } },
      ).levels.map((level) => level.table);
    const day = 'execution_rollups_day';
    expect(levels('day', 'Asia/Kolkata')).not.toContain(day);
    expect(levels('hour', 'Asia/Kolkata')).not.toContain(day);
    expect(levels('hour', 'Europe/London')).not.toContain(day);
    expect(levels('day', 'Europe/London')).toContain(day);
    expect(levels('week', 'Asia/Kolkata')).toContain(day);
  });
});
