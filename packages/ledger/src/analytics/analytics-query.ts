import type { NamedSql, Queryable } from '../db/database.js';

/** A Queryable that can open a transaction of its own (a Database; not a transaction itself). */
export interface Transactional extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

export function isTransactional(q: Queryable): q is Transactional {
  return typeof (q as Partial<Transactional>).transaction === 'function';
}

/** Planner and executor settings one analytics statement needs, applied to it alone. */
export interface LocalSettings {
  /**
   * 'off' where the planner cannot know how few hours a range cuts and overestimates the rows
   * read from the entries: past jit_above_cost the server then spends 0.1 to 1.5 s compiling a
   * statement that runs in milliseconds.
   */
  jit?: 'off';
  /** Memory for one sort, such as a percentile over half a million runs, so it stays in memory. */
  work_mem?: string;
}

/**
 * Runs one statement with transaction-local settings. SET LOCAL needs a transaction: the
 * ledger's own reads get one, and a scoped reader's read already is one.
 */
export async function queryWithSettings<Row>(
  q: Queryable,
  settings: LocalSettings,
  sql: string | NamedSql,
  params: unknown[],
): Promise<Row[]> {
  // PGlite is built without JIT (pg_jit_available() is false there): turning it off would cost
  // a transaction and a statement for nothing.
  const entries = Object.entries(settings).filter(
    ([name]) => name !== 'jit' || (q as { engine?: unknown }).engine !== 'pglite',
  );
  // Every setting in one statement: one round trip, whatever their number.
  const apply = entries.map((_, index) => `set_config($${2 * index + 1}, $${2 * index + 2}, true)`);
  const run = async (tx: Queryable) => {
    if (entries.length > 0) await tx.query(`select ${apply.join(', ')}`, entries.flat());
    return tx.query<Row>(sql, params);
  };
  return entries.length > 0 && isTransactional(q) ? q.transaction(run) : run(q);
}
