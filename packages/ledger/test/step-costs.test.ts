import {
  describeEachEngine,
  type EngineContext,
  expectLedgerError,
  present,
} from '@execution-ledger/test-support';
import type {
  AnalyticsFilter,
  ExecutionStatus,
  StepCostBreakdown,
  StepCostGroupBy,
  TimeBucket,
} from 'execution-ledger';
import { beforeAll, expect, it } from 'vitest';
import { queryStepCosts, queryStepCostTimeSeries } from '../src/analytics/step-costs.js';
import { type HistoricalRun, insertHistoricalRuns } from './support/historical-runs.js';

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const TOOLS = ['deploy', 'search', 'lint', 'build', 'notify'];
const SERVICES = ['stripe', 'slack', 'kubernetes'];
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude', 'llama'];
const AGENTS = ['backend', 'frontend', 'ops'];
const USERS = ['user-1', 'user-2', 'user-3'];
const STATUSES: ExecutionStatus[] = ['completed', 'failed', 'aborted'];
const START = Date.parse('2026-01-03T05:00:00Z');
const SPAN_MS = 120 * 86_400_000;
const SERIES_START = '2026-02-20T07:31:00Z';
const SERIES_END = '2026-04-17T13:07:00Z';
const HOURLY_END = '2026-02-24T05:00:00Z';
const SERIES_EDGES = [SERIES_START, SERIES_END, HOURLY_END];
// Ranges whose cut days are read from the other side of the cut (the day's rollup rows less the
// entries outside the range: more than half the day is inside) or from the entries inside.
const LONG_CUTS = { start: '2026-02-03T02:00:00Z', end: '2026-03-07T22:30:00Z' };
const SHORT_CUTS = { start: '2026-02-05T20:00:00Z', end: '2026-03-09T04:30:00Z' };
const CUT_EDGES = [...Object.values(LONG_CUTS), ...Object.values(SHORT_CUTS)];

/** Runs spread over four months: typed steps whose costs add up, kind-only steps, free-form steps. */
function makeRuns(next: () => number, count: number, near: string[] = []): HistoricalRun[] {
  const pick = <T>(list: readonly T[]) => present(list[Math.floor(next() * list.length)]);
  // Some runs within a few hours of given instants, so the days and buckets they cut hold runs.
  const close = near.flatMap((instant) =>
    Array.from({ length: 12 }, () => Date.parse(instant) + Math.floor((next() - 0.5) * 8 * 3_600_000)),
  );
  const spread = Array.from({ length: count }, () => START + Math.floor(next() * SPAN_MS));
  const times = [...spread, ...close].sort((a, b) => a - b);
  return times.map((time) => {
    const steps: Record<string, unknown>[] = [];
    let micros = 0;
    const stepCount = Math.floor(next() * 5);
    const costed = next() < 0.8;
    for (let index = 0; index < stepCount; index += 1) {
      const roll = next();
      const cost = Math.floor(next() * 50_000_000);
      const step: Record<string, unknown> =
        roll < 0.35
          ? {
              action: 'ask',
              kind: 'llm',
              model: pick(MODELS),
              tokens: { input: Math.floor(next() * 5000), output: Math.floor(next() * 900), cached_input: 0 },
            }
          : roll < 0.65
            ? {
                action: 'call',
                kind: 'tool',
                name: pick(TOOLS),
                ...(next() < 0.3 ? { model: pick(MODELS) } : {}),
              }
            : roll < 0.8
              ? { action: 'request', kind: 'external', name: pick(SERVICES) }
              : roll < 0.9
                ? { action: 'nameless', kind: 'tool' }
                : { action: 'free-form', result: 'success' };
      step.duration_ms = Math.floor(next() * 1000);
      if (costed && step.kind !== undefined) {
        step.cost = cost / 1_000_000;
        micros += cost;
      }
      steps.push(step);
    }
    const status = pick(STATUSES);
    return {
      createdAt: new Date(time),
      agentId: pick(AGENTS),
      userId: pick(USERS),
      status,
      cost: micros / 1_000_000,
      steps,
    };
  });
}

