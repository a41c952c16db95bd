import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { createLedger, type Ledger, type LedgerOptions } from 'execution-ledger';
import { type Database, grantRuntimeRole, openDatabase } from 'execution-ledger/database';
import pg from 'pg';
import { afterAll, beforeAll, describe } from 'vitest';
import { present } from './present.js';

/**
 * Every suite runs once per engine: embedded PGlite always, and the PostgreSQL server named
 * by TEST_DATABASE_URL. CI sets REQUIRE_POSTGRES=1 so a missing server fails the run instead
 * of silently skipping half the suite. On the server the ledger connects as TEST_DATABASE_URL's
 * role, the runtime role in CI; TEST_OWNER_DATABASE_URL names the owner that migrates (when it
 * is unset, TEST_DATABASE_URL is taken to be the owner and migrates for itself).
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
  /**
   * Runs `fn` while no fold of `projectId` can run: on the server, its mark row is locked from a
   * connection of its own (a fold waits for it), since any ledger reading across projects, from
   * any test file, folds every pending project of the shared database. On PGlite only this file's
   * ledger folds, and only when asked.
   */
  withoutFolds<T>(projectId: string, fn: () => Promise<T>): Promise<T>;
  /**
   * A connection as the role that owns the schema (TEST_OWNER_DATABASE_URL on the server; on
   * PGlite the one superuser connection, which owns everything).
   */
  ownerDatabase(): Promise<Database>;
  /** Opens another ledger on the same database (for replays across instances). */
  openAnother(options?: Omit<LedgerOptions, 'database'>): Ledger;
}

const serverUrl = process.env.TEST_DATABASE_URL;
const adminUrl = process.env.TEST_ADMIN_DATABASE_URL ?? serverUrl;
/** The role that owns the schema and runs migrations; the runtime role when none is named. */
export const ownerUrl = process.env.TEST_OWNER_DATABASE_URL ?? serverUrl;

if (process.env.REQUIRE_POSTGRES === '1' && !serverUrl) {
  throw new Error('REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set: the server suite must run');
}

export const ENGINES: EngineName[] = serverUrl ? ['pglite', 'postgres'] : ['pglite'];

let serverPrepared: Promise<void> | undefined;

/**
 * Migrates the server database as the owner and grants TEST_DATABASE_URL's role the runtime
 * roles, once per test process: the runtime role cannot migrate, and must not need to.
 */
export function prepareServerDatabase(): Promise<void> {
  serverPrepared ??= (async () => {
    if (serverUrl === undefined || ownerUrl === serverUrl) return;
    const owner = createLedger({ database: present(ownerUrl), migrate: false, poolSize: 1 });
    try {
      await owner.migrate();
      await grantRuntimeRole(await owner.database(), decodeURIComponent(new URL(serverUrl).username));
    } finally {
      await owner.close();
    }
  })();
  return serverPrepared;
}

export function describeEachEngine(title: string, body: (context: EngineContext) => void): void {
  describe.each(ENGINES)(`${title} [%s]`, (engine) => {
    const state: {
      ledger?: Ledger;
      pglite?: PGlite;
      adminPool?: pg.Pool;
      owner?: Promise<Database>;
      others: Ledger[];
    } = { others: [] };
    beforeAll(async () => {
      if (engine === 'pglite') {
        state.pglite = await PGlite.create();
        state.ledger = createLedger({ database: state.pglite });
      } else {
        await prepareServerDatabase();
        state.ledger = createLedger({ database: present(serverUrl), poolSize: 20 });
        state.adminPool = new pg.Pool({ connectionString: adminUrl, max: 2 });
      }
      await state.ledger.ready();
    });
    afterAll(async () => {
      for (const other of state.others) await other.close();
      await state.ledger?.close();
      if (engine === 'postgres') await (await state.owner)?.close();
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
          params.length > 0
            ? await present(state.adminPool).query(sql, params)
            : await present(state.adminPool).query(sql);
        return (Array.isArray(result) ? (result.at(-1)?.rows ?? []) : result.rows) as Record<
          string,
          unknown
        >[];
      },
      ownerDatabase() {
        if (engine === 'pglite') return context.ledger.database();
        state.owner ??= openDatabase(present(ownerUrl), { poolSize: 2 });
        return state.owner;
      },
      project(prefix = 'proj') {
        return `${prefix}-${randomUUID()}`;
      },
      async withoutFolds(projectId, fn) {
        if (state.adminPool === undefined) return fn();
        const client = await state.adminPool.connect();
        try {
          await client.query('begin');
          const locked = await client.query(
            'select 1 from execution_ledger.rollup_marks where project_id = $1 for update',
            [projectId],
          );
          if (locked.rowCount !== 1)
            throw new Error(`withoutFolds: ${projectId} has no fold mark yet (fold it once first)`);
          return await fn();
        } finally {
          await client.query('rollback');
          client.release();
        }
      },
      openAnother(options = {}) {
        const other = createLedger({ ...options, database: state.pglite ?? present(serverUrl) });
        state.others.push(other);
        return other;
      },
    };
    body(context);
  });
}
