import { describeEachEngine } from '@execution-ledger/test-support';
import type { ExecutionStatus, SeriesGroupBy, TimeBucket } from 'execution-ledger';
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { type HistoricalRun, insertHistoricalRuns } from './support/historical-runs.js';
import {
  type PlainRange,
  plainAgentStats,
  plainCostByPart,
  plainCostByUser,
  plainProjectStats,
  plainTimeSeries,
} from './support/plain-aggregates.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
// About four months across two month ends that are also near daylight-saving changes: the US
// spring-forward (8 March 2026), Chatham's and Lord Howe's fall-back (5 April), Paris (29 March);
// and the turn of the year, so that whole years of the year level meet months at their edges.
const WINDOW_START = Date.parse('2026-01-25T00:00:00Z');
const WINDOW_MS = 110 * DAY_MS;
const MONTH_STARTS = ['2026-01-01', '2026-02-01', '2026-03-01', '2026-04-01', '2026-05-01'].map((day) =>
  Date.parse(`${day}T00:00:00Z`),
);
const TIME_ZONES = ['UTC', 'Asia/Kolkata', 'America/New_York', 'Europe/Paris', 'Pacific/Chatham'];
const AGENTS = ['backend', 'database', 'devops'];
const USERS = ['user-1', 'user-2', 'user-3'];
const STATUSES: ExecutionStatus[] = ['completed', 'failed', 'aborted'];

const microsArb = fc.integer({ min: 0, max: 50_000_000_000 });
const cents = (micros: number) => Number((micros / 1_000_000).toFixed(6));
const costArb = fc.oneof(
  microsArb.map(cents),
  fc.record({ tokens: microsArb, gpu: fc.option(microsArb, { nil: undefined }) }).map(({ tokens, gpu }) => ({
    total: cents(tokens + (gpu ?? 0)),
    breakdown: { tokens: cents(tokens), ...(gpu === undefined ? {} : { gpu: cents(gpu) }) },
  })),
);

// Runs anywhere in the window, or next to a month's start, so whole months, the days and hours
// at their edges and the cut hours all hold runs.
const runAtArb = fc.oneof(
  fc.integer({ min: 0, max: WINDOW_MS - 1 }).map((offset) => WINDOW_START + offset),
  fc
    .record({
      month: fc.constantFrom(...MONTH_STARTS),
      offset: fc.integer({ min: -2 * DAY_MS, max: 2 * DAY_MS }),
    })
    .map(({ month, offset }) => month + offset),
);
const runArb = fc.record({
  at: runAtArb,
  agentId: fc.constantFrom(...AGENTS),
  userId: fc.constantFrom(...USERS),
  status: fc.constantFrom<ExecutionStatus>('completed', 'completed', 'failed', 'aborted'),
  cost: costArb,
  durationMs: fc.integer({ min: 0, max: 600_000 }),
});

// Range ends on a month's start, a day or an hour away from it, inside an hour, anywhere, or open.
const boundArb = fc.oneof(
  fc
    .record({
      month: fc.constantFrom(...MONTH_STARTS),
      shift: fc.constantFrom(0, HOUR_MS, -HOUR_MS, DAY_MS, -DAY_MS, 3 * DAY_MS + 5 * HOUR_MS),
      within: fc.constantFrom(0, 0, 17 * 60_000 + 123, 59 * 60_000),
    })
    .map(({ month, shift, within }) => month + shift + within),
  fc.integer({ min: -HOUR_MS, max: WINDOW_MS + HOUR_MS }).map((offset) => WINDOW_START + offset),
  fc.constant(undefined),
);

const caseArb = fc.record({
  runs: fc.array(runArb, { minLength: 10, maxLength: 80 }),
  statements: fc.integer({ min: 1, max: 3 }),
  start: boundArb,
  end: boundArb,
  timeZone: fc.constantFrom(...TIME_ZONES),
  bucket: fc.constantFrom<TimeBucket>('hour', 'day', 'week'),
  groupBy: fc.constantFrom<SeriesGroupBy>('none', 'agent', 'user', 'status'),
  userId: fc.constantFrom(...USERS),
  statuses: fc.subarray(STATUSES, { minLength: 1 }),
});

