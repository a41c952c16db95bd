// Analytics benchmark (not a test): generates realistic runs through the append path, then
// measures reads, statistics beside the plain SQL aggregate over the same rows, percentiles,
// time series, exports and verification in one run, and writes bench/RESULTS.md's section.
//
//   npm run bench:analytics                          # 1,000,000 runs on PostgreSQL, 100,000 on PGlite
//   BENCH_ENGINES=pglite BENCH_PGLITE_RUNS=20000 npm run bench:analytics
//   BENCH_REUSE=1 npm run bench:analytics            # keep the server's runs from the last time
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createLedger } from 'execution-ledger';
import { AGENTS, createRandom, makeRun, projectSizes } from './analytics-data.js';
import { formatTable, percentile } from './report.js';

const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://ledger:ledger@localhost:5432/ledger_bench';
const engines = (process.env.BENCH_ENGINES ?? 'postgres,pglite').split(',');
const RUNS = {
  postgres: Number(process.env.BENCH_RUNS ?? 1_000_000),
  pglite: Number(process.env.BENCH_PGLITE_RUNS ?? 100_000),
};
const PROJECTS = 20;
const CHUNK_RUNS = 2_000;
const WORKERS = 4;
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

const results = [];
const notes = [];
for (const engine of engines) {
  const dataDir = engine === 'pglite' ? mkdtempSync(path.join(os.tmpdir(), 'ledger-analytics-')) : undefined;
  const target = dataDir ?? serverUrl;
  try {
    await benchEngine(engine, target);
  } finally {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}
console.log(formatTable(results));
const machine = {
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  memory_gb: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  date: new Date().toISOString(),
};
writeFileSync(
  new URL(`./results/analytics-${Date.now()}.json`, import.meta.url),
  `${JSON.stringify({ machine, runs: RUNS, notes, results }, null, 2)}\n`,
);
writeResultsSection(machine);

async function benchEngine(engine, target) {
  let ledger = createLedger({ database: target, poolSize: 8 });
  const database = await ledger.database();
  const total = RUNS[engine];
  const reuse =
    engine === 'postgres' && process.env.BENCH_REUSE === '1' && (await countRuns(database)) === total;
  if (!reuse) {
    if (engine === 'postgres') {
      await ledger.close();
      await resetServerLedger(target);
      ledger = createLedger({ database: target, poolSize: 8 });
    }
    const generated = await generate(ledger, total);
    record(
      engine,
      'generate runs (append path, 4 callers)',
      `${generated.rate} runs/s`,
      `${generated.seconds} s`,
      'well under 30 min',
      generated.seconds < 1800,
    );
  }
  const db = await ledger.database();
  const started = performance.now();
  await db.query('vacuum analyze execution_ledger.executions');
  await db.query('vacuum analyze execution_ledger.execution_rollups');
  notes.push(`${engine}: vacuum analyze after loading took ${seconds(started)} s`);
  const facts = await describeData(db);
  notes.push(
    `${engine}: ${facts.runs} runs, ${facts.rollups} rollup rows (${(facts.runs / facts.rollups).toFixed(1)} runs per row), largest project ${facts.bigRuns} runs, data spans ${facts.spanMinutes} min`,
  );
  await measureReads(engine, ledger, db, facts);
  await measureStatistics(engine, ledger, db, facts);
  await measureAnalytics(engine, ledger, facts);
  await measureVerification(engine, ledger, facts);
  await ledger.close();
  await measureExports(engine, target, facts);
}

/** The bench database starts empty each time: drop the ledger's schema (never elsewhere). */
async function resetServerLedger(url) {
  if (!new URL(url).pathname.includes('bench')) {
    throw new Error(
      `refusing to reset ${new URL(url).pathname}: the benchmark only empties a database named *bench*`,
    );
  }
  const ledger = createLedger({ database: url, migrate: false });
  const database = await ledger.database();
  await database.query('drop schema if exists execution_ledger cascade');
  await ledger.close();
}

async function countRuns(database) {
  const rows = await database
    .query('select count(*)::int as runs from execution_ledger.executions')
    .catch(() => [{ runs: -1 }]);
  return rows[0].runs;
}

async function generate(ledger, total) {
  const sizes = projectSizes(total, PROJECTS);
  const jobs = [];
  for (const [project, size] of sizes.entries()) {
    for (let from = 0; from < size; from += CHUNK_RUNS)
      jobs.push({ project, from, to: Math.min(size, from + CHUNK_RUNS) });
  }
  // Interleave projects so that several chains grow at once, as with many customers.
  jobs.sort((a, b) => a.from - b.from || a.project - b.project);
  let next = 0;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      for (let job = jobs[next++]; job !== undefined; job = jobs[next++]) {
        const random = createRandom(job.project * 1_000_003 + job.from);
        const projectId = `bench-p${String(job.project).padStart(2, '0')}`;
        const rows = [];
        for (let index = job.from; index < job.to; index += 1)
          rows.push(makeRun(random, projectId, index, `${projectId}-run`));
        const outcome = await ledger.recordExecutions(rows);
        const failed = outcome.find((item) => !item.ok);
        if (failed) throw failed.error;
        done += rows.length;
        if (done % 50_000 < CHUNK_RUNS) process.stderr.write(`  ${done} runs in ${seconds(started)} s\n`);
      }
    }),
  );
  return { seconds: seconds(started), rate: Math.round(total / ((performance.now() - started) / 1000)) };
}

