import { createWriteStream } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import { type ExecutionFilter, type Ledger, LedgerError } from 'execution-ledger';
import { DEFAULT_EXPORT_FORMAT, exportFormatNames } from 'execution-ledger/export-formats';
import { requireProjectProof } from '../../checkpoints/project-proof.js';
import {
  type ExportFormat,
  exportChunks,
  formatChoices,
  provenExportChunks,
} from '../../export/export-stream.js';
import { withLedger } from '../open-ledger.js';
import { ProgressReporter } from '../progress-reporter.js';
import { globalOptions, isoDate, positiveInteger, withExample } from './command-options.js';

interface ExportOptions {
  project: string;
  format: ExportFormat;
  output?: string;
  since?: Date;
  until?: Date;
  proof?: boolean;
  checkpoint?: number;
  blobs?: boolean;
}

export function registerExportCommand(program: Command): void {
  const command = program
    .command('export')
    .description(
      `write a project's executions as ${formatChoices((format) => format.label)}, oldest first, to a file or stdout`,
    )
    .requiredOption('--project <id>', 'the project to export')
    .addOption(
      new Option(
        '--format <format>',
        formatChoices((format) => format.name),
      )
        .choices(exportFormatNames())
        .default(DEFAULT_EXPORT_FORMAT),
    )
    .option('--output <file>', 'write here instead of stdout')
    .option('--since <date>', 'from (inclusive)', isoDate)
    .option('--until <date>', 'to (exclusive)', isoDate)
    .option('--proof', "start with the project's inclusion proof in a checkpoint, for `verify --file`")
    .option(
      '--blobs',
      'include the captured replay blobs the entries reference (NDJSON only; left out by default)',
    )
    .option('--no-blobs', 'leave the replay blobs out (the default)')
    .addOption(
      new Option(
        '--checkpoint <seq>',
        'the checkpoint the proof is for (default: the newest); implies --proof',
      )
        .argParser(positiveInteger)
        .implies({ proof: true }),
    )
    .action(async (options: ExportOptions, self: Command) => {
      if (options.proof === true) requireWholeNdjson(options);
      await withLedger(globalOptions(self), async (ledger) => {
        const filter: ExecutionFilter = { projectId: options.project };
        if (options.since !== undefined) filter.start = options.since;
        if (options.until !== undefined) filter.end = options.until;
        const total = (await ledger.listExecutions(filter, { limit: 1 })).total;
        const progress = new ProgressReporter('export', total);
        const source = Readable.from(await exportSource(ledger, filter, options, progress));
        await pipeline(
          source,
          options.output === undefined ? stdoutSink() : createWriteStream(options.output),
        );
        progress.finish();
      });
    });
  withExample(
    command,
    'execution-ledger export --project proj-001 --format csv --output executions.csv',
    'execution-ledger export --project proj-001 > executions.ndjson',
    'execution-ledger export --project proj-001 --proof --checkpoint 1 --output export.ndjson',
    'execution-ledger export --project proj-001 --proof --blobs --output export.ndjson',
  );
}

/** With --proof, the proof is found first: a missing one fails before any byte is written. */
async function exportSource(
  ledger: Ledger,
  filter: ExecutionFilter,
  options: ExportOptions,
  progress: ProgressReporter,
): Promise<AsyncGenerator<string | Buffer>> {
  const onRecords = (count: number) => progress.add(count);
  const blobs = options.blobs === true;
  if (options.proof !== true) return exportChunks(ledger, filter, options.format, onRecords, blobs);
  const proof = await requireProjectProof(
    ledger,
    options.project,
    options.checkpoint === undefined ? {} : { checkpoint: options.checkpoint },
  );
  return provenExportChunks(
    ledger,
    options.project,
    proof,
    onRecords,
    blobs ? (hashes) => ledger.blobs.read(hashes) : undefined,
  );
}

/** The offline verifier checks a chain from its first entry: a proven export is all of it, as NDJSON. */
function requireWholeNdjson(options: ExportOptions): void {
  const problem =
    options.format !== 'ndjson'
      ? `cannot go with --format ${options.format}; the proof is for NDJSON exports`
      : options.since !== undefined || options.until !== undefined
        ? 'cannot go with --since or --until; a proven export holds the whole chain'
        : null;
  if (problem !== null) {
    throw new LedgerError('VALIDATION_FAILED', `--proof ${problem}: drop that option or --proof`, {
      field: '--proof',
    });
  }
}

/** stdout without letting the pipeline close it (later messages still need it). */
function stdoutSink(): Writable {
  return new Writable({
    write(chunk, _encoding, callback) {
      if (process.stdout.write(chunk)) callback();
      else process.stdout.once('drain', () => callback());
    },
  });
}
