import type { Command } from 'commander';
import type { ExecutionInput, RecordedExecution } from 'execution-ledger';
import { printJson, printTable, wantsJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { withLedger } from '../open-ledger.js';
import { readJsonInput } from '../read-input.js';
import { globalOptions, withExample } from './command-options.js';

export function registerRecordCommand(program: Command): void {
  const command = program
    .command('record')
    .description('record one execution (a JSON object) or several (a JSON array) from a file or stdin')
    .argument('[file]', 'JSON file; - or nothing reads stdin')
    .action(async (file: string | undefined, _options: unknown, self: Command) => {
      const global = globalOptions(self);
      const input = await readJsonInput(file);
      await withLedger(global, async (ledger) => {
        if (!Array.isArray(input)) {
          const record = await ledger.recordExecution(input as ExecutionInput);
          if (wantsJson(global)) printJson(record);
          else printTable([summary(record)], SUMMARY_COLUMNS);
          return;
        }
        const results = await ledger.recordExecutions(input as ExecutionInput[]);
        if (wantsJson(global)) {
          printJson(
            results.map((result) =>
              result.ok ? result : { index: result.index, ok: false, error: result.error.toJSON() },
            ),
          );
        } else {
          printTable(
            results.map((result) =>
              result.ok
                ? { index: result.index, ...summary(result.record) }
                : { index: result.index, outcome: `${result.error.code}: ${result.error.message}` },
            ),
            ['index', ...SUMMARY_COLUMNS],
          );
        }
        if (results.some((result) => !result.ok)) process.exitCode = EXIT_CODES.REFUSED;
      });
    });
  withExample(command, 'execution-ledger record run.json', 'cat runs.json | execution-ledger record --json');
}

const SUMMARY_COLUMNS = ['run_id', 'project_id', 'outcome', 'seq', 'entry_hash'];

function summary(record: RecordedExecution) {
  return {
    run_id: record.run_id,
    project_id: record.project_id,
    outcome: record.replayed ? 'replayed' : 'created',
    seq: record.seq,
    entry_hash: record.entry_hash.slice(0, 16),
  };
}