async function describeData(db) {
  const [facts] = await db.query(
    `select (select count(*) from execution_ledger.executions)::int as runs,
       (select count(*) from execution_ledger.execution_rollups)::int as rollups,
       (select count(*) from execution_ledger.executions where project_id = 'bench-p00')::int as big_runs,
       (select count(*) from execution_ledger.executions where project_id = 'bench-p07')::int as medium_runs,
       (select round(extract(epoch from max(created_at) - min(created_at)) / 60)::int from execution_ledger.executions) as span,
       (select to_char(min(created_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') from execution_ledger.executions) as first_at,
       (select to_char(max(created_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') from execution_ledger.executions) as last_at`,
  );
  return {
    runs: facts.runs,
    rollups: facts.rollups,
    big: 'bench-p00',
    bigRuns: facts.big_runs,
    medium: 'bench-p07',
    mediumRuns: facts.medium_runs,
    spanMinutes: facts.span,
    firstAt: new Date(facts.first_at),
    lastAt: new Date(facts.last_at),
  };
}

async function measureReads(engine, ledger, db, facts) {
  const random = createRandom(42);
  const get = await time(2_000, () => {
    const project = Math.floor(random.next() * 4) === 0 ? facts.medium : facts.big;
    const size = project === facts.big ? facts.bigRuns : facts.mediumRuns;
    return ledger.getExecutionByRunId(`${project}-run-${Math.floor(random.next() * size)}`);
  });
  record(engine, 'get by run_id', `p50 ${get.p50} ms, p99 ${get.p99} ms`, '', 'p99 <= 2 ms', get.p99 <= 2);
  const depth = Math.min(DEPTH_ROWS, facts.bigRuns - PAGE_ROWS * 2);
  const first = await time(200, () => ledger.listExecutionsByProject(facts.big, { limit: PAGE_ROWS }));
  record(
    engine,
    'list page 1 by cursor (with total)',
    `p50 ${first.p50} ms, p99 ${first.p99} ms`,
    '',
    'p99 <= 5 ms',
    first.p99 <= 5,
  );
  const firstOffset = await time(200, () => ledger.listExecutionsByProject(facts.big, PAGE_ROWS, 0));
  record(
    engine,
    'list page 1 by offset (with total)',
    `p50 ${firstOffset.p50} ms, p99 ${firstOffset.p99} ms`,
    '',
    '',
    null,
  );
  const deepOffset = await time(5, () => ledger.listExecutionsByProject(facts.big, PAGE_ROWS, depth), 1);
  record(
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
  record(
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
  notes.push(
    `${engine}: a page's total from the rollups replaces count(*) over the project's rows (${plainCount.p50} ms p50)`,
  );
}

async function measureStatistics(engine, ledger, db, facts) {
  for (const [label, project, runs] of [
    ['project stats, largest project', facts.big, facts.bigRuns],
    ['project stats, medium project', facts.medium, facts.mediumRuns],
  ]) {
    const fast = await time(30, () => ledger.getProjectExecutionStats(project));
    const plain = await time(10, async () => {
      for (const sql of PLAIN_PROJECT_STATS) await db.query(sql, [project]);
    });
    const ratio = plain.p50 / fast.p50;
    record(
      engine,
      `${label} (${runs} runs)`,
      `p50 ${fast.p50} ms vs plain ${plain.p50} ms`,
      `${ratio.toFixed(1)}x`,
      '>= 20x',
      ratio >= 20,
    );
  }
  const agent = AGENTS[0];
  const fastAgent = await time(30, () => ledger.getAgentCostStats(agent));
  const plainAgent = await time(10, () => db.query(PLAIN_AGENT_STATS, [agent]));
  const agentRatio = plainAgent.p50 / fastAgent.p50;
  record(
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
  record(
    engine,
    'project stats, range cutting hours',
    `p50 ${cut.p50} ms`,
    '',
    '(edges read from entries)',
    null,
  );
}

async function measureAnalytics(engine, ledger, facts) {
  const byProject = await time(10, () => ledger.getExecutionPercentiles({ projectId: facts.big }), 1);
  record(
    engine,
    `percentiles, largest project (${facts.bigRuns} runs)`,
    `p50 ${byProject.p50} ms`,
    '',
    '<= 500 ms',
    byProject.p50 <= 500,
  );
  const byAgent = await time(10, () => ledger.getExecutionPercentiles({ agentId: AGENTS[0] }), 1);
  record(
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
  record(
    engine,
    'time series, 7 days by agent, Kolkata',
    `p50 ${series.p50} ms, p99 ${series.p99} ms`,
    '',
    '',
    null,
  );
  const parts = await time(20, () => ledger.getCostByPart({ projectId: facts.big }));
  record(engine, 'cost by part, largest project', `p50 ${parts.p50} ms`, '', '', null);
  const users = await time(20, () => ledger.getCostByUser({ projectId: facts.big }));
  record(engine, 'cost by user, largest project', `p50 ${users.p50} ms`, '', '', null);
  const top = await time(10, () => ledger.getMostExpensiveRuns({ projectId: facts.big, limit: 10 }), 1);
  record(engine, 'top 10 runs by cost, largest project', `p50 ${top.p50} ms`, '', '', null);
}

async function measureVerification(engine, ledger, facts) {
  let started = performance.now();
  const report = await ledger.verifyLedger(facts.big);
  const chainSeconds = (performance.now() - started) / 1000;
  if (!report.ok) throw new Error(`chain broken after the benchmark: ${report.reason}`);
  const rate = Math.round(report.entries_checked / chainSeconds);
  record(
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
  record(
    engine,
    'verifyRollups, largest project',
    `${seconds(started)} s`,
    `${rollups.groups_checked} groups`,
    '',
    null,
  );
}

async function measureExports(engine, target, facts) {
  const script = new URL('./analytics-export.js', import.meta.url).pathname;
  for (const format of ['csv', 'ndjson']) {
    const { stdout } = await run(process.execPath, [script, format, target, facts.big], {
      maxBuffer: 1 << 20,
    });
    const result = JSON.parse(stdout);
    if (result.rows !== facts.bigRuns)
      throw new Error(`${format} export wrote ${result.rows} rows, expected ${facts.bigRuns}`);
    const ok = result.rows_per_s >= 50_000 && result.peak_rss_mb <= 256;
    record(
      engine,
      `${format} export, largest project`,
      `${result.rows_per_s} rows/s, peak RSS ${result.peak_rss_mb} MB`,
      `${(result.bytes / 2 ** 20).toFixed(0)} MB in ${result.seconds.toFixed(1)} s`,
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

function record(engine, measure, result, detail, goal, met) {
  results.push({ engine, measure, result, detail, goal, met: met === null ? '' : met ? 'yes' : 'NO' });
  process.stderr.write(`${engine}: ${measure}: ${result} ${detail}\n`);
}

function seconds(started) {
  return Number(((performance.now() - started) / 1000).toFixed(1));
}

/** Replaces this benchmark's section of bench/RESULTS.md, keeping every other section. */
function writeResultsSection(machine) {
  const file = new URL('./RESULTS.md', import.meta.url);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '# Benchmark results\n';
  }
  const begin = '<!-- bench:analytics:begin -->';
  const end = '<!-- bench:analytics:end -->';
  const header = '| engine | measure | result | detail | goal | met |\n|---|---|---|---|---|---|\n';
  const rows = results
    .map((row) => `| ${[row.engine, row.measure, row.result, row.detail, row.goal, row.met].join(' | ')} |`)
    .join('\n');
  const section = [
    begin,
    `Measured by \`npm run bench:analytics\` on ${machine.date.slice(0, 10)}: ${machine.cpus} × ${machine.cpu}, ${machine.memory_gb} GB, Node ${machine.node}; ${RUNS.postgres.toLocaleString('en')} runs on PostgreSQL, ${RUNS.pglite.toLocaleString('en')} on PGlite.`,
    '',
    header + rows,
    '',
    ...notes.map((note) => `- ${note}`),
    end,
  ].join('\n');
  const at = text.indexOf(begin);
  const after = text.indexOf(end);
  text =
    at === -1
      ? `${text.trimEnd()}\n\n## Analytics at a million runs\n\n${section}\n`
      : text.slice(0, at) + section + text.slice(after + end.length);
  writeFileSync(file, text);
}