interface PlainGroup {
  kind: string | null;
  name: string | null;
  model: string | null;
  steps: number;
  cost: string;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
}

/** The reference: every typed step of the matching entries, grouped, as a superuser with no rollup. */
async function plainGroups(
  context: EngineContext,
  projectId: string,
  groupBy: StepCostGroupBy,
  filter: AnalyticsFilter,
): Promise<PlainGroup[]> {
  const params: unknown[] = [
    projectId,
    filter.start?.toISOString() ?? '-infinity',
    filter.end?.toISOString() ?? 'infinity',
  ];
  const clauses = ['e.project_id = $1', 'e.created_at >= $2::timestamptz', 'e.created_at < $3::timestamptz'];
  if (filter.agentId !== undefined) clauses.push(`e.agent_id = $${params.push(filter.agentId)}`);
  if (filter.userId !== undefined) clauses.push(`e.user_id = $${params.push(filter.userId)}`);
  if (filter.status !== undefined)
    clauses.push(`e.status = any($${params.push([filter.status].flat())}::text[])`);
  const keys =
    groupBy === 'model'
      ? `null::text as kind, null::text as name, s.step ->> 'model' as model`
      : `s.step ->> 'kind' as kind, s.step ->> 'name' as name, null::text as model`;
  const where = groupBy === 'model' ? `s.step ? 'model'` : `s.step ->> 'kind' in ('tool', 'external')`;
  const rows = await context.admin(
    `select ${keys}, count(*)::int as steps, coalesce(sum((s.step ->> 'cost')::numeric), 0)::text as cost,
       coalesce(sum((s.step -> 'tokens' ->> 'input')::numeric), 0)::int as input_tokens,
       coalesce(sum((s.step -> 'tokens' ->> 'output')::numeric), 0)::int as output_tokens,
       coalesce(sum((s.step -> 'tokens' ->> 'cached_input')::numeric), 0)::int as cached_input_tokens
     from execution_ledger.executions e
     cross join lateral jsonb_array_elements(e.execution_trace_json -> 'steps') as s(step)
     where ${clauses.join(' and ')} and (s.step ? 'kind' or s.step ? 'cost') and ${where}
     group by 1, 2, 3`,
    params,
  );
  return rows as unknown as PlainGroup[];
}

const keyOf = (group: { kind: string | null; name: string | null; model: string | null }) =>
  JSON.stringify([group.kind, group.name, group.model]);

/** Sums exact decimal texts of cents as micro-cents. */
const micros = (cents: string | number) => BigInt(Math.round(Number(cents) * 1_000_000));

function expectSameGroups(breakdown: StepCostBreakdown, plain: PlainGroup[]): void {
  expect(breakdown.other).toBeNull();
  const actual = new Map(breakdown.top.map((group) => [keyOf(group), group]));
  expect([...actual.keys()].sort()).toEqual(plain.map(keyOf).sort());
  for (const group of plain) {
    const got = present(actual.get(keyOf(group)));
    expect({ ...got, cost: String(got.cost) }).toEqual({ ...group, cost: String(Number(group.cost)) });
  }
  const totalMicros = plain.reduce((sum, group) => sum + micros(group.cost), 0n);
  expect(micros(breakdown.total.cost)).toBe(totalMicros);
  expect(breakdown.total.steps).toBe(plain.reduce((sum, group) => sum + group.steps, 0));
}

