import type { EntryPayload } from '../types.js';
import type { Queryable } from './database.js';

/** One entry as the append function takes it: the validated content, nothing else (it derives the hashes). */
export type AppendEntry = EntryPayload;

export type AppendOutcome = 'created' | 'replayed' | 'conflict';

export interface AppendResultRow {
  r_ordinal: number;
  r_outcome: AppendOutcome;
  r_id: string | null;
  r_seq: string | number | null;
  r_created_at: string | null;
  r_hash_version: number | null;
  r_payload_hash: string | null;
  r_prev_hash: string | null;
  r_entry_hash: string | null;
}

/**
 * Appends entries of one project in the caller's transaction; one result row per entry, in
 * order. Entries come as JSON texts of AppendEntry, serialised once when they were submitted.
 */
export async function appendBatch(
  tx: Queryable,
  projectId: string,
  entryTexts: string[],
): Promise<AppendResultRow[]> {
  return tx.query<AppendResultRow>(
    'select * from execution_ledger.append_batch($1::text, $2::jsonb) order by r_ordinal',
    [projectId, `[${entryTexts.join(',')}]`],
  );
}
