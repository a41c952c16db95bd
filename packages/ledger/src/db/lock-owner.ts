import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** The file inside the lock directory that says which process holds the lock. */
export const LOCK_OWNER_FILE = 'owner.json';

/**
 * Who holds an embedded database folder. A killed process cannot remove its lock; with this
 * record the next opener can tell a dead owner (take over at once) from a live one (name it).
 */
export interface LockOwner {
  /** Random per acquisition: a take-over checks it moved aside the lock it judged dead. */
  token: string;
  pid: number;
  hostname: string;
  /** Linux boot id: after a reboot every recorded pid is gone, whatever runs under it now. */
  boot_id: string | null;
  /** Start time of the process in clock ticks since boot (Linux): tells a reused pid apart. */
  process_start_ticks: string | null;
  /** ISO 8601: when the lock was taken. */
  acquired_at: string;
}

function readProcText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    // Not Linux, or no such process: the caller falls back to weaker checks.
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat; the command name before it may hold spaces and parentheses. */
function processStartTicks(pid: number): string | null {
  const stat = readProcText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

function bootId(): string | null {
  return readProcText('/proc/sys/kernel/random/boot_id');
}

/**
 * Writes this process's record into a freshly made lock directory, through a temporary file and
 * a rename so that a process killed half-way never leaves a half-written record.
 */
export function writeLockOwner(lockDirectory: string): void {
  const owner: LockOwner = {
    token: randomBytes(12).toString('hex'),
    pid: process.pid,
    hostname: os.hostname(),
    boot_id: bootId(),
    process_start_ticks: processStartTicks(process.pid),
    acquired_at: new Date().toISOString(),
  };
  const temporary = path.join(lockDirectory, `${LOCK_OWNER_FILE}.tmp`);
  writeFileSync(temporary, `${JSON.stringify(owner)}\n`);
  renameSync(temporary, path.join(lockDirectory, LOCK_OWNER_FILE));
}

/** The recorded owner, or null when there is none or it cannot be read (a lock of an older version). */
export async function readLockOwner(lockDirectory: string): Promise<LockOwner | null> {
  let text: string;
  try {
    text = await readFile(path.join(lockDirectory, LOCK_OWNER_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let value: Partial<LockOwner>;
  try {
    value = JSON.parse(text) as Partial<LockOwner>;
  } catch {
    // Written by hand or by something else: no owner this process can judge.
    return null;
  }
  if (
    typeof value.token !== 'string' ||
    !Number.isSafeInteger(value.pid) ||
    typeof value.hostname !== 'string'
  ) {
    return null;
  }
  return value as LockOwner;
}

/**
 * True only when the owner is certainly gone: same host, and the pid is free, or runs a process
 * started at another time (pid reuse), or the machine has rebooted since. Another host's owner
 * cannot be checked from here and is never declared gone.
 */
export function isOwnerGone(owner: LockOwner): boolean {
  if (owner.hostname !== os.hostname()) return false;
  const currentBoot = bootId();
  if (owner.boot_id !== null && currentBoot !== null && owner.boot_id !== currentBoot) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the pid runs under another user, so it is alive.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const start = processStartTicks(owner.pid);
  return owner.process_start_ticks !== null && start !== null && start !== owner.process_start_ticks;
}

/** "pid 123 on host h, since 2026-…", for messages. */
export function describeLockOwner(owner: LockOwner): string {
  const host = owner.hostname === os.hostname() ? 'this host' : `host ${owner.hostname}`;
  return `pid ${owner.pid} on ${host}, since ${owner.acquired_at}`;
}
