import { VERIFY_PROBLEMS_MAX } from '../bounds.js';
import {
  addProblem,
  advanceChainState,
  type ChainFields,
  type ChainProblem,
  type ChainState,
  checkChainLinks,
  type DerivedHashes,
  type VerificationReport,
} from '../format/chain-verifier.js';
import type { EntryRehasher, StoredEntry } from './entry-rehash.js';

/**
 * A batch of consecutive entries checked on its own, on any thread: every entry after the
 * first is checked against the one before it, exactly as checkChainLinks does along a whole
 * chain; the first waits for linkBatch, which knows the batch before. The state checkChainLinks
 * keeps depends only on the stored fields of the entry before, so this splits the work without
 * changing a single reason.
 */
export interface BatchCheck {
  count: number;
  /** The first entry's chain fields and re-derived hashes, or null for an empty batch. */
  first: { fields: ChainFields; derived: DerivedHashes } | null;
  /** The problems of the entries after the first, in chain order; at most VERIFY_PROBLEMS_MAX. */
  problems: ChainProblem[];
  /** The last entry's chain fields, where the next batch continues; null for an empty batch. */
  last: ChainFields | null;
}

export function checkBatch(entries: StoredEntry[], rehasher: EntryRehasher): BatchCheck {
  const checker = new BatchChecker(rehasher);
  for (const entry of entries) checker.add(entry);
  return checker.finish();
}

/** checkBatch one entry at a time, so a worker hashes rows as they arrive and keeps none. */
export class BatchChecker {
  private readonly state: ChainState = { expectedSeq: 0, prevHashHex: '', prevCreatedAtMs: 0 };
  private readonly problems: ChainProblem[] = [];
  private count = 0;
  private first: BatchCheck['first'] = null;
  private last: StoredEntry | undefined;

  constructor(private readonly rehasher: EntryRehasher) {}

  add(entry: StoredEntry): void {
    const createdAtMs = Date.parse(entry.created_at);
    const derived = this.rehasher.rehash(entry, createdAtMs);
    this.count += 1;
    this.last = entry;
    if (this.first === null) {
      this.first = { fields: chainFieldsOf(entry), derived };
      advanceChainState(this.state, entry, createdAtMs);
      return;
    }
    for (const reason of checkChainLinks(this.state, entry, derived, createdAtMs)) {
      if (this.problems.length < VERIFY_PROBLEMS_MAX) this.problems.push({ seq: entry.seq, reason });
    }
  }

  finish(): BatchCheck {
    const last = this.last === undefined ? null : chainFieldsOf(this.last);
    return { count: this.count, first: this.first, problems: this.problems, last };
  }
}

/** Adds a checked batch to the report: its first entry is checked against the state here. */
export function linkBatch(state: ChainState, report: VerificationReport, batch: BatchCheck): void {
  if (batch.first === null || batch.last === null) return;
  const { fields, derived } = batch.first;
  for (const reason of checkChainLinks(state, fields, derived)) addProblem(report, fields.seq, reason);
  for (const problem of batch.problems) addProblem(report, problem.seq, problem.reason);
  advanceChainState(state, batch.last);
  report.entries_checked += batch.count;
  report.head = { seq: batch.last.seq, entry_hash: batch.last.entry_hash };
}

/** Only the chain fields, so a batch's answer carries no content back across threads. */
function chainFieldsOf(entry: ChainFields): ChainFields {
  return {
    project_id: entry.project_id,
    seq: entry.seq,
    created_at: entry.created_at,
    hash_version: entry.hash_version,
    payload_hash: entry.payload_hash,
    prev_hash: entry.prev_hash,
    entry_hash: entry.entry_hash,
  };
}
