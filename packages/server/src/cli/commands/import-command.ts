import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ExecutionInput, Ledger } from 'execution-ledger';
import { parseStrictJson } from '../../http/strict-json-parser.js';
import { printJson, wantsJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { withLedger } from '../open-ledger.js';
import { ProgressReporter } from '../progress-reporter.js';
import { globalOptions, positiveInteger, withExample } from './command-options.js';
import { toExecutionInput } from './import-line.js';

interface ImportState {
  file_bytes: number;
  lines_done: number;
}

interface ImportTally {
  created: number;
  replayed: number;
  refused: number;
}

export function registerImportCommand(program: Command): void {
  const command = program
    .command('import')
    .description('record executions from an NDJSON file in batches; re-running resumes and never duplicates')
    .argument('<file>', 'NDJSON: one execution per line (an input, or a record from `export`)')
    .option('--batch-size <n>', 'executions per batch', positiveInteger, 500)
    .option('--restart', 'ignore the saved position and start from the first line (still idempotent)')
    .action(async (file: string, options: { batchSize: number; restart?: boolean }, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const tally = await importFile(ledger, file, options.batchSize, options.restart === true);
        if (wantsJson(global)) printJson(tally);
        else
          process.stdout.write(
            `imported ${file}: ${tally.created} created, ${tally.replayed} already there, ${tally.refused} refused\n`,
          );
        if (tally.refused > 0) process.exitCode = EXIT_CODES.REFUSED;
      });
    });
  withExample(command, 'execution-ledger import executions.ndjson --batch-size 1000');
}

/**
 * Reads line by line (memory stays bounded) and records a batch at a time. After each batch
 * the position is saved beside the file, so an interrupted import resumes there; lines
 * recorded twice anyway replay instead of duplicating, because run ids are idempotent.
 */
async function importFile(
  ledger: Ledger,
  file: string,
  batchSize: number,
  restart: boolean,
): Promise<ImportTally> {
  const statePath = `${file}.import-state.json`;
  const fileBytes = (await stat(file)).size;
  const skip = restart ? 0 : await savedPosition(statePath, fileBytes);
  if (skip > 0) process.stderr.write(`import: resuming after line ${skip} (saved in ${statePath})\n`);
  const progress = new ProgressReporter('import', fileBytes, 'bytes');
  const tally: ImportTally = { created: 0, replayed: 0, refused: 0 };
  let batch: { line: number; input: ExecutionInput | Error }[] = [];
  let lineNumber = 0;
  const flush = async () => {
    await recordBatch(ledger, batch, tally);
    await writeFile(
      statePath,
      JSON.stringify({ file_bytes: fileBytes, lines_done: lineNumber } satisfies ImportState),
    );
    batch = [];
  };
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of lines) {
    lineNumber += 1;
    progress.add(Buffer.byteLength(text) + 1);
    if (lineNumber <= skip || text.trim() === '') continue;
    batch.push({ line: lineNumber, input: parseLine(text) });
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  progress.finish();
  // Finished: the next run of the same command starts over (and replays, changing nothing).
  await rm(statePath, { force: true });
  return tally;
}

async function recordBatch(
  ledger: Ledger,
  batch: { line: number; input: ExecutionInput | Error }[],
  tally: ImportTally,
): Promise<void> {
  const valid = batch.filter((item) => !(item.input instanceof Error));
  for (const item of batch) if (item.input instanceof Error) refuse(tally, item.line, item.input.message);
  const results = await ledger.recordExecutions(valid.map((item) => item.input as ExecutionInput));
  for (const result of results) {
    const item = valid[result.index];
    assert(item !== undefined, 'recordExecutions answers each input by its index');
    if (!result.ok) refuse(tally, item.line, `${result.error.code}: ${result.error.message}`);
    else if (result.record.replayed) tally.replayed += 1;
    else tally.created += 1;
  }
}

function parseLine(text: string): ExecutionInput | Error {
  try {
    return toExecutionInput(parseStrictJson(text));
  } catch (error) {
    return error as Error;
  }
}

function refuse(tally: ImportTally, line: number, message: string): void {
  tally.refused += 1;
  process.stderr.write(`line ${line} refused: ${message}\n`);
}

async function savedPosition(statePath: string, fileBytes: number): Promise<number> {
  try {
    const state = JSON.parse(await readFile(statePath, 'utf8')) as Partial<ImportState>;
    // A file that changed size is a different file: its saved position means nothing.
    return state.file_bytes === fileBytes && Number.isSafeInteger(state.lines_done)
      ? (state.lines_done as number)
      : 0;
  } catch {
    return 0;
  }
}
