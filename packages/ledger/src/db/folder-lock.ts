import path from 'node:path';
import lockfile from 'proper-lockfile';
import { LedgerError } from '../errors.js';

/** A lock older than this without a heartbeat belongs to a dead process and may be taken over. */
const LOCK_STALE_MS = 30_000;
const LOCK_HEARTBEAT_MS = 10_000;

/**
 * Two processes writing one PGlite folder corrupt it, and PGlite has no lock of its own. Take an
 * exclusive lock (a heartbeat-refreshed lock directory) and fail clearly when another holds it.
 */
export async function lockDataFolder(folder: string): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(folder, {
      realpath: false,
      lockfilePath: path.join(folder, 'lock'),
      stale: LOCK_STALE_MS,
      update: LOCK_HEARTBEAT_MS,
      retries: 0,
      onCompromised: (error) => {
        process.emitWarning(`execution-ledger: the lock on ${folder} was lost: ${error.message}`);
      },
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'ELOCKED') {
      throw new LedgerError(
        'DATABASE_LOCKED',
        `the embedded database in ${folder} is open in another process; stop that process, ` +
          'or point this one at another folder or at a PostgreSQL server with --database / DATABASE_URL',
        { cause: error, details: { folder } },
      );
    }
    throw error;
  }
}
