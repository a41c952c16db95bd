import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { DATABASE_CONNECT_TIMEOUT_MS_DEFAULT, DATABASE_REPLY_TIMEOUT_MS_DEFAULT } from '../bounds.js';
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
import { parseHostList } from './host-list.js';
import { PgDatabase, redactUrl } from './pg-database.js';
import { PGliteDatabase } from './pglite-database.js';
import { answersWithin, type ServerTimeouts } from './server-silence.js';
import { refuseSupabaseClient } from './supabase-client.js';
import { WritableHostPool } from './writable-host-pool.js';

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
  /**
   * Keep hot reads as prepared statements on a server connection (default true). Turn off
   * behind a pooler in transaction mode that cannot keep them (PgBouncer before 1.21).
   */
  preparedStatements?: boolean;
  /** Silence on one statement, in ms, before the server is probed (DATABASE_REPLY_TIMEOUT_MS_DEFAULT). */
  replyTimeoutMs?: number;
  /** The longest a connection may take to open or to come free in the pool, in ms. */
  connectTimeoutMs?: number;
}

export async function openDatabase(
  target: DatabaseTarget = DEFAULT_DATA_FOLDER,
  options: OpenDatabaseOptions = {},
): Promise<Database> {
  if (isDatabase(target)) return target;
  refuseSupabaseClient(target);
  if (isPGliteLike(target)) return new PGliteDatabase(target, undefined, 'the given PGlite instance');
  if (isPoolLike(target))
    return new PgDatabase(
      target,
      false,
      'the given pg pool',
      options.preparedStatements !== false,
      serverTimeouts(options),
    );
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
  const timeouts = serverTimeouts(options);
  const settingsFor = (connectionString: string) => ({
    connectionString,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    keepAlive: true,
  });
  const makePool = (connectionString: string) => {
    const pool = new pg.Pool({ ...settingsFor(connectionString), max: options.poolSize ?? 10 });
    // The pool listens for errors of idle clients only. A client lent out and between two
    // statements when its server dies (a crash, a failover) would emit 'error' with no listener
    // and end the process; its next statement fails instead, and the adapter destroys it.
    pool.on('connect', (client) => client.on('error', () => undefined));
    return pool;
  };
  // The probe opens a connection of its own: a pool whose clients all wait on a silent server
  // has none to lend, and a busy pool must not be mistaken for a silent server.
  const probeAt = (currentUrl: () => string) => async () => {
    const client = new pg.Client(settingsFor(currentUrl()));
    client.on('error', () => undefined);
    try {
      return await answersWithin(
        client.connect().then(() => client.query('select 1')),
        timeouts.connectTimeoutMs,
      );
    } finally {
      client.end().catch(() => undefined);
    }
  };
  const prepare = options.preparedStatements !== false;
  const hostList = parseHostList(url);
  if (hostList !== undefined) {
    // Several servers (a primary and its standbys): connections follow the writable one.
    const router = new WritableHostPool(hostList, makePool, timeouts.connectTimeoutMs);
    const currentUrl = () => router.currentUrl();
    return new PgDatabase(
      router,
      true,
      hostList.redacted,
      prepare,
      timeouts,
      probeAt(currentUrl),
      currentUrl,
    );
  }
  const pool = makePool(url);
  // An idle client that loses its server emits 'error'; without a listener Node would crash.
  pool.on('error', () => undefined);
  return new PgDatabase(
    pool,
    true,
    redactUrl(url),
    prepare,
    timeouts,
    probeAt(() => url),
    () => url,
  );
}

function serverTimeouts(options: OpenDatabaseOptions): ServerTimeouts {
  return {
    replyTimeoutMs: requireTimeout(
      options.replyTimeoutMs,
      'databaseReplyTimeoutMs',
      DATABASE_REPLY_TIMEOUT_MS_DEFAULT,
    ),
    connectTimeoutMs: requireTimeout(
      options.connectTimeoutMs,
      'databaseConnectTimeoutMs',
      DATABASE_CONNECT_TIMEOUT_MS_DEFAULT,
    ),
  };
}

function requireTimeout(value: number | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} must be a whole number of milliseconds ≥ 1; got ${String(value)}`,
      {
        field,
      },
    );
  }
  return value;
}

/**
 * PostgreSQL settings of an embedded database this package opens. Its buffer pool lives in the
 * application's own memory, and PGlite's default (128 MB, a server's default) made a reopened
 * ledger hold about 300 MB before doing anything; the operating system caches the data files
 * anyway. 16 MB cut the peak memory of a 50,000-run export by about 100 MB in bench/.
 */
const EMBEDDED_SETTINGS = { shared_buffers: '16MB' } as const;

function embeddedStartParams(defaults: readonly string[]): string[] {
  return [
    ...defaults,
    ...Object.entries(EMBEDDED_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
}

async function openPGlite(folder: string | undefined): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const options = { startParams: embeddedStartParams(PGlite.defaultStartParams) };
  if (folder === undefined) {
    const pglite = await PGlite.create(options);
    return new PGliteDatabase(pglite, () => pglite.close(), 'an in-memory PGlite');
  }
  mkdirSync(folder, { recursive: true });
  const unlock = await lockDataFolder(folder);
  try {
    removeEmptyServerLock(path.join(folder, 'pgdata'));
    const pglite = await PGlite.create(path.join(folder, 'pgdata'), options);
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
      `cannot open the embedded database in ${folder}: ${describeOpenError(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * PostgreSQL writes `postmaster.pid` as it starts; a process killed at that moment leaves it
 * empty, and an empty lock file stops every later start ("lock file is empty"): the folder would
 * never open again. Under the folder's own lock no other server can be using it, so an empty one
 * is the remnant of that dead start. A file with content is left to PostgreSQL, which already
 * takes a dead server's over.
 */
function removeEmptyServerLock(dataDir: string): void {
  const file = path.join(dataDir, 'postmaster.pid');
  try {
    if (statSync(file).size === 0) rmSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * The reason an embedded open failed, as text. PGlite sometimes rejects with an object that is
 * not an Error, which String() prints as "[object Object]"; its message or JSON says more.
 */
export function describeOpenError(error: unknown): string {
  if (error instanceof Error) return error.message;
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message === 'string' && message !== '') return message;
  if (typeof error === 'object' && error !== null) {
    try {
      return JSON.stringify(error);
    } catch {
      // A cyclic object: fall through to String().
    }
  }
  return String(error);
}
