import type { Readable } from 'node:stream';
import type {
  BlobReader,
  ExecutionFilter,
  ExecutionReader,
  ExecutionStreamSource,
  ProjectProof,
} from 'execution-ledger';
import { exportExecutionsToNDJSON } from 'execution-ledger';
import { type ExportFormatDefinition, exportFormat, exportFormats } from 'execution-ledger/export-formats';
import { EXPORT_CHUNK_ROWS } from '../bounds.js';

/** A name of a registered export format (execution-ledger/export-formats). */
export type ExportFormat = string;

/** The registered formats' names, as choices: "csv or ndjson", "csv, ndjson or tsv". */
export function formatChoices(pick: (format: ExportFormatDefinition) => string): string {
  const words = exportFormats().map(pick);
  const last = words.pop() ?? '';
  return words.length === 0 ? last : `${words.join(', ')} or ${last}`;
}

/** The Content-Type of an export: every export is UTF-8. */
export function exportContentType(format: ExportFormatDefinition): string {
  return `${format.mediaType}; charset=utf-8`;
}

/**
 * The matching executions as chunks of UTF-8, oldest first, from the library's export streams
 * (keyset batches with back-pressure): memory stays bounded however large the export. Progress
 * counts line ends after those of the format's preamble (CSV's header), which is exact for
 * NDJSON and for CSV whose text cells hold no line breaks (progress only; the data itself is
 * never reparsed; with blobs, their lines count too). With `blobs`, the replay blobs the entries
 * reference follow them (NDJSON: `{"replay_blob": …}` lines); a format that cannot carry them
 * is refused here.
 */
export function exportChunks(
  reader: ExecutionReader,
  filter: ExecutionFilter,
  format: ExportFormat,
  onRecords: (count: number) => void = () => undefined,
  blobs = false,
): AsyncGenerator<string | Buffer> {
  // Called here, not on the first chunk: a bad filter, or blobs a format cannot carry, throws
  // before a response or a file has its first byte.
  const stream = reader.exportStream(format, { ...filter, blobs });
  return countedChunks(stream, format, onRecords);
}

async function* countedChunks(
  stream: Readable,
  format: ExportFormat,
  onRecords: (count: number) => void,
): AsyncGenerator<string | Buffer> {
  let uncounted = lineEnds(Buffer.from(exportFormat(format).preamble, 'utf8'));
  for await (const chunk of stream as AsyncIterable<string | Buffer>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const lines = lineEnds(buffer);
    const counted = Math.max(0, lines - uncounted);
    uncounted = Math.max(0, uncounted - lines);
    yield buffer;
    if (counted > 0) onRecords(counted);
  }
}

function lineEnds(buffer: Buffer): number {
  let lines = 0;
  for (let index = buffer.indexOf(10); index !== -1; index = buffer.indexOf(10, index + 1)) lines += 1;
  return lines;
}

/**
 * A whole chain as the offline verifier reads it: the inclusion proof line first, then every
 * entry in seq order with a fixed key order (exportExecutionsToNDJSON), in chunks of lines.
 */
export async function* provenExportChunks(
  source: ExecutionStreamSource,
  projectId: string,
  proof: ProjectProof,
  onRecords: (count: number) => void = () => undefined,
  blobs?: BlobReader,
): AsyncGenerator<string> {
  let lines: string[] = [];
  // The first line is the proof, not a record: it is not counted.
  let records = -1;
  const options = blobs === undefined ? { proof } : { proof, blobs };
  for await (const line of exportExecutionsToNDJSON(source, projectId, options)) {
    lines.push(line);
    records += 1;
    if (lines.length >= EXPORT_CHUNK_ROWS) {
      yield lines.join('');
      onRecords(records);
      lines = [];
      records = 0;
    }
  }
  if (lines.length > 0) {
    yield lines.join('');
    onRecords(Math.max(records, 0));
  }
}
