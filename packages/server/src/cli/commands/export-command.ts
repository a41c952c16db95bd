import { createWriteStream } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import type { ExecutionFilter } from 'execution-ledger';
import { EXPORT_FORMATS, type ExportFormat, exportChunks } from '../../export/export-stream.js';
import { withLedger } from '../open-ledger.js';
import { ProgressReporter } from '../progress-reporter.js';
import { globalOptions, isoDate, withExample } from './command-options.js';

interface ExportOptions {
  project: string;
  format: ExportFormat;
  output?: string;
  since?: Date;
  until?: Date;
}

export function registerExportCommand(program: Command): void {
  const command = program
    .command('export')
    .description("write a project's executions as CSV or NDJSON, oldest first, to a file or stdout")
    .requiredOption('--project <id>', 'the project to export')
    .addOption(
      new Option('--format <format>', 'csv or ndjson').choices([...EXPORT_FORMATS]).default('ndjson'),
    )
    .option('--output <file>', 'write here instead of stdout')
    .option('--since <date>', 'from (inclusive)', isoDate)
    .option('--until <date>', 'to (exclusive)', isoDate)
    .action(async (options: ExportOptions, self: Command) => {
      await withLedger(globalOptions(self), async (ledger) => {
        const filter: ExecutionFilter = { projectId: options.project };
        if (options.since !== undefined) filter.startDate = options.since;
        if (options.until !== undefined) filter.endDate = options.until;
        const total = (await ledger.listExecutions(filter, { limit: 1 })).total;
        const progress = new ProgressReporter('export', total);
        const source = Readable.from(
          exportChunks(ledger, filter, options.format, (count) => progress.add(count)),
        );
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
  );
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
