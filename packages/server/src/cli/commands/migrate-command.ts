import type { Command } from 'commander';
import { createLedger } from 'execution-ledger';
import { printJson, wantsJson } from '../cli-output.js';
import { ledgerOptions } from '../open-ledger.js';
import { globalOptions, withExample } from './command-options.js';

export function registerMigrateCommand(program: Command): void {
  const command = program
    .command('migrate')
    .description('apply pending schema migrations (other commands do this on first use too)')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptions(self);
      const ledger = createLedger({ ...ledgerOptions(global), migrate: false });
      try {
        const report = await ledger.migrate();
        if (wantsJson(global)) printJson(report);
        else {
          process.stdout.write(
            report.applied.length === 0
              ? `schema up to date (${report.already_applied} migrations applied before)\n`
              : `applied ${report.applied.join(', ')}\n`,
          );
        }
      } finally {
        await ledger.close();
      }
    });
  withExample(command, 'DATABASE_URL=postgres://ledger:secret@localhost/ledger execution-ledger migrate');
}
