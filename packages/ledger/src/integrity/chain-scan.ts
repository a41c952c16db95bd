import type { Queryable } from '../db/database.js';
import {
  addProblem,
  checkChainLinks,
  type DerivedHashes,
  initialChainState,
  type VerificationReport,
} from './chain-verifier.js';
import { rehashEntries, type StoredEntry } from './entry-rehash.js';
import { RehashPool } from './rehash-pool.js';

const SCAN_BATCH_ROWS = 1_000;

// Content as text: no JSON is parsed on the main thread, and a batch crosses to a worker cheaply.
const STORED_ENTRY_COLUMNS = `e.seq::float8 as seq, e.project_id, e.run_id, e.user_id, e.agent_id,
  e.parent_run_id, e.intent, e.input::text as input, e.output::text as output,
  e.cost_json::text as cost_json, e.execution_trace_json::text as execution_trace_json, e.status,
  e.error_message, to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at,
  e.hash_version::integer as hash_version, encode(e.payload_hash, 'hex') as payload_hash,
  encode(e.prev_hash, 'hex') as prev_hash, encode(e.entry_hash, 'hex') as entry_hash`;

type HashedBatch = Promise<{ entries: StoredEntry[]; hashes: DerivedHashes[] }>;

/**
 * verifyLedger on every core: reads a project's chain in keyset batches (the next batch is read
 * while earlier ones are hashed), re-derives the hashes in worker threads, and links the entries
 * in seq order on this thread with the same checks and report as checkEntry. A chain of one batch
 * or less is hashed here, without starting threads. Never throws on bad data.
 */
export async function scanProjectChain(q: Queryable, projectId: string): Promise<VerificationReport> {
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
  const read = (afterSeq: number) =>
    q.query<StoredEntry>(
      `select ${STORED_ENTRY_COLUMNS} from execution_ledger.executions e
       where e.project_id = $1 and e.seq > $2 order by e.seq limit $3`,
      [projectId, afterSeq, SCAN_BATCH_ROWS],
    );
  let pool: RehashPool | undefined;
  const hashing: HashedBatch[] = [];
  try {
    let reading = read(0);
    for (;;) {
      const entries = await reading;
      const last = entries[entries.length - 1];
      const more = entries.length === SCAN_BATCH_ROWS && last !== undefined;
      if (more) reading = read(last.seq);
      if (more) pool ??= new RehashPool();
      if (entries.length > 0) hashing.push(hashBatch(pool, entries));
      // Keep every worker busy with one batch and one waiting, no more: memory stays bounded.
      while (hashing.length > (more ? (pool?.size ?? 0) * 2 : 0))
        linkBatch(state, report, await hashing.shift()!);
      if (!more) return report;
    }
  } finally {
    for (const pending of hashing) pending.catch(() => undefined);
    await pool?.close();
  }
}

function hashBatch(pool: RehashPool | undefined, entries: StoredEntry[]): HashedBatch {
  const hashes = pool === undefined ? Promise.resolve(rehashEntries(entries)) : pool.rehash(entries);
  const batch = hashes.then((derived) => ({ entries, hashes: derived }));
  // Awaited in order later; until then a failure must not count as unhandled.
  batch.catch(() => undefined);
  return batch;
}

function linkBatch(
  state: ReturnType<typeof initialChainState>,
  report: VerificationReport,
  batch: { entries: StoredEntry[]; hashes: DerivedHashes[] },
): void {
  batch.entries.forEach((entry, index) => {
    for (const reason of checkChainLinks(state, entry, batch.hashes[index]!))
      addProblem(report, entry.seq, reason);
    report.entries_checked += 1;
    report.head = { seq: entry.seq, entry_hash: entry.entry_hash };
  });
}
