import type { ServerTimeouts } from './server-silence.js';

/**
 * The storage seam: everything above it is engine-neutral SQL. Two adapters implement it,
 * node-postgres (a server) and PGlite (embedded); both are typed structurally so callers may
 * hand in their own pool or instance without this package depending on their types.
 */
export interface Queryable {
  /** A hot read may pass a NamedSql: on a server it is parsed and planned once per connection. */
  query<Row = Record<string, unknown>>(sql: string | NamedSql, params?: readonly unknown[]): Promise<Row[]>;
}

/** SQL text with a name that is unique to it (see namedSql). */
export interface NamedSql {
  readonly name: string;
  readonly text: string;
}

/** One connection for a while: the migrator runs its transaction on it, with `exec` for whole files. */
export interface Session extends Queryable {
  /** Runs several statements separated by semicolons, without parameters. */
  exec(sql: string): Promise<void>;
}

export type EngineName = 'pglite' | 'postgres';

export interface Database extends Queryable {
  readonly engine: EngineName;
  /** A READ COMMITTED transaction; rolled back when `fn` throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  session<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  /** Releases what this adapter opened; a caller's own pool or instance is left open. */
  close(): Promise<void>;
  /**
   * How another thread may open its own connection to the same server: set only when this
   * package opened the pool from a URL (a caller's pool or a PGlite instance cannot be shared).
   * Verification reads on worker threads with it.
   */
  threadConnection?(): ThreadConnection | undefined;
}

/** A connection string for another thread, and how errors may name it (without the password). */
export interface ThreadConnection {
  url: string;
  where: string;
  /** Whether the thread may keep prepared statements (createLedger's preparedStatements). */
  preparedStatements: boolean;
  /** How long the thread may wait for the server (createLedger's database timeouts). */
  timeouts: ServerTimeouts;
}

/** node-postgres' query config: a `name` makes it a prepared statement of that connection. */
export interface PgQueryConfig {
  name?: string;
  text: string;
  values?: unknown[];
}

/** The parts of a node-postgres `Pool` this package uses. */
export interface PoolLike {
  connect(): Promise<PoolClientLike>;
  query(sql: string | PgQueryConfig, params?: unknown[]): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}

export interface PoolClientLike {
  query(sql: string | PgQueryConfig, params?: unknown[]): Promise<{ rows: unknown[] }>;
  release(error?: Error | boolean): void;
}

/** The parts of a `PGlite` instance this package uses. */
export interface PGliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<unknown>;
  transaction<T>(fn: (tx: PGliteTransactionLike) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  readonly closed?: boolean;
}

export interface PGliteTransactionLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<unknown>;
}

export function isPGliteLike(value: unknown): value is PGliteLike {
  const candidate = value as Partial<PGliteLike> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.exec === 'function' &&
    typeof candidate.transaction === 'function' &&
    typeof candidate.query === 'function'
  );
}

export function isPoolLike(value: unknown): value is PoolLike {
  const candidate = value as Partial<PoolLike> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.connect === 'function' &&
    typeof candidate.query === 'function' &&
    typeof candidate.end === 'function'
  );
}

export function isDatabase(value: unknown): value is Database {
  const candidate = value as Partial<Database> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    (candidate.engine === 'pglite' || candidate.engine === 'postgres') &&
    typeof candidate.session === 'function'
  );
}
