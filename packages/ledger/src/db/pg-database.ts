import { LedgerError } from '../errors.js';
import type {
  Database,
  NamedSql,
  PgQueryConfig,
  PoolClientLike,
  PoolLike,
  Queryable,
  Session,
  ThreadConnection,
} from './database.js';
import { translateDatabaseError } from './database-errors.js';
import {
  answersWithin,
  awaitReply,
  type ServerProbe,
  ServerSilentError,
  type ServerTimeouts,
} from './server-silence.js';

/** The node-postgres adapter: a pool, one client per transaction or session. */
export class PgDatabase implements Database {
  readonly engine = 'postgres' as const;

  // A private field: the URL holds the password, and util.inspect does not show such fields.
  // A function, because with several servers it names the one connections go to now.
  readonly #url: (() => string) | undefined;

  constructor(
    private readonly pool: PoolLike,
    private readonly owned: boolean,
    private readonly where: string,
    /** False for a server behind a pooler that cannot keep prepared statements. */
    private readonly prepare: boolean,
    private readonly timeouts: ServerTimeouts,
    /** Asks, on a connection of its own, whether the server answers at all. */
    private readonly probe: ServerProbe = () =>
      answersWithin(pool.query('select 1'), timeouts.connectTimeoutMs),
    url?: () => string,
  ) {
    this.#url = url;
  }

  threadConnection(): ThreadConnection | undefined {
    return this.#url === undefined
      ? undefined
      : { url: this.#url(), where: this.where, preparedStatements: this.prepare, timeouts: this.timeouts };
  }

  async query<Row>(sql: string | NamedSql, params: readonly unknown[] = []): Promise<Row[]> {
    return this.withClient((client) => this.wrap(client).query<Row>(sql, params));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      const tx = this.wrap(client);
      try {
        await tx.query('begin isolation level read committed');
        const result = await fn(tx);
        await tx.query('commit');
        return result;
      } catch (error) {
        // A silent server would leave a ROLLBACK waiting just as long; the connection is
        // destroyed instead, and the server rolls back when it sees it close.
        if (!(error instanceof ServerSilentError)) {
          try {
            await tx.query('rollback');
          } catch {
            // A client that cannot roll back is unusable: destroy it instead of returning it.
            unusable.add(client);
          }
        }
        throw error;
      }
    });
  }

  async session<T>(fn: (session: Session) => Promise<T>): Promise<T> {
    return this.withClient((client) => {
      const wrapped = this.wrap(client);
      return fn({
        query: wrapped.query,
        exec: async (sql) => {
          await wrapped.query(sql);
        },
      });
    });
  }

  /**
   * Runs `work` on a pooled client and returns the client to the pool, or destroys it when a
   * statement or a rollback failed in a way that leaves its state unknown.
   */
  private async withClient<T>(work: (client: PoolClientLike) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      return await work(client);
    } catch (error) {
      if (unusable.has(client) || !isStatementError(error)) broken = error as Error;
      throw translateDatabaseError(error, this.where);
    } finally {
      client.release(broken ?? false);
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.pool.end();
  }

  private async connect(): Promise<PoolClientLike> {
    try {
      return await this.pool.connect();
    } catch (error) {
      if (
        error instanceof Error &&
        /connection timeout|timeout exceeded when trying to connect/i.test(error.message)
      ) {
        throw new LedgerError(
          'DATABASE_UNAVAILABLE',
          `the database at ${this.where} did not answer a new connection within ${this.timeouts.connectTimeoutMs} ms ` +
            '(or every pooled connection stayed busy that long); check that the server runs and is not overloaded, ' +
            'or raise databaseConnectTimeoutMs or poolSize',
          { cause: error, details: { connect_timeout_ms: this.timeouts.connectTimeoutMs } },
        );
      }
      throw translateDatabaseError(error, this.where);
    }
  }

  /** A named statement is prepared once per connection by node-postgres, then only executed. */
  private config(sql: string | NamedSql, params: readonly unknown[]): PgQueryConfig {
    const values = params as unknown[];
    if (typeof sql === 'string') return { text: sql, values };
    return this.prepare ? { name: sql.name, text: sql.text, values } : { text: sql.text, values };
  }

  private wrap(client: PoolClientLike): Queryable {
    return {
      query: async <Row>(sql: string | NamedSql, params: readonly unknown[] = []) => {
        try {
          const reply = client.query(this.config(sql, params));
          return (await awaitReply(reply, this.timeouts, this.probe, this.where)).rows as Row[];
        } catch (error) {
          throw translateDatabaseError(error, this.where);
        }
      },
    };
  }
}

/** Clients whose rollback failed: released with an error, so the pool destroys them. */
const unusable = new WeakSet<PoolClientLike>();

/**
 * An error the server answered with (it has a SQLSTATE and the connection is still in step) as
 * opposed to a lost or broken connection, after which the client must not be reused.
 */
function isStatementError(error: unknown): boolean {
  if (error instanceof LedgerError) {
    const cause = error.cause as { code?: unknown } | undefined;
    return error.code !== 'DATABASE_UNAVAILABLE' || isSqlState(cause?.code);
  }
  return isSqlState((error as { code?: unknown } | null)?.code);
}

function isSqlState(code: unknown): boolean {
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** A connection URL without its password, safe to print in errors and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the given PostgreSQL URL';
  }
}
