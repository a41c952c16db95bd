import type { Command } from 'commander';
import { LedgerError, type VerificationReport } from 'execution-ledger';
import { printJson, printTable, wantsJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { readPublicKeyFile } from '../key-file-input.js';
import { withLedger } from '../open-ledger.js';
import { ProgressReporter } from '../progress-reporter.js';
import { globalOptions, withExample } from './command-options.js';
import { verifyExportFile } from './offline-verify.js';

interface VerifyOptions {
  project?: string;
  all?: boolean;
  publicKey?: string;
  file?: string;
  checkpoint?: string;
}

export function registerVerifyCommand(program: Command): void {
  const command = program
    .command('verify')
    .description(
      "re-derive every hash of a project's chain, of every project, or of an export file without a database " +
        '(exit 5 when one is broken)',
    )
    .option('--project <id>', 'the project to verify')
    .option('--all', 'verify every project')
    .option('--public-key <file>', "check the newest checkpoint's signature (with --file: the note's)")
    .option(
      '--file <export>',
      'verify an NDJSON export offline instead (`export --proof`); opens no database',
    )
    .option('--checkpoint <note>', 'with --file: the signed checkpoint note the export is proven against')
    .action(async (options: VerifyOptions, self: Command) => {
      const global = globalOptions(self);
      if (options.file !== undefined) {
        requireOffline(options);
        return verifyExportFile({ ...options, file: options.file }, wantsJson(global));
      }
      if ((options.project === undefined) === (options.all !== true)) {
        throw new LedgerError(
          'VALIDATION_FAILED',
          'verify needs exactly one of --project <id>, --all or --file <export>',
          { field: 'project' },
        );
      }
      if (options.checkpoint !== undefined) {
        throw new LedgerError('VALIDATION_FAILED', '--checkpoint goes with --file; drop it', {
          field: '--checkpoint',
        });
      }
      // Read before the database is opened: a bad key changes nothing.
      const keys =
        options.publicKey === undefined ? null : await readPublicKeyFile(options.publicKey, '--public-key');
      await withLedger(global, async (ledger) => {
        const projects =
          options.project !== undefined
            ? [{ project_id: options.project, entries: 0 }]
            : await ledger.operations.listProjects();
        const progress = new ProgressReporter(
          'verify',
          projects.reduce((sum, project) => sum + project.entries, 0) || undefined,
          'entries',
        );
        const reports: VerificationReport[] = [];
        for (const project of projects) {
          const report = await ledger.verifyLedger(
            project.project_id,
            keys === null ? {} : { publicKey: keys },
          );
          reports.push(report);
          progress.add(report.entries_checked);
        }
        progress.finish();
        if (wantsJson(global)) printJson(options.all ? reports : reports[0]);
        else printReports(reports);
        if (reports.some((report) => !report.ok)) process.exitCode = EXIT_CODES.CHAIN_BROKEN;
      });
    });
  withExample(
    command,
    'execution-ledger verify --project proj-001',
    'execution-ledger verify --all --public-key checkpoint.pub --json',
    'execution-ledger verify --file export.ndjson --checkpoint cp-1.txt --public-key checkpoint.pub',
  );
}

function requireOffline(options: VerifyOptions): void {
  if (options.project !== undefined || options.all === true) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      '--file verifies an export without the database; drop --project and --all (the export names its project)',
      { field: '--file' },
    );
  }
}

function printReports(reports: VerificationReport[]): void {
  printTable(
    reports.map((report) => ({
      project_id: report.project_id,
      ok: report.ok ? 'verified' : 'BROKEN',
      entries: report.entries_checked,
      head: report.head?.entry_hash.slice(0, 16),
      checkpoint: describeCheckpoint(report),
      first_bad_seq: report.first_bad_seq,
      reason: report.reason,
    })),
    ['project_id', 'ok', 'entries', 'head', 'checkpoint', 'first_bad_seq', 'reason'],
  );
  // The table cuts long cells: the first problem's full reason follows it.
  for (const report of reports.filter((item) => !item.ok)) {
    process.stdout.write(`${report.project_id}: ${report.reason}\n`);
  }
}

/** e.g. "3, signature valid": the newest checkpoint's number and how its signature was judged. */
function describeCheckpoint(report: VerificationReport): string {
  const check = report.checkpoint;
  if (check === undefined || check === null) return 'none';
  return `${check.seq}, signature ${check.signature}`;
}
