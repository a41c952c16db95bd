import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expectLedgerError, makeExecution } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { afterAll, describe, expect, it } from 'vitest';

const folders: string[] = [];
const children: ChildProcess[] = [];
function tempFolder(): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'ledger-lock-'));
  folders.push(folder);
  return folder;
}
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** A child process that opens the folder, records one run, says so, and then waits forever. */
function startHolder(folder: string, runId: string): Promise<ChildProcess> {
  const execution = makeExecution('proj-lock', { run_id: runId });
  const script = `
    import { createLedger } from 'execution-ledger';
    const ledger = createLedger({ database: ${JSON.stringify(folder)} });
    await ledger.recordExecution(${JSON.stringify(execution)});
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the holder exited early with code ${code}`)));
    child.stdout?.once('data', () => resolve(child));
  });
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** A lock directory as another process would leave it, with the given owner record. */
function plantLock(folder: string, owner: Record<string, unknown>): void {
  mkdirSync(path.join(folder, 'lock'), { recursive: true });
  const record = {
    token: 'planted',
    pid: process.pid,
    hostname: os.hostname(),
    boot_id: null,
    process_start_ticks: null,
    acquired_at: '2026-01-02T03:04:05.000Z',
    ...owner,
  };
  writeFileSync(path.join(folder, 'lock', 'owner.json'), JSON.stringify(record));
}

describe('the lock on an embedded database folder', () => {
  it('is taken over at once when its owner was killed with SIGKILL, and the data is intact', async () => {
    const folder = tempFolder();
    const holder = await startHolder(folder, 'run-before-kill');
    await killHard(holder);
    const started = Date.now();
    const ledger = createLedger({ database: folder });
    expect((await ledger.getExecutionByRunId('run-before-kill'))?.seq).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await ledger.verifyLedger('proj-lock')).toMatchObject({ ok: true, entries_checked: 1 });
    await ledger.close();
    expect(existsSync(path.join(folder, 'lock'))).toBe(false);
  });

  it('opens a folder whose start was killed while writing its server lock file (left empty), and the data is intact', async () => {
    const folder = tempFolder();
    const ledger = createLedger({ database: folder });
    await ledger.recordExecution(makeExecution('proj-lock', { run_id: 'before-the-kill' }));
    await ledger.close();
    // What a kill -9 during PostgreSQL's start leaves (seen in the crash loop after kill 5 of 20).
    writeFileSync(path.join(folder, 'pgdata', 'postmaster.pid'), '');
    const reopened = createLedger({ database: folder });
    try {
      expect((await reopened.getExecutionByRunId('before-the-kill'))?.run_id).toBe('before-the-kill');
      expect(await reopened.verifyLedger('proj-lock')).toMatchObject({ ok: true, entries_checked: 1 });
    } finally {
      await reopened.close();
    }
  });

  it('names the live process that holds it, and since when', async () => {
    const folder = tempFolder();
    const holder = await startHolder(folder, 'run-held');
    const error = await expectLedgerError(createLedger({ database: folder }).ready(), 'DATABASE_LOCKED');
    expect(error.message).toContain(`open in another process (pid ${holder.pid} on this host, since 20`);
    expect(error.details).toMatchObject({ owner_pid: holder.pid });
    await killHard(holder);
  });

  it.runIf(existsSync('/proc/self/stat'))(
    'is taken over when its pid now belongs to a process started at another time (pid reuse)',
    async () => {
      const folder = tempFolder();
      plantLock(folder, { pid: process.pid, process_start_ticks: '1' });
      const ledger = createLedger({ database: folder });
      await ledger.ready();
      await ledger.close();
    },
  );

  it('is taken over at once when it was left without its owner record, and leaves nothing made aside', async () => {
    // A lock directory is made aside with its record and renamed into place: killed before the
    // rename, a process leaves only an aside directory; an older version killed between making
    // the lock and writing its record left it empty, which named no owner to judge dead.
    const folder = tempFolder();
    const first = createLedger({ database: folder });
    await first.recordExecution(makeExecution('proj-lock', { run_id: 'run-before-empty-lock' }));
    await first.close();
    mkdirSync(path.join(folder, 'lock'));
    mkdirSync(path.join(folder, 'lock.new-0123456789ab'));
    writeFileSync(path.join(folder, 'lock.new-0123456789ab', 'owner.json.tmp'), '{"tok');
    const started = Date.now();
    const ledger = createLedger({ database: folder });
    expect((await ledger.getExecutionByRunId('run-before-empty-lock'))?.seq).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(
      readdirSync(folder)
        .filter((name) => name.startsWith('lock'))
        .sort(),
    ).toEqual(['lock']);
    expect(Object.keys(JSON.parse(readFileSync(path.join(folder, 'lock', 'owner.json'), 'utf8')))).toContain(
      'pid',
    );
    await ledger.close();
    expect(existsSync(path.join(folder, 'lock'))).toBe(false);
  });

  it('is not taken over while its record cannot be read, and says that the folder is locked', async () => {
    const folder = tempFolder();
    mkdirSync(path.join(folder, 'lock'));
    writeFileSync(path.join(folder, 'lock', 'owner.json'), '{"token": "half-writ');
    const error = await expectLedgerError(createLedger({ database: folder }).ready(), 'DATABASE_LOCKED');
    expect(error.message).toContain('is open in another process; stop that process');
  });

  it('is not taken over when another host holds it, and the message names that host', async () => {
    const folder = tempFolder();
    plantLock(folder, { hostname: 'elsewhere.example' });
    const error = await expectLedgerError(createLedger({ database: folder }).ready(), 'DATABASE_LOCKED');
    expect(error.message).toContain('(pid');
    expect(error.message).toContain('on host elsewhere.example, since 2026-01-02T03:04:05.000Z)');
  });
});
