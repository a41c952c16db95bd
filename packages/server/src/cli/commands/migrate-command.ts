import type { Command } from 'commander';
import { createLedger, LedgerError } from 'execution-ledger';
import { migrationScript } from 'execution-ledger/database';
import { printJson, wantsJson } from '../cli-output.js';
import { ledgerOptions } from '../open-ledger.js';
import { globalOptions, withExample } from './command-options.js';

interface MigrateOptions {
  grantRuntime?: string;
  printSql?: boolean;
  supabase?: boolean;
  from?: string;
}

export function registerMigrateCommand(program: Command): void {
  const command = program
    .command('migrate')
    .description('apply pending schema migrations, as the owner (other commands do this on first use too)')
    .option(
      '--grant-runtime <role>',
      'then grant this existing login role what the service needs (reader, service, writer) and nothing more',
    )
    .option(
      '--print-sql',
      'write the migrations to stdout as one SQL file (for supabase/migrations/ or psql) instead of applying them',
    )
    .option('--supabase', "with --print-sql: add the grants and policies for Supabase's API roles")
    .option('--from <number>', 'with --print-sql: start at this migration (an upgrade of a printed schema)')
    .action(async (options: MigrateOptions, self: Command) => {
      const global = globalOptions(self);
      if (options.printSql === true || options.supabase === true || options.from !== undefined) {
        process.stdout.write(await printedMigrations(options));
        return;
      }
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
    'execution-ledger migrate --print-sql --supabase > supabase/migrations/20260213000000_execution_ledger.sql',
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

/** The printed script; touches no database, so it needs no --database. */
async function printedMigrations(options: MigrateOptions): Promise<string> {
  if (options.printSql !== true) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${options.supabase === true ? '--supabase' : '--from'} only applies to --print-sql; add --print-sql to print the migrations, or drop it to apply them`,
      { field: options.supabase === true ? '--supabase' : '--from' },
    );
  }
  if (options.grantRuntime !== undefined) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      '--grant-runtime needs a database and --print-sql writes to stdout instead; apply the printed file, then run ' +
        '`execution-ledger migrate --database <owner URL> --grant-runtime <role>`',
      { field: '--grant-runtime' },
    );
  }
  let from: number | undefined;
  if (options.from !== undefined) {
    from = /^[0-9]{1,9}$/.test(options.from) ? Number(options.from) : Number.NaN;
    if (Number.isNaN(from)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `--from must be a migration number such as 8 (or 0008); got ${JSON.stringify(options.from)}`,
        { field: '--from' },
      );
    }
  }
  return migrationScript({ supabase: options.supabase === true, ...(from === undefined ? {} : { from }) });
}
