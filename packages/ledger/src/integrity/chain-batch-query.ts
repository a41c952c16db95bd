import { CHAIN_BATCH_ROWS } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { scanSelectList } from '../record-fields.js';
import type { StoredEntry } from './entry-rehash.js';

// Content as text: no JSON is parsed while reading, and a batch crosses to a worker cheaply.
// Built once from the record descriptor, so a new hashed field is read by every verifier.
const STORED_ENTRY_COLUMNS = scanSelectList();

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
