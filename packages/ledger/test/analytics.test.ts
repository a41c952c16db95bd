import { describeEachEngine, expectLedgerError, makeExecution } from '@execution-ledger/test-support';
import { type AnalyticsFilter, type CostTimeSeriesOptions, isLedgerError } from 'execution-ledger';
import { beforeAll, describe, expect, it } from 'vitest';
import { insertHistoricalRuns } from './support/historical-runs.js';

const at = (iso: string) => new Date(iso);

describeEachEngine('analytics', (context) => {
  describe('on an empty set', () => {
    it('give zeros, empty lists and zero-filled buckets, never NaN or null', async () => {
      const projectId = context.project('empty');
      const filter: AnalyticsFilter = { projectId };
      const { ledger } = context;
      expect(await ledger.getProjectExecutionStats(projectId)).toEqual({
        total_executions: 0,
        successful: 0,
        failed: 0,
        aborted: 0,
        total_cost: 0,
        avg_cost: 0,
        avg_duration_ms: 0,
        by_agent: {},
      });
      expect(await ledger.getAgentCostStats('backend', projectId)).toMatchObject({
        count: 0,
        total_cost: 0,
        avg_cost: 0,
        min_cost: 0,
        max_cost: 0,
      });
      expect(await ledger.getExecutionPercentiles(filter)).toEqual({
        count: 0,
        cost: { p50: 0, p95: 0, p99: 0 },
        duration_ms: { p50: 0, p95: 0, p99: 0 },
      });
      expect(await ledger.getCostByPart(filter)).toEqual({
        count: 0,
        total_cost: 0,
        parts: { tokens: 0, toolCalls: 0, externalRequests: 0, penalties: 0 },
        unattributed_cost: 0,
      });
      expect(await ledger.getCostByUser(filter)).toEqual([]);
      expect(await ledger.getMostExpensiveRuns(filter)).toEqual([]);
      expect((await ledger.listExecutionsByProject(projectId)).total).toBe(0);
      const series = await ledger.getCostTimeSeries({
        projectId,
        bucket: 'day',
        start: at('2026-02-10T00:00:00Z'),
        end: at('2026-02-13T00:00:00Z'),
      });
      expect(
        series.points.map((point) => [point.bucket_start, point.count, point.total_cost, point.avg_cost]),
      ).toEqual([
        ['2026-02-10T00:00:00.000Z', 0, 0, 0],
        ['2026-02-11T00:00:00.000Z', 0, 0, 0],
        ['2026-02-12T00:00:00.000Z', 0, 0, 0],
      ]);
      const grouped = await ledger.getCostTimeSeries({
        projectId,
        bucket: 'day',
        groupBy: 'agent',
        start: at('2026-02-10T00:00:00Z'),
        end: at('2026-02-13T00:00:00Z'),
      });
      expect(grouped.points).toEqual([]);
    });
  });

  describe('on runs spread over hours', () => {
    const projectId = context.project('hours');
    beforeAll(async () => {
      await insertHistoricalRuns(context, projectId, [
        { createdAt: at('2026-02-13T10:10:00Z'), cost: 1, durationMs: 100, userId: 'ann' },
        { createdAt: at('2026-02-13T10:50:00Z'), cost: 2, durationMs: 200, userId: 'bob', agentId: 'devops' },
        {
          createdAt: at('2026-02-13T11:20:00Z'),
          cost: { total: 4, breakdown: { tokens: 1.5, penalties: 0.5, gpu: 2 } },
          durationMs: 400,
          userId: 'bob',
          status: 'failed',
        },
        { createdAt: at('2026-02-13T12:40:00Z'), cost: 8, durationMs: 800, userId: 'cy', status: 'aborted' },
      ]);
    });

    it('count only the runs inside a range that cuts hours at both ends', async () => {
      const stats = await context.ledger.getProjectExecutionStats(
        projectId,
        at('2026-02-13T10:30:00Z'),
        at('2026-02-13T12:45:00Z'),
      );
      expect(stats).toEqual({
        total_executions: 3,
        successful: 1,
        failed: 1,
        aborted: 1,
        total_cost: 14,
        avg_cost: 4.666667,
        avg_duration_ms: 467,
        by_agent: { backend: { count: 2, cost: 12 }, devops: { count: 1, cost: 2 } },
      });
      const inside = await context.ledger.getAgentCostStats(
        'backend',
        projectId,
        at('2026-02-13T10:05:00Z'),
        at('2026-02-13T10:15:00Z'),
      );
      expect(inside).toMatchObject({ count: 1, total_cost: 1, min_cost: 1, max_cost: 1 });
      const wholeHour = await context.ledger.getAgentCostStats(
        'backend',
        projectId,
        at('2026-02-13T11:00:00Z'),
        at('2026-02-13T12:00:00Z'),
      );
      expect(wholeHour).toMatchObject({ count: 1, total_cost: 4, avg_cost: 4 });
    });

    it('split cost by breakdown part, with runs recorded without a breakdown as unattributed', async () => {
      expect(await context.ledger.getCostByPart({ projectId })).toEqual({
        count: 4,
        total_cost: 15,
        parts: { tokens: 1.5, toolCalls: 0, externalRequests: 0, penalties: 0.5, gpu: 2 },
        unattributed_cost: 11,
      });
      expect(await context.ledger.getCostByPart({ projectId, status: ['failed', 'aborted'] })).toMatchObject({
        count: 2,
        unattributed_cost: 8,
      });
    });

    it('rank users by cost and honour the limit', async () => {
      expect(await context.ledger.getCostByUser({ projectId })).toEqual([
        { user_id: 'cy', count: 1, total_cost: 8, avg_cost: 8 },
        { user_id: 'bob', count: 2, total_cost: 6, avg_cost: 3 },
        { user_id: 'ann', count: 1, total_cost: 1, avg_cost: 1 },
      ]);
      const top = await context.ledger.getCostByUser({
        projectId,
        limit: 1,
        end: at('2026-02-13T12:00:00Z'),
      });
      expect(top).toEqual([{ user_id: 'bob', count: 2, total_cost: 6, avg_cost: 3 }]);
    });

    it('list the most expensive runs as full records, highest first', async () => {
      const runs = await context.ledger.getMostExpensiveRuns({ projectId, limit: 3 });
      expect(runs.map((run) => [run.cost_json.total, run.user_id, run.status])).toEqual([
        [8, 'cy', 'aborted'],
        [4, 'bob', 'failed'],
        [2, 'bob', 'completed'],
      ]);
      expect(runs[0]?.entry_hash).toMatch(/^[0-9a-f]{64}$/);
    });

    it('give nearest-rank percentiles of cost and duration', async () => {
      expect(await context.ledger.getExecutionPercentiles({ projectId })).toEqual({
        count: 4,
        cost: { p50: 2, p95: 8, p99: 8 },
        duration_ms: { p50: 200, p95: 800, p99: 800 },
      });
      expect(await context.ledger.getExecutionPercentiles({ projectId, agentId: 'devops' })).toMatchObject({
        count: 1,
        cost: { p50: 2, p95: 2, p99: 2 },
      });
    });

    it('give hourly buckets per status, every status on every hour', async () => {
      const series = await context.ledger.getCostTimeSeries({
        projectId,
        bucket: 'hour',
        groupBy: 'status',
        start: at('2026-02-13T10:30:00Z'),
        end: at('2026-02-13T12:00:00Z'),
      });
      expect(
        series.points.map((point) => [point.bucket_local, point.key, point.count, point.total_cost]),
      ).toEqual([
        ['2026-02-13T10:00:00', 'completed', 1, 2],
        ['2026-02-13T10:00:00', 'failed', 0, 0],
        ['2026-02-13T11:00:00', 'completed', 0, 0],
        ['2026-02-13T11:00:00', 'failed', 1, 4],
      ]);
    });

    it('report list totals from the rollups, also for a range and a status', async () => {
      expect((await context.ledger.listExecutionsByProject(projectId, 1)).total).toBe(4);
      const page = await context.ledger.listExecutions(
        { projectId, status: 'completed', startDate: at('2026-02-13T10:30:00Z') },
        { limit: 1 },
      );
      expect(page.total).toBe(1);
    });
  });

  it('refuse a time series of more points than the bound, naming groupBy', async () => {
    const projectId = context.project('points');
    // 21 users over 5,000 hourly buckets: 105,000 points, past TIME_SERIES_POINTS_MAX.
    await context.ledger.recordExecutions(
      Array.from({ length: 21 }, (_, user) => makeExecution(projectId, { user_id: `user-${user}` })),
    );
    const end = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
    const start = new Date(end.getTime() - 5_000 * 3_600_000);
    const error = await expectLedgerError(
      context.ledger.getCostTimeSeries({ projectId, bucket: 'hour', groupBy: 'user', start, end }),
      'VALIDATION_FAILED',
      'groupBy',
    );
    expect(error.message).toContain('would have more than 100000 points');
    const fewer = await context.ledger.getCostTimeSeries({
      projectId,
      bucket: 'day',
      groupBy: 'user',
      start,
      end,
    });
    expect(fewer.points.reduce((sum, point) => sum + point.count, 0)).toBe(21);
  });

  describe('refuse bad input with VALIDATION_FAILED', () => {
    const base: CostTimeSeriesOptions = {
      projectId: 'proj-x',
      bucket: 'day',
      start: at('2026-02-01T00:00:00Z'),
      end: at('2026-02-02T00:00:00Z'),
    };
    const cases: [string, () => Promise<unknown>, string][] = [
      [
        'an unknown bucket',
        () => context.ledger.getCostTimeSeries({ ...base, bucket: 'minute' as 'day' }),
        'bucket',
      ],
      [
        'an unknown grouping',
        () => context.ledger.getCostTimeSeries({ ...base, groupBy: 'model' as 'agent' }),
        'groupBy',
      ],
      [
        'an unknown time zone',
        () => context.ledger.getCostTimeSeries({ ...base, timeZone: 'Mars/Olympus' }),
        'timeZone',
      ],
      [
        'a POSIX offset as a zone',
        () => context.ledger.getCostTimeSeries({ ...base, timeZone: '+05:30' }),
        'timeZone',
      ],
      [
        'an end before the start',
        () => context.ledger.getCostTimeSeries({ ...base, end: base.start }),
        'end',
      ],
      [
        'a missing start',
        () => context.ledger.getCostTimeSeries({ ...base, start: undefined as unknown as Date }),
        'start',
      ],
      [
        'too many buckets',
        () => context.ledger.getCostTimeSeries({ ...base, bucket: 'hour', end: at('2027-02-01T00:00:00Z') }),
        'end',
      ],
      ['an invalid date', () => context.ledger.getCostByPart({ start: new Date('nope') }), 'start'],
      [
        'an unknown status',
        () => context.ledger.getExecutionPercentiles({ status: 'lost' as 'failed' }),
        'status',
      ],
      ['an empty project id', () => context.ledger.getCostByUser({ projectId: '' }), 'projectId'],
      ['a limit of zero', () => context.ledger.getMostExpensiveRuns({ limit: 0 }), 'limit'],
      ['a limit above the page maximum', () => context.ledger.getCostByUser({ limit: 1001 }), 'limit'],
    ];
    for (const [what, call, field] of cases) {
      it(`such as ${what}, naming the field`, async () => {
        const error = await call().catch((caught: unknown) => caught);
        expect(isLedgerError(error, 'VALIDATION_FAILED')).toBe(true);
        expect((error as { field?: string }).field).toBe(field);
      });
    }
  });
});
