import type { Database, NamedSql, PGliteLike, Queryable, Session } from './database.js';
import { translateDatabaseError } from './database-errors.js';
import { sqlText } from './named-sql.js';
import { PGliteStatements } from './pglite-statements.js';

/**
 * The PGlite adapter. PGlite has one connection: its own transaction() serialises callers, and
 * a failed statement inside it is rolled back before anything else runs.
 */
export class PGliteDatabase implements Database {
  readonly engine = 'pglite' as const;
  /** Hot reads (NamedSql) prepared once per session instead of planned on every call. */
  private readonly statements: PGliteStatements;

  constructor(
    private readonly pglite: PGliteLike,
    private readonly onClose: (() => Promise<void>) | undefined,
    private readonly where: string,
  ) {
    this.statements = new PGliteStatements(pglite);
  }

  async query<Row>(sql: string | NamedSql, params: readonly unknown[] = []): Promise<Row[]> {
    try {
      if (typeof sql !== 'string' && this.statements.available) {
        return await this.statements.query<Row>(sql, params, false);
      }
      return (await this.pglite.query<Row>(sqlText(sql), params as unknown[])).rows;
    } catch (error) {
      throw translateDatabaseError(error, this.where);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    try {
      return await this.pglite.transaction(async (tx) => {
        await tx.query('set transaction isolation level read committed');
        return fn({
          query: async <Row>(sql: string | NamedSql, params: readonly unknown[] = []) =>
            typeof sql !== 'string' && this.statements.available
              ? this.statements.query<Row>(sql, params, true)
              : (await tx.query<Row>(sqlText(sql), params as unknown[])).rows,
        });
      });
    } catch (error) {
      throw translateDatabaseError(error, this.where);
    }
  }

  async session<T>(fn: (session: Session) => Promise<T>): Promise<T> {
    return fn({
      query: (sql, params) => this.query(sql, params),
      exec: async (sql) => {
        try {
          await this.pglite.exec(sql);
        } catch (error) {
          throw translateDatabaseError(error, this.where);
        }
      },
    });
  }

  async close(): Promise<void> {
    await this.onClose?.();
  }
}
