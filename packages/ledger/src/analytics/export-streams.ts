import { Readable } from 'node:stream';
import { EXPORT_BUFFER_BYTES } from '../bounds.js';
import { keysetBatches, type RangeReadWidth, seqRangeBatches } from '../db/batch-reads.js';
import type { Queryable } from '../db/database.js';
import { type FilterScope, isWholeProject } from '../query/execution-filter.js';
import type { ExportFormatDefinition } from './export-formats.js';
import {
  type ExportPosition,
  exportRowSeq,
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
  format: ExportFormatDefinition,
  scope: FilterScope,
  batchSize: number,
  rangeReadWidth: RangeReadWidth,
): Readable {
  const plan: ExportPlan = { runRead, scope, batchSize, rangeReadWidth };
  return Readable.from(formatChunks(format, plan), {
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

/** The format's preamble (even when no run matches), then each batch as the format writes it. */
async function* formatChunks(
  format: ExportFormatDefinition,
  plan: ExportPlan,
): AsyncGenerator<string | Buffer> {
  if (format.preamble !== '') yield format.preamble;
  for await (const rows of exportBatches<ExportPosition>(plan, format.selectList)) {
    yield format.encodeBatch(rows);
  }
}

/**
 * The batches of an export in order. A whole project's chain is read in seq ranges, several at
 * once where the reader allows; anything narrower by keyset, one batch ahead, as before. A range
 * is an index range scan over every seq in it whatever the filter keeps, so a narrow filter (a
 * status, a few hours) would walk the whole project where a keyset query can use a narrower index.
 */
async function* exportBatches<Row extends ExportPosition>(
  plan: ExportPlan,
  selectList: string,
): AsyncGenerator<Row[]> {
  const { runRead, scope, batchSize } = plan;
  const projectId = wholeChainOf(scope);
  const readsInFlight = projectId === null ? null : await plan.rangeReadWidth();
  if (projectId === null || readsInFlight === null) {
    yield* keysetBatches<Row, Row>(
      (last) => runRead((q) => queryExportBatch<Row>(q, selectList, scope, last, batchSize)),
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
      runRead((q) => queryExportRange<Row>(q, selectList, scope, afterSeq, lastSeq)),
    readAfter: (afterSeq) =>
      runRead((q) => queryExportBatch<Row>(q, selectList, scope, { k_seq: String(afterSeq) }, batchSize)),
    seqOf: exportRowSeq,
  });
}

/** The project when the scope keeps every entry of one chain, otherwise null. */
function wholeChainOf(scope: FilterScope): string | null {
  return isWholeProject(scope) ? (scope.projectId ?? null) : null;
}
