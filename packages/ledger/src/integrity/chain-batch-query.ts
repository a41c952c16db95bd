import type { Queryable } from '../db/database.js';
import type { StoredEntry } from './entry-rehash.js';

/** Entries per keyset batch of a chain scan: a unit of work for one hashing thread. */
export const CHAIN_BATCH_ROWS = 1_000;

// Content as text: no JSON is parsed while reading, and a batch crosses to a worker cheaply.
const STORED_ENTRY_COLUMNS = `e.seq::float8 as seq, e.project_id, e.run_id, e.user_id, e.agent_id,
  e.parent_run_id, e.intent, e.input::text as input, e.output::text as output,
  e.cost_json::text as cost_json, e.execution_trace_json::text as execution_trace_json, e.status,
  e.error_message, to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at,
  e.hash_version::integer as hash_version, encode(e.payload_hash, 'hex') as payload_hash,
  encode(e.prev_hash, 'hex') as prev_hash, encode(e.entry_hash, 'hex') as entry_hash`;

/**
 * The next CHAIN_BATCH_ROWS entries of a project's chain after `afterSeq`, in seq order. The
 * one statement every reader sends (this thread, or a worker thread streaming the rows), so a
 * chain is read the same way whoever reads it.
 */
export function chainBatchStatement(
  projectId: string,
  afterSeq: number,
): { text: string; values: unknown[] } {
  return {
    text: `select ${STORED_ENTRY_COLUMNS} from execution_ledger.executions e
     where e.project_id = $1 and e.seq > $2 order by e.seq limit $3`,
    values: [projectId, afterSeq, CHAIN_BATCH_ROWS],
  };
}

export function readChainBatch(q: Queryable, projectId: string, afterSeq: number): Promise<StoredEntry[]> {
  const { text, values } = chainBatchStatement(projectId, afterSeq);
  return q.query<StoredEntry>(text, values);
}
