import { describeEachEngine, expectLedgerError, makeExecution } from '@execution-ledger/test-support';
import type { SeriesGroupBy, TimeBucket } from 'execution-ledger';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { insertHistoricalRuns } from './support/historical-runs.js';
import { plainTimeSeries } from './support/plain-aggregates.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
// Zones whose midnight is not a UTC midnight: half an hour off (Kolkata), 45 minutes off with
// daylight saving (Chatham, fall-back 5 April 2026), US daylight saving (8 March, 1 November),
// and a 30-minute daylight-saving shift (Lord Howe, 5 April and 4 October).
const ZONES = ['Asia/Kolkata', 'Pacific/Chatham', 'America/New_York', 'Australia/Lord_Howe'];

describeEachEngine('days in the time zones a project keeps', (context) => {
  /** Adds an amount to the cost of every row of a level of a project, to see which level a read used. */
  async function shiftCosts(projectId: string, table: string, amount: number) {
    await context.admin(
      `update execution_ledger.${table} set cost_sum = cost_sum + ${amount} where project_id = $1`,
      [projectId],
    );
  }

  it('read whole local days from the zone, the ends before the first and after the last midnight as before', async () => {
    const projectId = context.project('kolkata');
    // Kolkata is UTC+05:30: its midnights fall at 18:30 UTC. The range runs from 18:35 UTC on
    // 1 March (00:05 on 2 March in Kolkata) to 02:10 UTC on 4 March (07:40 there).
    const runs = [
      { at: '2026-03-01T18:40:00Z', cost: 1 }, // before the first midnight, a cut hour: entries
      { at: '2026-03-02T03:00:00Z', cost: 2 }, // before the first midnight, a whole hour: hour level
      { at: '2026-03-02T20:00:00Z', cost: 4 }, // the whole local day 3 March: zone's day
      { at: '2026-03-03T18:29:00Z', cost: 8 }, // its last minute: zone's day
      { at: '2026-03-03T18:45:00Z', cost: 16 }, // after the last midnight, in the hour it cuts: entries
      { at: '2026-03-03T22:00:00Z', cost: 32 }, // a whole hour after it: hour level
      { at: '2026-03-04T02:05:00Z', cost: 64 }, // the hour the range's end cuts: entries
      { at: '2026-03-04T02:20:00Z', cost: 128 }, // after the range
    ].map(({ at, cost }) => ({ createdAt: new Date(at), cost }));
    await insertHistoricalRuns(context, projectId, runs);
    const added = await context.ledger.addRollupTimeZone(projectId, 'Asia/Kolkata');
    // Local days 2, 3 and 4 March, one agent each.
    expect(added).toEqual({ project_id: projectId, time_zone: 'Asia/Kolkata', groups: 3 });
    const range = { start: new Date('2026-03-01T18:35:00Z'), end: new Date('2026-03-04T02:10:00Z') };
    const read = (bucket: TimeBucket, groupBy: SeriesGroupBy = 'none') =>
      context.ledger.getCostTimeSeries({ projectId, bucket, groupBy, timeZone: 'Asia/Kolkata', ...range });
    for (const bucket of ['hour', 'day', 'week'] as const) {
      for (const groupBy of ['none', 'agent', 'user'] as const) {
        expect((await read(bucket, groupBy)).points.filter((point) => point.count > 0)).toEqual(
          await plainTimeSeries(context, projectId, range, bucket, groupBy, 'Asia/Kolkata'),
        );
      }
    }
    const plain = await plainTimeSeries(context, projectId, range, 'day', 'none', 'Asia/Kolkata');
    expect(plain.map((point) => [point.bucket_local, point.count, point.total_cost])).toEqual([
      ['2026-03-02T00:00:00', 2, 3],
      ['2026-03-03T00:00:00', 2, 12],
      ['2026-03-04T00:00:00', 3, 112],
    ]);
    // Change the zone's days and the hours: the answers show which level each piece came from.
    await shiftCosts(projectId, 'execution_rollups_zone_day', 100_000);
    await shiftCosts(projectId, 'execution_rollups_hour', 10_000_000);
    expect((await read('day')).points.map((point) => point.total_cost)).toEqual([
      3 + 10_000_000,
      12 + 100_000,
      112 + 10_000_000,
    ]);
    expect((await read('week')).points.map((point) => point.total_cost)).toEqual([
      3 + 12 + 112 + 100_000 + 2 * 10_000_000,
    ]);
    // Grouped by user, the zone's days (keyed by agent) cannot answer: the user-keyed levels do.
    expect((await read('day', 'user')).points.map((point) => point.total_cost)).toEqual([3, 12, 112]);
    // Hour buckets never read a day (and no UTC hour lies inside a Kolkata hour: entries only).
    expect((await read('hour')).points.reduce((sum, point) => sum + point.total_cost, 0)).toBe(127);
    // Another zone is not kept: its days come from the UTC levels and the entries.
    const newYork = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: 'day',
      timeZone: 'America/New_York',
      ...range,
    });
    expect(newYork.points.some((point) => point.total_cost >= 100_000 && point.total_cost < 10_000_000)).toBe(
      false,
    );
    const verification = await context.ledger.verifyRollups(projectId);
    expect(verification.levels.find((level) => level.level === 'zone_day')).toEqual({
      level: 'zone_day',
      ok: false,
      groups_checked: 3,
    });
    expect(
      verification.mismatches
        .filter((mismatch) => mismatch.level === 'zone_day')
        .map((mismatch) => [mismatch.period_start, mismatch.reason]),
    ).toEqual([
      ['2026-03-01T18:30:00.000Z', 'in Asia/Kolkata: cost_sum is 100003.000000, the entries give 3.000000'],
      ['2026-03-02T18:30:00.000Z', 'in Asia/Kolkata: cost_sum is 100012.000000, the entries give 12.000000'],
      ['2026-03-03T18:30:00.000Z', 'in Asia/Kolkata: cost_sum is 100240.000000, the entries give 240.000000'],
    ]);
    const rebuilt = await context.ledger.rebuildRollups(projectId);
    expect(rebuilt.levels.zone_day).toBe(3);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
    expect((await read('day')).points.map((point) => point.total_cost)).toEqual([3, 12, 112]);
  });

  it('keep the days of runs appended after the zone was added, 23 and 25 hours long across daylight saving', async () => {
    const projectId = context.project('new-york');
    expect(await context.ledger.addRollupTimeZone(projectId, 'America/New_York')).toEqual({
      project_id: projectId,
      time_zone: 'America/New_York',
      groups: 0,
    });
    // Every three hours from 6 to 10 March (clocks go forward on 8 March) and from 30 October to
    // 3 November (back on 1 November), by two agents.
    const runs = [Date.parse('2026-03-06T00:00:00Z'), Date.parse('2026-10-30T00:00:00Z')].flatMap((from) =>
      Array.from({ length: 32 }, (_, index) => ({
        createdAt: new Date(from + index * 3 * HOUR_MS + 7 * 60_000),
        agentId: index % 2 === 0 ? 'backend' : 'devops',
        cost: index + 1,
      })),
    );
    await insertHistoricalRuns(context, projectId, runs);
    // The append path, as the runtime role: the fold keeps the zone's day of the run too.
    await context.ledger.recordExecution(makeExecution(projectId, { agent_id: 'backend' }));
    expect(await context.ledger.foldRollups(projectId)).toEqual({ projects: 1, entries: 65 });
    const [days] = await context.admin(
      `select count(*)::int as rows, sum(run_count)::int as runs,
         count(*) filter (where day = '2026-03-08T05:00:00Z')::int as spring,
         count(*) filter (where day = '2026-11-01T04:00:00Z')::int as autumn
       from execution_ledger.execution_rollups_zone_day where project_id = $1`,
      [projectId],
    );
    // The local days 8 March (from 05:00 UTC, 23 hours) and 1 November (from 04:00 UTC, 25 hours).
    expect(days).toMatchObject({ runs: 65, spring: 2, autumn: 2 });
    const verification = await context.ledger.verifyRollups(projectId);
    expect(verification.ok).toBe(true);
    expect(verification.levels.find((level) => level.level === 'zone_day')?.groups_checked).toBe(days?.rows);
    for (const [start, end] of [
      ['2026-03-06T03:00:00Z', '2026-03-10T01:00:00Z'],
      ['2026-10-30T11:20:00Z', '2026-11-03T00:00:00Z'],
    ] as const) {
      const range = { start: new Date(start), end: new Date(end) };
      for (const bucket of ['day', 'week'] as const) {
        const series = await context.ledger.getCostTimeSeries({
          projectId,
          bucket,
          groupBy: 'agent',
          timeZone: 'America/New_York',
          ...range,
        });
        expect(series.points.filter((point) => point.count > 0)).toEqual(
          await plainTimeSeries(context, projectId, range, bucket, 'agent', 'America/New_York'),
        );
      }
    }
  });

  it('list each zone of a project once, and adding it again fills it again', async () => {
    const projectId = context.project('listed');
    await insertHistoricalRuns(context, projectId, [
      { createdAt: new Date('2026-03-02T12:00:00Z'), cost: 1 },
      { createdAt: new Date('2026-03-03T12:00:00Z'), cost: 2 },
    ]);
    await context.ledger.addRollupTimeZone(projectId, 'Asia/Kolkata');
    await context.admin(`delete from execution_ledger.execution_rollups_zone_day where project_id = $1`, [
      projectId,
    ]);
    expect((await context.ledger.addRollupTimeZone(projectId, 'Asia/Kolkata')).groups).toBe(2);
    await context.ledger.addRollupTimeZone(projectId, 'Pacific/Chatham');
    const zones = await context.ledger.listRollupTimeZones(projectId);
    expect(zones.map((zone) => [zone.project_id, zone.time_zone])).toEqual([
      [projectId, 'Asia/Kolkata'],
      [projectId, 'Pacific/Chatham'],
    ]);
    expect(zones.every((zone) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(zone.added_at))).toBe(true);
    expect(
      (await context.ledger.listRollupTimeZones()).filter((zone) => zone.project_id === projectId),
    ).toEqual(zones);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  it('refuse an unknown zone, UTC and a bad project id with VALIDATION_FAILED and change nothing', async () => {
    const projectId = context.project('refused');
    await insertHistoricalRuns(context, projectId, [
      { createdAt: new Date('2026-03-02T12:00:00Z'), cost: 1 },
    ]);
    for (const timeZone of ['Mars/Olympus_Mons', '+05:30', 'UTC', '']) {
      const error = await expectLedgerError(
        context.ledger.addRollupTimeZone(projectId, timeZone),
        'VALIDATION_FAILED',
        'timeZone',
      );
      expect(error.message).toMatch(/Asia\/Kolkata|Europe\/Paris/);
    }
    await expectLedgerError(
      context.ledger.addRollupTimeZone('', 'Asia/Kolkata'),
      'VALIDATION_FAILED',
      'projectId',
    );
    await expectLedgerError(context.ledger.listRollupTimeZones(' '), 'VALIDATION_FAILED', 'projectId');
    expect(await context.ledger.listRollupTimeZones(projectId)).toEqual([]);
    const [rows] = await context.admin(
      `select count(*)::int as count from execution_ledger.execution_rollups_zone_day where project_id = $1`,
      [projectId],
    );
    expect(rows?.count).toBe(0);
  });

  it('give every daily and weekly series of a plain aggregate, zones kept before or after the runs', async () => {
    const windowStart = Date.parse('2026-02-26T00:00:00Z');
    const windowMs = 50 * DAY_MS;
    const sampleArb = fc.record({
      runs: fc.array(
        fc.record({
          at: fc.integer({ min: 0, max: windowMs - 1 }),
          agentId: fc.constantFrom('backend', 'devops'),
          cost: fc.integer({ min: 0, max: 5_000_000 }).map((micros) => micros / 1_000_000),
        }),
        { minLength: 5, maxLength: 60 },
      ),
      kept: fc.subarray(ZONES, { minLength: 1 }),
      keptFirst: fc.boolean(),
      timeZone: fc.constantFrom(...ZONES),
      bucket: fc.constantFrom<TimeBucket>('day', 'week'),
      groupBy: fc.constantFrom<SeriesGroupBy>('none', 'agent'),
      // Bounds anywhere, on a minute, or on a quarter hour (where some zones' midnights fall).
      start: fc.integer({ min: -DAY_MS, max: windowMs }).map((offset) => offset - (offset % (15 * 60_000))),
      length: fc.integer({ min: HOUR_MS, max: windowMs }),
    });
    await fc.assert(
      fc.asyncProperty(sampleArb, async (sample) => {
        const projectId = context.project('zones');
        const add = async () => {
          for (const zone of sample.kept) await context.ledger.addRollupTimeZone(projectId, zone);
        };
        if (sample.keptFirst) await add();
        const runs = sample.runs
          .map(({ at, ...run }) => ({ ...run, createdAt: new Date(windowStart + at) }))
          .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
        const half = Math.ceil(runs.length / 2);
        const tip = await insertHistoricalRuns(context, projectId, runs.slice(0, half));
        if (runs.length > half) await insertHistoricalRuns(context, projectId, runs.slice(half), tip);
        if (!sample.keptFirst) await add();
        const range = {
          start: new Date(windowStart + sample.start),
          end: new Date(windowStart + sample.start + sample.length),
        };
        const series = await context.ledger.getCostTimeSeries({
          projectId,
          bucket: sample.bucket,
          groupBy: sample.groupBy,
          timeZone: sample.timeZone,
          ...range,
        });
        expect(series.points.filter((point) => point.count > 0)).toEqual(
          await plainTimeSeries(context, projectId, range, sample.bucket, sample.groupBy, sample.timeZone),
        );
        expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
      }),
      { numRuns: 10 },
    );
  });
});
