import type { Database, Queryable } from '../db/database.js';
import { LedgerError } from '../errors.js';

/** What import_entries raises for entries that do not continue the chain or do not verify. */
const REFUSED_IMPORT_CODES = new Set(['EL003', '22023', '23505']);

/** A project's stored entries after `afterSeq`, oldest first, as JSON text (never parsed here). */
export async function exportEntries(
  q: Queryable,
  projectId: string,
  afterSeq: number,
  limit: number,
): Promise<{ text: string; count: number; lastSeq: number }> {
  const rows = await q.query<{ text: string; count: string; last_seq: string | null }>(
    `select t.text, jsonb_array_length(t.text::jsonb)::text as count,
       (t.text::jsonb -> -1 ->> 'seq') as last_seq
     from (select execution_ledger.export_entries($1, $2, $3) as text) t`,
    [projectId, afterSeq, limit],
  );
  const row = rows[0];
  return {
    text: row?.text ?? '[]',
    count: Number(row?.count ?? 0),
    lastSeq: row?.last_seq == null ? afterSeq : Number(row.last_seq),
  };
}

/**
 * Imports entries after the project's tip on this server; returns the new head seq. The
 * transaction names the project as imported, so a shard that sealed it (it moved away earlier
 * and now moves back) takes the copy (migration 0024).
 */
export async function importEntries(db: Database, projectId: string, entriesText: string): Promise<number> {
  try {
    const rows = await db.transaction(async (tx) => {
      await tx.query("select set_config('execution_ledger.import_project', $1, true)", [projectId]);
      return tx.query<{ head: string }>(
        'select execution_ledger.import_entries($1, $2::jsonb)::text as head',
        [projectId, entriesText],
      );
    });
    return Number(rows[0]?.head ?? 0);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !REFUSED_IMPORT_CODES.has(code)) throw error;
    throw new LedgerError(
      'VALIDATION_FAILED',
      `the target refused the entries of ${projectId}: ${(error as Error).message}; nothing of this batch was stored ` +
        '(copy the entries that follow its stored tip, oldest first, exactly as the source stored them)',
      { field: 'entries', cause: error, details: { sqlstate: code } },
    );
  }
}

/** The project's newest entry on this server, or null. */
export async function projectHead(
  q: Queryable,
  projectId: string,
): Promise<{ seq: number; entry_hash: string } | null> {
  const rows = await q.query<{ seq: string; entry_hash: string }>(
    `select e.seq::text as seq, encode(e.entry_hash, 'hex') as entry_hash from execution_ledger.executions e
     where e.project_id = $1 order by e.seq desc limit 1`,
    [projectId],
  );
  const row = rows[0];
  return row === undefined ? null : { seq: Number(row.seq), entry_hash: row.entry_hash };
}

/** The stored hash of one entry, or null when the chain has no such seq. */
export async function entryHashAt(q: Queryable, projectId: string, seq: number): Promise<string | null> {
  const rows = await q.query<{ entry_hash: string }>(
    `select encode(e.entry_hash, 'hex') as entry_hash from execution_ledger.executions e
     where e.project_id = $1 and e.seq = $2`,
    [projectId, seq],
  );
  return rows[0]?.entry_hash ?? null;
}

/**
 * Seals the project on this shard under its append lock (held until `tx` ends) and returns its
 * head here: appends already running finish first, later ones are refused once `tx` commits.
 */
export async function sealProject(
  tx: Queryable,
  projectId: string,
  movedTo: string,
): Promise<{ seq: number; entry_hash: string } | null> {
  const rows = await tx.query<{ r_seq: string; r_entry_hash: string }>(
    'select r_seq::text as r_seq, r_entry_hash from execution_ledger.seal_project($1, $2)',
    [projectId, movedTo],
  );
  const row = rows[0];
  return row === undefined ? null : { seq: Number(row.r_seq), entry_hash: row.r_entry_hash };
}

/** Lifts a seal left by an earlier move away (the project comes back); true if there was one. */
export async function unsealProject(q: Queryable, projectId: string): Promise<boolean> {
  const rows = await q.query<{ unsealed: boolean }>(
    'select execution_ledger.unseal_project($1) as unsealed',
    [projectId],
  );
  return rows[0]?.unsealed === true;
}

/**
 * The shard a project moved to if this server sealed it (it moved away), or null while this
 * server holds it: the check a read on a cached placement makes before and after it runs.
 */
export async function projectSeal(q: Queryable, projectId: string): Promise<string | null> {
  const rows = await q.query<{ moved_to: string }>(
    'select s.moved_to from execution_ledger.project_seals s where s.project_id = $1',
    [projectId],
  );
  return rows[0]?.moved_to ?? null;
}
