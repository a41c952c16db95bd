import type { Command } from 'commander';
import { createLedger } from 'execution-ledger';
import { printJson, wantsJson } from '../cli-output.js';
import { ledgerOptions } from '../open-ledger.js';
import { globalOptions, withExample } from './command-options.js';

interface MigrateOptions {
  grantRuntime?: string;
}

export function registerMigrateCommand(program: Command): void {
  const command = program
    .command('migrate')
    .description('apply pending schema migrations, as the owner (other commands do this on first use too)')
    .option(
      '--grant-runtime <role>',
      'then grant this existing login role what the service needs (reader, service, writer) and nothing more',
    )
    .action(async (options: MigrateOptions, self: Command) => {
      const global = globalOptions(self);
      const ledger = createLedger({ ...ledgerOptions(global), migrate: false });
      try {
        const report = await ledger.migrate();
        const granted =
          options.grantRuntime === undefined
            ? undefined
            : await ledger.operations.grantRuntimeRole(options.grantRuntime);
        if (wantsJson(global))
          printJson(
            granted === undefined ? report : { ...report, granted_to: options.grantRuntime, granted },
          );
        else process.stdout.write(describeMigration(report, options.grantRuntime, granted));
      } finally {
        await ledger.close();
      }
    });
  withExample(
    command,
    'DATABASE_URL=postgres://ledger:secret@localhost/ledger execution-ledger migrate',
    'execution-ledger migrate --database postgres://ledger:secret@localhost/ledger --grant-runtime ledger_runtime',
  );
}

function describeMigration(
  report: { applied: string[]; already_applied: number },
  role: string | undefined,
  granted: string[] | undefined,
): string {
  const schema =
    report.applied.length === 0
      ? `schema up to date (${report.already_applied} migrations applied before)\n`
      : `applied ${report.applied.join(', ')}\n`;
  if (role === undefined || granted === undefined) return schema;
  return (
    schema +
    (granted.length === 0
      ? `role ${role} already holds the runtime roles\n`
      : `granted ${granted.join(', ')} to ${role}\n`)
  );
}
