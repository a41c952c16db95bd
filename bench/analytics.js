// Analytics benchmark on runs appended in minutes (not a test; every run falls in an hour or two,
// so it shows rollups at their densest, not at real density: see bench/analytics-density.js):
// generates runs through the append path, then
// measures reads, statistics beside the plain SQL aggregate over the same rows, percentiles,
// time series, exports and verification in one run, and writes bench/RESULTS.md's section.
//
//   npm run bench:analytics:append                   # 1,000,000 runs on PostgreSQL, 100,000 on PGlite
//   BENCH_ENGINES=pglite BENCH_PGLITE_RUNS=20000 npm run bench:analytics:append
//   BENCH_REUSE=1 npm run bench:analytics:append     # keep the server's runs from the last time
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLedger } from 'execution-ledger';
import { createRandom, makeRun, projectSizes } from './analytics-data.js';
import {
  measureAnalytics,
  measureExports,
  measureReads,
  measureStatistics,
  measureVerification,
} from './analytics-measures.js';
import { formatTable, machineFacts } from './report.js';
import { resetServerLedger } from './server-ledger.js';

const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://ledger:ledger@localhost:5432/ledger_bench';
const engines = (process.env.BENCH_ENGINES ?? 'postgres,pglite').split(',');
const RUNS = {
  postgres: Number(process.env.BENCH_RUNS ?? 1_000_000),
  pglite: Number(process.env.BENCH_PGLITE_RUNS ?? 100_000),
};
const PROJECTS = 20;
const CHUNK_RUNS = 2_000;
const WORKERS = 4;

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
const machine = machineFacts();
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
  // The levels as every read finds them: whatever the background fold has not reached yet, folded.
  await ledger.foldRollups();
  const started = performance.now();
  await db.query('vacuum analyze execution_ledger.executions');
  await db.query('vacuum analyze execution_ledger.execution_rollups');
  notes.push(`${engine}: vacuum analyze after loading took ${seconds(started)} s`);
  const facts = await describeData(db);
  notes.push(
    `${engine}: ${facts.runs} runs, ${facts.rollups} rollup rows (${(facts.runs / facts.rollups).toFixed(1)} runs per row), largest project ${facts.bigRuns} runs, data spans ${facts.spanMinutes} min`,
  );
  const report = { record, note: (text) => notes.push(text) };
  await measureReads(report, engine, ledger, db, facts);
  await measureStatistics(report, engine, ledger, db, facts);
  await measureAnalytics(report, engine, ledger, facts);
  await measureVerification(report, engine, ledger, facts);
  await ledger.close();
  await measureExports(report, engine, target, facts);
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
  // The lint checks every Markdown file's format: align the new table the way Biome writes it.
  execFileSync('npx', ['biome', 'format', '--write', file.pathname], { stdio: 'ignore' });
}
