import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { type AllocationReportOptions, allocationReportToCsv, LedgerError } from 'execution-ledger';
import { dollars, printJson, printTable, wantsJson } from '../cli-output.js';
import { withLedger } from '../open-ledger.js';
import { globalOptions, positiveInteger, withExample } from './command-options.js';

interface AllocateOptions {
  period?: string;
  ruleSetVersion?: number;
  csv?: boolean;
  publish?: string;
}

/** `allocate`: a month's allocation report (table, JSON or FOCUS-style CSV), or publish a rule set. */
export function registerAllocateCommand(program: Command): void {
  const allocate = program
    .command('allocate')
    .description("split a month's costs by the allocation rules (docs/allocation.md), or publish a rule set")
    .option('--period <YYYY-MM>', 'the UTC month to report')
    .option('--rule-set-version <n>', 'the rule set version (default: the newest in effect)', positiveInteger)
    .option('--csv', 'write the report as CSV with FOCUS-style columns')
    .option('--publish <file>', 'publish the rule set in this JSON file as the next version')
    .action(async (options: AllocateOptions, self: Command) => {
      const global = globalOptions(self);
      if ((options.period === undefined) === (options.publish === undefined)) {
        throw new LedgerError('VALIDATION_FAILED', 'allocate needs --period <YYYY-MM> or --publish <file>', {
          field: 'period',
        });
      }
      await withLedger(global, async (ledger) => {
        if (options.publish !== undefined) {
          const text = await readFile(options.publish, 'utf8');
          let ruleSet: unknown;
          try {
            ruleSet = JSON.parse(text);
          } catch (error) {
            throw new LedgerError(
              'VALIDATION_FAILED',
              `${options.publish} is not JSON: ${(error as Error).message}`,
              {
                field: 'publish',
              },
            );
          }
          const published = await ledger.publishAllocationRuleSet(ruleSet as never);
          if (wantsJson(global)) printJson(published);
          else process.stdout.write(`published version ${published.version}, sha256 ${published.hash}\n`);
          return;
        }
        const request: AllocationReportOptions = { period: options.period as string };
        if (options.ruleSetVersion !== undefined) request.ruleSetVersion = options.ruleSetVersion;
        const report = await ledger.getAllocationReport(request);
        if (options.csv === true) process.stdout.write(allocationReportToCsv(report));
        else if (wantsJson(global)) printJson(report);
        else {
          process.stdout.write(
            `period ${report.period}, rule set version ${report.rule_set.version} (sha256 ${report.rule_set.hash})\n`,
          );
          printTable(
            report.lines.map((line) => ({
              rule: line.rule_id,
              source: line.source,
              cost_center: line.cost_center,
              weight: line.weight,
              effective: dollars(line.effective_cost),
              markup: dollars(line.markup),
              billed: dollars(line.billed_cost),
            })),
            ['rule', 'source', 'cost_center', 'weight', 'effective', 'markup', 'billed'],
          );
          process.stdout.write(
            `total billed ${dollars(report.totals.billed_cost)} (exact amounts: --json)\n`,
          );
        }
      });
    });
  withExample(
    allocate,
    'execution-ledger allocate --period 2026-11',
    'execution-ledger allocate --period 2026-11 --rule-set-version 3 --csv > allocation.csv',
    'execution-ledger allocate --publish rules.json',
  );
}