describeEachEngine('rollup levels answer exactly over months of runs', (context) => {
  /** Adds a distinct amount to the cost of every row of each agent-keyed level of a project. */
  async function shiftLevelCosts(
    projectId: string,
    amounts: Partial<Record<'month' | 'day' | 'hour', number>>,
  ) {
    for (const [period, amount] of Object.entries(amounts)) {
      await context.admin(
        `update execution_ledger.execution_rollups_${period} set cost_sum = cost_sum + ${amount} where project_id = $1`,
        [projectId],
      );
    }
  }

  beforeAll(async () => {
    // On PGlite the ledger shares this session: a far-off session zone must change nothing.
    if (context.engine === 'pglite') await context.admin(`set timezone to 'America/St_Johns'`);
  });

  it('gives every statistic of a plain aggregate for ranges cutting months, days and hours', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (sample) => {
        const projectId = context.project('levels');
        const runs: HistoricalRun[] = sample.runs
          .map(({ at, ...run }) => ({ ...run, createdAt: new Date(at) }))
          .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
        let tip: Awaited<ReturnType<typeof insertHistoricalRuns>> | undefined;
        const size = Math.ceil(runs.length / sample.statements);
        for (let index = 0; index < runs.length; index += size) {
          tip = await insertHistoricalRuns(context, projectId, runs.slice(index, index + size), tip);
        }
        const at = (bound: number | undefined) => (bound === undefined ? undefined : new Date(bound));
        const range = { start: at(sample.start), end: at(sample.end) };
        const dates = {
          ...(range.start ? { start: range.start } : {}),
          ...(range.end ? { end: range.end } : {}),
        };
        const { ledger } = context;

        expect(await ledger.getProjectExecutionStats(projectId, range.start, range.end)).toEqual(
          await plainProjectStats(context, projectId, range),
        );
        for (const agentId of AGENTS) {
          expect(await ledger.getAgentCostStats(agentId, projectId, range.start, range.end)).toEqual(
            await plainAgentStats(context, agentId, projectId, range),
          );
        }
        // Across projects: the same runs under an agent of their own, shared out between two
        // more projects, read by agent alone (the month level's agent index).
        const soloAgent = `solo-${projectId}`;
        for (const [index, other] of [context.project('levels-a'), context.project('levels-b')].entries()) {
          const share = runs.filter((_, position) => position % 2 === index);
          if (share.length > 0) {
            await insertHistoricalRuns(
              context,
              other,
              share.map((run) => ({ ...run, agentId: soloAgent })),
            );
          }
        }
        expect(await ledger.getAgentCostStats(soloAgent, undefined, range.start, range.end)).toEqual(
          await plainAgentStats(context, soloAgent, undefined, range),
        );
        expect(await ledger.getCostByPart({ projectId, ...dates })).toEqual(
          await plainCostByPart(context, projectId, range),
        );
        expect(await ledger.getCostByUser({ projectId, ...dates })).toEqual(
          await plainCostByUser(context, projectId, range),
        );
        // Filters by user and status need the levels that hold those keys.
        const narrowed: PlainRange = { ...range, userId: sample.userId, statuses: sample.statuses };
        const filter = { projectId, userId: sample.userId, status: sample.statuses, ...dates };
        expect(await ledger.getCostByPart(filter)).toEqual(
          await plainCostByPart(context, projectId, narrowed),
        );
        expect(await ledger.getCostByUser({ projectId, status: sample.statuses, ...dates })).toEqual(
          await plainCostByUser(context, projectId, { ...range, statuses: sample.statuses }),
        );
        const page = await ledger.listExecutions(
          {
            projectId,
            userId: sample.userId,
            status: sample.statuses,
            ...(range.start ? { startDate: range.start } : {}),
            ...(range.end ? { endDate: range.end } : {}),
          },
          { limit: 1 },
        );
        expect(page.total).toBe((await plainProjectStats(context, projectId, narrowed)).total_executions);
        // A scoped reader who is not a member sees only their own runs, through the user-keyed levels.
        expect(
          await ledger
            .as({ userId: sample.userId })
            .getProjectExecutionStats(projectId, range.start, range.end),
        ).toEqual(await plainProjectStats(context, projectId, { ...range, userId: sample.userId }));

        const start = range.start ?? new Date(WINDOW_START - HOUR_MS);
        const end = range.end ?? new Date(WINDOW_START + WINDOW_MS + HOUR_MS);
        if (end <= start) return;
        const series = await ledger.getCostTimeSeries({
          projectId,
          bucket: sample.bucket,
          groupBy: sample.groupBy,
          start,
          end,
          timeZone: sample.timeZone,
        });
        expect(series.points.filter((point) => point.count > 0)).toEqual(
          await plainTimeSeries(
            context,
            projectId,
            { start, end },
            sample.bucket,
            sample.groupBy,
            sample.timeZone,
          ),
        );
      }),
      { numRuns: 12 },
    );
  });

  it('gives a series filtered by user alone, across projects, the plain aggregate in any zone', async () => {
    // No project or agent filter: the hour level is read in one range scan and matched to hours.
    const userId = `solo-${context.project('user')}`;
    for (const projectId of [context.project('a'), context.project('b')]) {
      await insertHistoricalRuns(
        context,
        projectId,
        Array.from({ length: 30 }, (_, index) => ({
          createdAt: new Date(Date.parse('2026-03-06T00:00:00Z') + index * 5 * HOUR_MS + 17 * 60_000),
          userId,
          cost: index + 1,
        })),
      );
    }
    const start = new Date('2026-03-06T09:30:00Z');
    const end = new Date('2026-03-12T02:00:00Z');
    for (const timeZone of ['UTC', 'Asia/Kolkata', 'America/New_York']) {
      const series = await context.ledger.getCostTimeSeries({ userId, bucket: 'day', start, end, timeZone });
      const plain = await context.admin(
        `select to_char(date_trunc('day', e.created_at at time zone $2), 'YYYY-MM-DD"T"HH24:MI:SS') as local,
           count(*)::int as count, sum(e.cost_total)::float8 as cost
         from execution_ledger.executions e
         where e.user_id = $1 and e.created_at >= $3 and e.created_at < $4
         group by 1 order by 1`,
        [userId, timeZone, start.toISOString(), end.toISOString()],
      );
      expect(
        series.points
          .filter((point) => point.count > 0)
          .map((point) => ({ local: point.bucket_local, count: point.count, cost: point.total_cost })),
      ).toEqual(plain);
    }
  });

  it('reads whole months from the month level and only the cut hours from the entries', async () => {
    const projectId = context.project('pieces');
    // One run in each piece a range from 31 Jan 22:30 to 2 Apr 01:15 splits into.
    const runs = [
      '2026-01-31T22:40:00Z', // the cut hour at the start: entries
      '2026-01-31T23:10:00Z', // a whole hour at the start: hour level
      '2026-02-14T12:00:00Z', // inside February: month level
      '2026-03-20T08:00:00Z', // inside March: month level
      '2026-04-01T13:00:00Z', // the whole day 1 April: day level
      '2026-04-02T00:30:00Z', // a whole hour at the end: hour level
      '2026-04-02T01:05:00Z', // the cut hour at the end: entries
      '2026-04-02T01:20:00Z', // after the range
    ].map((iso, index) => ({ createdAt: new Date(iso), cost: index + 1 }));
    await insertHistoricalRuns(context, projectId, runs);
    await context.ledger.foldRollups(projectId);
    // Change one level's copy of each piece: the answer shows which level each piece came from.
    await context.admin(
      `update execution_ledger.execution_rollups_month set cost_sum = cost_sum + 1000 where project_id = $1`,
      [projectId],
    );
    await context.admin(
      `update execution_ledger.execution_rollups_day set cost_sum = cost_sum + 100000 where project_id = $1`,
      [projectId],
    );
    await context.admin(
      `update execution_ledger.execution_rollups_hour set cost_sum = cost_sum + 10000000 where project_id = $1`,
      [projectId],
    );
    const stats = await context.ledger.getProjectExecutionStats(
      projectId,
      new Date('2026-01-31T22:30:00Z'),
      new Date('2026-04-02T01:15:00Z'),
    );
    // Entries 1 + 7, hours 2 + 6 (+ 2 × 10,000,000), months 3 + 4 (+ 2 × 1,000), day 5 (+ 100,000).
    expect(stats.total_executions).toBe(7);
    expect(stats.total_cost).toBe(28 + 2 * 10_000_000 + 2 * 1_000 + 100_000);
    await context.ledger.rebuildRollups(projectId);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  it('reads whole years from the year level, for one project and for an agent across projects', async () => {
    const projectId = context.project('years');
    const agentId = `years-${projectId}`;
    // One run in each piece a range from 31 Dec 2024 23:30 to 1 Jan 2026 02:00 splits into.
    const runs = [
      '2024-12-31T23:40:00Z', // the cut hour at the start: entries
      '2025-06-15T12:00:00Z', // inside 2025: year level
      '2025-12-31T23:59:59.999Z', // the last instant of 2025: year level
      '2026-01-01T00:30:00Z', // a whole hour at the end: hour level
      '2026-01-01T01:10:00Z', // a whole hour at the end: hour level
      '2026-01-01T02:30:00Z', // after the range
    ].map((iso, index) => ({ createdAt: new Date(iso), cost: index + 1, agentId }));
    await insertHistoricalRuns(context, projectId, runs);
    const start = new Date('2024-12-31T23:30:00Z');
    const end = new Date('2026-01-01T02:00:00Z');
    const exact = await context.ledger.getProjectExecutionStats(projectId, start, end);
    expect(exact).toEqual(await plainProjectStats(context, projectId, { start, end }));
    expect(await context.ledger.getAgentCostStats(agentId, undefined, start, end)).toEqual(
      await plainAgentStats(context, agentId, undefined, { start, end }),
    );
    // Change each level's copy: the answers show which level each piece came from.
    await context.admin(
      `update execution_ledger.execution_rollups_year set cost_sum = cost_sum + 1000 where project_id = $1`,
      [projectId],
    );
    await shiftLevelCosts(projectId, { month: 100_000, hour: 10_000_000 });
    // Entry 1, year 2 + 3 (+ 1,000), hours 4 + 5 (+ 2 × 10,000,000); no month is read.
    const expected = 15 + 1_000 + 2 * 10_000_000;
    expect((await context.ledger.getProjectExecutionStats(projectId, start, end)).total_cost).toBe(expected);
    expect((await context.ledger.getAgentCostStats(agentId, undefined, start, end)).total_cost).toBe(
      expected,
    );
    // All time: the years 2024, 2025 and 2026, each one row.
    expect((await context.ledger.getAgentCostStats(agentId)).total_cost).toBe(21 + 3 * 1_000);
    await context.ledger.rebuildRollups(projectId);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
    expect((await context.ledger.getAgentCostStats(agentId)).total_cost).toBe(21);
  });

  it('reads a UTC series as whole days, the edge hours from the hour level and the cut hours from the entries', async () => {
    const projectId = context.project('utc-series');
    // One run in each piece a range from 1 March 22:30 to 3 March 01:15 splits into.
    const runs = [
      { at: '2026-03-01T22:40:00Z', cost: 1 }, // the cut hour at the start: entries
      { at: '2026-03-01T23:10:00Z', cost: 2 }, // a whole hour at the start: hour level
      { at: '2026-03-02T12:00:00Z', cost: 4 }, // the whole day 2 March: day level
      { at: '2026-03-03T00:30:00Z', cost: 8 }, // a whole hour at the end: hour level
      { at: '2026-03-03T01:05:00Z', cost: 16 }, // the cut hour at the end: entries
      { at: '2026-03-03T01:20:00Z', cost: 32 }, // after the range
    ].map(({ at, cost }) => ({ createdAt: new Date(at), cost }));
    await insertHistoricalRuns(context, projectId, runs);
    const range = { start: new Date('2026-03-01T22:30:00Z'), end: new Date('2026-03-03T01:15:00Z') };
    const read = () =>
      context.ledger.getCostTimeSeries({ projectId, bucket: 'day', timeZone: 'UTC', ...range });
    const exact = await read();
    expect(exact.points).toEqual(await plainTimeSeries(context, projectId, range, 'day', 'none', 'UTC'));
    expect(exact.points.map((point) => [point.bucket_local, point.bucket_start, point.count])).toEqual([
      ['2026-03-01T00:00:00', '2026-03-01T00:00:00.000Z', 2],
      ['2026-03-02T00:00:00', '2026-03-02T00:00:00.000Z', 1],
      ['2026-03-03T00:00:00', '2026-03-03T00:00:00.000Z', 2],
    ]);
    // Change each level's copy: the answer shows which level each piece came from.
    await shiftLevelCosts(projectId, { day: 100_000, hour: 10_000_000 });
    expect((await read()).points.map((point) => point.total_cost)).toEqual([
      1 + 2 + 10_000_000,
      4 + 100_000,
      8 + 10_000_000 + 16,
    ]);
    // Hour buckets read no day: 2 March's run comes from its hour.
    const hours = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: 'hour',
      timeZone: 'UTC',
      ...range,
    });
    expect(hours.points.find((point) => point.bucket_local === '2026-03-02T12:00:00')?.total_cost).toBe(
      4 + 10_000_000,
    );
    await context.ledger.rebuildRollups(projectId);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  it('reads UTC days in a zone only where its midnight is a UTC midnight: London in winter, not Kolkata', async () => {
    const projectId = context.project('zone-days-hint');
    // Noon UTC, 2 to 11 February: inside one London day (offset 0 in winter) and one Kolkata day.
    const runs = Array.from({ length: 10 }, (_, day) => ({
      createdAt: new Date(Date.UTC(2026, 1, 2 + day, 12)),
      cost: 2 ** day,
    }));
    await insertHistoricalRuns(context, projectId, runs);
    const range = { start: new Date('2026-02-01T00:00:00Z'), end: new Date('2026-02-13T00:00:00Z') };
    const series = async (bucket: TimeBucket, timeZone: string) =>
      (await context.ledger.getCostTimeSeries({ projectId, bucket, timeZone, ...range })).points;
    const cases = [
      ['day', 'Europe/London'],
      ['day', 'Asia/Kolkata'],
      ['hour', 'Asia/Kolkata'],
      ['week', 'Asia/Kolkata'],
    ] as const;
    const exact = [];
    for (const [bucket, timeZone] of cases) {
      const points = await series(bucket, timeZone);
      expect(points.filter((point) => point.count > 0)).toEqual(
        await plainTimeSeries(context, projectId, range, bucket, 'none', timeZone),
      );
      exact.push(points.reduce((sum, point) => sum + point.total_cost, 0));
    }
    expect(exact).toEqual(cases.map(() => 2 ** 10 - 1));
    // Change the day level's copy: the totals show which series read day rows.
    await shiftLevelCosts(projectId, { day: 1_000_000 });
    const shifted = [];
    for (const [bucket, timeZone] of cases) {
      shifted.push((await series(bucket, timeZone)).reduce((sum, point) => sum + point.total_cost, 0));
    }
    // London days are UTC days (all 10 from the day level); no UTC day lies inside a Kolkata day
    // or hour; a Kolkata week (from Monday 00:00, 18:30 UTC on Sunday) holds every UTC day but
    // Sunday 8 February.
    expect(shifted.map((total) => Math.round((total - (2 ** 10 - 1)) / 1_000_000))).toEqual([10, 0, 0, 9]);
    await context.ledger.rebuildRollups(projectId);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  it('passes the day rows of whole UTC days through as groups by agent, and sums every other bucket', async () => {
    const projectId = context.project('passed');
    // Two agents, three runs a day each, from Thursday 5 March 10:00 to Wednesday 11 March 10:00.
    const runs = Array.from({ length: 42 }, (_, index) => ({
      createdAt: new Date(Date.parse('2026-03-05T02:00:00Z') + index * 4 * HOUR_MS),
      agentId: index % 2 === 0 ? 'backend' : 'devops',
      cost: index + 1,
    }));
    await insertHistoricalRuns(context, projectId, runs);
    const range = { start: new Date('2026-03-05T10:00:00Z'), end: new Date('2026-03-11T10:00:00Z') };
    for (const bucket of ['day', 'week', 'hour'] as const) {
      for (const groupBy of ['agent', 'none'] as const) {
        const series = await context.ledger.getCostTimeSeries({
          projectId,
          bucket,
          groupBy,
          timeZone: 'UTC',
          ...range,
        });
        expect(series.points.filter((point) => point.count > 0)).toEqual(
          await plainTimeSeries(context, projectId, range, bucket, groupBy, 'UTC'),
        );
      }
    }
    // The week of 2 March holds 5 March 10:00 to 8 March (22 runs), that of 9 March 9 March to
    // 11 March 10:00 (14): several day rows of each agent in one bucket.
    const weeks = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: 'week',
      groupBy: 'agent',
      timeZone: 'UTC',
      ...range,
    });
    expect(weeks.points.map((point) => [point.bucket_local, point.key, point.count])).toEqual([
      ['2026-03-02T00:00:00', 'backend', 11],
      ['2026-03-02T00:00:00', 'devops', 11],
      ['2026-03-09T00:00:00', 'backend', 7],
      ['2026-03-09T00:00:00', 'devops', 7],
    ]);
    // Across projects (an agent filter alone) a day row is no group: each project has its own.
    const agentId = `passed-${projectId}`;
    for (const other of [context.project('passed-a'), context.project('passed-b')]) {
      await insertHistoricalRuns(
        context,
        other,
        runs.map((run) => ({ ...run, agentId })),
      );
    }
    const across = await context.ledger.getCostTimeSeries({
      agentId,
      bucket: 'day',
      groupBy: 'agent',
      timeZone: 'UTC',
      ...range,
    });
    const single = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: 'day',
      timeZone: 'UTC',
      ...range,
    });
    expect(across.points.map((point) => point.count)).toEqual(single.points.map((point) => 2 * point.count));
  });

  it('reads a range ending just before a month ends as the month less what lies outside it', async () => {
    const projectId = context.project('complement');
    const runs = [
      { at: '2026-03-01T12:00:00Z', cost: 1 }, // before the range, in a whole day: subtracted from days
      { at: '2026-03-03T09:30:00Z', cost: 2 }, // before the range, in a whole hour: subtracted from hours
      { at: '2026-03-10T08:00:00Z', cost: 4 }, // inside: month level
      { at: '2026-03-31T23:30:00Z', cost: 8 }, // inside, in the hour the end cuts: month level
      { at: '2026-03-31T23:50:00Z', cost: 16 }, // after the range, in the cut hour: subtracted entries
    ].map(({ at, cost }) => ({ createdAt: new Date(at), cost }));
    await insertHistoricalRuns(context, projectId, runs);
    const start = new Date('2026-03-03T10:00:00Z');
    const end = new Date('2026-03-31T23:40:00Z');
    expect(await context.ledger.getProjectExecutionStats(projectId, start, end)).toEqual(
      await plainProjectStats(context, projectId, { start, end }),
    );
    expect(await context.ledger.getCostByUser({ projectId, start, end })).toEqual(
      await plainCostByUser(context, projectId, { start, end }),
    );
    // Change each level's copy: the answer shows which pieces were added and which subtracted.
    await shiftLevelCosts(projectId, { month: 1_000, day: 100_000, hour: 10_000_000 });
    const stats = await context.ledger.getProjectExecutionStats(projectId, start, end);
    // March (+ 1,000) less 1 March (day, + 100,000), less 09:00 on 3 March (hour, + 10,000,000),
    // less the entry at 23:50: the runs of 4 and 8 cents.
    expect(stats.total_executions).toBe(2);
    expect(stats.total_cost).toBe(12 + 1_000 - 100_000 - 10_000_000);
    // Minima and maxima cannot be subtracted: agent statistics add finer pieces only (the days
    // from 4 to 30 March, where only 10 March holds a run, and the entries of the cut hour).
    expect(await context.ledger.getAgentCostStats('backend', projectId, start, end)).toMatchObject({
      count: 2,
      total_cost: 12 + 100_000,
      min_cost: 4,
      max_cost: 8,
    });
    await context.ledger.rebuildRollups(projectId);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });
});
