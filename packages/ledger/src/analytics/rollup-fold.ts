import { ROLLUP_FOLD_DELAY_MS, ROLLUP_FOLD_DELAY_MS_MAX } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { LedgerError } from '../errors.js';
import type { RollupFoldReport } from './analytics-types.js';

/** The `rollupFoldDelayMs` option checked: its default when absent, null for no background fold. */
export function requireFoldDelay(value: unknown): number | null {
  if (value === undefined) return ROLLUP_FOLD_DELAY_MS;
  if (value === null) return null;
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    value > ROLLUP_FOLD_DELAY_MS_MAX
  ) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `rollupFoldDelayMs must be a whole number of milliseconds from 0 to ${ROLLUP_FOLD_DELAY_MS_MAX}, or null ` +
        `to leave folding to reads and foldRollups(); got ${JSON.stringify(value) ?? String(value)}`,
      { field: 'rollupFoldDelayMs' },
    );
  }
  return value;
}

/**
 * Adds the entries appended since the last fold to every rollup level, zone day and step level:
 * of one project, or of every project with entries pending (docs/analytics.md, "When the levels
 * are kept"). A project with nothing pending costs one lookup and takes no lock.
 */
export async function foldRollups(q: Queryable, projectId: string | undefined): Promise<RollupFoldReport> {
  if (projectId !== undefined) {
    const rows = await q.query<{ entries: string | number }>(
      'select execution_ledger.fold_rollups($1) as entries',
      [projectId],
    );
    const entries = Number(rows[0]?.entries ?? 0);
    return { projects: entries > 0 ? 1 : 0, entries };
  }
  const rows = await q.query<{ projects: string | number; entries: string | number }>(
    `select count(*) as projects, coalesce(sum(f.entries), 0) as entries
     from execution_ledger.fold_pending_rollups() f`,
  );
  return { projects: Number(rows[0]?.projects ?? 0), entries: Number(rows[0]?.entries ?? 0) };
}

/**
 * Folds the projects this process appended to, at most `delayMs` after the first append since
 * its last fold, one project after another: appends pay nothing for the rollups, and a read
 * finds little left to fold. Its timer never keeps the process alive; `close()` folds what is
 * left. A fold that fails here is left to the next read, which folds before it reads and reports
 * the failure to its caller.
 */
export class BackgroundFolder {
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly fold: (projectId: string) => Promise<unknown>,
    private readonly delayMs: number,
  ) {}

  /** Notes an append to `projectId`; its fold runs within `delayMs`. */
  noteAppend(projectId: string): void {
    this.pending.add(projectId);
    if (this.timer === undefined && this.running === undefined) this.schedule();
  }

  /** Stops the timer and folds every project still pending, after any fold in flight. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.flush();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.flush().finally(() => {
        this.running = undefined;
        if (this.pending.size > 0) this.schedule();
      });
    }, this.delayMs);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    const projects = [...this.pending];
    this.pending.clear();
    for (const projectId of projects) {
      try {
        await this.fold(projectId);
      } catch {
        // Left to the next read of the project, which folds first and reports the error.
      }
    }
  }
}
