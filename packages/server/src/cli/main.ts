#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerAllocateCommand } from './commands/allocate-command.js';
import { registerBudgetsCommand } from './commands/budgets-command.js';
import { registerCheckpointCommand } from './commands/checkpoint-command.js';
import { positiveInteger } from './commands/command-options.js';
import { registerDemoCommand } from './commands/demo-command.js';
import { registerExportCommand } from './commands/export-command.js';
import { registerImportCommand } from './commands/import-command.js';
import { registerKeysCommand } from './commands/keys-command.js';
import { registerMigrateCommand } from './commands/migrate-command.js';
import { registerReadCommands } from './commands/read-commands.js';
import { registerRecordCommand } from './commands/record-command.js';
import { registerReplayCommand } from './commands/replay-command.js';
import { registerRollupsCommand } from './commands/rollups-command.js';
import { registerServeCommand } from './commands/serve-command.js';
import { registerShardsCommand } from './commands/shards-command.js';
import { registerSigningKeyCommand } from './commands/signing-key-command.js';
import { registerTreeCommand } from './commands/tree-command.js';
import { registerVerifyCommand } from './commands/verify-command.js';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';

/** The `execution-ledger` command: every operation of the ledger and its HTTP service. */
export function buildProgram(): Command {
  const program = new Command('execution-ledger')
    .description('A write-once, tamper-evident ledger of AI-agent executions.')
    .option(
      '--database <target>',
      'postgres:// URL, folder, or memory: (default: DATABASE_URL, else ./.execution-ledger)',
    )
    .option(
      '--no-prepared-statements',
      'keep no prepared statements on a server connection (PgBouncer in transaction mode before 1.21)',
    )
    .option(
      '--database-reply-timeout-ms <ms>',
      'silence on one statement before the server is probed; a server that answers no probe fails the call (default 10000)',
      positiveInteger,
    )
    .option(
      '--database-connect-timeout-ms <ms>',
      'the longest a server connection may take to open or come free (default 5000)',
      positiveInteger,
    )
    .option('--json', 'print JSON instead of tables')
    .showHelpAfterError()
    .exitOverride();
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 failure, 2 usage, 3 input refused, 4 not found, 5 chain broken or checkpoint check failed, 6 database unusable.\n' +
      '\nExample:\n  $ execution-ledger demo && execution-ledger stats --project proj-001\n',
  );
  registerServeCommand(program);
  registerMigrateCommand(program);
  registerRecordCommand(program);
  registerReadCommands(program);
  registerExportCommand(program);
  registerImportCommand(program);
  registerVerifyCommand(program);
  registerRollupsCommand(program);
  registerCheckpointCommand(program);
  registerSigningKeyCommand(program);
  registerKeysCommand(program);
  registerBudgetsCommand(program);
  registerDemoCommand(program);
  registerTreeCommand(program);
  registerAllocateCommand(program);
  registerReplayCommand(program);
  registerShardsCommand(program);
  return program;
}

async function main(): Promise<void> {
  // A reader that stops early (`execution-ledger export … | head`) closes the pipe: end quietly
  // and successfully, as other command-line tools do, instead of printing a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_CODES.OK);
    throw error;
  });
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      process.exitCode = error.exitCode === 0 ? EXIT_CODES.OK : EXIT_CODES.USAGE;
      return;
    }
    const code = (error as { code?: string }).code;
    process.stderr.write(
      `execution-ledger: ${code === undefined ? '' : `${code}: `}${(error as Error).message}\n`,
    );
    process.exitCode = exitCodeFor(error);
  }
}

await main();
