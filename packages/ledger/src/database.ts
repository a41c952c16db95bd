// `execution-ledger/database`: opening, migrating and granting roles on the ledger's database
// without a Ledger, for operators and for code that runs its own SQL beside the ledger (the
// server's API-key store). A Ledger does all of this itself.
export type {
  Database,
  EngineName,
  PGliteLike,
  PoolLike,
  Queryable,
  Session,
  ThreadConnection,
} from './db/database.js';
export { type MigrationScriptOptions, migrationScript } from './db/migration-script.js';
export type { Migration, MigrationReport, MigrationSet, SchemaStatus } from './db/migrator.js';
export { LEDGER_MIGRATION_SET, loadMigrations, migrateDatabase, readSchemaStatus } from './db/migrator.js';
export type { DatabaseTarget, OpenDatabaseOptions } from './db/open-database.js';
export { DEFAULT_DATA_FOLDER, openDatabase } from './db/open-database.js';
export { OwnedSchema } from './db/owned-schema.js';
export type { ProjectSummary } from './db/project-queries.js';
export type { RoleReview } from './db/role-queries.js';
export { assertRuntimeRole, grantRuntimeRole, RUNTIME_MEMBERSHIPS, reviewRole } from './db/role-queries.js';
