// The measurements of the analytics benchmark (bench/analytics.js), one family per function.
// Each reports through `report.record(engine, measure, result, detail, goal, met)` and
// `report.note(text)`; latencies are in milliseconds.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AGENTS, createRandom } from './analytics-data.js';
import { percentile } from './report.js';

const DEPTH_ROWS = 500_000;
const PAGE_ROWS = 50;
const run = promisify(execFile);

// The plain SQL aggregates these statistics replaced: the same numbers, read from every row.
const PLAIN_PROJECT_STATS = [
  `select count(*)::text as total, count(*) filter (where e.status = 'completed')::text as successful,
     count(*) filter (where e.status = 'failed')::text as failed, count(*) filter (where e.status = 'aborted')::text as aborted,
     coalesce(sum(e.cost_total), 0)::text as total_cost, coalesce(round(avg(e.cost_total), 6), 0)::text as avg_cost,
     coalesce(round(avg(e.duration_ms)), 0)::text as avg_duration_ms
   from execution_ledger.executions e where e.project_id = $1`,
  `select e.agent_id, count(*)::text as count, sum(e.cost_total)::text as cost
   from execution_ledger.executions e where e.project_id = $1 group by e.agent_id`,
];
const PLAIN_AGENT_STATS = `select count(*)::text, coalesce(sum(e.cost_total), 0)::text, coalesce(round(avg(e.cost_total), 6), 0)::text,
  coalesce(min(e.cost_total), 0)::text, coalesce(max(e.cost_total), 0)::text
  from execution_ledger.executions e where e.agent_id = $1`;

export async function measureReads(report, engine, ledger, db, facts) {
  const random = createRandom(42);
  const randomRunId = () => {
    const project = Math.floor(random.next() * 4) === 0 ? facts.medium : facts.big;
    const size = project === facts.big ? facts.bigRuns : facts.mediumRuns;
    return `${project}-run-${Math.floor(random.next() * size)}`;
  };
  // Enough warm-up calls for every pooled connection to have prepared the statement.
  const get = await time(2_000, () => ledger.getExecutionByRunId(randomRunId()), 50);
  // The plain baseline in the same minutes: the same row by its unique index, one SQL text sent
  // unprepared on the same pool, rows left as the driver parses them.
  const plainGet = await time(
    2_000,
    () => db.query('select * from execution_ledger.executions where run_id = $1', [randomRunId()]),
    50,
  );
  report.record(
    engine,
    'get by run_id',
    `p50 ${get.p50} ms, p99 ${get.p99} ms`,
    `plain select: p50 ${plainGet.p50} ms, p99 ${plainGet.p99} ms`,
    'p99 <= 2 ms',
    get.p99 <= 2,
  );
  const depth = Math.min(DEPTH_ROWS, facts.bigRuns - PAGE_ROWS * 2);
  const first = await time(200, () => ledger.listExecutionsByProject(facts.big, { limit: PAGE_ROWS }));
  report.record(
    engine,
    'list page 1 by cursor (with total)',
    `p50 ${first.p50} ms, p99 ${first.p99} ms`,
    '',
    'p99 <= 5 ms',
    first.p99 <= 5,
  );
  const firstOffset = await time(200, () => ledger.listExecutionsByProject(facts.big, PAGE_ROWS, 0));
  report.record(
    engine,
    'list page 1 by offset (with total)',
    `p50 ${firstOffset.p50} ms, p99 ${firstOffset.p99} ms`,
    '',
    '',
    null,
  );
  const deepOffset = await time(5, () => ledger.listExecutionsByProject(facts.big, PAGE_ROWS, depth), 1);
  report.record(
    engine,
    `list page at depth ${depth} by offset`,
    `p50 ${deepOffset.p50} ms, p99 ${deepOffset.p99} ms`,
    '',
    '(baseline)',
    null,
  );
  const { next_cursor: cursor } = await ledger.listExecutionsByProject(
    facts.big,
    PAGE_ROWS,
    depth - PAGE_ROWS,
  );
  const deep = await time(200, () => ledger.listExecutionsByProject(facts.big, { limit: PAGE_ROWS, cursor }));
  report.record(
    engine,
    `list page at depth ${depth} by cursor`,
    `p50 ${deep.p50} ms, p99 ${deep.p99} ms`,
    `${(deepOffset.p50 / deep.p50).toFixed(0)}x faster than offset`,
    'p99 <= 5 ms',
    deep.p99 <= 5,
  );
  const plainCount = await time(
    5,
    () => db.query('select count(*) from execution_ledger.executions where project_id = $1', [facts.big]),
    1,
  );
  report.note(
    `${engine}: a page's total from the rollups replaces count(*) over the project's rows (${plainCount.p50} ms p50)`,
  );
}