describeEachEngine('cost by tool and by model', (context) => {
  let projectId = '';
  const next = random(20261206);

  beforeAll(async () => {
    projectId = context.project('step-costs');
    const tip = await insertHistoricalRuns(
      context,
      projectId,
      makeRuns(next, 300, [...SERIES_EDGES, ...CUT_EDGES]),
    );
    // A second batch continues the chain, so the trigger upserts into existing groups.
    const later = makeRuns(next, 150).map((run) => ({
      ...run,
      createdAt: new Date(run.createdAt.getTime() + SPAN_MS),
    }));
    await insertHistoricalRuns(context, projectId, later, tip);
  }, 120_000);

  const ranges = (): AnalyticsFilter[] => {
    const cut = () => new Date(START + Math.floor(next() * 2 * SPAN_MS));
    const list: AnalyticsFilter[] = [
      {},
      { start: new Date(START + 86_400_000 * 10) },
      { end: new Date(START + 86_400_000 * 40) },
    ];
    for (let index = 0; index < 6; index += 1) {
      const [a, b] = [cut(), cut()].sort((x, y) => x.getTime() - y.getTime());
      list.push({ start: present(a), end: new Date(present(b).getTime() + 1) });
    }
    for (const { start, end } of [LONG_CUTS, SHORT_CUTS])
      list.push({ start: new Date(start), end: new Date(end) });
    // Ranges inside one day (most of it, and a few hours of it), and one of whole UTC days.
    list.push({ start: new Date('2026-02-10T03:17:00Z'), end: new Date('2026-02-10T21:00:00.001Z') });
    list.push({ start: new Date('2026-02-03T00:30:00Z'), end: new Date('2026-02-03T04:00:00Z') });
    list.push({ start: new Date('2026-02-01T00:00:00Z'), end: new Date('2026-03-01T00:00:00Z') });
    return list;
  };

  it('equals a plain aggregate of the steps for every range and filter, by tool and by model', async () => {
    const filters: AnalyticsFilter[] = [
      {},
      { agentId: 'ops' },
      { userId: 'user-2', status: ['failed', 'aborted'] },
    ];
    for (const range of ranges()) {
      for (const extra of filters) {
        const filter = { ...range, ...extra };
        for (const groupBy of ['tool', 'model'] as const) {
          const options = { projectId, ...filter, limit: 1000 };
          const breakdown =
            groupBy === 'tool'
              ? await context.ledger.getCostByTool(options)
              : await context.ledger.getCostByModel(options);
          expectSameGroups(breakdown, await plainGroups(context, projectId, groupBy, filter));
        }
      }
    }
  });

  it('subtracts from a cut day only the steps its rollup rows hold, not entries past the mark', async () => {
    const fresh = context.project('step-cut-marks');
    const day = Date.parse('2026-05-10T00:00:00Z');
    const at = (hours: number) => new Date(day + hours * 3_600_000);
    const run = (createdAt: Date, tool: string): HistoricalRun => ({
      createdAt,
      agentId: 'ops',
      userId: 'user-1',
      status: 'completed',
      cost: 1.25,
      steps: [{ action: 'call', kind: 'tool', name: tool, duration_ms: 5, cost: 1.25 }],
    });
    // Folded: runs through the day, some of them after 20:00.
    const tip = await insertHistoricalRuns(
      context,
      fresh,
      [1, 5, 9, 13, 17, 19.5, 20.25, 20.75].map((hour) => run(at(hour), hour < 20 ? 'deploy' : 'lint')),
    );
    await context.ledger.foldRollups(fresh);
    // 20 of the day's 24 hours are inside: the day is its rollup rows less the entries after 20:00.
    const range = { start: new Date(day - 86_400_000), end: at(20) };
    const database = await context.ledger.database();
    // In Asia/Kolkata the whole UTC day is split at 18:30 (local midnight): its rows go to the
    // longer part's local day and the folded entries after 18:30 move to the next one; the runs
    // past the mark are in no row, so none of them moves.
    const kolkata = {
      projectId: fresh,
      groupBy: 'tool' as const,
      bucket: 'day' as const,
      timeZone: 'Asia/Kolkata',
      start: at(0),
      end: at(24),
    };
    const steps = (series: Awaited<ReturnType<typeof queryStepCostTimeSeries>>) =>
      series.points
        .filter((point) => point.steps !== 0)
        .map((point) => `${point.bucket_local} ${point.key} ${point.steps}`)
        .sort();
    // Read straight from the levels, without the fold a ledger read runs first (and with no fold
    // by another test file's ledger either, while the later runs are pending).
    const { unfolded, unfoldedKolkata } = await context.withoutFolds(fresh, async () => {
      // Not folded yet: later runs of the same day, past the project's mark.
      await insertHistoricalRuns(
        context,
        fresh,
        [21, 22, 23].map((hour) => run(at(hour), 'deploy')),
        tip,
      );
      return {
        unfolded: await queryStepCosts(database, 'tool', { projectId: fresh, ...range, limit: 1000 }),
        unfoldedKolkata: await queryStepCostTimeSeries(database, kolkata),
      };
    });
    expect(steps(unfoldedKolkata)).toEqual([
      '2026-05-10T00:00:00 deploy 5',
      '2026-05-11T00:00:00 deploy 1',
      '2026-05-11T00:00:00 lint 2',
    ]);
    const plain = await plainGroups(context, fresh, 'tool', range);
    expect(plain.map((group) => [group.name, group.steps])).toEqual([['deploy', 6]]);
    expectSameGroups(unfolded, plain);
    expectSameGroups(await context.ledger.getCostByTool({ projectId: fresh, ...range, limit: 1000 }), plain);
    // The same day in a daily series: its bucket is the day's rows less the entries after 20:00, and
    // lint, whose steps all lie outside the range, nets to nothing and is no series.
    const seriesOptions = { projectId: fresh, groupBy: 'tool' as const, bucket: 'day' as const, ...range };
    for (const series of [
      await queryStepCostTimeSeries(database, seriesOptions),
      await context.ledger.getStepCostTimeSeries(seriesOptions),
    ]) {
      expect(series.points.map((point) => [point.bucket_local, point.key, point.steps])).toEqual([
        ['2026-05-09T00:00:00', 'deploy', 0],
        ['2026-05-10T00:00:00', 'deploy', 6],
      ]);
      expect(series.points[1]?.cost).toBe(7.5);
    }
    // Through the ledger, which folds first: the runs past the mark are in the rows now.
    expect(steps(await context.ledger.getStepCostTimeSeries(kolkata))).toEqual([
      '2026-05-10T00:00:00 deploy 5',
      '2026-05-11T00:00:00 deploy 4',
      '2026-05-11T00:00:00 lint 2',
    ]);
  });

  it('lists the costliest groups and sums the rest as other', async () => {
    const full = await context.ledger.getCostByTool({ projectId, limit: 1000 });
    const top = await context.ledger.getCostByTool({ projectId, limit: 3 });
    expect(top.top.map((group) => group.cost)).toEqual(full.top.slice(0, 3).map((group) => group.cost));
    const restMicros = full.top.slice(3).reduce((sum, group) => sum + micros(group.cost), 0n);
    expect(micros(present(top.other).cost)).toBe(restMicros);
    expect(present(top.other).groups).toBe(full.top.length - 3);
    expect(top.total).toEqual(full.total);
    const costs = full.top.map((group) => group.cost);
    expect(costs).toEqual([...costs].sort((a, b) => b - a));
  });

  it('gives time series per tool and per model equal to a plain aggregate, in several time zones', async () => {
    const cases: [TimeBucket, string, StepCostGroupBy][] = [
      ['day', 'UTC', 'tool'],
      ['day', 'Asia/Kolkata', 'model'],
      ['week', 'America/New_York', 'tool'],
      ['hour', 'Australia/Adelaide', 'model'],
      ['day', 'America/New_York', 'model'],
    ];
    for (const [bucket, timeZone, groupBy] of cases) {
      const start = new Date(SERIES_START);
      const end = new Date(bucket === 'hour' ? HOURLY_END : SERIES_END);
      const series = await context.ledger.getStepCostTimeSeries({
        projectId,
        groupBy,
        bucket,
        timeZone,
        start,
        end,
        limit: 1000,
      });
      const keyColumn = groupBy === 'model' ? `s.step ->> 'model'` : `s.step ->> 'name'`;
      const where = groupBy === 'model' ? `s.step ? 'model'` : `s.step ->> 'kind' in ('tool', 'external')`;
      const kindColumn = groupBy === 'model' ? 'null::text' : `s.step ->> 'kind'`;
      const plain = await context.admin(
        `select to_char(date_trunc($2, e.created_at at time zone $3), 'YYYY-MM-DD"T"HH24:MI:SS') as label,
           ${kindColumn} as kind, ${keyColumn} as key, count(*)::int as steps,
           coalesce(sum((s.step ->> 'cost')::numeric), 0)::text as cost
         from execution_ledger.executions e
         cross join lateral jsonb_array_elements(e.execution_trace_json -> 'steps') as s(step)
         where e.project_id = $1 and e.created_at >= $4 and e.created_at < $5
           and (s.step ? 'kind' or s.step ? 'cost') and ${where}
         group by 1, 2, 3`,
        [projectId, bucket, timeZone, start.toISOString(), end.toISOString()],
      );
      const expected = new Map(
        plain.map((row) => [JSON.stringify([row.label, row.kind, row.key]), [row.steps, Number(row.cost)]]),
      );
      const actual = new Map(
        series.points
          .filter((point) => point.steps > 0)
          .map((point) => [
            JSON.stringify([point.bucket_local, point.kind, point.key]),
            [point.steps, point.cost],
          ]),
      );
      expect(actual, `${bucket} ${timeZone} ${groupBy}`).toEqual(expected);
      expect(series).toMatchObject({ bucket, time_zone: timeZone, group_by: groupBy });
      // Every group lists every bucket.
      const keys = new Set(series.points.map((point) => JSON.stringify([point.kind, point.key])));
      const labels = new Set(series.points.map((point) => point.bucket_local));
      expect(series.points.length).toBe(keys.size * labels.size);
    }
  });

  it('keeps the step rollups exact: verification passes, and a rebuild changes nothing', async () => {
    const before = await context.ledger.getCostByModel({ projectId, limit: 1000 });
    const report = await context.ledger.verifyRollups(projectId);
    expect(report.steps).toMatchObject({ ok: true, mismatches: [] });
    expect(report.steps.groups_checked).toBeGreaterThan(50);
    expect(report.ok).toBe(true);
    const rebuilt = await context.ledger.rebuildRollups(projectId);
    expect(rebuilt.step_groups).toBe(report.steps.groups_checked);
    expect(await context.ledger.getCostByModel({ projectId, limit: 1000 })).toEqual(before);
  });

  it('names damaged step rollup groups, and a rebuild repairs them', async () => {
    const fresh = context.project('step-damage');
    const runs = makeRuns(random(99), 20).map((run, index) => ({
      ...run,
      createdAt: new Date(Date.parse('2026-03-01T00:00:00Z') + index * 3_600_000),
    }));
    await insertHistoricalRuns(context, fresh, runs);
    const before = await context.ledger.getCostByTool({ projectId: fresh, limit: 1000 });
    // One group changed behind the ledger's back, and one group with no steps behind it.
    await context.admin(
      `update execution_ledger.step_rollups set cost_sum = cost_sum + 1
       where ctid = (select ctid from execution_ledger.step_rollups where project_id = $1 limit 1)`,
      [fresh],
    );
    await context.admin(
      `insert into execution_ledger.step_rollups (project_id, day, agent_id, user_id, status, kind, name, model,
         step_count, cost_sum, input_tokens_sum, output_tokens_sum, cached_input_tokens_sum)
       values ($1, '2020-01-01T00:00Z', 'ghost', 'nobody', 'completed', 'tool', 'ghost', '', 1, 5, 0, 0, 0)`,
      [fresh],
    );
    const report = await context.ledger.verifyRollups(fresh);
    expect(report.ok).toBe(false);
    expect(report.mismatches).toEqual([]);
    expect(report.steps.mismatches.map((mismatch) => mismatch.reason)).toEqual([
      'this step rollup group has no steps behind it',
      expect.stringMatching(/^cost_sum is \S+, the entries give \S+$/),
    ]);
    await context.ledger.rebuildRollups(fresh);
    expect((await context.ledger.verifyRollups(fresh)).ok).toBe(true);
    expect(await context.ledger.getCostByTool({ projectId: fresh, limit: 1000 })).toEqual(before);
  });

  it('answers unfiltered calls from the project level and filtered ones from the full level', async () => {
    const fresh = context.project('step-levels');
    const runs = makeRuns(random(5), 10).map((run, index) => ({
      ...run,
      createdAt: new Date(Date.parse('2026-03-01T00:00:00Z') + index * 3_600_000),
    }));
    await insertHistoricalRuns(context, fresh, runs);
    const all = ['llm', 'tool', 'external', 'agent', 'other'] as const;
    const unfiltered = await context.ledger.getCostByTool({ projectId: fresh, kinds: [...all] });
    const everyStatus: ExecutionStatus[] = ['completed', 'failed', 'aborted'];
    const filtered = await context.ledger.getCostByTool({
      projectId: fresh,
      kinds: [...all],
      status: everyStatus,
    });
    expect(filtered).toEqual(unfiltered);
    // Damage only the project level: the unfiltered answer moves, the filtered one does not.
    await context.admin(
      `update execution_ledger.step_rollups_by_project set cost_sum = cost_sum + 1 where project_id = $1`,
      [fresh],
    );
    const groups = present(
      (
        await context.admin(
          'select count(*)::int as n from execution_ledger.step_rollups_by_project where project_id = $1',
          [fresh],
        )
      )[0],
    ).n as number;
    const moved = await context.ledger.getCostByTool({ projectId: fresh, kinds: [...all] });
    expect(micros(moved.total.cost) - micros(unfiltered.total.cost)).toBe(BigInt(groups) * 1_000_000n);
    expect(
      await context.ledger.getCostByTool({ projectId: fresh, kinds: [...all], status: everyStatus }),
    ).toEqual(filtered);
    const report = await context.ledger.verifyRollups(fresh);
    expect(report.ok).toBe(false);
    expect(report.steps.mismatches.every((mismatch) => mismatch.reason.startsWith('cost_sum is'))).toBe(true);
    expect(report.steps.mismatches[0]).toMatchObject({ agent_id: '*', user_id: '*', status: '*' });
    await context.ledger.rebuildRollups(fresh);
    expect(await context.ledger.getCostByTool({ projectId: fresh, kinds: [...all] })).toEqual(unfiltered);
    expect((await context.ledger.verifyRollups(fresh)).ok).toBe(true);
  });

  it('rolls up steps recorded through the append path too', async () => {
    const fresh = context.project('step-append');
    await context.ledger.run(
      { project_id: fresh, user_id: 'u', agent_id: 'a', intent: 'deploy', input: {} },
      async (ctx) => {
        await ctx.step('deploy', () => ctx.accountToolCall('deploy'));
        await ctx.step('plan', () => ctx.accountTokens(1000, 100, { model: 'gpt-4o' }));
      },
    );
    const byTool = await context.ledger.getCostByTool({ projectId: fresh });
    expect(byTool.top.map((group) => [group.kind, group.name, group.steps])).toEqual([['tool', 'deploy', 1]]);
    const byModel = await context.ledger.getCostByModel({ projectId: fresh });
    expect(byModel.top).toMatchObject([
      { model: 'gpt-4o', steps: 1, input_tokens: 1000, output_tokens: 100 },
    ]);
    expect((await context.ledger.verifyRollups(fresh)).ok).toBe(true);
  });

  it('shows a scoped reader the step costs of the runs they may see, and no others', async () => {
    const mine = context.project('steps-mine');
    const theirs = context.project('steps-theirs');
    const alice = `alice-${mine}`;
    const run = (projectId: string, userId: string, tool: string) =>
      context.ledger.recordExecution({
        run_id: `run-${tool}-${projectId}`,
        project_id: projectId,
        user_id: userId,
        agent_id: 'backend',
        intent: 'deploy',
        input: {},
        cost: 2.5,
        execution_trace: {
          steps: [{ action: tool, kind: 'tool', name: tool, duration_ms: 1, cost: 2.5 }],
          duration_ms: 1,
        },
        status: 'completed',
      });
    await run(mine, alice, 'deploy');
    await run(mine, `bob-${mine}`, 'search');
    await run(theirs, `bob-${mine}`, 'lint');
    const asAlice = context.ledger.as({ userId: alice });
    const seen = await asAlice.getCostByTool();
    expect(seen.top.map((group) => [group.name, group.cost])).toEqual([['deploy', 2.5]]);
    await context.ledger.addProjectMember(mine, alice);
    const member = await asAlice.getCostByTool({ start: new Date(Date.now() - 3_600_000) });
    expect(member.top.map((group) => group.name).sort()).toEqual(['deploy', 'search']);
    expect(member.total.cost).toBe(5);
  });

  it("shows a reader who is no member their own runs' steps over a range that cuts a day", async () => {
    const fresh = context.project('steps-own-cut');
    const alice = `alice-${fresh}`;
    const day = Date.parse('2026-06-10T00:00:00Z');
    const run = (hour: number, userId: string, tool: string): HistoricalRun => ({
      createdAt: new Date(day + hour * 3_600_000),
      agentId: 'ops',
      userId,
      status: 'completed',
      cost: 2,
      steps: [{ action: 'call', kind: 'tool', name: tool, duration_ms: 5, cost: 2 }],
    });
    await insertHistoricalRuns(
      context,
      fresh,
      [1, 5, 9, 13, 17, 21, 22].map((hour) => run(hour, hour % 2 === 1 ? alice : `bob-${fresh}`, 'deploy')),
    );
    await context.ledger.foldRollups(fresh);
    // 20 hours of the day inside: a reader who may see every entry reads the day's rows less the
    // entries after 20:00; alice sees her rows but not the project's fold mark.
    const range = { start: new Date(day - 86_400_000), end: new Date(day + 20 * 3_600_000) };
    const asAlice = context.ledger.as({ userId: alice });
    const seen = await asAlice.getCostByTool({ ...range, limit: 1000 });
    expect(seen.top.map((group) => [group.name, group.steps, group.cost])).toEqual([['deploy', 5, 10]]);
    const series = await asAlice.getStepCostTimeSeries({ groupBy: 'tool', bucket: 'day', ...range });
    expect(series.points.map((point) => [point.bucket_local, point.steps])).toEqual([
      ['2026-06-09T00:00:00', 0],
      ['2026-06-10T00:00:00', 5],
    ]);
    const all = await context.ledger.getCostByTool({ projectId: fresh, ...range, limit: 1000 });
    expect(all.top.map((group) => [group.name, group.steps])).toEqual([['deploy', 5]]);
  });

  it('refuses bad options, naming them', async () => {
    await expectLedgerError(context.ledger.getCostByTool({ limit: 0 }), 'VALIDATION_FAILED', 'limit');
    await expectLedgerError(
      context.ledger.getCostByTool({ kinds: ['robot' as 'tool'] }),
      'VALIDATION_FAILED',
      'kinds',
    );
    const window = { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-02T00:00:00Z') };
    await expectLedgerError(
      context.ledger.getStepCostTimeSeries({ ...window, groupBy: 'agent' as 'tool', bucket: 'day' }),
      'VALIDATION_FAILED',
      'groupBy',
    );
    await expectLedgerError(
      context.ledger.getStepCostTimeSeries({
        ...window,
        groupBy: 'tool',
        bucket: 'day',
        timeZone: 'Mars/Base',
      }),
      'VALIDATION_FAILED',
      'timeZone',
    );
  });
});
