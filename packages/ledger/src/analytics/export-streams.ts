import { Readable } from 'node:stream';
import { EXPORT_BATCH_ROWS_DEFAULT, PAGE_ROWS_MAX } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { filterClauses } from '../db/execution-queries.js';
import { LedgerError } from '../errors.js';
import type { ExecutionFilter } from '../types.js';
import { csvCells, csvText } from './csv-export.js';
import {
  type CsvSourceRow,
  type ExportFormat,
  type ExportPosition,
  type NdjsonSourceRow,
  queryExportBatch,
} from './export-queries.js';

/** Runs one read with the caller's identity (see ExecutionReader). */
type ReadRunner = <T>(fn: (q: Queryable) => Promise<T>) => Promise<T>;

// Bytes a stream buffers ahead of its reader before it stops asking the database for more.
const EXPORT_BUFFER_BYTES = 256 * 1024;
const EXPORT_BATCH_ROWS_MAX = PAGE_ROWS_MAX * 10;

/**
 * An export as a byte stream (UTF-8) with back-pressure: the next keyset batch is read only
 * when the consumer has drained the buffer, one batch ahead at most, so memory stays bounded at
 * any size and no transaction stays open between batches. The filter is checked now, so a bad
 * one throws here instead of failing the stream later.
 */
export function createExportStream(
  runRead: ReadRunner,
  format: ExportFormat,
  filter: ExecutionFilter,
): Readable {
  const batchSize = filter.batchSize ?? EXPORT_BATCH_ROWS_DEFAULT;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > EXPORT_BATCH_ROWS_MAX) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `batchSize must be a whole number from 1 to ${EXPORT_BATCH_ROWS_MAX}; got ${String(batchSize)}`,
      { field: 'batchSize' },
    );
  }
  filterClauses(filter, []);
  return Readable.from(exportChunks(runRead, format, { ...filter }, batchSize), {
    objectMode: false,
    highWaterMark: EXPORT_BUFFER_BYTES,
  });
}

async function* exportChunks(
  runRead: ReadRunner,
  format: ExportFormat,
  filter: ExecutionFilter,
  batchSize: number,
): AsyncGenerator<string> {
  // RFC 4180 export always starts with its header, even when no run matches.
  if (format === 'csv') yield csvText([], true);
  const fetch = (after: ExportPosition | null) => {
    const batch = runRead((q) =>
      queryExportBatch<CsvSourceRow & NdjsonSourceRow>(q, format, filter, after, batchSize),
    );
    // A prefetched batch may be abandoned when the consumer stops early; it must not crash Node.
    batch.catch(() => undefined);
    return batch;
  };
  let pending = fetch(null);
  for (;;) {
    const rows = await pending;
    const last = rows[rows.length - 1];
    const more = rows.length === batchSize && last !== undefined;
    // Read the next batch while this one is formatted and written: the database and this
    // process work at the same time.
    if (more) pending = fetch(last);
    if (rows.length > 0) {
      yield format === 'csv' ? csvText(rows.map(csvCells), false) : rows.map(ndjsonLine).join('');
    }
    if (!more) return;
  }
}

/**
 * One NDJSON line: a JSON object with exactly the fields and values of the ExecutionRecord
 * (output and error_message left out when absent), JSON fields copied as the stored jsonb text.
 * It carries every hash and chain field, so an offline verifier can re-derive each entry_hash.
 */
export function ndjsonLine(row: NdjsonSourceRow): string {
  const text = JSON.stringify;
  return (
    `{"id":${text(row.id)},"run_id":${text(row.run_id)},"project_id":${text(row.project_id)},` +
    `"user_id":${text(row.user_id)},"agent_id":${text(row.agent_id)},` +
    `"parent_run_id":${text(row.parent_run_id)},"intent":${text(row.intent)},"input":${row.input},` +
    (row.output === null ? '' : `"output":${row.output},`) +
    `"cost_json":${row.cost_json},"execution_trace_json":${row.execution_trace_json},` +
    `"status":${text(row.status)},` +
    (row.error_message === null ? '' : `"error_message":${text(row.error_message)},`) +
    `"created_at":${text(row.created_at)},"seq":${row.seq},"hash_version":${row.hash_version},` +
    `"payload_hash":${text(row.payload_hash)},"prev_hash":${text(row.prev_hash)},` +
    `"entry_hash":${text(row.entry_hash)}}\n`
  );
}
