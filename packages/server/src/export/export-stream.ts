import {
  csvText,
  type ExecutionFilter,
  type ExecutionReader,
  type ExecutionStreamSource,
  exportExecutionsToNDJSON,
  type ProjectProof,
  recordToCsvRow,
} from 'execution-ledger';
import { EXPORT_CHUNK_ROWS } from '../bounds.js';

export type ExportFormat = 'csv' | 'ndjson';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'ndjson'];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/**
 * The matching executions as text chunks, oldest first, read in keyset batches: memory stays
 * bounded however large the export. CSV has the documented columns and always a header; NDJSON
 * has one full record per line, hashes included, so it can be verified offline.
 */
export async function* exportChunks(
  reader: ExecutionReader,
  filter: ExecutionFilter,
  format: ExportFormat,
  onRecords: (count: number) => void = () => undefined,
): AsyncGenerator<string> {
  if (format === 'csv') yield csvText([], true);
  let rows: (string | number)[][] = [];
  let lines: string[] = [];
  for await (const record of reader.streamExecutions(filter)) {
    if (format === 'csv') rows.push(recordToCsvRow(record));
    else lines.push(`${JSON.stringify(record)}\n`);
    if (rows.length + lines.length >= EXPORT_CHUNK_ROWS) {
      yield format === 'csv' ? csvText(rows, false) : lines.join('');
      onRecords(rows.length + lines.length);
      rows = [];
      lines = [];
    }
  }
  if (rows.length + lines.length > 0) {
    yield format === 'csv' ? csvText(rows, false) : lines.join('');
    onRecords(rows.length + lines.length);
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
