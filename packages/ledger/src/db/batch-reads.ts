import assert from 'node:assert/strict';

/**
 * Two ways to read a large result in bounded batches, oldest first, without a transaction held
 * open between batches. Both yield batches strictly in order and stop reading ahead while the
 * consumer is busy with a yielded batch, so memory stays bounded by the batches in flight.
 */

/**
 * How many seq ranges of one chain a reader may read at once (a server: several connections;
 * PGlite: one), or null when it must read by keyset only. Asked when a read starts.
 */
export type RangeReadWidth = () => Promise<number | null>;

/** Reads the batch after `after` (exclusive; null for the start), at most the batch size. */
export type ReadAfter<Row, Position> = (after: Position | null) => Promise<Row[]>;

/**
 * Keyset batches, one read ahead: the next batch is read while the caller works on this one. It
 * goes on until a short batch, so rows appended meanwhile beyond the last position are included.
 */
export async function* keysetBatches<Row, Position>(
  readAfter: ReadAfter<Row, Position>,
  positionOf: (row: Row) => Position,
  batchSize: number,
  start: Position | null = null,
): AsyncGenerator<Row[]> {
  let pending = observed(readAfter(start));
  try {
    for (;;) {
      const rows = await pending;
      const last = rows[rows.length - 1];
      const more = rows.length === batchSize && last !== undefined;
      if (more) pending = observed(readAfter(positionOf(last)));
      if (rows.length > 0) yield rows;
      if (!more) return;
    }
  } finally {
    // A consumer that stops early gets its stream closed only once the read ahead has finished,
    // so every connection is back in the pool by then and no error goes unobserved.
    await Promise.allSettled([pending]);
  }
}

/** How to read one chain (a project's entries, seq 1, 2, 3…) in seq ranges. */
export interface SeqRangeReads<Row> {
  /** The highest seq when the read starts; ranges cover (0, headSeq]. */
  headSeq: number;
  /** Seqs per range: at most this many rows per read, since seqs are unique within a chain. */
  batchSize: number;
  /** Reads running at once (each on its own connection); 1 reads one range after another. */
  readsInFlight: number;
  /** Rows with afterSeq < seq <= lastSeq, in seq order. */
  readRange(afterSeq: number, lastSeq: number): Promise<Row[]>;
  /** Rows with seq > afterSeq, in seq order, at most batchSize (keyset). */
  readAfter(afterSeq: number): Promise<Row[]>;
  seqOf(row: Row): number;
}

/**
 * A chain in seq ranges, several read at once and yielded strictly in seq order. Unlike a keyset,
 * the next range does not depend on the last row read, so a server reads `readsInFlight` ranges
 * in parallel (one core each); no more than that are ever started ahead of the consumer. Entries
 * appended after `headSeq` was read have higher seqs: a keyset read after headSeq delivers them
 * until a short batch, as keysetBatches alone would.
 */
export async function* seqRangeBatches<Row>(reads: SeqRangeReads<Row>): AsyncGenerator<Row[]> {
  // With no read in flight the ranges would be skipped, and with no seqs per range never end.
  assert(Number.isSafeInteger(reads.readsInFlight) && reads.readsInFlight >= 1, 'readsInFlight >= 1');
  assert(Number.isSafeInteger(reads.batchSize) && reads.batchSize >= 1, 'batchSize >= 1');
  assert(Number.isSafeInteger(reads.headSeq) && reads.headSeq >= 0, 'headSeq >= 0');
  const pending: Promise<Row[]>[] = [];
  let requestedSeq = 0;
  const fill = () => {
    while (pending.length < reads.readsInFlight && requestedSeq < reads.headSeq) {
      const afterSeq = requestedSeq;
      requestedSeq = Math.min(reads.headSeq, afterSeq + reads.batchSize);
      pending.push(observed(reads.readRange(afterSeq, requestedSeq)));
    }
  };
  try {
    fill();
    for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
      const rows = await next;
      // Start the next range before this batch is handed over: the server keeps working while
      // the consumer formats and writes.
      fill();
      if (rows.length > 0) yield rows;
    }
  } finally {
    await Promise.allSettled(pending);
  }
  yield* keysetBatches<Row, number>(
    (after) => reads.readAfter(after ?? reads.headSeq),
    reads.seqOf,
    reads.batchSize,
    reads.headSeq,
  );
}

/** A read that may be abandoned (the consumer stopped) must not crash Node as unhandled. */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
