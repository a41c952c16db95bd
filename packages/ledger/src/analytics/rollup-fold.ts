import { ROLLUP_FOLD_DELAY_MS, ROLLUP_FOLD_DELAY_MS_MAX } from '../bounds.js';
import type { NamedSql, Queryable } from '../db/database.js';
import { namedSql, sqlText } from '../db/named-sql.js';
import { LedgerError } from '../errors.js';
import { isTransactional, type Transactional } from './analytics-query.js';
import type { RollupFoldReport } from './analytics-types.js';
import { isRowSecured, markRowSecured } from './rollup-levels.js';

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

// Named: every rollup read runs one of these first, so each connection (PGlite's one session
// too) parses and plans them once.
const FOLD_PROJECT = namedSql('select execution_ledger.fold_rollups($1) as entries');
const FOLD_PENDING = namedSql(
  `select count(*) as projects, coalesce(sum(f.entries), 0) as entries
   from execution_ledger.fold_pending_rollups() f`,
);

/**
 * Adds the entries appended since the last fold to every rollup level, zone day and step level:
 * of one project, or of every project with entries pending (docs/analytics.md, "When the levels
 * are kept"). A project with nothing pending costs one lookup and takes no lock.
 */
export async function foldRollups(q: Queryable, projectId: string | undefined): Promise<RollupFoldReport> {
  if (projectId !== undefined) {
    const rows = await q.query<{ entries: string | number }>(FOLD_PROJECT, [projectId]);
    const entries = Number(rows[0]?.entries ?? 0);
    return { projects: entries > 0 ? 1 : 0, entries };
  }
  const rows = await q.query<{ projects: string | number; entries: string | number }>(FOLD_PENDING, []);
  return { projects: Number(rows[0]?.projects ?? 0), entries: Number(rows[0]?.entries ?? 0) };
}

/**
 * The projects this ledger appended to and has not folded yet, and their fold: at most `delayMs`
 * after the first append since the last fold (never, when `delayMs` is null), one project after
 * another, so appends pay nothing for the rollups and a read finds little left to fold. Its timer
 * never keeps the process alive; `close()` folds what is left. A project stays pending until a
 * fold that began after its last append succeeds: a background fold that fails is retried, and a
 * read of the project folds it first and reports the failure to its caller.
 */
export class RollupFolder {
  /** Project → appends noted; a fold clears a project only if none came while it ran. */
  private readonly pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly fold: (projectId: string) => Promise<unknown>,
    private readonly delayMs: number | null,
  ) {}

  /** Notes an append to `projectId`; its fold runs within `delayMs`. */
  noteAppend(projectId: string): void {
    this.pending.set(projectId, (this.pending.get(projectId) ?? 0) + 1);
    if (this.delayMs !== null && this.timer === undefined && this.running === undefined) this.schedule();
  }

  /** Whether this ledger appended to `projectId` (to any project, when none is named) since its fold. */
  hasPending(projectId: string | undefined): boolean {
    return projectId === undefined ? this.pending.size > 0 : this.pending.has(projectId);
  }

  /** Folds the pending projects now (`projectId`'s alone when named); a failure is thrown. */
  async foldNow(projectId: string | undefined): Promise<void> {
    const projects = projectId === undefined ? [...this.pending.keys()] : [projectId];
    for (const project of projects) await this.foldOne(project);
  }

  /**
   * Runs a fold of `projectId` (of every project, when none is named) that began after the
   * appends noted so far: the projects it covers are no longer pending unless appended to meanwhile.
   */
  async covering<T>(projectId: string | undefined, fold: () => Promise<T>): Promise<T> {
    const noted = [...this.pending].filter(([project]) => projectId === undefined || project === projectId);
    const result = await fold();
    for (const [project, count] of noted) {
      if (this.pending.get(project) === count) this.pending.delete(project);
    }
    return result;
  }

  /**
   * Stops the timer and, unless it never folds on its own (`delayMs` null), folds every project
   * still pending, after any fold in flight.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    if (this.delayMs !== null) await this.flush();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.flush().finally(() => {
        this.running = undefined;
        if (this.pending.size > 0) this.schedule();
      });
    }, this.delayMs ?? 0);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    for (const projectId of [...this.pending.keys()]) {
      try {
        await this.foldOne(projectId);
      } catch {
        // Still pending: retried by the next background fold, and folded by the next read first.
      }
    }
  }

  private async foldOne(projectId: string): Promise<void> {
    const noted = this.pending.get(projectId);
    if (noted === undefined) return;
    await this.fold(projectId);
    if (this.pending.get(projectId) === noted) this.pending.delete(projectId);
  }
}

/** What a checked read learned: whether any statement of it read with entries pending. */
export interface PendingCheck {
  pending: boolean;
}

/** The column a checked statement adds to its answer, last, so it is the first to go again. */
const PENDING_COLUMN = 'el_rollups_pending';

/**
 * `q` with every statement asking, in its own snapshot, whether any entry of `projectId` (of any
 * project, when none is named) is past its mark (0031): the answer is exact when none is, since
 * the levels it read then hold every entry committed before it. A statement answering no rows
 * cannot say, and counts as pending. The engine, transactions and the row security mark pass
 * through, so the statements a read runs are the same ones, each with one column more.
 */
export function checkingPending(q: Queryable, projectId: string | undefined, check: PendingCheck): Queryable {
  const checked: Queryable & { engine?: unknown; transaction?: Transactional['transaction'] } = {
    async query<Row>(sql: string | NamedSql, params: readonly unknown[] = []): Promise<Row[]> {
      const text = `select el_read.*, (select execution_ledger.rollups_pending($${params.length + 1}::text)) as ${PENDING_COLUMN}
        from (${sqlText(sql).trimEnd().replace(/;$/, '')}) as el_read`;
      const rows = await q.query<Record<string, unknown>>(typeof sql === 'string' ? text : namedSql(text), [
        ...params,
        projectId ?? null,
      ]);
      if (rows.length === 0) check.pending = true;
      for (const row of rows) {
        if (row[PENDING_COLUMN] !== false) check.pending = true;
        delete row[PENDING_COLUMN];
      }
      return rows as Row[];
    },
  };
  const { engine } = q as { engine?: unknown };
  if (engine !== undefined) checked.engine = engine;
  if (isTransactional(q)) {
    checked.transaction = (fn) => q.transaction((tx) => fn(checkingPending(tx, projectId, check)));
  }
  return isRowSecured(q) ? markRowSecured(checked) : checked;
}
