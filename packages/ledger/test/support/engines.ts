import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { createLedger, type Ledger, type LedgerOptions } from 'execution-ledger';
import pg from 'pg';
import { afterAll, beforeAll, describe } from 'vitest';

/**
 * Every suite runs once per engine: embedded PGlite always, and the PostgreSQL server named
 * by TEST_DATABASE_URL. CI sets REQUIRE_POSTGRES=1 so a missing server fails the run instead
 * of silently skipping half the suite.
 */
export type EngineName = 'pglite' | 'postgres';

export interface EngineContext {
  readonly engine: EngineName;
  /** The ledger under test, shared by the tests of one file and engine. */
  readonly ledger: Ledger;
  /** Runs SQL as a superuser (PGlite's own user; TEST_ADMIN_DATABASE_URL on the server). */
  admin(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** A fresh project id: tests isolate by project instead of by database. */
  project(prefix?: string): string;
  /** Opens another ledger on the same database (for replays across instances). */
  openAnother(options?: Omit<LedgerOptions, 'database'>): Ledger;
}

const serverUrl = process.env.TEST_DATABASE_URL;
const adminUrl = process.env.TEST_ADMIN_DATABASE_URL ?? serverUrl;

if (process.env.REQUIRE_POSTGRES === '1' && !serverUrl) {
  throw new Error('REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set: the server suite must run');
}

export const ENGINES: EngineName[] = serverUrl ? ['pglite', 'postgres'] : ['pglite'];

export function describeEachEngine(title: string, body: (context: EngineContext) => void): void {
  describe.each(ENGINES)(`${title} [%s]`, (engine) => {
    const state: { ledger?: Ledger; pglite?: PGlite; adminPool?: pg.Pool; others: Ledger[] } = { others: [] };
    beforeAll(async () => {
      if (engine === 'pglite') {
        state.pglite = await PGlite.create();
        state.ledger = createLedger({ database: state.pglite });
      } else {
        state.ledger = createLedger({ database: serverUrl!, poolSize: 20 });
        state.adminPool = new pg.Pool({ connectionString: adminUrl, max: 2 });
      }
      await state.ledger.ready();
    });
    afterAll(async () => {
      for (const other of state.others) await other.close();
      await state.ledger?.close();
      await state.pglite?.close();
      await state.adminPool?.end();
    });
    const context: EngineContext = {
      engine,
      get ledger() {
        if (state.ledger === undefined) throw new Error('ledger used before beforeAll');
        return state.ledger;
      },
      async admin(sql, params = []) {
        if (state.pglite !== undefined) {
          // Several statements need the simple protocol (exec); parameters need query.
          if (params.length > 0) return (await state.pglite.query<Record<string, unknown>>(sql, params)).rows;
          const results = await state.pglite.exec(sql);
          return (results.at(-1)?.rows ?? []) as Record<string, unknown>[];
        }
        // pg switches to the extended protocol (one statement only) whenever values are passed.
        const result =
          params.length > 0 ? await state.adminPool!.query(sql, params) : await state.adminPool!.query(sql);
        return (Array.isArray(result) ? (result.at(-1)?.rows ?? []) : result.rows) as Record<
          string,
          unknown
        >[];
      },
      project(prefix = 'proj') {
        return `${prefix}-${randomUUID()}`;
      },
      openAnother(options = {}) {
        const other = createLedger({ ...options, database: state.pglite ?? serverUrl! });
        state.others.push(other);
        return other;
      },
    };
    body(context);
  });
}
