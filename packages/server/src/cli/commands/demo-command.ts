import type { Command } from 'commander';
import type { Ledger } from 'execution-ledger';
import { DEMO_BATCH_RUNS } from '../../bounds.js';
import { dollars, printJson, printTable, wantsJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { withLedger } from '../open-ledger.js';
import { ProgressReporter } from '../progress-reporter.js';
import { seedExamples } from '../seed-examples.js';
import { DEMO_PROJECTS, syntheticRuns } from '../synthetic-runs.js';
import { globalOptions, positiveInteger, withExample } from './command-options.js';

export function registerDemoCommand(program: Command): void {
  const command = program
    .command('demo')
    .description(
      "record the specification's examples and a few thousand realistic runs, then show stats and verify",
    )
    .option('--runs <n>', 'synthetic runs to record', positiveInteger, 3_000)
    .action(async (options: { runs: number }, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const runs = [...seedExamples(), ...syntheticRuns(options.runs)];
        const progress = new ProgressReporter('demo', runs.length);
        let created = 0;
        for (let start = 0; start < runs.length; start += DEMO_BATCH_RUNS) {
          const results = await ledger.recordExecutions(runs.slice(start, start + DEMO_BATCH_RUNS));
          for (const result of results) {
            if (!result.ok) throw result.error;
            if (!result.record.replayed) created += 1;
          }
          progress.add(results.length);
        }
        progress.finish();
        const summary = [];
        for (const projectId of DEMO_PROJECTS) {
          const stats = await ledger.getProjectExecutionStats(projectId);
          const report = await ledger.verifyLedger(projectId);
          summary.push({
            project_id: projectId,
            stats,
            verified: report.ok,
            entries: report.entries_checked,
          });
        }
        if (wantsJson(global)) printJson({ created, replayed: runs.length - created, projects: summary });
        else await printSummary(ledger, created, runs.length, summary);
        if (summary.some((project) => !project.verified)) process.exitCode = EXIT_CODES.CHAIN_BROKEN;
      });
    });
  withExample(command, 'execution-ledger demo', 'execution-ledger demo --runs 10000 --database postgres://…');
}

type ProjectSummary = {
  project_id: string;
  stats: Awaited<ReturnType<Ledger['getProjectExecutionStats']>>;
  verified: boolean;
  entries: number;
};

async function printSummary(
  ledger: Ledger,
  created: number,
  total: number,
  projects: ProjectSummary[],
): Promise<void> {
  process.stdout.write(`Recorded ${created} new runs (${total - created} were already there).\n\n`);
  printTable(
    projects.map(({ project_id, stats, verified, entries }) => ({
      project_id,
      runs: stats.total_executions,
      success: `${((stats.successful / Math.max(1, stats.total_executions)) * 100).toFixed(1)}%`,
      failed: stats.failed,
      aborted: stats.aborted,
      total_cost: dollars(stats.total_cost),
      avg_cost: dollars(stats.avg_cost),
      avg_ms: stats.avg_duration_ms,
      chain: verified ? `verified (${entries})` : 'BROKEN',
    })),
    ['project_id', 'runs', 'success', 'failed', 'aborted', 'total_cost', 'avg_cost', 'avg_ms', 'chain'],
  );
  const first = projects[0];
  if (first !== undefined) {
    process.stdout.write(`\nBy agent in ${first.project_id}:\n`);
    printTable(
      Object.entries(first.stats.by_agent).map(([agent, data]) => ({
        agent,
        runs: data.count,
        cost: dollars(data.cost),
      })),
      ['agent', 'runs', 'cost'],
    );
    // The demo's steps carry their costs: what each model cost, from the step rollups.
    const models = await ledger.getCostByModel({ projectId: first.project_id });
    process.stdout.write(`\nBy model in ${first.project_id}:\n`);
    printTable(
      models.top.map((group) => ({
        model: group.model,
        steps: group.steps,
        tokens: group.input_tokens + group.output_tokens,
        cost: dollars(group.cost),
      })),
      ['model', 'steps', 'tokens', 'cost'],
    );
  }
  process.stdout.write(
    '\nNext: `execution-ledger stats --project proj-001 --by tool`, `execution-ledger failed --project proj-001`, ' +
      'or `npm start` for the dashboard and the HTTP API.\n',
  );
}
