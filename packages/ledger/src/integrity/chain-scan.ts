import assert from 'node:assert/strict';
import { CHAIN_BATCH_ROWS } from '../bounds.js';
import { keysetBatches } from '../db/batch-reads.js';
import type { Database } from '../db/database.js';
import { initialChainState, type VerificationReport } from '../format/chain-verifier.js';
import { type BatchCheck, checkBatch, linkBatch } from './batch-check.js';
import { readChainBatch } from './chain-batch-query.js';
import { EntryRehasher, type StoredEntry } from './entry-rehash.js';
import { RehashPool } from './rehash-pool.js';

/** A batch being checked, with the seq it was read after (null: read on this thread). */
interface Pending {
  afterSeq: number | null;
  batch: Promise<BatchCheck>;
}

/**
 * verifyLedger on every core: reads a project's chain in keyset batches, checks them on worker
 * threads, and links them in seq order here, with the same checks and report as checkEntry
 * along the whole chain, telling onProgress the entries checked after each batch it links. A
 * chain of one batch or less is checked here, without threads. With its own server connection
 * string, each worker reads its batches itself; otherwise this thread reads (one batch ahead) and
 * hands the rows over. Never throws on bad data.
 */
export async function scanProjectChain(
  database: Database,
  projectId: string,
  onProgress?: (entriesChecked: number) => void,
): Promise<VerificationReport> {
  const state = initialChainState(projectId);
  const report: VerificationReport = {
    ok: true,
    project_id: projectId,
    entries_checked: 0,
    head: null,
    first_bad_seq: null,
    reason: null,
    problems: [],
  };
  const first = await readChainBatch(database, projectId, 0);
  const last = first[first.length - 1];
  if (first.length < CHAIN_BATCH_ROWS || last === undefined) {
    linkBatch(state, report, checkBatch(first, new EntryRehasher()));
    onProgress?.(report.entries_checked);
    return report;
  }
  const pool = new RehashPool(database.threadConnection?.());
  const link: Link = (batch) => {
    linkBatch(state, report, batch);
    onProgress?.(report.entries_checked);
  };
  const pending: Pending[] = [];
  try {
    pending.push(track(null, pool.check(first)));
    if (pool.reads) await linkReadByWorkers(pool, projectId, last.seq, pending, link);
    else await linkReadHere(database, pool, projectId, last.seq, pending, link);
    return report;
  } finally {
    await pool.close();
  }
}

type Link = (batch: BatchCheck) => void;

/** This thread reads the next batch (one ahead) while workers check earlier ones. */
async function linkReadHere(
  database: Database,
  pool: RehashPool,
  projectId: string,
  firstLastSeq: number,
  pending: Pending[],
  link: Link,
): Promise<void> {
  const batches = keysetBatches<StoredEntry, number>(
    (afterSeq) => readChainBatch(database, projectId, afterSeq ?? firstLastSeq),
    (entry) => entry.seq,
    CHAIN_BATCH_ROWS,
    firstLastSeq,
  );
  for await (const entries of batches) {
    pending.push(track(null, pool.check(entries)));
    // Keep every worker busy with one batch and one waiting, no more: memory stays bounded.
    while (pending.length > pool.size * 2) link(await firstOf(pending).batch);
  }
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) link(await next.batch);
}

/**
 * Workers read and check batches ahead, each from the seq where the batch before would end if
 * the chain has no gap (after + CHAIN_BATCH_ROWS). A batch counts only if it was read after the
 * last seq actually linked: a gap, or repeated seqs, make the batches read ahead of it start
 * elsewhere, and they are read again from the right seq. So the batches linked are exactly those
 * the one-reader keyset scan would read.
 */
async function linkReadByWorkers(
  pool: RehashPool,
  projectId: string,
  firstLastSeq: number,
  pending: Pending[],
  link: Link,
): Promise<void> {
  let linkedSeq = firstLastSeq;
  let nextAfterSeq = firstLastSeq;
  const readAhead = (): void => {
    while (pending.length < pool.size * 2 + 1) {
      pending.push(track(nextAfterSeq, pool.readAndCheck(projectId, nextAfterSeq)));
      nextAfterSeq += CHAIN_BATCH_ROWS;
    }
  };
  readAhead();
  for (;;) {
    const { afterSeq, batch: checking } = firstOf(pending);
    if (afterSeq !== null && afterSeq !== linkedSeq) {
      // Read from the wrong seq, as is everything read ahead after it: drop them, read again.
      pending.length = 0;
      nextAfterSeq = linkedSeq;
      readAhead();
      continue;
    }
    const batch = await checking;
    link(batch);
    if (batch.count < CHAIN_BATCH_ROWS || batch.last === null) return;
    linkedSeq = batch.last.seq;
    readAhead();
  }
}

function track(afterSeq: number | null, batch: Promise<BatchCheck>): Pending {
  // Awaited in order later, or dropped; until then a failure must not count as unhandled.
  batch.catch(() => undefined);
  return { afterSeq, batch };
}

/** Takes the oldest batch in flight; callers take one only where one is in flight. */
function firstOf<T>(pending: T[]): T {
  const first = pending.shift();
  assert(first !== undefined, 'a batch is in flight');
  return first;
}
