import type { Queryable } from '../db/database.js';
import { LedgerError } from '../errors.js';

/** How far a verification has come. */
export interface VerifyProgress {
  project_id: string;
  /** Entries checked so far, in seq order. */
  entries_checked: number;
  /**
   * The chain's length: its head seq when verification began (seqs are gapless), or the entries
   * checked when more were appended meanwhile, so it is never below entries_checked.
   */
  entries_total: number;
}

/** The onProgress option as given, or VALIDATION_FAILED when it is not a function. */
export function requireProgressCallback(
  onProgress: unknown,
): ((progress: VerifyProgress) => void) | undefined {
  if (onProgress === undefined || typeof onProgress === 'function') {
    return onProgress as ((progress: VerifyProgress) => void) | undefined;
  }
  throw new LedgerError(
    'VALIDATION_FAILED',
    `onProgress must be a function called with { project_id, entries_checked, entries_total }; got ${typeof onProgress}`,
    { field: 'onProgress' },
  );
}

/**
 * Reads the chain's length (its head seq, one index probe), tells the caller verification
 * begins, and returns what the scan calls with the entries checked after each batch.
 */
export async function progressReporter(
  q: Queryable,
  projectId: string,
  onProgress: (progress: VerifyProgress) => void,
): Promise<(entriesChecked: number) => void> {
  const rows = await q.query<{ head: string }>(
    'select coalesce(max(e.seq), 0)::text as head from execution_ledger.executions e where e.project_id = $1',
    [projectId],
  );
  const total = Number(rows[0]?.head ?? 0);
  const report = (entriesChecked: number) =>
    onProgress({
      project_id: projectId,
      entries_checked: entriesChecked,
      entries_total: Math.max(total, entriesChecked),
    });
  report(0);
  return report;
}
