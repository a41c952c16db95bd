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

/** The node-postgres adapter: a pool, one client per transaction or session. */
export class PgDatabase implements Database {
  readonly engine = 'postgres' as const;

  // A private field: the URL holds the password, and util.inspect does not show such fields.
  readonly #url: string | undefined;

  constructor(
    private readonly pool: PoolLike,
    private readonly owned: boolean,
    private readonly where: string,
    /** False for a server behind a pooler that cannot keep prepared statements. */
    private readonly prepare = true,
    url?: string,
  ) {
    this.#url = url;
  }

  threadConnection(): ThreadConnection | undefined {
    return this.#url === undefined
      ? undefined
      : { url: this.#url, where: this.where, preparedStatements: this.prepare };
  }

  async query<Row>(sql: string | NamedSql, params: readonly unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query(this.config(sql, params))).rows as Row[];
    } catch (error) {
      throw translateDatabaseError(error, this.where);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await client.query('begin isolation level read committed');
      const result = await fn(this.wrap(client));
      await client.query('commit');
      return result;
    } catch (error) {
      try {
        await client.query('rollback');
      } catch (rollbackError) {
        // A client that cannot roll back is unusable: destroy it instead of returning it.
        broken = rollbackError as Error;
      }
      throw translateDatabaseError(error, this.where);
    } finally {
      client.release(broken ?? false);
    }
  }

  async session<T>(fn: (session: Session) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      const wrapped = this.wrap(client);
      return await fn({
        query: wrapped.query,
        exec: async (sql) => {
          await wrapped.query(sql);
        },
      });
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.pool.end();
  }

  private async connect(): Promise<PoolClientLike> {
    try {
      return await this.pool.connect();
    } catch (error) {
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
          return (await client.query(this.config(sql, params))).rows as Row[];
        } catch (error) {
          throw translateDatabaseError(error, this.where);
        }
      },
    };
  }
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
