import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { LedgerError } from 'execution-ledger';
import { type ExportVerificationReport, verifyExport } from 'execution-ledger/verify';
import { printJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { readPublicKeyFile, readSmallFile } from '../key-file-input.js';
import { ProgressReporter } from '../progress-reporter.js';

export interface OfflineVerifyOptions {
  file: string;
  checkpoint?: string;
  publicKey?: string;
}

/**
 * `verify --file`: checks an NDJSON export against a signed checkpoint note with no database
 * at all (nothing is opened or created). Exit 5 when anything is wrong; the report names the
 * first bad entry by seq and line.
 */
export async function verifyExportFile(options: OfflineVerifyOptions, json: boolean): Promise<void> {
  if ((options.checkpoint === undefined) !== (options.publicKey === undefined)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'verify --file needs --checkpoint <note> and --public-key <file> together (or neither, to check ' +
        'the chain alone, which cannot see a cut tail or a rewrite)',
      { field: options.checkpoint === undefined ? '--checkpoint' : '--public-key' },
    );
  }
  const bytes = await fileBytes(options.file);
  const note =
    options.checkpoint === undefined
      ? undefined
      : await readSmallFile(
          options.checkpoint,
          '--checkpoint',
          'VALIDATION_FAILED',
          'pass the checkpoint note file (from `execution-ledger checkpoint --out <file>`)',
        );
  const keys =
    options.publicKey === undefined ? undefined : await readPublicKeyFile(options.publicKey, '--public-key');
  const progress = new ProgressReporter('verify', bytes, 'bytes');
  // Counts bytes as the verifier pulls them; the verifier splits the stream into lines itself.
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      progress.add(chunk.length);
      callback(null, chunk);
    },
  });
  const input = createReadStream(options.file);
  input.on('error', (error) => counted.destroy(error));
  const report = await verifyExport({
    ndjson: input.pipe(counted),
    ...(note === undefined ? {} : { checkpoint: note, publicKey: keys }),
  });
  progress.finish();
  if (json) printJson(report);
  else process.stdout.write(describeReport(options.file, report));
  if (!report.ok) process.exitCode = EXIT_CODES.CHAIN_BROKEN;
}

async function fileBytes(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `--file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); pass an NDJSON ` +
        'export, e.g. from `execution-ledger export --project <id> --proof --output <file>`',
      { field: '--file', cause: error },
    );
  }
}

/** The report for people: one fact per line, the full reason of the first problem last. */
function describeReport(file: string, report: ExportVerificationReport): string {
  const lines = [
    `file:        ${file} (${report.lines_read} lines)`,
    `project:     ${report.project_id || '(no entry read)'}`,
    `entries:     ${report.entries_checked}${report.head === null ? '' : `, head seq ${report.head.seq} ${report.head.entry_hash.slice(0, 16)}`}`,
  ];
  if (report.blobs_referenced > 0 || report.blobs_checked > 0) {
    const left = report.blobs_not_included;
    lines.push(
      `blobs:       ${report.blobs_checked} checked against their entries` +
        (left > 0 ? `, ${left} referenced but not in the file (export with --blobs to include them)` : ''),
    );
  }
  const checkpoint = report.checkpoint;
  if (checkpoint === null)
    lines.push('checkpoint:  not checked (no --checkpoint): a cut tail or a rewrite is not visible');
  else {
    // A note that failed its signature check has no number anyone should trust.
    const which = checkpoint.signature === 'valid' ? String(checkpoint.seq) : 'rejected';
    const head = checkpoint.head === null ? '' : `, commits to seq ${checkpoint.head.seq}`;
    const after = checkpoint.ok ? `, ${checkpoint.entries_after_checkpoint} entries after it` : '';
    lines.push(`checkpoint:  ${which} (signature ${checkpoint.signature}${head}${after})`);
  }
  if (report.ok) lines.push('result:      verified');
  else {
    const where =
      report.first_bad_seq === null
        ? ''
        : ` at entry seq ${report.first_bad_seq}${report.first_bad_line === null ? '' : ` (line ${report.first_bad_line})`}`;
    lines.push(`result:      BROKEN${where}: ${report.reason}`);
  }
  return `${lines.join('\n')}\n`;
}
