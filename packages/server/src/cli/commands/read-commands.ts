import { type Command, Option } from 'commander';
import {
  type ExecutionFilter,
  type ExecutionRecord,
  type ExecutionStatus,
  LedgerError,
} from 'execution-ledger';
import { dollars, printJson, printTable, wantsJson } from '../cli-output.js';
import { withLedger } from '../open-ledger.js';
import { collect, globalOptions, isoDate, positiveInteger, withExample } from './command-options.js';
import { printStepCosts } from './step-cost-output.js';

const RECORD_COLUMNS = [
  'seq',
  'created_at',
  'run_id',
  'project_id',
  'agent_id',
  'status',
  'cost',
  'duration_ms',
];

interface ListOptions {
  project?: string;
  agent?: string;
  user?: string;
  status?: ExecutionStatus[];
  since?: Date;
  until?: Date;
  limit: number;
  cursor?: string;
}

/** get, list, failed and stats: the ledger's reads, as tables or JSON. */
export function registerReadCommands(program: Command): void {
  registerGetCommand(program);
  registerListCommand(program);
  registerFailedCommand(program);
  registerStatsCommand(program);
}

function registerGetCommand(program: Command): void {
  const get = program
    .command('get')
    .description('show one execution by run id')
    .argument('<runId>')
    .action(async (runId: string, _options: unknown, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const record = await ledger.requireExecution(runId);
        if (wantsJson(global)) printJson(record);
        else printTable([row(record)], [...RECORD_COLUMNS, 'entry_hash']);
      });
    });
  withExample(get, 'execution-ledger get run-12345-abc --json');
}

function registerListCommand(program: Command): void {
  const list = program
    .command('list')
    .description('list executions, newest first, of a project or an agent')
    .option('--project <id>', 'only this project')
    .option('--agent <id>', 'only this agent')
    .option('--user <id>', 'only this user')
    .addOption(
      new Option('--status <status>', 'only this status (repeatable)')
        .choices(['completed', 'failed', 'aborted'])
        .argParser(collect),
    )
    .option('--since <date>', 'recorded at or after (inclusive)', isoDate)
    .option('--until <date>', 'recorded before (exclusive)', isoDate)
    .option('--limit <n>', 'rows per page (at most 1000)', positiveInteger, 50)
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .action(async (options: ListOptions, self: Command) => {
      const global = globalOptions(self);
      if (options.project === undefined && options.agent === undefined) {
        throw new LedgerError('VALIDATION_FAILED', 'list needs --project <id> or --agent <id>', {
          field: 'project',
        });
      }
      await withLedger(global, async (ledger) => {
        const page = await ledger.listExecutions(toFilter(options), {
          limit: options.limit,
          ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
        });
        if (wantsJson(global)) return printJson(page);
        printTable(page.data.map(row), RECORD_COLUMNS);
        process.stdout.write(
          `${page.data.length} of ${page.total}${page.next_cursor ? `; next page: --cursor ${page.next_cursor}` : ''}\n`,
        );
      });
    });
  withExample(list, 'execution-ledger list --project proj-001 --status failed --limit 20');
}

function registerFailedCommand(program: Command): void {
  const failed = program
    .command('failed')
    .description('failed and aborted executions, newest first')
    .option('--project <id>', 'only this project')
    .option('--limit <n>', 'at most this many', positiveInteger, 50)
    .action(async (options: { project?: string; limit: number }, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const records = await ledger.getFailedExecutions(options.project, options.limit);
        if (wantsJson(global)) return printJson(records);
        printTable(
          records.map((record) => ({ ...row(record), error_message: record.error_message })),
          [...RECORD_COLUMNS, 'error_message'],
        );
      });
    });
  withExample(failed, 'execution-ledger failed --project proj-001');
}

function registerStatsCommand(program: Command): void {
  const stats = program
    .command('stats')
    .description('statistics of a project, or cost statistics of an agent')
    .option('--project <id>', 'the project (with --agent: the agent within it)')
    .option('--agent <id>', "an agent's cost statistics")
    .option('--since <date>', 'from (inclusive)', isoDate)
    .option('--until <date>', 'to (exclusive)', isoDate)
    .addOption(
      new Option('--by <group>', 'step costs by tool or by model (typed steps)').choices(['tool', 'model']),
    )
    .option('--limit <n>', 'with --by: tools or models listed before "other" (default 10)', positiveInteger)
    .action(
      async (
        options: {
          project?: string;
          agent?: string;
          since?: Date;
          until?: Date;
          by?: 'tool' | 'model';
          limit?: number;
        },
        self: Command,
      ) => {
        const global = globalOptions(self);
        await withLedger(global, async (ledger) => {
          if (options.by !== undefined) return printStepCosts(ledger, options.by, options, wantsJson(global));
          if (options.agent !== undefined) {
            const costs = await ledger.getAgentCostStats(
              options.agent,
              options.project,
              options.since,
              options.until,
            );
            if (wantsJson(global)) return printJson(costs);
            return printTable(
              [
                {
                  ...costs,
                  total_cost: dollars(costs.total_cost),
                  avg_cost: dollars(costs.avg_cost),
                  min_cost: dollars(costs.min_cost),
                  max_cost: dollars(costs.max_cost),
                },
              ],
              ['agent_id', 'project_id', 'count', 'total_cost', 'avg_cost', 'min_cost', 'max_cost'],
            );
          }
          if (options.project === undefined) {
            throw new LedgerError('VALIDATION_FAILED', 'stats needs --project <id> or --agent <id>', {
              field: 'project',
            });
          }
          const totals = await ledger.getProjectExecutionStats(options.project, options.since, options.until);
          if (wantsJson(global)) return printJson(totals);
          printTable(
            [
              {
                ...totals,
                total_cost: dollars(totals.total_cost),
                avg_cost: dollars(totals.avg_cost),
                by_agent: undefined,
              },
            ],
            [
              'total_executions',
              'successful',
              'failed',
              'aborted',
              'total_cost',
              'avg_cost',
              'avg_duration_ms',
            ],
          );
          const agents = Object.entries(totals.by_agent).map(([agent, data]) => ({
            agent,
            count: data.count,
            cost: dollars(data.cost),
          }));
          printTable(agents, ['agent', 'count', 'cost']);
        });
      },
    );
  withExample(
    stats,
    'execution-ledger stats --project proj-001',
    'execution-ledger stats --agent backend --project proj-001 --since 2026-02-01',
    'execution-ledger stats --project proj-001 --by tool --since 2026-02-01',
    'execution-ledger stats --project proj-001 --by model --json',
  );
}

function toFilter(options: ListOptions): ExecutionFilter {
  const filter: ExecutionFilter = {};
  if (options.project !== undefined) filter.projectId = options.project;
  if (options.agent !== undefined) filter.agentId = options.agent;
  if (options.user !== undefined) filter.userId = options.user;
  if (options.status !== undefined) filter.status = options.status;
  if (options.since !== undefined) filter.start = options.since;
  if (options.until !== undefined) filter.end = options.until;
  return filter;
}

function row(record: ExecutionRecord) {
  return {
    seq: record.seq,
    created_at: record.created_at,
    run_id: record.run_id,
    project_id: record.project_id,
    agent_id: record.agent_id,
    status: record.status,
    cost: dollars(record.cost_json.total),
    duration_ms: record.execution_trace_json.duration_ms,
    entry_hash: record.entry_hash.slice(0, 16),
  };
}
