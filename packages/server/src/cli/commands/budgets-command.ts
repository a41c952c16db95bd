import { type Command, Option } from 'commander';
import {
  BUDGET_ACTIONS,
  BUDGET_PERIODS,
  type BudgetAction,
  type BudgetPeriod,
  type BudgetStatus,
  LedgerError,
} from 'execution-ledger';
import { type Cell, printJson, printTable, wantsJson } from '../cli-output.js';
import { withLedger } from '../open-ledger.js';
import { globalOptions, positiveInteger, withExample } from './command-options.js';

const STATUS_COLUMNS = [
  'id',
  'scope',
  'period',
  'action',
  'limit_cents',
  'spent_cents',
  'held_cents',
  'remaining_cents',
  'runs',
];
const EVENT_COLUMNS = ['seq', 'created_at', 'type', 'project_id', 'budget_id', 'run_id', 'summary'];

interface SetOptions {
  project?: string;
  agent?: string;
  user?: string;
  period: BudgetPeriod;
  timeZone?: string;
  limitCents: string;
  thresholds?: string;
  action?: BudgetAction;
}

/** `budgets list|set|status` and `events`: the database budgets and the events table. */
export function registerBudgetsCommand(program: Command): void {
  const budgets = program
    .command('budgets')
    .description('define budgets shared through the database, and see their spend');
  withExample(
    budgets,
    'execution-ledger budgets set daily-x --project proj-001 --period day --limit-cents 50000',
  );

  budgets
    .command('list')
    .description('every budget with its current period: spent, held and remaining cents')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const all = await ledger.budgets.statuses();
        if (wantsJson(global)) return printJson(all);
        printTable(all.map(statusRow), STATUS_COLUMNS);
      });
    });

  const set = budgets
    .command('set')
    .description('create or replace a budget; its spend is derived from the runs already recorded')
    .argument('<id>', 'the budget name')
    .option('--project <id>', 'count runs of this project')
    .option('--agent <id>', 'count runs of this agent')
    .option('--user <id>', 'count runs of this user')
    .addOption(
      new Option('--period <period>', 'day, week, month or total')
        .choices([...BUDGET_PERIODS])
        .makeOptionMandatory(),
    )
    .option('--time-zone <zone>', 'IANA time zone of the period (default UTC)')
    .requiredOption('--limit-cents <cents>', 'the limit per period, in cents')
    .option('--thresholds <list>', 'percentages that fire an event, comma-separated (default 50,80,100)')
    .addOption(
      new Option('--action <action>', 'block refuses reservations past the limit; warn only tells').choices([
        ...BUDGET_ACTIONS,
      ]),
    )
    .action(async (id: string, options: SetOptions, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const status = await ledger.budgets.set({
          id,
          project_id: options.project ?? null,
          agent_id: options.agent ?? null,
          user_id: options.user ?? null,
          period: options.period,
          limit_cents: number(options.limitCents, '--limit-cents'),
          ...(options.timeZone === undefined ? {} : { time_zone: options.timeZone }),
          ...(options.thresholds === undefined
            ? {}
            : {
                thresholds: options.thresholds.split(',').map((part) => number(part.trim(), '--thresholds')),
              }),
          ...(options.action === undefined ? {} : { action: options.action }),
        });
        if (wantsJson(global)) return printJson(status);
        process.stdout.write(
          `budget ${status.id} (${scopeText(status)}, ${status.period}, ${status.action}): ` +
            `spent ${status.spent_cents} of ${status.limit_cents} cents this period\n`,
        );
      });
    });
  withExample(
    set,
    'execution-ledger budgets set agent-week --agent backend --period week --time-zone Europe/Paris --limit-cents 20000 --action warn',
  );

  budgets
    .command('status')
    .description("one budget's current period")
    .argument('<id>', 'the budget name')
    .action(async (id: string, _options: unknown, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const status = await ledger.budgets.status(id);
        if (wantsJson(global)) return printJson(status);
        printTable([statusRow(status)], STATUS_COLUMNS);
      });
    });

  const events = program
    .command('events')
    .description('events in commit order: budget thresholds, blocks, anomalies and dismissals')
    .option('--cursor <cursor>', 'the next_cursor printed by the previous call')
    .option('--limit <n>', 'events to print (default 100)', positiveInteger)
    .option('--type <type>', 'only events of this type')
    .option('--project <id>', 'only events of this project')
    .action(
      async (
        options: { cursor?: string; limit?: number; type?: string; project?: string },
        self: Command,
      ) => {
        const global = globalOptions(self);
        await withLedger(global, async (ledger) => {
          const page = await ledger.events.list({
            ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
            ...(options.limit === undefined ? {} : { limit: options.limit }),
            ...(options.type === undefined ? {} : { type: options.type }),
            ...(options.project === undefined ? {} : { project_id: options.project }),
          });
          if (wantsJson(global)) return printJson(page);
          printTable(
            page.events.map((event) => ({
              seq: event.seq,
              created_at: event.created_at,
              type: event.type,
              project_id: event.project_id,
              budget_id: event.budget_id,
              run_id: event.run_id,
              summary: JSON.stringify(event.payload),
            })),
            EVENT_COLUMNS,
          );
          process.stdout.write(`next cursor: ${page.next_cursor}\n`);
        });
      },
    );
  withExample(events, 'execution-ledger events --project proj-001 --cursor e42');

  const webhooks = program
    .command('webhooks')
    .description('endpoints that `serve` delivers events to, signed');
  const add = webhooks
    .command('add')
    .description('create or replace an endpoint; it receives the events after the newest one')
    .argument('<id>', 'the endpoint name')
    .requiredOption('--url <url>', 'where events are POSTed')
    .requiredOption('--secret <secret>', 'the HMAC-SHA256 key the receiver checks (16 to 200 characters)')
    .option('--project <id>', 'only events of this project')
    .action(async (id: string, options: { url: string; secret: string; project?: string }, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const endpoint = await ledger.webhooks.set({
          id,
          url: options.url,
          secret: options.secret,
          project_id: options.project ?? null,
        });
        if (wantsJson(global)) return printJson(endpoint);
        process.stdout.write(
          `webhook ${endpoint.id} -> ${endpoint.url} from event seq ${endpoint.cursor_seq}\n`,
        );
      });
    });
  withExample(
    add,
    'execution-ledger webhooks add ops --url https://hooks.example.com/ledger --secret "$HOOK_SECRET"',
  );
  webhooks
    .command('list')
    .description('endpoints with their cursor and last failure (never their secrets)')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const all = await ledger.webhooks.list();
        if (wantsJson(global)) return printJson(all);
        printTable(
          all.map((endpoint) => ({ ...endpoint })),
          ['id', 'url', 'project_id', 'cursor_seq', 'delivered', 'attempts', 'next_attempt_at', 'last_error'],
        );
      });
    });
  webhooks
    .command('remove')
    .description('removes an endpoint')
    .argument('<id>', 'the endpoint name')
    .action(async (id: string, _options: unknown, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        if (!(await ledger.webhooks.delete(id))) await ledger.webhooks.get(id);
        process.stdout.write(`webhook ${id} removed\n`);
      });
    });

  const anomalies = program
    .command('anomalies')
    .description('turn anomaly detection on or off and tune it (docs/alerts.md); prints the settings')
    .addOption(new Option('--enable', 'turn detection on').conflicts('disable'))
    .addOption(new Option('--disable', 'turn detection off'))
    .option('--threshold <score>', 'robust score above which a value is an anomaly')
    .option('--window-runs <n>', 'runs per project and agent in the window', positiveInteger)
    .option('--min-sample <n>', 'runs a window needs before it scores', positiveInteger)
    .action(
      async (
        options: {
          enable?: boolean;
          disable?: boolean;
          threshold?: string;
          windowRuns?: number;
          minSample?: number;
        },
        self: Command,
      ) => {
        const global = globalOptions(self);
        await withLedger(global, async (ledger) => {
          const settings = await ledger.anomalies.configure({
            ...(options.enable ? { enabled: true } : {}),
            ...(options.disable ? { enabled: false } : {}),
            ...(options.threshold === undefined
              ? {}
              : { threshold: number(options.threshold, '--threshold') }),
            ...(options.windowRuns === undefined ? {} : { window_runs: options.windowRuns }),
            ...(options.minSample === undefined ? {} : { min_sample: options.minSample }),
          });
          printJson(settings);
        });
      },
    );
  withExample(anomalies, 'execution-ledger anomalies --enable --threshold 4');
}

function statusRow(status: BudgetStatus): Record<string, Cell> {
  return {
    id: status.id,
    scope: scopeText(status),
    period: status.period,
    action: status.action,
    limit_cents: status.limit_cents,
    spent_cents: status.spent_cents,
    held_cents: status.held_cents,
    remaining_cents: status.remaining_cents,
    runs: status.runs,
  };
}

function scopeText(scope: {
  project_id: string | null;
  agent_id: string | null;
  user_id: string | null;
}): string {
  const parts = [
    scope.project_id === null ? null : `project ${scope.project_id}`,
    scope.agent_id === null ? null : `agent ${scope.agent_id}`,
    scope.user_id === null ? null : `user ${scope.user_id}`,
  ];
  return parts.filter((part) => part !== null).join(', ');
}

function number(text: string, option: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new LedgerError('VALIDATION_FAILED', `${option} must be a number; got ${JSON.stringify(text)}`, {
      field: option,
    });
  }
  return value;
}
