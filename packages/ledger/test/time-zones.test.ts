import { describeEachEngine } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { insertHistoricalRuns } from './support/historical-runs.js';

const at = (iso: string) => new Date(iso);

describeEachEngine('cost time series in other time zones', (context) => {
  it('cut Kolkata days at local midnight, inside a UTC hour', async () => {
    const projectId = context.project('kolkata');
    // 18:20Z is 23:50 on the 13th in Kolkata, 18:40Z is 00:10 on the 14th: one UTC hour, two days.
    await insertHistoricalRuns(context, projectId, [
      { createdAt: at('2026-02-13T18:20:00Z'), cost: 1 },
      { createdAt: at('2026-02-13T18:40:00Z'), cost: 2 },
    ]);
    const series = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: 'day',
      timeZone: 'Asia/Kolkata',
      start: at('2026-02-12T18:30:00Z'),
      end: at('2026-02-14T18:30:00Z'),
    });
    expect(
      series.points.map((point) => [point.bucket_start, point.bucket_local, point.count, point.total_cost]),
    ).toEqual([
      ['2026-02-12T18:30:00.000Z', '2026-02-13T00:00:00', 1, 1],
      ['2026-02-13T18:30:00.000Z', '2026-02-14T00:00:00', 1, 2],
    ]);
    expect(series.time_zone).toBe('Asia/Kolkata');
  });

  it('keep the repeated New York hour in one bucket that starts at its first instant', async () => {
    const projectId = context.project('new-york');
    // 05:30Z is 01:30 EDT and 06:30Z is 01:30 EST on 1 November 2026.
    await insertHistoricalRuns(context, projectId, [
      { createdAt: at('2026-11-01T05:30:00Z'), cost: 1 },
      { createdAt: at('2026-11-01T06:30:00Z'), cost: 2 },
    ]);
    const series = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: 'hour',
      timeZone: 'America/New_York',
      start: at('2026-11-01T04:00:00Z'),
      end: at('2026-11-01T08:00:00Z'),
    });
    expect(series.points.map((point) => [point.bucket_start, point.bucket_local, point.count])).toEqual([
      ['2026-11-01T04:00:00.000Z', '2026-11-01T00:00:00', 0],
      ['2026-11-01T05:00:00.000Z', '2026-11-01T01:00:00', 2],
      ['2026-11-01T07:00:00.000Z', '2026-11-01T02:00:00', 0],
    ]);
  });

  it('start the repeated hour at its first instant whatever the session zone, even the series zone', async () => {
    const projectId = context.project('chatham');
    // Chatham goes back from 03:45 (+13:45) to 02:45 (+12:45) on 5 April 2026: 03:00-03:45 occurs
    // at 13:15Z on 4 April, and 03:00-04:00 again from 14:15Z.
    await insertHistoricalRuns(context, projectId, [
      { createdAt: at('2026-04-04T13:30:00Z'), cost: 1 },
      { createdAt: at('2026-04-04T14:30:00Z'), cost: 2 },
    ]);
    const database = await context.ledger.database();
    const read = () =>
      context.ledger.getCostTimeSeries({
        projectId,
        bucket: 'hour',
        timeZone: 'Pacific/Chatham',
        start: at('2026-04-04T13:15:00Z'),
        end: at('2026-04-04T15:15:00Z'),
      });
    const expected = [['2026-04-05T03:00:00', '2026-04-04T13:15:00.000Z', 2]];
    const busy = async () =>
      (await read()).points
        .filter((point) => point.count > 0)
        .map((point) => [point.bucket_local, point.bucket_start, point.count]);
    expect(await busy()).toEqual(expected);
    // On PGlite the ledger shares the session: in the series' own zone, a day added to a
    // timestamptz would land on the repeated hour's later reading.
    if (context.engine === 'pglite') {
      await database.query(`set timezone to 'Pacific/Chatham'`);
      try {
        expect(await busy()).toEqual(expected);
      } finally {
        await database.query('reset timezone');
      }
    }
  });

  it('start weeks on Monday in the given zone', async () => {
    const projectId = context.project('weeks');
    // Sunday 22:30Z is Monday 09:30 in Sydney: the second week.
    await insertHistoricalRuns(context, projectId, [
      { createdAt: at('2026-02-08T12:00:00Z'), cost: 1 },
      { createdAt: at('2026-02-15T22:30:00Z'), cost: 2 },
    ]);
    const series = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: 'week',
      timeZone: 'Australia/Sydney',
      start: at('2026-02-01T00:00:00Z'),
      end: at('2026-02-20T00:00:00Z'),
    });
    expect(series.points.map((point) => [point.bucket_local, point.count])).toEqual([
      ['2026-01-26T00:00:00', 0],
      ['2026-02-02T00:00:00', 1],
      ['2026-02-09T00:00:00', 0],
      ['2026-02-16T00:00:00', 1],
    ]);
  });
});
