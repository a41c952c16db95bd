import type { Command } from 'commander';
import {
  type Ledger,
  LedgerError,
  type RollupVerificationReport,
  type StepRollupVerificationReport,
} from 'execution-ledger';
import { printJson, printTable, wantsJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { withLedger } from '../open-ledger.js';
import { ProgressReporter } from '../progress-reporter.js';
import { globalOptions, withExample } from './command-options.js';

interface TargetOptions {
  project?: string;
  all?: boolean;
}

type Verification = RollupVerificationReport & { steps: StepRollupVerificationReport };

/**
 * `rollups verify|rebuild|fold|zones|keep-zone`: the levels statistics and series read
 * (docs/analytics.md), checked against the entries, recreated from them, folded now, and kept in
 * a zone.
 */
export function registerRollupsCommand(program: Command): void {
  const rollups = program
    .command('rollups')
    .description(
      'check and rebuild the rollup levels statistics and series read, and keep days in a time zone',
    );
  withExample(
    rollups,
    'execution-ledger rollups verify --all',
    'execution-ledger rollups rebuild --project proj-001',
    'execution-ledger rollups keep-zone Asia/Kolkata --project proj-001',
  );

  targetCommand(rollups, 'verify', {
    description:
      "recompute every rollup level of a project's runs, or of every project's, and compare " +
      '(exit 7 when a level disagrees; `rollups rebuild` repairs it)',
    verb: 'check',
    run: async (ledger, options, json) => {
      const projects = await targetProjects(ledger, options);
      const progress = new ProgressReporter('rollups verify', projects.length, 'projects');
      const reports: Verification[] = [];
      for (const project of projects) {
        reports.push(await ledger.verifyRollups(project));
        progress.add(1);
      }
      progress.finish();
      if (json) printJson(options.all === true ? reports : reports[0]);
      else printVerifications(reports);
      if (reports.some((report) => !report.ok)) process.exitCode = EXIT_CODES.ROLLUPS_DISAGREE;
    },
  });

  targetCommand(rollups, 'rebuild', {
    description:
      "recreate every rollup level of a project, or of every project, from its entries (each project's " +
      'appends wait while its levels are rewritten)',
    verb: 'rebuild',
    run: async (ledger, options, json) => {
      const progress = new ProgressReporter('rollups rebuild', undefined, 'projects');
      const report = await ledger.rebuildRollups(options.project, {
        onProject: (_done, total) => {
          progress.setTotal(total);
          progress.add(1);
        },
      });
      progress.finish();
      if (json) return printJson(report);
      printTable(
        [
          ...Object.entries(report.levels).map(([level, groups]) => ({ level, groups })),
          { level: 'steps', groups: report.step_groups },
        ],
        ['level', 'groups'],
      );
      process.stdout.write(
        `rebuilt ${report.projects} project${report.projects === 1 ? '' : 's'}: ` +
          `${(report.groups + report.step_groups).toLocaleString('en-US')} groups written\n`,
      );
    },
  });

  rollups
    .command('fold')
    .description(
      'add the runs appended since the last fold to the rollup levels now (the ledger folds within a ' +
        'second of an append, and every read counts what is pending; this is for SQL of your own)',
    )
    .option('--project <id>', 'only this project (default: every project with runs pending)')
    .action(async (options: { project?: string }, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const report = await ledger.foldRollups(options.project);
        if (wantsJson(global)) return printJson(report);
        process.stdout.write(
          `folded ${report.entries.toLocaleString('en-US')} run${report.entries === 1 ? '' : 's'} of ` +
            `${report.projects} project${report.projects === 1 ? '' : 's'} into the rollup levels\n`,
        );
      });
    });

  rollups
    .command('zones')
    .description(
      'the time zones whose days each project keeps (daily and weekly series there read one row per day)',
    )
    .option('--project <id>', 'only this project')
    .action(async (options: { project?: string }, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const zones = await ledger.listRollupTimeZones(options.project);
        if (wantsJson(global)) return printJson(zones);
        printTable(
          zones.map((zone) => ({ ...zone })),
          ['project_id', 'time_zone', 'added_at'],
        );
      });
    });

  const keepZone = rollups
    .command('keep-zone')
    .description(
      "keep a project's days in a time zone: fills them from its entries now (its appends wait) " +
        'and keeps them with every fold after',
    )
    .argument('<zone>', 'an IANA time zone such as Asia/Kolkata')
    .requiredOption('--project <id>', 'the project whose days to keep')
    .action(async (zone: string, options: { project: string }, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const report = await ledger.addRollupTimeZone(options.project, zone);
        if (wantsJson(global)) return printJson(report);
        process.stdout.write(
          `project ${report.project_id} keeps its days in ${report.time_zone}: ` +
            `${report.groups.toLocaleString('en-US')} day groups written\n`,
        );
      });
    });
  withExample(keepZone, 'execution-ledger rollups keep-zone Asia/Kolkata --project proj-001');
}

