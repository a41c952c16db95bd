// The measures of the real-density analytics benchmark (bench/analytics-density.js): each
// statistic through the library beside the same aggregate in plain SQL over the entries, and on
// PostgreSQL the rows each one read from the rollup levels and from the entries.
import { createLedger } from 'execution-ledger';
import { AGENTS } from './density-data.js';
import { percentile } from './report.js';

const BIG = 'proj-000';
const DAY_MS = 86_400_000;
const E = 'execution_ledger.executions e';
const RANGE = `e.created_at >= $2::timestamptz and e.created_at < $3::timestamptz`;

// The plain aggregates: the same numbers, read from every matching entry.
const PLAIN = {
  projectStats: [
    `select count(*)::text as total, count(*) filter (where e.status = 'completed')::text as successful,
       count(*) filter (where e.status = 'failed')::text as failed, count(*) filter (where e.status = 'aborted')::text as aborted,
       coalesce(sum(e.cost_total), 0)::text as total_cost, coalesce(round(avg(e.cost_total), 6), 0)::text as avg_cost,
       coalesce(round(avg(e.duration_ms)), 0)::text as avg_duration_ms
     from ${E} where e.project_id = $1 and ${RANGE}`,
    `select e.agent_id, count(*)::text as count, sum(e.cost_total)::text as cost
     from ${E} where e.project_id = $1 and ${RANGE} group by e.agent_id`,
  ],
  agentStats: [
    `select count(*)::text as count, coalesce(sum(e.cost_total), 0)::text, coalesce(round(avg(e.cost_total), 6), 0)::text,
       coalesce(min(e.cost_total), 0)::text, coalesce(max(e.cost_total), 0)::text
     from ${E} where e.agent_id = $1 and ${RANGE}`,
  ],
  costByPart: [
    `select count(*)::text, coalesce(sum(e.cost_total), 0)::text from ${E} where e.project_id = $1 and ${RANGE}`,
    `select p.key, sum(p.value::numeric)::text from ${E}, jsonb_each_text(e.cost_json -> 'breakdown') p
     where e.project_id = $1 and ${RANGE} group by p.key`,
  ],
  costByUser: [
    `select e.user_id, count(*)::text, sum(e.cost_total)::text, round(avg(e.cost_total), 6)::text
     from ${E} where e.project_id = $1 and ${RANGE}
     group by e.user_id order by sum(e.cost_total) desc, e.user_id limit 100`,
  ],
  // Steps are elements of each entry's trace: every matching entry's steps unnested and grouped.
  costByTool: [
    `select s ->> 'kind', s ->> 'name', count(*)::text, sum((s ->> 'cost')::numeric)::text
     from ${E}, jsonb_array_elements(e.execution_trace_json -> 'steps') s
     where e.project_id = $1 and ${RANGE} and s ->> 'kind' in ('tool', 'external')
     group by 1, 2 order by sum((s ->> 'cost')::numeric) desc`,
  ],
  costByModel: [
    `select s ->> 'model', count(*)::text, sum((s ->> 'cost')::numeric)::text,
       sum((s -> 'tokens' ->> 'input')::bigint)::text
     from ${E}, jsonb_array_elements(e.execution_trace_json -> 'steps') s
     where e.project_id = $1 and ${RANGE} and s ? 'model'
     group by 1 order by sum((s ->> 'cost')::numeric) desc`,
  ],
  seriesByAgent: (zone) => [
    `select date_trunc('day', e.created_at, '${zone}') as day, e.agent_id, count(*)::text, sum(e.cost_total)::text,
       min(e.cost_total)::text, max(e.cost_total)::text
     from ${E} where e.project_id = $1 and ${RANGE} group by 1, 2 order by 1, 2`,
  ],
};

