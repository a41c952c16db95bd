import type { Queryable } from '../db/database.js';

interface Transactional extends Queryable {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

function isTransactional(q: Queryable): q is Transactional {
  return typeof (q as Partial<Transactional>).transaction === 'function';
}

/**
 * Runs one analytics statement with JIT compilation off. The planner cannot know how few hours a
 * range cuts, so it overestimates the rows read from the entries; above jit_above_cost the server
 * then spends 0.1 to 1.5 s compiling a query that runs in milliseconds. SET LOCAL needs a
 * transaction: the ledger's own reads get one, a scoped reader's read already is one.
 */
export async function queryWithoutJit<Row>(q: Queryable, sql: string, params: unknown[]): Promise<Row[]> {
  if (isTransactional(q)) {
    return q.transaction(async (tx) => {
      await tx.query('set local jit = off');
      return tx.query<Row>(sql, params);
    });
  }
  await q.query('set local jit = off');
  return q.query<Row>(sql, params);
}
