import type { Database } from './db/database.js';
import {
  loadMigrations,
  type Migration,
  type MigrationSet,
  readSchemaStatus,
  type SchemaStatus,
} from './db/migrator.js';
import { listProjectSummaries, type ProjectSummary } from './db/project-queries.js';
import { assertRuntimeRole, grantRuntimeRole, type RoleReview, reviewRole } from './db/role-queries.js';

/** What the operations need of their ledger. */
export interface OperationsAccess {
  /** The database, prepared as the ledger prepares it (migrated on first use unless turned off). */
  ready(): Promise<Database>;
  /** The database, opened but not migrated: a role is checked before anything is changed. */
  opened(): Promise<Database>;
  /** The ledger's own migration set first, then every set added to the ledger. */
  migrationSets(): MigrationSet[];
}

/**
 * What running a ledger service needs beyond reading and writing entries: readiness, the list of
 * projects, and the review of the database role it connects as. Reached as `ledger.operations`.
 */
export class LedgerOperations {
  /** Each set's shipped files, read once: a readiness probe asks often, and they do not change while running. */
  private readonly shipped = new Map<string, Promise<Migration[]>>();

  constructor(private readonly access: OperationsAccess) {}

  /**
   * The state of the ledger's schema, then of every added migration set's (readiness probes):
   * the newest migration recorded, the newest shipped, and the files still to apply.
   */
  async schemaStatus(): Promise<SchemaStatus[]> {
    const database = await this.access.ready();
    const statuses: SchemaStatus[] = [];
    for (const set of this.access.migrationSets()) {
      statuses.push(await readSchemaStatus(database, set, await this.shippedFiles(set)));
    }
    return statuses;
  }

  /** Every project that has entries, by id, with its number of entries. */
  async listProjects(): Promise<ProjectSummary[]> {
    return listProjectSummaries(await this.access.ready());
  }

  /**
   * Refuses (PRIVILEGED_ROLE, with the fix) a connecting role that could switch the database's
   * guards off: a superuser, BYPASSRLS, CREATEROLE, an owner of the ledger's objects (or of an
   * added set's), a direct writer. The embedded engine has one superuser connection: it passes.
   */
  async assertRuntimeRole(): Promise<void> {
    await assertRuntimeRole(await this.access.opened(), this.schemas());
  }

  /**
   * What the connecting role could do beyond a runtime role's grants (empty when nothing), on a
   * server; undefined on the embedded engine, whose one connection is a superuser by design.
   */
  async reviewRuntimeRole(): Promise<RoleReview | undefined> {
    const database = await this.access.opened();
    if (database.engine !== 'postgres') return undefined;
    return reviewRole(database, undefined, this.schemas());
  }

  /**
   * Grants an existing login role the runtime memberships it lacks (run as the owner, after
   * migrating) and returns their names; refuses a role the guards would not hold.
   */
  async grantRuntimeRole(role: string): Promise<string[]> {
    return grantRuntimeRole(await this.access.opened(), role, this.schemas());
  }

  private shippedFiles(set: MigrationSet): Promise<Migration[]> {
    let files = this.shipped.get(set.schema);
    if (files === undefined) {
      files = loadMigrations(set.folder);
      // A failed read is tried again by the next probe.
      files.catch(() => this.shipped.delete(set.schema));
      this.shipped.set(set.schema, files);
    }
    return files;
  }

  private schemas(): string[] {
    return this.access.migrationSets().map((set) => set.schema);
  }
}
