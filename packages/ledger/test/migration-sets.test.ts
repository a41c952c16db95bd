import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  describeEachEngine,
  expectLedgerError,
  expectLedgerErrorSync,
  makeExecution,
} from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { loadMigrations, type MigrationSet, migrateDatabase } from 'execution-ledger/database';
import { describe, expect, it } from 'vitest';

const NOTES: MigrationSet = {
  schema: 'ledger_test_notes',
  folder: fileURLToPath(new URL('./support/notes-migrations/', import.meta.url)),
};
const UNAPPLIED: MigrationSet = {
  schema: 'ledger_test_unapplied',
  folder: fileURLToPath(new URL('./support/unapplied-migrations/', import.meta.url)),
};

describeEachEngine('migration sets and operations of packages built on the ledger', (context) => {
  it("reaches a package's own tables only through its set's functions, once the set is applied with the ledger's", async () => {
    // On a server the owner migrates and the runtime role only checks; PGlite migrates on first use.
    if (context.engine === 'postgres') await migrateDatabase(await context.ownerDatabase(), undefined, NOTES);
    const notes = context.ledger.ownedSchema(NOTES);
    expect(notes.schema).toBe('ledger_test_notes');
    const body = `note ${randomUUID()}`;
    const [added] = await notes.call<{ body: string }>('add_note', [body]);
    expect(added?.body).toBe(body);
    expect(await notes.call('count_notes', [body])).toEqual([{ n: 1 }]);
    const statuses = await context.ledger.operations.schemaStatus();
    const latest = Math.max(...(await loadMigrations()).map((migration) => migration.id));
    expect(statuses).toEqual([
      { schema: 'execution_ledger', version: latest, expected_version: latest, pending: [], current: true },
      { schema: 'ledger_test_notes', version: 1, expected_version: 1, pending: [], current: true },
    ]);
  });

  it("refuses a schema that is not a plain name, the ledger's own, or a second folder for one schema (VALIDATION_FAILED)", async () => {
    for (const schema of ['Notes', 'notes; drop table x', 'pg_notes', '', 'n'.repeat(64)]) {
      const error = expectLedgerErrorSync(
        () => context.ledger.ownedSchema({ ...NOTES, schema }),
        'VALIDATION_FAILED',
      );
      expect(error.field).toBe('schema');
    }
    const own = expectLedgerErrorSync(
      () => context.ledger.ownedSchema({ ...NOTES, schema: 'execution_ledger' }),
      'VALIDATION_FAILED',
    );
    expect(own.message).toContain("the ledger's own");
    const elsewhere = expectLedgerErrorSync(
      () => context.ledger.ownedSchema({ ...NOTES, folder: UNAPPLIED.folder }),
      'VALIDATION_FAILED',
    );
    expect(elsewhere.field).toBe('folder');
  });

  it('refuses a function name that is not plain and more arguments than PostgreSQL takes, before any SQL runs', async () => {
    const notes = context.ledger.ownedSchema(NOTES);
    for (const name of ['add_note(); drop table x; --', 'Add_Note', 'ledger_test_notes.add_note', '']) {
      await expectLedgerError(notes.call(name, ['x']), 'VALIDATION_FAILED', 'name');
    }
    await expectLedgerError(
      notes.call(
        'add_note',
        Array.from({ length: 101 }, () => 'x'),
      ),
      'VALIDATION_FAILED',
      'args',
    );
    await expectLedgerError(notes.call('add_note', 'x' as unknown as string[]), 'VALIDATION_FAILED', 'args');
  });

  it("names another set's changed landed file with its schema (MIGRATION_FAILED)", async () => {
    const owner = await context.ownerDatabase();
    await migrateDatabase(owner, undefined, NOTES);
    const edited = (await loadMigrations(NOTES.folder)).map((migration) => ({
      ...migration,
      sha256: 'f'.repeat(64),
    }));
    const error = await expectLedgerError(migrateDatabase(owner, edited, NOTES), 'MIGRATION_FAILED');
    expect(error.message).toContain('ledger_test_notes/0001_notes.sql was changed after it was applied');
  });

  it('tells a role that cannot migrate which set is behind (SCHEMA_OUT_OF_DATE); the embedded engine applies it', async () => {
    const ledger = context.openAnother();
    const things = ledger.ownedSchema(UNAPPLIED);
    if (context.engine === 'pglite') {
      const [status] = (await ledger.operations.schemaStatus()).slice(1);
      expect(status).toMatchObject({ schema: 'ledger_test_unapplied', current: true });
      return;
    }
    const error = await expectLedgerError(things.call('nothing_here'), 'SCHEMA_OUT_OF_DATE');
    expect(error.message).toContain('schema ledger_test_unapplied needs 0001_never_applied.sql');
    expect(error.message).toContain('run `execution-ledger migrate --database <URL of');
  });

  it('lists projects with their entry counts, and reviews the connecting role', async () => {
    const project = context.project();
    await context.ledger.recordExecutions([makeExecution(project), makeExecution(project)]);
    const projects = await context.ledger.operations.listProjects();
    expect(projects.find((item) => item.project_id === project)).toEqual({ project_id: project, entries: 2 });
    expect(projects.map((item) => item.project_id)).toEqual(
      projects.map((item) => item.project_id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const review = await context.ledger.operations.reviewRuntimeRole();
    // The embedded engine's one connection is a superuser by design: nothing to review there.
    if (context.engine === 'pglite') expect(review).toBeUndefined();
    else expect(review).toMatchObject({ privileges: [] });
    await context.ledger.operations.assertRuntimeRole();
    const missing = await expectLedgerError(
      context.ledger.operations.grantRuntimeRole('no_such_role_here'),
      'VALIDATION_FAILED',
    );
    expect(missing.field).toBe('--grant-runtime');
    expect(missing.message).toContain('does not exist; create it first');
  });
});

describe('migrationSets in createLedger', () => {
  it('refuses a set with a bad schema before opening anything (VALIDATION_FAILED)', () => {
    const error = expectLedgerErrorSync(
      () => createLedger({ database: 'memory:', migrationSets: [{ ...NOTES, schema: 'execution_ledger' }] }),
      'VALIDATION_FAILED',
    );
    expect(error.field).toBe('schema');
    const twice = expectLedgerErrorSync(
      () =>
        createLedger({ database: 'memory:', migrationSets: [NOTES, { ...NOTES, folder: UNAPPLIED.folder }] }),
      'VALIDATION_FAILED',
    );
    expect(twice.field).toBe('folder');
  });
});