export async function measureStatistics(report, engine, ledger, db, facts) {
  for (const [label, project, runs] of [
    ['project stats, largest project', facts.big, facts.bigRuns],
    ['project stats, medium project', facts.medium, facts.mediumRuns],
  ]) {
    // A dashboard asks the same statistics again and again: measure the steady state, after
    // every pooled connection has prepared the statement and settled on its plan.
    const fast = await time(30, () => ledger.getProjectExecutionStats(project), 50);
    const plain = await time(10, async () => {
      for (const sql of PLAIN_PROJECT_STATS) await db.query(sql, [project]);
    });
    const ratio = plain.p50 / fast.p50;
    report.record(
      engine,
      `${label} (${runs} runs)`,
      `p50 ${fast.p50} ms vs plain ${plain.p50} ms`,
      `${ratio.toFixed(1)}x`,
      '>= 20x',
      ratio >= 20,
    );
  }
  const agent = AGENTS[0];
  const fastAgent = await time(30, () => ledger.getAgentCostStats(agent), 50);
  const plainAgent = await time(10, () => db.query(PLAIN_AGENT_STATS, [agent]));
  const agentRatio = plainAgent.p50 / fastAgent.p50;
  report.record(
    engine,
    'agent stats, all projects',
    `p50 ${fastAgent.p50} ms vs plain ${plainAgent.p50} ms`,
    `${agentRatio.toFixed(1)}x`,
    '>= 20x',
    agentRatio >= 20,
  );
  // A range that cuts hours at both ends reads those partial hours from the entries; here all
  // runs were appended within minutes, so the cut hours hold most of the data (the worst case).
  const start = new Date(facts.firstAt.getTime() + 60_000);
  const end = new Date(facts.lastAt.getTime() - 60_000);
  const cut = await time(5, () => ledger.getProjectExecutionStats(facts.big, start, end), 1);
  report.record(
    engine,
    'project stats, range cutting hours',
    `p50 ${cut.p50} ms`,
    '',
    '(edges read from entries)',
    null,
  );
}

export async function measureAnalytics(report, engine, ledger, facts) {
  const byProject = await time(10, () => ledger.getExecutionPercentiles({ projectId: facts.big }), 1);
  report.record(
    engine,
    `percentiles, largest project (${facts.bigRuns} runs)`,
    `p50 ${byProject.p50} ms`,
    '',
    '<= 500 ms',
    byProject.p50 <= 500,
  );
  const byAgent = await time(10, () => ledger.getExecutionPercentiles({ agentId: AGENTS[0] }), 1);
  report.record(
    engine,
    'percentiles, one agent, all projects',
    `p50 ${byAgent.p50} ms`,
    '',
    '<= 500 ms',
    byAgent.p50 <= 500,
  );
  const start = new Date(facts.firstAt.getTime() - 3 * 86_400_000);
  const end = new Date(facts.lastAt.getTime() + 4 * 86_400_000);
  const series = await time(20, () =>
    ledger.getCostTimeSeries({
      projectId: facts.big,
      bucket: 'day',
      groupBy: 'agent',
      start,
      end,
      timeZone: 'Asia/Kolkata',
    }),
  );
  report.record(
    engine,
    'time series, 7 days by agent, Kolkata',
    `p50 ${series.p50} ms, p99 ${series.p99} ms`,
    '',
    '',
    null,
  );
  const parts = await time(20, () => ledger.getCostByPart({ projectId: facts.big }));
  report.record(engine, 'cost by part, largest project', `p50 ${parts.p50} ms`, '', '', null);
  const users = await time(20, () => ledger.getCostByUser({ projectId: facts.big }));
  report.record(engine, 'cost by user, largest project', `p50 ${users.p50} ms`, '', '', null);
  const top = await time(10, () => ledger.getMostExpensiveRuns({ projectId: facts.big, limit: 10 }), 1);
  report.record(engine, 'top 10 runs by cost, largest project', `p50 ${top.p50} ms`, '', '', null);
}

export async function measureVerification(report, engine, ledger, facts) {
  let started = performance.now();
  const chain = await ledger.verifyLedger(facts.big);
  const chainSeconds = (performance.now() - started) / 1000;
  if (!chain.ok) throw new Error(`chain broken after the benchmark: ${chain.reason}`);
  const rate = Math.round(chain.entries_checked / chainSeconds);
  report.record(
    engine,
    `verifyLedger, largest project`,
    `${rate} entries/s`,
    `${chainSeconds.toFixed(1)} s`,
    '>= 50,000 entries/s',
    rate >= 50_000,
  );
  started = performance.now();
  const rollups = await ledger.verifyRollups(facts.big);
  if (!rollups.ok)
    throw new Error(`rollups disagree after the benchmark: ${JSON.stringify(rollups.mismatches[0])}`);
  report.record(
    engine,
    'verifyRollups, largest project',
    `${seconds(started)} s`,
    `${rollups.groups_checked} groups`,
    '',
    null,
  );
}

export async function measureExports(report, engine, target, facts) {
  const script = new URL('./analytics-export.js', import.meta.url).pathname;
  for (const format of ['csv', 'ndjson']) {
    const { stdout } = await run(process.execPath, [script, format, target, facts.big], {
      maxBuffer: 1 << 20,
    });
    const result = JSON.parse(stdout);
    if (result.rows !== facts.bigRuns)
      throw new Error(`${format} export wrote ${result.rows} rows, expected ${facts.bigRuns}`);
    const ok = result.rows_per_s >= 50_000 && result.peak_rss_mb <= 256;
    report.record(
      engine,
      `${format} export, largest project`,
      `${result.rows_per_s} rows/s, peak RSS ${result.peak_rss_mb} MB`,
      `${(result.bytes / 2 ** 20).toFixed(0)} MB in ${result.seconds.toFixed(1)} s, Node ${result.cpu_us_per_row} µs CPU/row`,
      '>= 50,000 rows/s, <= 256 MB',
      ok,
    );
  }
}

/** Latencies of `reps` calls after `warmups` unmeasured ones, in ms. */
async function time(reps, fn, warmups = 3) {
  for (let index = 0; index < warmups; index += 1) await fn();
  const latencies = [];
  for (let index = 0; index < reps; index += 1) {
    const started = performance.now();
    await fn();
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

function seconds(started) {
  return Number(((performance.now() - started) / 1000).toFixed(1));
}
