import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { EXPORT_BATCH_ROWS_DEFAULT, PAGE_ROWS_MAX } from '../bounds.js';
import { keysetBatches, type RangeReadWidth, seqRangeBatches } from '../db/batch-reads.js';
import type { Queryable } from '../db/database.js';
import { filterClauses } from '../db/execution-queries.js';
import { LedgerError } from '../errors.js';
import type { ExecutionFilter } from '../types.js';
import { csvCells, csvText } from './csv-export.js';
import {
  type CsvSourceRow,
  type ExportFormat,
  type ExportRow,
  exportRowSeq,
  type NdjsonSourceRow,
  queryChainHead,
  queryExportBatch,
  queryExportRange,
} from './export-queries.js';

/** Runs one read with the caller's identity (see ExecutionReader). */
type ReadRunner = <T>(fn: (q: Queryable) => Promise<T>) => Promise<T>;

// Bytes a stream buffers ahead of its reader before it stops asking the database for more.
const EXPORT_BUFFER_BYTES = 256 * 1024;
const EXPORT_BATCH_ROWS_MAX = PAGE_ROWS_MAX * 10;

/**
 * An export as a byte stream (UTF-8) with back-pressure: batches are read only as the consumer
 * drains the buffer, a bounded number ahead, so memory stays bounded at any size and no
 * transaction stays open between batches. The filter is checked now, so a bad one throws here
 * instead of failing the stream later.
 */
export function createExportStream(
  runRead: ReadRunner,
  format: ExportFormat,
  filter: ExecutionFilter,
  rangeReadWidth: RangeReadWidth,
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
  const plan: ExportPlan = { runRead, filter: { ...filter }, batchSize, rangeReadWidth };
  return Readable.from(format === 'csv' ? csvChunks(plan) : ndjsonChunks(plan), {
    objectMode: false,
    highWaterMark: EXPORT_BUFFER_BYTES,
  });
}

interface ExportPlan {
  runRead: ReadRunner;
  filter: ExecutionFilter;
  batchSize: number;
  rangeReadWidth: RangeReadWidth;
}

async function* csvChunks(plan: ExportPlan): AsyncGenerator<string> {
  // RFC 4180 export always starts with its header, even when no run matches.
  yield csvText([], true);
  for await (const rows of exportBatches<CsvSourceRow>(plan, 'csv')) {
    yield csvText(rows.map(csvCells), false);
  }
}

async function* ndjsonChunks(plan: ExportPlan): AsyncGenerator<Buffer> {
  for await (const rows of exportBatches<NdjsonSourceRow>(plan, 'ndjson')) yield linesToBytes(rows);
}

/**
 * A batch's lines as one UTF-8 buffer, each line encoded straight into place: joining them into
 * one string first and letting the stream encode that cost about twice as much CPU per row.
 */
function linesToBytes(rows: NdjsonSourceRow[]): Buffer {
  let size = 0;
  for (const row of rows) size += Buffer.byteLength(row.line, 'utf8');
  const bytes = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const row of rows) offset += bytes.write(row.line, offset, 'utf8');
  // allocUnsafe leaves old memory in the buffer: every byte of it must have been written.
  assert.equal(offset, size);
  return bytes;
}

/**
 * The batches of an export in order. A whole project's chain is read in seq ranges, several at
 * once where the reader allows; anything narrower by keyset, one batch ahead, as before. A range
 * is an index range scan over every seq in it whatever the filter keeps, so a narrow filter (a
 * status, a few hours) would walk the whole project where a keyset query can use a narrower index.
 */
async function* exportBatches<Row extends ExportRow>(
  plan: ExportPlan,
  format: ExportFormat,
): AsyncGenerator<Row[]> {
  const { runRead, filter, batchSize } = plan;
  const projectId = wholeChainOf(filter);
  const readsInFlight = projectId === null ? null : await plan.rangeReadWidth();
  if (projectId === null || readsInFlight === null) {
    yield* keysetBatches<Row, Row>(
      (last) => runRead((q) => queryExportBatch<Row>(q, format, filter, last, batchSize)),
      (row) => row,
      batchSize,
    );
    return;
  }
  const headSeq = await runRead((q) => queryChainHead(q, projectId));
  yield* seqRangeBatches<Row>({
    headSeq,
    batchSize,
    readsInFlight,
    readRange: (afterSeq, lastSeq) =>
      runRead((q) => queryExportRange<Row>(q, format, filter, afterSeq, lastSeq)),
    readAfter: (afterSeq) =>
      runRead((q) => queryExportBatch<Row>(q, format, filter, { k_seq: String(afterSeq) }, batchSize)),
    seqOf: exportRowSeq,
  });
}

/** The project when the filter keeps every entry of one chain, otherwise null. */
function wholeChainOf(filter: ExecutionFilter): string | null {
  const narrowed =
    filter.agentId !== undefined ||
    filter.userId !== undefined ||
    filter.parentRunId !== undefined ||
    filter.status !== undefined ||
    filter.startDate !== undefined ||
    filter.endDate !== undefined;
  return narrowed ? null : (filter.projectId ?? null);
}