export async function measureDensity(report, engine, { ledger, db, admin, endMs }) {
  const big = await bigProjectFacts(admin);
  const runs = big.total_runs;
  const tenMillion = runs >= 5_000_000;
  report.note(
    `${engine}: ${runs.toLocaleString('en')} runs; ${BIG} holds ${big.runs.toLocaleString('en')}; rollup rows of ${BIG} per level: ${big.levels}`,
  );
  // "Now" is a few minutes before the data ends, so the last 30 days cut an hour at both ends.
  const now = new Date(endMs - 7 * 60_000 - 13_250);
  const monthAgo = new Date(now.getTime() - 30 * DAY_MS);
  const open = ['-infinity', 'infinity'];
  const last30 = [monthAgo.toISOString(), now.toISOString()];
  const agent = AGENTS[0];
  // A cost ranking answers with steps, not runs: the runs it covers are the range's.
  const runsLast30 = (await ledger.getProjectExecutionStats(BIG, monthAgo, now)).total_executions;
  // The largest project reports in Kolkata (docs/analytics.md, "Days in your time zone"): adding
  // the zone fills its days from the entries (again, on a reused database).
  const filling = performance.now();
  const kept = await ledger.addRollupTimeZone(BIG, 'Asia/Kolkata');
  report.record(
    engine,
    `addRollupTimeZone, largest project, Asia/Kolkata`,
    `${((performance.now() - filling) / 1000).toFixed(1)} s`,
    `${kept.groups.toLocaleString('en')} local-day groups`,
    '',
    null,
  );
  const statGoal =
    engine === 'pglite' ? { ratio: 5 } : { ratio: tenMillion ? 0 : 20, p50: tenMillion ? 20 : 10 };
  const cases = [
    {
      measure: `project stats, largest project (${big.runs.toLocaleString('en')} runs), all time`,
      ours: (l) => l.getProjectExecutionStats(BIG),
      plain: [PLAIN.projectStats, [BIG, ...open]],
      goal: statGoal,
      covered: (answer) => answer.total_executions,
    },
    {
      measure: 'project stats, largest project, last 30 days',
      ours: (l) => l.getProjectExecutionStats(BIG, monthAgo, now),
      plain: [PLAIN.projectStats, [BIG, ...last30]],
      goal: statGoal,
      covered: (answer) => answer.total_executions,
    },
    {
      measure: 'agent stats, one agent, all projects',
      ours: (l) => l.getAgentCostStats(agent),
      plain: [PLAIN.agentStats, [agent, ...open]],
      goal: statGoal,
      covered: (answer) => answer.count,
    },
    {
      measure: 'cost by part, largest project, all time',
      ours: (l) => l.getCostByPart({ projectId: BIG }),
      plain: [PLAIN.costByPart, [BIG, ...open]],
      goal: tenMillion ? {} : statGoal,
      covered: (answer) => answer.count,
    },
    {
      measure: 'cost by user, largest project, all time',
      ours: (l) => l.getCostByUser({ projectId: BIG }),
      plain: [PLAIN.costByUser, [BIG, ...open]],
      goal: tenMillion ? {} : statGoal,
      // Ranking needs every user's total: the call covers every run of the project.
      covered: () => big.runs,
    },
    {
      measure: 'cost by tool, largest project, all time',
      ours: (l) => l.getCostByTool({ projectId: BIG }),
      plain: [PLAIN.costByTool, [BIG, ...open]],
      goal: tenMillion ? {} : statGoal,
      covered: () => big.runs,
    },
    {
      measure: 'cost by model, largest project, all time',
      ours: (l) => l.getCostByModel({ projectId: BIG }),
      plain: [PLAIN.costByModel, [BIG, ...open]],
      goal: tenMillion ? {} : statGoal,
      covered: () => big.runs,
    },
    {
      measure: 'cost by tool, largest project, last 30 days',
      ours: (l) => l.getCostByTool({ projectId: BIG, start: monthAgo, end: now }),
      plain: [PLAIN.costByTool, [BIG, ...last30]],
      goal: tenMillion ? { p50: 30 } : statGoal,
      covered: () => runsLast30,
    },
    {
      measure: 'cost by model, largest project, last 30 days',
      ours: (l) => l.getCostByModel({ projectId: BIG, start: monthAgo, end: now }),
      plain: [PLAIN.costByModel, [BIG, ...last30]],
      goal: tenMillion ? { p50: 30 } : statGoal,
      covered: () => runsLast30,
    },
    {
      measure: 'time series, largest project, 30 days by day by agent (UTC)',
      ours: (l) => series(l, monthAgo, now, 'UTC'),
      plain: [PLAIN.seriesByAgent('UTC'), [BIG, ...last30]],
      goal: engine === 'pglite' ? { ratio: 5 } : { p50: tenMillion ? 30 : 15 },
      covered: (answer) => answer.points.reduce((sum, point) => sum + point.count, 0),
    },
    {
      measure: 'time series, largest project, 30 days by day by agent (Asia/Kolkata, zone kept)',
      ours: (l) => series(l, monthAgo, now, 'Asia/Kolkata'),
      plain: [PLAIN.seriesByAgent('Asia/Kolkata'), [BIG, ...last30]],
      goal: {},
      covered: (answer) => answer.points.reduce((sum, point) => sum + point.count, 0),
    },
    {
      // A zone the project does not keep: its local days are read as UTC hours and entries.
      measure: 'time series, largest project, 30 days by day by agent (Asia/Kathmandu, not kept)',
      ours: (l) => series(l, monthAgo, now, 'Asia/Kathmandu'),
      plain: [PLAIN.seriesByAgent('Asia/Kathmandu'), [BIG, ...last30]],
      goal: {},
      covered: (answer) => answer.points.reduce((sum, point) => sum + point.count, 0),
    },
  ];
  for (const item of cases) {
    // The steady state a dashboard sees: every pooled connection has prepared the statement.
    // Interleaved rounds: on a shared machine the load changes within a minute, and both sides
    // of a ratio must see the same load.
    const plainReps = engine === 'pglite' || runs > 2_000_000 ? 5 : 10;
    const fastRuns = [];
    const plainRuns = [];
    await time(12, () => item.ours(ledger), 0);
    for (let round = 0; round < ROUNDS; round += 1) {
      fastRuns.push(...(await time(30 / ROUNDS, () => item.ours(ledger), 0)).latencies);
      plainRuns.push(
        ...(
          await time(
            Math.max(1, Math.round(plainReps / ROUNDS)),
            async () => {
              for (const sql of item.plain[0]) await db.query(sql, item.plain[1]);
            },
            round === 0 ? 1 : 0,
          )
        ).latencies,
      );
    }
    const fast = summary(fastRuns);
    const plain = summary(plainRuns);
    const ratio = plain.p50 / fast.p50;
    const met = [];
    if (item.goal.ratio) met.push(ratio >= item.goal.ratio);
    if (item.goal.p50) met.push(fast.p50 <= item.goal.p50);
    const goal = [
      item.goal.ratio ? `>= ${item.goal.ratio}x` : '',
      item.goal.p50 ? `p50 <= ${item.goal.p50} ms` : '',
    ]
      .filter(Boolean)
      .join(', ');
    report.record(
      engine,
      item.measure,
      `p50 ${fast.p50} ms, p99 ${fast.p99} ms`,
      `plain p50 ${plain.p50} ms; ${ratio.toFixed(1)}x`,
      goal,
      met.length === 0 ? null : met.every(Boolean),
    );
  }
  await checkAnswers(ledger, db, engine);
  const percentiles = await time(5, () => ledger.getExecutionPercentiles({ projectId: BIG }), 1);
  report.record(
    engine,
    'percentiles, largest project (entries, exact)',
    `p50 ${percentiles.p50} ms`,
    '',
    '',
    null,
  );
  // verifyRollups of the largest project re-derives every level from its entries: minutes at
  // 10M runs, so BENCH_VERIFY_ROLLUPS=0 leaves it out (the property tests check the levels).
  if (process.env.BENCH_VERIFY_ROLLUPS === '0') return cases;
  const started = performance.now();
  const verified = await ledger.verifyRollups(BIG);
  if (!verified.ok) throw new Error(`rollups disagree: ${JSON.stringify(verified.mismatches[0])}`);
  report.record(
    engine,
    'verifyRollups, largest project, every level',
    `${((performance.now() - started) / 1000).toFixed(1)} s`,
    verified.levels.map((level) => `${level.level} ${level.groups_checked}`).join(', '),
    '',
    null,
  );
  return cases;
}

