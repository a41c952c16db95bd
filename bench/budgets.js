// Budget benchmark: reservations taken and settled in the database by 16 concurrent callers on
// one budget and on 100 budgets, beside plain appends; and appends with an active budget and
// anomaly detection on, beside the same appends without, measured in the same run.
//
//   npm run bench:budgets                          # PostgreSQL (BENCH_DATABASE_URL)
//   BENCH_ENGINES=pglite npm run bench:budgets     # the embedded engine
//   BENCH_SECONDS=10 npm run bench:budgets         # longer measurements (default 4 s each)
//   BENCH_ROUNDS=5 npm run bench:budgets           # more rounds of the appends comparison (default 3)
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLedger } from 'execution-ledger';
import { formatTable, machineFacts, percentile } from './report.js';

const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://ledger:ledger@localhost:5432/ledger_bench';
const engines = (process.env.BENCH_ENGINES ?? 'postgres').split(',');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CALLERS = 16;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function execution(project, agent, cents) {
  return {
    run_id: `bench-${randomUUID()}`,
    project_id: project,
    user_id: 'bench-user',
    agent_id: agent,
    intent: 'benchmark',
    input: { n: 1 },
    output: { ok: true },
    cost: { total: cents, breakdown: { tokens: cents } },
    execution_trace: { steps: [], duration_ms: 1500 + Math.floor(Math.random() * 1000) },
    status: 'completed',
  };
}

/** `work` from CALLERS loops for SECONDS; operations per second and latency per operation. */
async function measure(work) {
  const latencies = [];
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      while (performance.now() < deadline) {
        const begin = performance.now();
        await work(caller);
        latencies.push(performance.now() - begin);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    per_s: Math.round(latencies.length / seconds),
    p50_ms: Number(percentile(latencies, 0.5).toFixed(2)),
    p99_ms: Number(percentile(latencies, 0.99).toFixed(2)),
  };
}

const results = [];
for (const engine of engines) {
  const dataDir = engine === 'pglite' ? mkdtempSync(path.join(os.tmpdir(), 'ledger-bench-')) : undefined;
  const ledger = createLedger({ database: dataDir ?? serverUrl, poolSize: 20 });
  const tag = randomUUID().slice(0, 8);
  try {
    await ledger.anomalies.configure({ enabled: false });
    const plainProject = `bench-plain-${tag}`;
    const plain = await measure(() => ledger.recordExecution(execution(plainProject, 'agent', 1)));
    results.push({ engine, scenario: `plain appends, ${CALLERS} callers`, ...plain });

    for (const budgetCount of [1, 100]) {
      const projects = Array.from(
        { length: budgetCount },
        (_, index) => `bench-budget-${tag}-${budgetCount}-${index}`,
      );
      for (const project of projects) {
        await ledger.budgets.set({
          id: `bench-${project}`,
          project_id: project,
          period: 'day',
          limit_cents: 1e9,
        });
      }
      let blocked = 0;
      const cycle = await measure(async (caller) => {
        const project = projects[caller % projects.length] ?? projects[0];
        const scope = { project_id: project, agent_id: 'agent', user_id: 'bench-user' };
        let hold;
        try {
          hold = await ledger.budgets.reserve(scope, 2, { ttl_ms: 60_000 });
        } catch {
          blocked += 1;
          return;
        }
        const run = execution(project, 'agent', 1);
        await ledger.recordExecution(run);
        await ledger.budgets.settle(hold, { run_id: run.run_id });
      });
      const bare = await measure(async (caller) => {
        const project = projects[caller % projects.length] ?? projects[0];
        const hold = await ledger.budgets.reserve(
          { project_id: project, agent_id: 'agent', user_id: 'bench-user' },
          2,
        );
        await ledger.budgets.release(hold);
      });
      results.push({
        engine,
        scenario: `reserve + append + settle, ${budgetCount} budget${budgetCount > 1 ? 's' : ''}`,
        ...cycle,
        blocked,
      });
      results.push({
        engine,
        scenario: `reserve + release, ${budgetCount} budget${budgetCount > 1 ? 's' : ''}`,
        ...bare,
      });
    }

    // Appends with an active budget and anomaly detection beside the same appends without, in
    // ROUNDS rounds whose order rotates: each ratio is taken within a round (the same minutes of
    // a shared machine), and the median of the rounds is reported.
    const quietProject = `bench-quiet-${tag}`;
    const watchedProject = `bench-watched-${tag}`;
    await ledger.budgets.set({
      id: `bench-${watchedProject}`,
      project_id: watchedProject,
      period: 'day',
      limit_cents: 1e9,
    });
    const scenarios = [
      {
        key: 'off',
        name: 'appends, no budget, detection off',
        detection: false,
        project: quietProject,
        agent: 'a',
      },
      {
        key: 'budget',
        name: 'appends, active budget only',
        detection: false,
        project: watchedProject,
        agent: 'b',
      },
      {
        key: 'detection',
        name: 'appends, anomaly detection only',
        detection: true,
        project: quietProject,
        agent: 'd',
      },
      {
        key: 'both',
        name: 'appends, active budget + anomaly detection',
        detection: true,
        project: watchedProject,
        agent: 'a',
      },
    ];
    const rounds = Object.fromEntries(scenarios.map((scenario) => [scenario.key, []]));
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let step = 0; step < scenarios.length; step += 1) {
        const scenario = scenarios[(step + round) % scenarios.length];
        await ledger.anomalies.configure({ enabled: scenario.detection });
        rounds[scenario.key].push(
          await measure((caller) =>
            ledger.recordExecution(
              execution(scenario.project, `${scenario.agent}${caller}`, 1 + (caller % 5)),
            ),
          ),
        );
      }
    }
    await ledger.anomalies.configure({ enabled: false });
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    for (const scenario of scenarios) {
      const measured = rounds[scenario.key];
      const ratios = measured.map((result, round) => result.per_s / rounds.off[round].per_s);
      results.push({
        engine,
        scenario: `${scenario.name} (median of ${ROUNDS})`,
        per_s: median(measured.map((result) => result.per_s)),
        p50_ms: median(measured.map((result) => result.p50_ms)),
        p99_ms: median(measured.map((result) => result.p99_ms)),
        ...(scenario.key === 'off'
          ? {}
          : { ratio: Number(median(ratios).toFixed(2)), ratios: ratios.map((r) => r.toFixed(2)).join(' ') }),
      });
    }
  } finally {
    // The budgets made here go: every append to a shared benchmark database checks each budget
    // that could apply, so budgets left behind would tilt the next benchmark run on it.
    for (const budget of await ledger.budgets.list().catch(() => []))
      if (budget.id.includes(tag)) await ledger.budgets.delete(budget.id).catch(() => undefined);
    await ledger.anomalies.configure({ enabled: false }).catch(() => undefined);
    await ledger.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

const columns = [...new Set(results.flatMap((row) => Object.keys(row)))];
console.log(
  formatTable(results.map((row) => Object.fromEntries(columns.map((key) => [key, row[key] ?? ''])))),
);
writeFileSync(
  new URL('./results/budgets.json', import.meta.url),
  `${JSON.stringify({ machine: machineFacts(), seconds: SECONDS, callers: CALLERS, rounds: ROUNDS, results }, null, 2)}\n`,
);
