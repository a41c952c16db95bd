import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { FOLDER_LOCK_ATTEMPTS_MAX, FOLDER_LOCK_HEARTBEAT_MS, FOLDER_LOCK_STALE_MS } from '../bounds.js';
import { LedgerError } from '../errors.js';
import {
  describeLockOwner,
  isOwnerGone,
  type LockOwner,
  readLockOwner,
  writeLockOwner,
} from './lock-owner.js';

type Callback = (error: NodeJS.ErrnoException | null) => void;

/** What a lock directory made aside carries in its name until it is renamed into place. */
const ASIDE_MARK = '.new-';

/** The file system's error, relabelled as mkdir's "already there" (proper-lockfile reads the code only). */
function taken(error: NodeJS.ErrnoException): NodeJS.ErrnoException {
  return Object.assign(error, { code: 'EEXIST' });
}

/**
 * The file system proper-lockfile works through, changed in two places. Making the lock directory
 * makes it aside with the owner record already in it and renames it into place, so the lock never
 * exists without its record, whenever its maker is killed (a directory made where the lock goes
 * and then written into could be left empty, and an empty lock names no owner to judge dead).
 * This happens before proper-lockfile stamps the directory's mtime (a write afterwards would
 * change that mtime and the heartbeat would call the lock compromised). Removing the lock removes
 * the directory with its record (proper-lockfile uses a plain rmdir).
 */
const lockFileSystem = {
  ...fs,
  mkdir(directory: string, callback: Callback): void {
    const aside = `${directory}${ASIDE_MARK}${randomBytes(6).toString('hex')}`;
    const dropAside = (then: () => void) => fs.rm(aside, { recursive: true, force: true }, () => then());
    fs.mkdir(aside, (error) => {
      if (error) return callback(error);
      try {
        writeLockOwner(aside);
      } catch (caught) {
        const writeError = caught as NodeJS.ErrnoException;
        // Gone while being written: cleared by the process that has just taken the lock.
        dropAside(() => callback(writeError.code === 'ENOENT' ? taken(writeError) : writeError));
        return;
      }
      // A directory renamed onto a directory replaces it only when that one is empty (a lock an
      // older version's killed maker left without its record): a lock holding a record stays,
      // and is reported as taken (EEXIST), as mkdir would. An aside directory that vanished was
      // cleared by the process that holds the lock.
      fs.rename(aside, directory, (renameError) => {
        if (renameError === null) return callback(null);
        const code = renameError.code;
        const held = code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT';
        dropAside(() => callback(held ? taken(renameError) : renameError));
      });
    });
  },
  rmdir(directory: string, callback: Callback): void {
    fs.rm(directory, { recursive: true, force: true }, callback);
  },
  rmdirSync(directory: string): void {
    fs.rmSync(directory, { recursive: true, force: true });
  },
};

/**
 * Two processes writing one PGlite folder corrupt it, and PGlite has no lock of its own. Take an
 * exclusive lock (a heartbeat-refreshed lock directory holding its owner's pid, host and start
 * time). A lock whose owner is dead on this host is taken over at once; a live owner is named.
 */
export async function lockDataFolder(folder: string): Promise<() => Promise<void>> {
  const lockDirectory = path.join(folder, 'lock');
  let owner: LockOwner | null = null;
  for (let attempt = 0; attempt < FOLDER_LOCK_ATTEMPTS_MAX; attempt += 1) {
    try {
      const release = await lockfile.lock(folder, {
        realpath: false,
        lockfilePath: lockDirectory,
        stale: FOLDER_LOCK_STALE_MS,
        update: FOLDER_LOCK_HEARTBEAT_MS,
        retries: 0,
        fs: lockFileSystem,
        onCompromised: (error) => {
          process.emitWarning(`execution-ledger: the lock on ${folder} was lost: ${error.message}`);
        },
      });
      await removeLeftAside(folder);
      return release;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ELOCKED') throw error;
      owner = await readLockOwner(lockDirectory);
      if (owner === null || !isOwnerGone(owner)) throw lockedError(folder, owner, error);
      await moveDeadLockAside(lockDirectory, owner);
    }
  }
  throw lockedError(folder, owner, undefined);
}

/** Lock directories made aside by processes killed before they renamed them into place. */
async function removeLeftAside(folder: string): Promise<void> {
  const prefix = `lock${ASIDE_MARK}`;
  for (const name of await readdir(folder)) {
    if (name.startsWith(prefix)) await rm(path.join(folder, name), { recursive: true, force: true });
  }
}

/**
 * Removes a dead owner's lock. Two openers may judge the same lock dead at once: each renames the
 * lock to a name of its own (atomic, so only one gets it) and checks that what it moved is the
 * lock it judged; a lock another opener has just taken goes back where it was.
 */
async function moveDeadLockAside(lockDirectory: string, dead: LockOwner): Promise<void> {
  const aside = `${lockDirectory}.dead-${randomBytes(6).toString('hex')}`;
  try {
    await rename(lockDirectory, aside);
  } catch (error) {
    // Gone already: another opener took it over first, and the next attempt will say so.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readLockOwner(aside);
  if (moved?.token === dead.token) {
    await rm(aside, { recursive: true, force: true });
    return;
  }
  try {
    await rename(aside, lockDirectory);
  } catch (error) {
    throw new LedgerError(
      'DATABASE_LOCKED',
      `several processes are taking over the lock in ${lockDirectory} at once; stop all but one and retry`,
      { cause: error, details: { folder: path.dirname(lockDirectory) } },
    );
  }
}

function lockedError(folder: string, owner: LockOwner | null, cause: unknown): LedgerError {
  const holder = owner === null ? 'another process' : `another process (${describeLockOwner(owner)})`;
  return new LedgerError(
    'DATABASE_LOCKED',
    `the embedded database in ${folder} is open in ${holder}; stop that process, ` +
      'or point this one at another folder or at a PostgreSQL server with --database / DATABASE_URL',
    {
      cause,
      details: {
        folder,
        owner_pid: owner?.pid,
        owner_hostname: owner?.hostname,
        owner_since: owner?.acquired_at,
      },
    },
  );
}
