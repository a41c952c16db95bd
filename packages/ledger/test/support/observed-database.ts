import type { Database, Queryable, Session } from 'execution-ledger/database';

/** What the queries through an ObservedDatabase did, for tests of how reads are scheduled. */
export interface QueryLog {
  /** SQL and parameters of every query, in the order they started. */
  started: { sql: string; params: readonly unknown[] }[];
  /** Index into `started` of each query, in the order they finished (or failed). */
  finished: number[];
  /** Queries started and not yet finished, including any time spent waiting at a gate. */
  inFlight: number;
  maxInFlight: number;
  rowsRead: number;
}

export interface ObservedDatabaseOptions {
  /** A promise a query waits for before it runs (it counts as in flight meanwhile), or undefined. */
  gate?(sql: string, params: readonly unknown[]): Promise<void> | undefined;
  /** An error a query throws instead of running, or undefined. */
  failure?(sql: string, params: readonly unknown[]): Error | undefined;
}

/**
 * A Database that passes every query to `real` and logs it, inside transactions too (a scoped
 * reader reads in one): how many run at once, in which order they start and finish, how many
 * rows they return. Sessions pass through unobserved. close() leaves `real` open: it belongs to
 * the test suite.
 */
export function observeDatabase(
  real: Database,
  options: ObservedDatabaseOptions = {},
): { database: Database; log: QueryLog } {
  const log: QueryLog = { started: [], finished: [], inFlight: 0, maxInFlight: 0, rowsRead: 0 };
  const logged = async <Row>(q: Queryable, sql: string, params: readonly unknown[]): Promise<Row[]> => {
    const index = log.started.push({ sql, params }) - 1;
    log.inFlight += 1;
    log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
    try {
      await options.gate?.(sql, params);
      const error = options.failure?.(sql, params);
      if (error !== undefined) throw error;
      const rows = await q.query<Row>(sql, params);
      log.rowsRead += rows.length;
      return rows;
    } finally {
      log.inFlight -= 1;
      log.finished.push(index);
    }
  };
  const database: Database = {
    engine: real.engine,
    query: <Row>(sql: string, params: readonly unknown[] = []) => logged<Row>(real, sql, params),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      real.transaction((tx) =>
        fn({ query: <Row>(sql: string, params: readonly unknown[] = []) => logged<Row>(tx, sql, params) }),
      ),
    session: <T>(fn: (session: Session) => Promise<T>) => real.session(fn),
    close: async () => undefined,
  };
  return { database, log };
}

/** A range read of a chain (afterSeq < seq <= lastSeq), as the ledger's queries write it. */
export function isRangeRead(sql: string): boolean {
  return /e\.seq <= \$\d+::bigint/.test(sql);
}

/** The (afterSeq, lastSeq) of a range read: its last two parameters. */
export function rangeOf(params: readonly unknown[]): [number, number] {
  return [Number(params.at(-2)), Number(params.at(-1))];
}