/**
 * On PostgreSQL, once every other connection of the benchmark is closed (a closing backend
 * flushes its counters): the rows each measure reads from the rollup levels and from the entries,
 * against the runs it covers. Goal at 10M runs: at most 1/20.
 */
export async function recordRowsRead(report, engine, admin, url, cases) {
  const count = await rowCounter(admin, url);
  // Backends that just closed flush their counters on exit: let that land before the first count.
  await sleep(2_000);
  for (const item of cases) {
    const { rows, answer } = await count(item.ours);
    const covered = item.covered(answer);
    const perRow = covered / Math.max(1, rows.rollups + rows.entries);
    report.record(
      engine,
      `rows read: ${item.measure}`,
      `${rows.rollups.toLocaleString('en')} rollup rows + ${rows.entries.toLocaleString('en')} entries`,
      `for ${covered.toLocaleString('en')} runs: ${perRow.toFixed(1)} runs per row read`,
      '>= 20 runs per row read',
      perRow >= 20,
    );
  }
}

function series(ledger, start, end, timeZone) {
  return ledger.getCostTimeSeries({ projectId: BIG, bucket: 'day', groupBy: 'agent', start, end, timeZone });
}

/** The answers equal the plain aggregates: a fast wrong answer is no result. */
async function checkAnswers(ledger, db, engine) {
  const stats = await ledger.getProjectExecutionStats(BIG);
  const [plain] = await db.query(PLAIN.projectStats[0], [BIG, '-infinity', 'infinity']);
  if (String(stats.total_executions) !== plain.total || stats.total_cost !== Number(plain.total_cost)) {
    throw new Error(
      `${engine}: project stats ${JSON.stringify(stats)} differ from plain ${JSON.stringify(plain)}`,
    );
  }
}

