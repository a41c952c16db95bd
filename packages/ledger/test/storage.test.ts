import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { expectLedgerError, makeExecution, present } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { loadMigrations, migrateDatabase, openDatabase } from 'execution-ledger/database';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const folders: string[] = [];
function tempFolder(): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'ledger-storage-'));
  folders.push(folder);
  return folder;
}
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** Starts a child process that opens the folder and holds it until told to close. */
function holdFolder(folder: string): Promise<{ release: () => Promise<void> }> {
  const script = `
    import { createLedger } from 'execution-ledger';
    const ledger = createLedger({ database: ${JSON.stringify(folder)} });
    await ledger.ready();
    process.stdout.write('ready\\n');
    process.stdin.once('data', async () => { await ledger.close(); process.exit(0); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', () =>
      resolve({
        release: () =>
          new Promise((done) => {
            child.once('exit', () => done());
            child.stdin.write('close\n');
          }),
      }),
    );
  });
}

describe('the embedded database in a folder', () => {
  it('refuses a second process with DATABASE_LOCKED, and opens once the first has closed', async () => {
    const folder = tempFolder();
    const holder = await holdFolder(folder);
    const second = createLedger({ database: folder });
    const error = await expectLedgerError(second.ready(), 'DATABASE_LOCKED');
    expect(error.message).toContain('open in another process');
    await holder.release();
    const third = createLedger({ database: folder });
    await third.ready();
    await third.close();
  });

  it('keeps entries across close and reopen, and the chain still verifies', async () => {
    const folder = tempFolder();
    const first = createLedger({ database: `file:${folder}` });
    const record = await first.recordExecution(makeExecution('proj-persist'));
    await first.close();
    const reopened = createLedger({ database: folder });
    expect((await reopened.getExecutionByRunId(record.run_id))?.entry_hash).toBe(record.entry_hash);
    expect(await reopened.verifyLedger('proj-persist')).toMatchObject({ ok: true, entries_checked: 1 });
    await reopened.close();
  });

  it('runs with a small buffer pool, in a folder and in memory, since it lives in the application', async () => {
    for (const target of [tempFolder(), 'memory:']) {
      const ledger = createLedger({ database: target });
      const database = await ledger.ready();
      const [row] = await database.query<{ shared_buffers: string }>('show shared_buffers');
      expect(row?.shared_buffers).toBe('16MB');
      await ledger.close();
    }
  });
});

describe('migrations', () => {
  it('apply each file once when several callers migrate at the same time (PGlite)', async () => {
    const pglite = await PGlite.create();
    const database = await openDatabase(pglite);
    const reports = await Promise.all([
      migrateDatabase(database),
      migrateDatabase(database),
      migrateDatabase(database),
    ]);
    const files = (await loadMigrations()).map((migration) => migration.name);
    expect(reports.flatMap((report) => report.applied).sort()).toEqual(files);
    const rows = await database.query<{ n: number }>(
      'select count(*)::int as n from execution_ledger.migrations',
    );
    expect(rows[0]?.n).toBe(files.length);
    await pglite.close();
  });

  it.runIf(process.env.TEST_ADMIN_DATABASE_URL)(
    'apply each file once when several processes migrate one server database at the same time',
    async () => {
      const name = `ledger_migrate_${randomUUID().replaceAll('-', '')}`;
      const admin = new pg.Client({ connectionString: process.env.TEST_ADMIN_DATABASE_URL });
      await admin.connect();
      await admin.query(`create database ${name} owner ledger`);
      try {
        // Migrating a fresh database is the owner's work: the runtime role owns nothing.
        const url = new URL(process.env.TEST_OWNER_DATABASE_URL ?? present(process.env.TEST_DATABASE_URL));
        url.pathname = `/${name}`;
        const ledgers = Array.from({ length: 4 }, () =>
          createLedger({ database: url.toString(), migrate: false }),
        );
        const reports = await Promise.all(ledgers.map((ledger) => ledger.migrate()));
        const files = (await loadMigrations()).map((migration) => migration.name);
        expect(reports.flatMap((report) => report.applied).sort()).toEqual(files);
        expect(reports.filter((report) => report.applied.length > 0)).toHaveLength(1);
        const record = await present(ledgers[0]).recordExecution(makeExecution('proj-migrated'));
        expect(record.seq).toBe(1);
        for (const ledger of ledgers) await ledger.close();
      } finally {
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.end();
      }
    },
  );

  it('refuse a landed migration whose file changed, with MIGRATION_FAILED', async () => {
    const pglite = await PGlite.create();
    const database = await openDatabase(pglite);
    await migrateDatabase(database);
    const edited = (await loadMigrations()).map((migration) =>
      migration.id === 1 ? { ...migration, sha256: 'f'.repeat(64) } : migration,
    );
    const error = await expectLedgerError(migrateDatabase(database, edited), 'MIGRATION_FAILED');
    expect(error.message).toContain('0001_executions.sql was changed after it was applied');
    await pglite.close();
  });

  it('can be left to the caller: migrate: false touches nothing until migrate() is called', async () => {
    const pglite = await PGlite.create();
    const ledger = createLedger({ database: pglite, migrate: false });
    await expect(ledger.getExecutionByRunId('run-1')).rejects.toThrow(/execution_ledger/);
    expect((await ledger.migrate()).applied.length).toBeGreaterThan(0);
    expect(await ledger.getExecutionByRunId('run-1')).toBeNull();
    await ledger.close();
    await pglite.close();
  });
});

describe('operating errors', () => {
  it('reports an unreachable server as DATABASE_UNAVAILABLE without the password', async () => {
    const ledger = createLedger({ database: 'postgres://someone:secret-password@127.0.0.1:1/nowhere' });
    const error = await expectLedgerError(ledger.recordExecution(makeExecution('p')), 'DATABASE_UNAVAILABLE');
    expect(error.message).not.toContain('secret-password');
    expect(error.message).toContain('127.0.0.1:1');
    await ledger.close();
  });

  it('says why an embedded folder does not open, and frees its lock for the next try', async () => {
    const folder = tempFolder();
    mkdirSync(path.join(folder, 'pgdata'));
    writeFileSync(path.join(folder, 'pgdata', 'PG_VERSION'), '99\n');
    const ledger = createLedger({ database: folder });
    const error = await expectLedgerError(ledger.ready(), 'DATABASE_UNAVAILABLE');
    expect(error.message).toContain(`cannot open the embedded database in ${folder}: PGlite`);
    expect(error.message).not.toContain('[object Object]');
    await ledger.close().catch(() => undefined);
    rmSync(path.join(folder, 'pgdata'), { recursive: true });
    const fresh = createLedger({ database: folder });
    await fresh.ready();
    await fresh.close();
  });

  it('refuses work after close with LEDGER_CLOSED', async () => {
    const ledger = createLedger({ database: 'memory:' });
    await ledger.ready();
    await ledger.close();
    await expectLedgerError(ledger.recordExecution(makeExecution('p')), 'LEDGER_CLOSED');
  });

  it('rejects a database target that is not one', async () => {
    await expectLedgerError(openDatabase('' as string), 'VALIDATION_FAILED', 'database');
  });
});
