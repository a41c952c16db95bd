import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { EXPORT_BUFFER_BYTES } from '../bounds.js';
import { keysetBatches, type RangeReadWidth, seqRangeBatches } from '../db/batch-reads.js';
import type { Queryable } from '../db/database.js';
import { type FilterScope, isWholeProject } from '../query/execution-filter.js';
import type { BlobReader } from '../replay/blob-store.js';
import type { ExportBlob, ExportFormatDefinition } from './export-formats.js';
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
  blobs: BlobReader | null = null,
): Readable {
  const plan: ExportPlan = { runRead, scope, batchSize, rangeReadWidth };
  const chunks = blobs === null ? formatChunks(format, plan) : chunksWithBlobs(format, plan, blobs);
  return Readable.from(chunks, {
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
 * The blob hashes an entry's steps reference (io.request and io.response of each step that is an
 * object), read by the database beside the format's columns; null when there is none.
 */
const BLOB_COLUMNS = `e.run_id as b_run_id, e.seq::text as b_seq,
  (select array_agg(distinct h.value)
   from jsonb_array_elements(case when jsonb_typeof(e.execution_trace_json -> 'steps') = 'array'
     then e.execution_trace_json -> 'steps' else '[]'::jsonb end) as s(step)
   cross join lateral (values (s.step -> 'io' ->> 'request'), (s.step -> 'io' ->> 'response')) as h(value)
   where jsonb_typeof(s.step) = 'object' and jsonb_typeof(s.step -> 'io') = 'object'
     and h.value ~ '^[0-9a-f]{64}$') as b_hashes`;

interface BlobSourceRow extends ExportPosition {
  b_run_id: string;
  b_seq: string;
  b_hashes: string[] | null;
}

/**
 * As formatChunks, and after each batch the blobs its entries reference that no earlier batch
 * did, each naming the first entry that references it. A hash with no stored blob is left out.
 */
async function* chunksWithBlobs(
  format: ExportFormatDefinition,
  plan: ExportPlan,
  readBlobs: BlobReader,
): AsyncGenerator<string | Buffer> {
  const encodeBlobs = format.encodeBlobs;
  assert(encodeBlobs !== undefined, 'the reader refuses blobs for a format that cannot carry them');
  if (format.preamble !== '') yield format.preamble;
  const written = new Set<string>();
  for await (const rows of exportBatches<BlobSourceRow>(plan, `${format.selectList}, ${BLOB_COLUMNS}`)) {
    yield format.encodeBatch(rows);
    const wanted: Omit<ExportBlob, 'content'>[] = [];
    for (const row of rows) {
      for (const hash of row.b_hashes ?? []) {
        if (written.has(hash)) continue;
        written.add(hash);
        wanted.push({ hash, run_id: row.b_run_id, seq: Number(row.b_seq) });
      }
    }
    for await (const found of readBlobs(wanted.map((blob) => blob.hash))) {
      const blobs: ExportBlob[] = [];
      for (const blob of wanted) {
        const content = found.get(blob.hash);
        if (content !== undefined) blobs.push({ ...blob, content });
      }
      yield encodeBlobs(blobs);
    }
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
