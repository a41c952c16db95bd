import { describeEachEngine } from '@execution-ledger/test-support';
import type { ExecutionCost, ExecutionStatus, SeriesGroupBy, TimeBucket } from 'execution-ledger';
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { type HistoricalRun, insertHistoricalRuns } from './support/historical-runs.js';
import {
  plainAgentStats,
  plainCostByPart,
  plainCostByUser,
  plainProjectStats,
  plainTimeSeries,
} from './support/plain-aggregates.js';

const HOUR_MS = 3_600_000;
const WINDOW_MS = 4 * 24 * HOUR_MS;
// Windows of four days around daylight-saving changes: the US spring-forward (8 March 2026), the
// southern fall-back of Lord Howe (30 minutes) and Chatham (5 April 2026), the US fall-back (1 November).
const WINDOW_STARTS = ['2026-03-07', '2026-04-03', '2026-10-30'].map((day) => Date.parse(`${day}T00:00:00Z`));
const TIME_ZONES = [
  'UTC',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'America/New_York',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
];
const AGENTS = ['backend', 'database', 'devops'];

/** An amount of cents with up to six decimals, built from whole micro-cents so sums are exact. */
const microsArb = fc.integer({ min: 0, max: 50_000_000_000 });
const cents = (micros: number) => Number((micros / 1_000_000).toFixed(6));

const costArb: fc.Arbitrary<number | ExecutionCost> = fc.oneof(
  microsArb.map(cents),
  fc
    .record({ tokens: microsArb, toolCalls: microsArb, gpu: fc.option(microsArb, { nil: undefined }) })
    .map(({ tokens, toolCalls, gpu }) => ({
      total: cents(tokens + toolCalls + (gpu ?? 0)),
      breakdown: {
        tokens: cents(tokens),
        toolCalls: cents(toolCalls),
        ...(gpu === undefined ? {} : { gpu: cents(gpu) }),
      },
    })),
);

// A few busy hours hold most runs, and range ends fall inside them: cut hours then really hold
// runs on both sides of the cut.
const HOURS = WINDOW_MS / HOUR_MS;
const busyHoursArb = fc.uniqueArray(fc.integer({ min: 0, max: HOURS - 1 }), { minLength: 1, maxLength: 4 });
const withinHourArb = fc.integer({ min: 0, max: HOUR_MS - 1 });

const runArb = fc.record({
  busy: fc.option(fc.nat(), { freq: 4, nil: undefined }),
  anywhereMs: fc.integer({ min: 0, max: WINDOW_MS - 1 }),
  withinMs: withinHourArb,
  agentId: fc.constantFrom(...AGENTS),
  userId: fc.constantFrom('user-1', 'user-2'),
  status: fc.constantFrom<ExecutionStatus>('completed', 'completed', 'failed', 'aborted'),
  cost: costArb,
  durationMs: fc.integer({ min: 0, max: 600_000 }),
});

// Range ends inside a busy hour, on a whole hour, anywhere, or left open.
const boundArb = fc.oneof(
  fc.record({ busy: fc.nat(), withinMs: withinHourArb }),
  fc.integer({ min: -1, max: HOURS + 1 }).map((hour) => ({ offsetMs: hour * HOUR_MS })),
  fc.integer({ min: -HOUR_MS, max: WINDOW_MS + HOUR_MS }).map((offsetMs) => ({ offsetMs })),
  fc.constant(undefined),
);

const caseArb = fc.record({
  windowStart: fc.constantFrom(...WINDOW_STARTS),
  busyHours: busyHoursArb,
  runs: fc.array(runArb, { minLength: 5, maxLength: 60 }),
  statements: fc.integer({ min: 1, max: 3 }),
  start: boundArb,
  end: boundArb,
  timeZone: fc.constantFrom(...TIME_ZONES),
  bucket: fc.constantFrom<TimeBucket>('hour', 'day', 'week'),
  groupBy: fc.constantFrom<SeriesGroupBy>('none', 'agent', 'user', 'status'),
});

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

/** Where a run or a range end falls, in ms after the window's start. */
function offsetOf(
  sample: Case,
  at: { busy?: number | undefined; withinMs?: number; offsetMs?: number; anywhereMs?: number },
) {
  if (at.busy !== undefined) {
    const hour = sample.busyHours[at.busy % sample.busyHours.length] ?? 0;
    return hour * HOUR_MS + (at.withinMs ?? 0);
  }
  return at.offsetMs ?? at.anywhereMs ?? 0;
}

