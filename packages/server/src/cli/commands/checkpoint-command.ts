import assert from 'node:assert';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { type CheckpointResult, LedgerError } from 'execution-ledger';
import { printJson, wantsJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { readSigningKeyFile } from '../key-file-input.js';
import { withLedger } from '../open-ledger.js';
import { globalOptions, withExample } from './command-options.js';

/** Names the private key file when --private-key is not given (for cron jobs and containers). */
export const CHECKPOINT_KEY_VARIABLE = 'EXECUTION_LEDGER_CHECKPOINT_KEY';

interface CheckpointOptions {
  privateKey?: string;
  ifChanged?: boolean;
  out?: string;
}

export function registerCheckpointCommand(program: Command): void {
  const command = program
    .command('checkpoint')
    .description(
      "sign a checkpoint over every project's head and print its note, the text to keep outside the database " +
        '(exit 5 when a chain lost a head an earlier checkpoint committed to)',
    )
    .option(
      '--private-key <file>',
      `the signing key file (default: the file named by ${CHECKPOINT_KEY_VARIABLE})`,
    )
    .option('--if-changed', 'sign nothing when no head moved since the newest checkpoint')
    .option('--out <file>', 'write the note to this file instead of stdout')
    .action(async (options: CheckpointOptions, self: Command) => {
      const global = globalOptions(self);
      const file = options.privateKey ?? process.env[CHECKPOINT_KEY_VARIABLE];
      if (file === undefined || file === '') {
        throw new LedgerError(
          'INVALID_KEY',
          `checkpoint needs the signing key: pass --private-key <file> or set ${CHECKPOINT_KEY_VARIABLE}; ` +
            'create one with `execution-ledger signing-key create --private-key <file> --public-key <file>`',
          { field: '--private-key' },
        );
      }
      // Read before the database is opened: a bad key changes nothing.
      const privateKey = await readSigningKeyFile(file, '--private-key');
      const result = await withLedger(global, (ledger) =>
        ledger.createCheckpoint({ privateKey, onlyIfChanged: options.ifChanged === true }),
      );
      await report(result, options, wantsJson(global));
      if (result.diverged.length > 0) process.exitCode = EXIT_CODES.CHAIN_BROKEN;
    });
  withExample(
    command,
    'execution-ledger checkpoint --private-key checkpoint.key --out cp-1.txt',
    `${CHECKPOINT_KEY_VARIABLE}=checkpoint.key execution-ledger checkpoint --if-changed --json`,
  );
}

async function report(result: CheckpointResult, options: CheckpointOptions, json: boolean): Promise<void> {
  const checkpoint = result.checkpoint;
  // createCheckpoint returns the newest checkpoint even when it signed nothing, so one exists.
  assert(checkpoint !== null, 'createCheckpoint returned no checkpoint');
  if (options.out !== undefined) await writeFile(options.out, checkpoint.note);
  for (const project of result.diverged) {
    process.stderr.write(
      `project ${project.project_id} diverged from checkpointed seq ${project.committed_head.seq}: ${project.reason}\n`,
    );
  }
  if (json) return printJson(result);
  const summary = result.created
    ? `checkpoint ${checkpoint.seq} signed by ${checkpoint.origin} (key ${checkpoint.key_id}): ` +
      `${checkpoint.tree_size} project heads, ${result.heads_changed} moved since the previous one`
    : `no project head moved since checkpoint ${checkpoint.seq}; nothing signed`;
  if (options.out === undefined) {
    // stdout carries only the note, so `checkpoint > cp.txt` keeps exactly the signed text.
    process.stderr.write(`${summary}\n`);
    process.stdout.write(checkpoint.note);
  } else {
    process.stdout.write(`${summary}; note of checkpoint ${checkpoint.seq} written to ${options.out}\n`);
  }
}