async function bigProjectFacts(admin) {
  const [row] = await admin(
    `select (select count(*) from execution_ledger.executions)::int as total_runs,
       (select count(*) from execution_ledger.executions where project_id = $1)::int as runs,
       concat_ws(', ',
         'hour ' || (select count(*) from execution_ledger.execution_rollups_hour where project_id = $1),
         'hour_user ' || (select count(*) from execution_ledger.execution_rollups where project_id = $1),
         'day ' || (select count(*) from execution_ledger.execution_rollups_day where project_id = $1),
         'day_user ' || (select count(*) from execution_ledger.execution_rollups_day_user where project_id = $1),
         'month ' || (select count(*) from execution_ledger.execution_rollups_month where project_id = $1),
         'month_user ' || (select count(*) from execution_ledger.execution_rollups_month_user where project_id = $1),
         'year ' || (select count(*) from execution_ledger.execution_rollups_year where project_id = $1),
         'zone_day ' || (select count(*) from execution_ledger.execution_rollups_zone_day where project_id = $1)) as levels`,
    [BIG],
  );
  return row;
}

/**
 * Counts the rows one call reads from the rollup tables and from the entries (sequential reads
 * plus index entries returned), from the server's statistics: the call runs on a connection of
 * its own, which is told to flush its counters before they are read.
 */
async function rowCounter(admin, url) {
  const snapshot = async () => {
    const rows = await admin(
      `select c.relname as table, (coalesce(t.seq_tup_read, 0) + coalesce(sum(i.idx_tup_read), 0))::bigint as rows
       from pg_stat_user_tables t join pg_class c on c.oid = t.relid
       left join pg_stat_user_indexes i on i.relid = t.relid
       where t.schemaname = 'execution_ledger' and (c.relname = 'executions' or c.relname like 'execution_rollups%' or c.relname like 'step_rollups%')
       group by c.relname, t.seq_tup_read`,
    );
    return new Map(rows.map((row) => [row.table, Number(row.rows)]));
  };
  return async (call) => {
    const single = createLedger({ database: url, poolSize: 1, migrate: false });
    const db = await single.database();
    // Warm: the first call prepares the statement; only the second one is counted.
    await call(single);
    await db.query('select pg_stat_force_next_flush()');
    await sleep(1_500);
    const before = await snapshot();
    const answer = await call(single);
    await db.query('select pg_stat_force_next_flush()');
    await single.close();
    await sleep(1_500);
    const after = await snapshot();
    let rollups = 0;
    let entries = 0;
    for (const [table, rows] of after) {
      const delta = rows - (before.get(table) ?? 0);
      if (table === 'executions') entries += delta;
      else rollups += delta;
    }
    return { rows: { rollups, entries }, answer };
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Interleaved rounds per measure; fewer cut the plain side's time on the 10M-run data set.
const ROUNDS = Number(process.env.BENCH_DENSITY_ROUNDS ?? 5);

/** Latencies of `reps` calls after `warmups` unmeasured ones, in ms. */
async function time(reps, fn, warmups = 3) {
  for (let index = 0; index < warmups; index += 1) await fn();
  const latencies = [];
  for (let index = 0; index < reps; index += 1) {
    const started = performance.now();
    await fn();
    latencies.push(performance.now() - started);
  }
  return { ...summary(latencies), latencies };
}

function summary(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}
