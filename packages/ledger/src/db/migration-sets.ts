import { LedgerError } from '../errors.js';
import type { Database } from './database.js';
import {
  LEDGER_MIGRATION_SET,
  type MigrationReport,
  type MigrationSet,
  migrateDatabase,
  requireSchemaName,
} from './migrator.js';

/**
 * The migration sets one ledger applies: its own first, then those of packages built on it,
 * in the order they were added (they build on the ledger's roles). Each is prepared once on
 * first use; a failure is forgotten, so the next use tries again.
 */
export class MigrationSets {
  private readonly added = new Map<string, MigrationSet>();
  private readonly preparing = new Map<string, Promise<void>>();

  /** Adds a package's set and returns its schema; the same schema must come with the same folder. */
  add(set: MigrationSet): string {
    const schema = requireSchemaName(set?.schema);
    if (schema === LEDGER_MIGRATION_SET.schema) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `schema ${schema} is the ledger's own; give the migration set a schema of its own`,
        { field: 'schema' },
      );
    }
    const known = this.added.get(schema);
    if (known !== undefined && String(known.folder) !== String(set.folder)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `schema ${schema} was added with migrations from ${String(known.folder)}, not ${String(set.folder)}; ` +
          'one schema has one migration set',
        { field: 'folder' },
      );
    }
    if (known === undefined) this.added.set(schema, { schema, folder: set.folder });
    return schema;
  }

  /** The ledger's set, then every added one. */
  all(): MigrationSet[] {
    return [LEDGER_MIGRATION_SET, ...this.added.values()];
  }

  /** Applies what is pending of every set, once per set and ledger (first use). */
  async prepare(database: Database): Promise<void> {
    for (const set of this.all()) await this.prepareOne(database, set);
  }

  /** Applies what is pending of every set now, and says what it did. */
  async migrate(database: Database): Promise<MigrationReport> {
    const report: MigrationReport = { applied: [], already_applied: 0 };
    for (const set of this.all()) {
      const part = await migrateDatabase(database, undefined, set);
      report.applied.push(...part.applied);
      report.already_applied += part.already_applied;
    }
    return report;
  }

  private prepareOne(database: Database, set: MigrationSet): Promise<void> {
    const existing = this.preparing.get(set.schema);
    if (existing !== undefined) return existing;
    const preparing = migrateDatabase(database, undefined, set).then(
      () => undefined,
      (error: unknown) => {
        this.preparing.delete(set.schema);
        throw error;
      },
    );
    this.preparing.set(set.schema, preparing);
    return preparing;
  }
}