/**
 * A subcommand over one project (`--project <id>`) or every project (`--all`), exactly one of
 * them, with the ledger opened from the global options.
 */
function targetCommand(
  parent: Command,
  name: string,
  spec: {
    description: string;
    /** What the command does to a project, for the options' help: "check", "rebuild". */
    verb: string;
    run: (ledger: Ledger, options: TargetOptions, json: boolean) => Promise<void>;
  },
): void {
  parent
    .command(name)
    .description(spec.description)
    .option('--project <id>', `the project to ${spec.verb}`)
    .option('--all', `${spec.verb} every project`)
    .action(async (options: TargetOptions, self: Command) => {
      const global = globalOptions(self);
      if ((options.project === undefined) === (options.all !== true)) {
        throw new LedgerError(
          'VALIDATION_FAILED',
          `rollups ${name} needs exactly one of --project <id> or --all`,
          { field: 'project' },
        );
      }
      await withLedger(global, (ledger) => spec.run(ledger, options, wantsJson(global)));
    });
}

async function targetProjects(ledger: Ledger, options: TargetOptions): Promise<string[]> {
  if (options.project !== undefined) return [options.project];
  return (await ledger.operations.listProjects()).map((project) => project.project_id);
}

function printVerifications(reports: Verification[]): void {
  printTable(
    reports.map((report) => ({
      project_id: report.project_id,
      ok: report.ok ? 'verified' : 'DISAGREES',
      groups: report.groups_checked + report.steps.groups_checked,
      levels: [
        ...report.levels.filter((level) => !level.ok).map((level) => level.level),
        ...(report.steps.ok ? [] : ['steps']),
      ].join(', '),
    })),
    ['project_id', 'ok', 'groups', 'levels'],
  );
  // The table names the levels: each disagreeing project's first mismatches follow it in full.
  for (const report of reports.filter((item) => !item.ok)) {
    const lines = [
      ...report.mismatches.map(
        (mismatch) =>
          `${mismatch.level} ${mismatch.period_start}${describeKeys(mismatch)}: ${mismatch.reason}`,
      ),
      ...report.steps.mismatches.map(
        (mismatch) =>
          `steps ${mismatch.day} ${[mismatch.agent_id, mismatch.user_id, mismatch.status, mismatch.kind, mismatch.name, mismatch.model].join('/')}: ${mismatch.reason}`,
      ),
    ];
    for (const line of lines.slice(0, MISMATCH_LINES_MAX)) {
      process.stdout.write(`${report.project_id}: ${line}\n`);
    }
    if (lines.length > MISMATCH_LINES_MAX) {
      process.stdout.write(
        `${report.project_id}: … ${lines.length - MISMATCH_LINES_MAX} more (--json lists them)\n`,
      );
    }
    process.stdout.write(`repair: execution-ledger rollups rebuild --project ${report.project_id}\n`);
  }
}

const MISMATCH_LINES_MAX = 5;

function describeKeys(mismatch: {
  agent_id: string | null;
  user_id: string | null;
  status: string | null;
}): string {
  const keys = [
    ['agent', mismatch.agent_id],
    ['user', mismatch.user_id],
    ['status', mismatch.status],
  ].filter(([, value]) => value !== null);
  return keys.length === 0 ? '' : ` (${keys.map(([name, value]) => `${name} ${value}`).join(', ')})`;
}
