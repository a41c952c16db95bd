import type { Command } from 'commander';
import { LedgerError, type VerificationReport } from 'execution-ledger';
import { printJson, printTable, wantsJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { withLedger } from '../open-ledger.js';
import { ProgressReporter } from '../progress-reporter.js';
import { globalOptions, withExample } from './command-options.js';

export function registerVerifyCommand(program: Command): void {
  const command = program
    .command('verify')
    .description("re-derive every hash of a project's chain, or of every project (exit 5 when one is broken)")
    .option('--project <id>', 'the project to verify')
    .option('--all', 'verify every project')
    .action(async (options: { project?: string; all?: boolean }, self: Command) => {
      const global = globalOptions(self);
      if ((options.project === undefined) === (options.all !== true)) {
        throw new LedgerError('VALIDATION_FAILED', 'verify needs exactly one of --project <id> or --all', {
          field: 'project',
        });
      }
      await withLedger(global, async (ledger) => {
        const database = await ledger.database();
        const projects =
          options.project !== undefined
            ? [{ project_id: options.project, entries: 0 }]
            : await database.query<{ project_id: string; entries: number }>(
                `select project_id, count(*)::integer as entries from execution_ledger.executions
                 group by project_id order by project_id`,
              );
        const progress = new ProgressReporter(
          'verify',
          projects.reduce((sum, project) => sum + project.entries, 0) || undefined,
          'entries',
        );
        const reports: VerificationReport[] = [];
        for (const project of projects) {
          const report = await ledger.verifyLedger(project.project_id);
          reports.push(report);
          progress.add(report.entries_checked);
        }
        progress.finish();
        if (wantsJson(global)) printJson(options.all ? reports : reports[0]);
        else {
          printTable(
            reports.map((report) => ({
              project_id: report.project_id,
              ok: report.ok ? 'verified' : 'BROKEN',
              entries: report.entries_checked,
              head: report.head?.entry_hash.slice(0, 16),
              first_bad_seq: report.first_bad_seq,
              reason: report.reason,
            })),
            ['project_id', 'ok', 'entries', 'head', 'first_bad_seq', 'reason'],
          );
        }
        if (reports.some((report) => !report.ok)) process.exitCode = EXIT_CODES.CHAIN_BROKEN;
      });
    });
  withExample(command, 'execution-ledger verify --project proj-001', 'execution-ledger verify --all --json');
}