describeEachEngine('analytics from rollups equal plain aggregates over the entries', (context) => {
  beforeAll(async () => {
    // On PGlite the ledger shares this session: a far-off session zone must change nothing.
    if (context.engine === 'pglite') await context.admin(`set timezone to 'Pacific/Chatham'`);
  });

  it('gives identical statistics, parts, users, totals and time series on random runs and ranges', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (sample) => {
        const projectId = context.project('prop');
        const runs: HistoricalRun[] = sample.runs
          .map((run) => ({
            agentId: run.agentId,
            userId: run.userId,
            status: run.status,
            cost: run.cost,
            durationMs: run.durationMs,
            createdAt: new Date(sample.windowStart + offsetOf(sample, run)),
          }))
          .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
        // Several statements, so rollup rows of one hour are merged by the trigger's upsert.
        let tip: Awaited<ReturnType<typeof insertHistoricalRuns>> | undefined;
        const size = Math.ceil(runs.length / sample.statements);
        for (let index = 0; index < runs.length; index += size) {
          tip = await insertHistoricalRuns(context, projectId, runs.slice(index, index + size), tip);
        }
        const at = (bound: Case['start']) =>
          bound === undefined ? undefined : new Date(sample.windowStart + offsetOf(sample, bound));
        const range = { start: at(sample.start), end: at(sample.end) };
        const { ledger } = context;

        expect(await ledger.getProjectExecutionStats(projectId, range.start, range.end)).toEqual(
          await plainProjectStats(context, projectId, range),
        );
        for (const agentId of AGENTS) {
          expect(await ledger.getAgentCostStats(agentId, projectId, range.start, range.end)).toEqual(
            await plainAgentStats(context, agentId, projectId, range),
          );
        }
        const filter = { projectId, ...definedRange(range) };
        expect(await ledger.getCostByPart(filter)).toEqual(await plainCostByPart(context, projectId, range));
        expect(await ledger.getCostByUser(filter)).toEqual(await plainCostByUser(context, projectId, range));
        const page = await ledger.listExecutions(
          {
            projectId,
            ...(range.start ? { startDate: range.start } : {}),
            ...(range.end ? { endDate: range.end } : {}),
          },
          { limit: 1 },
        );
        expect(page.total).toBe((await plainProjectStats(context, projectId, range)).total_executions);

        await checkTimeSeries(projectId, sample, range);
      }),
      { numRuns: 20 },
    );
  });

  async function checkTimeSeries(
    projectId: string,
    sample: { windowStart: number; timeZone: string; bucket: TimeBucket; groupBy: SeriesGroupBy },
    range: { start: Date | undefined; end: Date | undefined },
  ): Promise<void> {
    const start = range.start ?? new Date(sample.windowStart - HOUR_MS);
    const end = range.end ?? new Date(sample.windowStart + WINDOW_MS + HOUR_MS);
    if (end <= start) return;
    const series = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: sample.bucket,
      groupBy: sample.groupBy,
      start,
      end,
      timeZone: sample.timeZone,
    });
    const plain = await plainTimeSeries(
      context,
      projectId,
      { start, end },
      sample.bucket,
      sample.groupBy,
      sample.timeZone,
    );
    expect(series.points.filter((point) => point.count > 0)).toEqual(plain);
    // Dense: every series lists the same buckets, in time order, and empty ones hold zeros.
    const bucketsOf = (key: string | null) =>
      series.points.filter((point) => point.key === key).map((point) => point.bucket_start);
    const keys = [...new Set(series.points.map((point) => point.key))];
    for (const key of keys) expect(bucketsOf(key)).toEqual(bucketsOf(keys[0] ?? null));
    for (const point of series.points.filter((candidate) => candidate.count === 0)) {
      expect([point.total_cost, point.avg_cost, point.min_cost, point.max_cost]).toEqual([0, 0, 0, 0]);
    }
  }
});

function definedRange(range: { start: Date | undefined; end: Date | undefined }): {
  start?: Date;
  end?: Date;
} {
  return { ...(range.start ? { start: range.start } : {}), ...(range.end ? { end: range.end } : {}) };
}
