import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { LedgerError } from '../errors.js';
import {
  type Database,
  isDatabase,
  isPGliteLike,
  isPoolLike,
  type PGliteLike,
  type PoolLike,
} from './database.js';
import { lockDataFolder } from './folder-lock.js';
import { PgDatabase, redactUrl } from './pg-database.js';
import { PGliteDatabase } from './pglite-database.js';

/** Where the embedded database lives when nothing else is said. */
export const DEFAULT_DATA_FOLDER = './.execution-ledger';

/**
 * `postgres://…` (or `postgresql://…`) a server; `memory:` an in-memory PGlite; a folder path
 * or `file:` URL a PGlite persisted there; or a caller's own pg.Pool, PGlite or Database.
 */
export type DatabaseTarget = string | URL | PoolLike | PGliteLike | Database;

export interface OpenDatabaseOptions {
  /** Connections in the pool this package opens for a URL. */
  poolSize?: number;
}

export async function openDatabase(
  target: DatabaseTarget = DEFAULT_DATA_FOLDER,
  options: OpenDatabaseOptions = {},
): Promise<Database> {
  if (isDatabase(target)) return target;
  if (isPGliteLike(target)) return new PGliteDatabase(target, undefined, 'the given PGlite instance');
  if (isPoolLike(target)) return new PgDatabase(target, false, 'the given pg pool');
  const text = target instanceof URL ? target.toString() : target;
  if (typeof text !== 'string' || text.trim() === '') {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'database must be a postgres:// URL, a folder path, "memory:", a pg.Pool or a PGlite instance',
      { field: 'database' },
    );
  }
  if (/^postgres(ql)?:\/\//i.test(text)) return openPostgres(text, options);
  if (text === 'memory:' || text === 'memory://') return openPGlite(undefined);
  const folder = text.startsWith('file:') ? new URL(text).pathname : text;
  return openPGlite(path.resolve(folder));
}

async function openPostgres(url: string, options: OpenDatabaseOptions): Promise<Database> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
  // An idle client that loses its server emits 'error'; without a listener Node would crash.
  pool.on('error', () => undefined);
  return new PgDatabase(pool, true, redactUrl(url), url);
}

async function openPGlite(folder: string | undefined): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  if (folder === undefined) {
    const pglite = await PGlite.create();
    return new PGliteDatabase(pglite, () => pglite.close(), 'an in-memory PGlite');
  }
  mkdirSync(folder, { recursive: true });
  const unlock = await lockDataFolder(folder);
  try {
    const pglite = await PGlite.create(path.join(folder, 'pgdata'));
    return new PGliteDatabase(
      pglite,
      async () => {
        try {
          await pglite.close();
        } finally {
          await unlock();
        }
      },
      `the embedded database in ${folder}`,
    );
  } catch (error) {
    await unlock();
    throw new LedgerError(
      'DATABASE_UNAVAILABLE',
      `cannot open the embedded database in ${folder}: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
}
