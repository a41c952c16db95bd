import {
  type ExecutionFilter,
  type ExecutionReader,
  type ExecutionStreamSource,
  exportExecutionsToNDJSON,
  type ProjectProof,
} from 'execution-ledger';
import { EXPORT_CHUNK_ROWS } from '../bounds.js';

export type ExportFormat = 'csv' | 'ndjson';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'ndjson'];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/**
 * The matching executions as chunks of UTF-8, oldest first, from the library's export streams
 * (keyset batches with back-pressure): memory stays bounded however large the export. CSV has
 * the documented columns and always a header; NDJSON has one full record per line, hashes
 * included. Progress counts line ends, which is exact for NDJSON and for CSV whose text cells
 * hold no line breaks (progress only; the data itself is never reparsed).
 */
export async function* exportChunks(
  reader: ExecutionReader,
  filter: ExecutionFilter,
  format: ExportFormat,
  onRecords: (count: number) => void = () => undefined,
): AsyncGenerator<string | Buffer> {
  const stream = format === 'csv' ? reader.exportCsvStream(filter) : reader.exportNdjsonStream(filter);
  // The CSV header's line end is not a record.
  let uncounted = format === 'csv' ? 1 : 0;
  for await (const chunk of stream as AsyncIterable<string | Buffer>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let lines = 0;
    for (let index = buffer.indexOf(10); index !== -1; index = buffer.indexOf(10, index + 1)) lines += 1;
    const counted = Math.max(0, lines - uncounted);
    uncounted = Math.max(0, uncounted - lines);
    yield buffer;
    if (counted > 0) onRecords(counted);
  }
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
): AsyncGenerator<string> {
  let lines: string[] = [];
  // The first line is the proof, not a record: it is not counted.
  let records = -1;
  for await (const line of exportExecutionsToNDJSON(source, projectId, { proof })) {
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
