import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import type { ExecutionInput, LedgerEvent } from 'execution-ledger';
import { afterAll, beforeAll, expect, it } from 'vitest';

/** A seeded generator, so every run of the suite sees the same series. */
function normals(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

const round6 = (value: number) => Math.round(value * 1_000_000) / 1_000_000;

function run(project: string, agent: string, cents: number, durationMs: number): ExecutionInput {
  return makeExecution(project, {
    agent_id: agent,
    cost: { total: cents, breakdown: { tokens: cents } },
    execution_trace: { steps: [], duration_ms: durationMs },
  });
}

/** Log-normal costs around 50 cents (σ 0.5) and durations around 2 s (σ 0.4). */
function series(project: string, agent: string, count: number, seed: number): ExecutionInput[] {
  const z = normals(seed);
  return Array.from({ length: count }, () =>
    run(
      project,
      agent,
      round6(Math.exp(Math.log(50) + 0.5 * z())),
      Math.round(Math.exp(Math.log(2000) + 0.4 * z())),
    ),
  );
}

async function record(
  context: { ledger: { recordExecutions(executions: ExecutionInput[]): Promise<unknown> } },
  runs: ExecutionInput[],
) {
  for (let index = 0; index < runs.length; index += 100)
    await context.ledger.recordExecutions(runs.slice(index, index + 100));
}

async function anomaliesOf(
  context: {
    ledger: { events: { list(o: object): Promise<{ events: LedgerEvent[]; next_cursor: string }> } };
  },
  project: string,
) {
  const events: LedgerEvent[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await context.ledger.events.list({
      project_id: project,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    events.push(...page.events);
    if (page.events.length === 0) return events.filter((event) => event.type.startsWith('anomaly.'));
    cursor = page.next_cursor;
  }
}

describeEachEngine('anomaly detection', (context) => {
  beforeAll(async () => {
    await context.ledger.anomalies.configure({ enabled: true });
  });
  afterAll(async () => {
    await context.ledger.anomalies.configure({ enabled: false });
  });

  it('flags fewer than 1% of runs of a stationary log-normal series', async () => {
    const project = context.project('stationary');
    const runs = series(project, 'steady', 1000, 7);
    await record(context, runs);
    const flagged = await anomaliesOf(context, project);
    const cost = flagged.filter((event) => event.type === 'anomaly.cost').length;
    const duration = flagged.filter((event) => event.type === 'anomaly.duration').length;
    console.log(`stationary log-normal, 1000 runs: ${cost} cost and ${duration} duration flags`);
    expect(cost / runs.length).toBeLessThan(0.01);
    expect(duration / runs.length).toBeLessThan(0.01);
  });

  it('finds spikes injected in cost and in duration, naming the run, value, baseline and score', async () => {
    const project = context.project('spikes');
    const runs = series(project, 'spiky', 400, 11);
    const costSpikes = [60, 110, 170, 230, 290, 350].map((index) => present(runs[index]));
    const durationSpikes = [80, 140, 200, 260, 320, 380].map((index) => present(runs[index]));
    for (const spike of costSpikes)
      spike.cost = {
        total: 20 * (spike.cost as { total: number }).total,
        breakdown: { tokens: 20 * (spike.cost as { total: number }).total },
      };
    for (const spike of durationSpikes)
      spike.execution_trace = { steps: [], duration_ms: 20 * spike.execution_trace.duration_ms };
    await record(context, runs);
    const flagged = await anomaliesOf(context, project);
    const costRuns = flagged.filter((event) => event.type === 'anomaly.cost').map((event) => event.run_id);
    const durationRuns = flagged
      .filter((event) => event.type === 'anomaly.duration')
      .map((event) => event.run_id);
    expect(costRuns).toEqual(expect.arrayContaining(costSpikes.map((spike) => spike.run_id)));
    expect(durationRuns).toEqual(expect.arrayContaining(durationSpikes.map((spike) => spike.run_id)));
    expect(costRuns.length).toBeLessThanOrEqual(costSpikes.length + 4);
    const event = present(flagged.find((candidate) => candidate.run_id === costSpikes[0]?.run_id));
    expect(event).toMatchObject({ type: 'anomaly.cost', project_id: project, agent_id: 'spiky' });
    expect(event.payload).toMatchObject({
      metric: 'cost',
      value: (present(costSpikes[0]).cost as { total: number }).total,
      window_runs: 50,
    });
    expect(Number(event.payload.score)).toBeGreaterThan(3.5);
    expect(Number(event.payload.baseline_median)).toBeGreaterThan(30);
    expect(Number(event.payload.baseline_median)).toBeLessThan(80);
    const dismissed = present(await context.ledger.events.dismiss(event.id, { note: 'a planned load test' }));
    expect(dismissed.payload).toMatchObject({ event_id: event.id, event_type: 'anomaly.cost' });
  });

  it('scores a constant series (MAD 0) by its rule: any rise is flagged, the same value never', async () => {
    const project = context.project('constant');
    await record(
      context,
      Array.from({ length: 30 }, () => run(project, 'flat', 10, 100)),
    );
    await context.ledger.recordExecution(run(project, 'flat', 10, 100));
    expect(await anomaliesOf(context, project)).toEqual([]);
    const rise = run(project, 'flat', 11, 100);
    await context.ledger.recordExecution(rise);
    const [event] = await anomaliesOf(context, project);
    expect(event).toMatchObject({ type: 'anomaly.cost', run_id: rise.run_id });
    expect(event?.payload.score).toBeNull();
  });

  it("flags a day's spend far above its recent baseline once", async () => {
    const project = context.project('daily');
    const z = normals(3);
    for (let day = 1; day <= 14; day += 1) {
      await context.admin(
        `insert into execution_ledger.anomaly_daily (project_id, agent_id, day, spent_micros)
         values ($1, 'daily-agent', (now() at time zone 'UTC')::date - $2::integer, $3)`,
        [project, day, Math.round((1000 + 100 * z()) * 1_000_000)],
      );
    }
    await context.ledger.recordExecution(run(project, 'daily-agent', 900, 100));
    expect(await anomaliesOf(context, project)).toEqual([]);
    for (let i = 0; i < 3; i += 1)
      await context.ledger.recordExecution(run(project, 'daily-agent', 3000, 100));
    const daily = (await anomaliesOf(context, project)).filter(
      (event) => event.type === 'anomaly.daily_spend',
    );
    expect(daily).toHaveLength(1);
    expect(daily[0]?.payload).toMatchObject({ metric: 'daily_spend', baseline_days: 14 });
  });

  it('flags exactly the runs whose score over the previous 50 runs, sorted afresh, passes the threshold', async () => {
    // Heavy tails put many runs near the threshold, where the trigger's shortcut (a run proven
    // unflaggable without its MAD) must agree with the full computation; batches of 1 to 40 runs.
    const project = context.project('exact');
    const z = normals(17);
    const runs = Array.from({ length: 400 }, (_, index) => {
      const spread = index % 3 === 0 ? 2.4 : 1;
      return run(
        project,
        'exact',
        round6(Math.exp(Math.log(50) + 0.5 * spread * z())),
        Math.round(Math.exp(Math.log(2000) + 0.4 * spread * z())),
      );
    });
    // A lower threshold flags more runs, and more lie near it.
    await context.ledger.anomalies.configure({ threshold: 2.5 });
    try {
      for (let index = 0, size = 1; index < runs.length; index += size, size = (size * 7) % 40 || 1)
        await context.ledger.recordExecutions(runs.slice(index, index + size));
    } finally {
      await context.ledger.anomalies.configure({ threshold: 3.5 });
    }
    const flagged = await anomaliesOf(context, project);
    const expected = await context.admin(
      `with runs as (
         select e.run_id, e.seq, ln(1 + e.cost_total::double precision) as cost,
           ln(1 + e.duration_ms::double precision) as duration, row_number() over (order by e.seq) as n
         from execution_ledger.executions e where e.project_id = $1),
       scored as (
         select r.run_id, r.seq, m.metric,
           execution_ledger.robust_score(m.x, st.r_median, st.r_mad, st.r_mean_ad) as score
         from runs r
         cross join lateral (values ('cost', r.cost), ('duration', r.duration)) as m(metric, x)
         cross join lateral execution_ledger.robust_stats((
           select array_agg(case when m.metric = 'cost' then p.cost else p.duration end order by p.seq)
           from runs p where p.n between r.n - 50 and r.n - 1)) as st
         where r.n > 20)
       select 'anomaly.' || s.metric as type, s.run_id, round(s.score::numeric, 3)::float8 as score
       from scored s where s.score > 2.5 order by s.seq, s.metric`,
      [project],
    );
    expect(expected.length).toBeGreaterThan(20);
    expect(
      flagged.map((event) => ({ type: event.type, run_id: event.run_id, score: event.payload.score })),
    ).toEqual(expected);
  });

  it('keeps each window sorted and reads the median and MAD off it exactly as percentile_cont does', async () => {
    // Seeded windows of every size up to 60, half of them drawn from a few values (ties, MAD 0).
    const z = normals(5);
    const windows = Array.from({ length: 240 }, (_, index) =>
      Array.from({ length: 1 + (index % 60) }, () =>
        index % 2 === 0 ? Math.log(1 + Math.round(Math.abs(z()) * 2)) : Math.log(1 + Math.exp(3 + z())),
      ),
    );
    const [row] = await context.admin(
      `with input as (
         select t.k, array(select e.value::text::double precision from jsonb_array_elements(t.a) as e) as vals
         from jsonb_array_elements($1::jsonb) with ordinality as t(a, k))
       select count(*)::int as windows,
         count(*) filter (where (s.r_median, s.r_mad) is distinct from (p.median, p.mad))::int as differ,
         count(*) filter (where execution_ledger.sorted_window(
             array(select v from unnest(i.vals) as v order by v), i.vals[1:1], 1.5::double precision)
           is distinct from array(select v from unnest(i.vals[2:] || 1.5::double precision) as v order by v))::int
           as unsorted
       from input i
       cross join lateral execution_ledger.sorted_median_mad(array(select v from unnest(i.vals) as v order by v)) s
       cross join lateral (
         select m.median, percentile_cont(0.5) within group (order by abs(u.v - m.median)) as mad
         from (select percentile_cont(0.5) within group (order by v) as median from unnest(i.vals) as v) m
         cross join unnest(i.vals) as u(v) group by m.median) p`,
      [JSON.stringify(windows)],
    );
    expect(row).toEqual({ windows: 240, differ: 0, unsorted: 0 });
  });

  it("writes a day's spend to anomaly_daily once the next day begins for its agent", async () => {
    const project = context.project('rollover');
    await context.ledger.recordExecution(run(project, 'night', 7, 100));
    // The state as the last run of yesterday would have left it.
    await context.admin(
      `update execution_ledger.anomaly_windows set day = day - 1, day_spent_micros = 123000000
       where project_id = $1 and agent_id = 'night'`,
      [project],
    );
    await context.ledger.recordExecution(run(project, 'night', 5, 100));
    const days = await context.admin(
      `select (day = (now() at time zone 'UTC')::date - 1) as yesterday, spent_micros::text as spent
       from execution_ledger.anomaly_daily where project_id = $1 and agent_id = 'night' order by day`,
      [project],
    );
    expect(days).toEqual([{ yesterday: true, spent: '123000000' }]);
    const [state] = await context.admin(
      `select (day = (now() at time zone 'UTC')::date) as today, day_spent_micros::text as spent
       from execution_ledger.anomaly_windows where project_id = $1 and agent_id = 'night'`,
      [project],
    );
    expect(state).toEqual({ today: true, spent: '5000000' });
  });

  it('refuses bad settings and keeps the old ones', async () => {
    await expectLedgerError(
      context.ledger.anomalies.configure({ threshold: 0 }),
      'VALIDATION_FAILED',
      'threshold',
    );
    await expectLedgerError(
      context.ledger.anomalies.configure({ window_runs: 2 }),
      'VALIDATION_FAILED',
      'window_runs',
    );
    await expectLedgerError(
      context.ledger.anomalies.configure({ min_sample: 60 }),
      'VALIDATION_FAILED',
      'min_sample',
    );
    expect(await context.ledger.anomalies.settings()).toEqual({
      enabled: true,
      window_runs: 50,
      threshold: 3.5,
      min_sample: 20,
      daily_days: 14,
      daily_min_days: 7,
    });
  });
});
