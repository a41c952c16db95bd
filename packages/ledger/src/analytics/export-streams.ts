import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { EXPORT_BUFFER_BYTES } from '../bounds.js';
import { keysetBatches, type RangeReadWidth, seqRangeBatches } from '../db/batch-reads.js';
import type { Queryable } from '../db/database.js';
import { type FilterScope, isWholeProject } from '../query/execution-filter.js';
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

/**
 * An export as a byte stream (UTF-8) with back-pressure: batches are read only as the consumer
 * drains the buffer, a bounded number ahead, so memory stays bounded at any size and no
 * transaction stays open between batches. The caller checks the filter and batch size first, so
 * a bad one throws before a stream exists instead of failing the stream later.
 */
export function createExportStream(
  runRead: ReadRunner,
  format: ExportFormat,
  scope: FilterScope,
  batchSize: number,
  rangeReadWidth: RangeReadWidth,
): Readable {
  const plan: ExportPlan = { runRead, scope, batchSize, rangeReadWidth };
  return Readable.from(format === 'csv' ? csvChunks(plan) : ndjsonChunks(plan), {
    objectMode: false,
    highWaterMark: EXPORT_BUFFER_BYTES,
  });
}

interface ExportPlan {
  runRead: ReadRunner;
  scope: FilterScope;
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
  const { runRead, scope, batchSize } = plan;
  const projectId = wholeChainOf(scope);
  const readsInFlight = projectId === null ? null : await plan.rangeReadWidth();
  if (projectId === null || readsInFlight === null) {
    yield* keysetBatches<Row, Row>(
      (last) => runRead((q) => queryExportBatch<Row>(q, format, scope, last, batchSize)),
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
      runRead((q) => queryExportRange<Row>(q, format, scope, afterSeq, lastSeq)),
    readAfter: (afterSeq) =>
      runRead((q) => queryExportBatch<Row>(q, format, scope, { k_seq: String(afterSeq) }, batchSize)),
    seqOf: exportRowSeq,
  });
}

/** The project when the scope keeps every entry of one chain, otherwise null. */
function wholeChainOf(scope: FilterScope): string | null {
  return isWholeProject(scope) ? (scope.projectId ?? null) : null;
}
