import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LedgerError } from '../errors.js';
import type { Database, Queryable, Session } from './database.js';

/** The folder of numbered `.sql` migrations shipped with the package. */
const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../sql/', import.meta.url));
const MIGRATION_NAME_PATTERN = /^(\d{4})_[a-z0-9_]+\.sql$/;
// Advisory lock for migrations, per transaction: product constant "ELED", then "MIGR". Every
// migration set takes the same lock, so no two sets ever migrate at the same time either.
const MIGRATION_LOCK_KEYS = [1162626372, 1296648018] as const;
// An unquoted PostgreSQL identifier that is not a system schema: safe to write into SQL text.
const SCHEMA_NAME_PATTERN = /^(?!pg_)[a-z][a-z0-9_]{0,62}$/;

/**
 * Numbered migrations that one owner applies to one schema, recording each applied file in that
 * schema's own `migrations` table. The ledger's schema is one set; a package built on the
 * ledger (the HTTP service's API keys) keeps its tables in a set of its own.
 */
export interface MigrationSet {
  /** The schema the set creates its objects in and records its files in (`<schema>.migrations`). */
  schema: string;
  /** The folder of `NNNN_name.sql` files: a path or a `file:` URL. */
  folder: string | URL;
}

/** The ledger's own schema and the migrations this package ships. */
export const LEDGER_MIGRATION_SET: MigrationSet = Object.freeze({
  schema: 'execution_ledger',
  folder: MIGRATIONS_FOLDER,
});

export interface Migration {
  id: number;
  name: string;
  sql: string;
  sha256: string;
}

export interface MigrationReport {
  applied: string[];
  already_applied: number;
}

/** What the schema of a set holds: the newest file recorded and the files not yet applied. */
export interface SchemaStatus {
  schema: string;
  /** The newest migration recorded in the database; null when none is (or the schema is missing). */
  version: number | null;
  /** The newest migration shipped. */
  expected_version: number;
  /** Shipped files not recorded in the database, in order. */
  pending: string[];
  /** Every shipped file is applied and the database has none newer. */
  current: boolean;
}

export async function loadMigrations(folder: string | URL = MIGRATIONS_FOLDER): Promise<Migration[]> {
  const path = folder instanceof URL ? fileURLToPath(folder) : folder;
  const names = (await readdir(path)).filter((name) => MIGRATION_NAME_PATTERN.test(name)).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(path, name), 'utf8');
      return {
        id: Number(name.slice(0, 4)),
        name,
        sql,
        sha256: createHash('sha256').update(sql).digest('hex'),
      };
    }),
  );
}

/**
 * Applies pending migrations in order, in one transaction under an advisory lock, so concurrent
 * callers (several processes starting at once) apply each file exactly once.
 * A landed file whose checksum changed is refused: migrations are forward-only. A schema that is
 * already current is only read, never locked or changed, so a runtime role that owns nothing
 * (and could not migrate) starts as well as the owner does; a role that cannot migrate a schema
 * that is behind gets SCHEMA_OUT_OF_DATE, which says to run `migrate` as the owner. `set` names
 * the schema and folder (default the ledger's own); another set's files are reported as
 * `<schema>/<file>`. A set that builds on the ledger's roles is applied after the ledger's set.
 */
export async function migrateDatabase(
  database: Database,
  migrations?: Migration[],
  set: MigrationSet = LEDGER_MIGRATION_SET,
): Promise<MigrationReport> {
  const schema = requireSchemaName(set.schema);
  const files = migrations ?? (await loadMigrations(set.folder));
  const pending = await pendingMigrations(database, files, schema);
  if (pending !== 'unreadable' && pending.length === 0) {
    await assertRuntimeRolesSafe(database);
    return { applied: [], already_applied: files.length };
  }
  await assertCanMigrate(database, pending === 'unreadable' ? undefined : pending, schema);
  return applyPending(database, files, schema);
}

/**
 * The schema's state against the shipped files, read without the lock and without changing
 * anything (readiness probes). A role that may not read the migrations table gets
 * SCHEMA_OUT_OF_DATE: whether the schema is current cannot be known.
 */
export async function readSchemaStatus(
  database: Queryable,
  set: MigrationSet = LEDGER_MIGRATION_SET,
  migrations?: Migration[],
): Promise<SchemaStatus> {
  const schema = requireSchemaName(set.schema);
  const files = migrations ?? (await loadMigrations(set.folder));
  const applied = await appliedMigrations(database, schema);
  if (applied === 'unreadable') {
    throw new LedgerError(
      'SCHEMA_OUT_OF_DATE',
      `the connecting role may not read ${schema}.migrations, so whether the schema is current is unknown; ` +
        'run `execution-ledger migrate` as the owner, which grants the service that read',
    );
  }
  const ids = new Set(applied.map((row) => Number(row.id)));
  const version = applied.length === 0 ? null : Math.max(...ids);
  const expected = Math.max(0, ...files.map((file) => file.id));
  const pending = files.filter((file) => !ids.has(file.id)).map((file) => label(schema, file.name));
  return {
    schema,
    version,
    expected_version: expected,
    pending,
    current: pending.length === 0 && (version ?? 0) === expected,
  };
}

/** A set's schema name, checked: it is written into SQL text, so only plain identifiers pass. */
export function requireSchemaName(schema: unknown): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME_PATTERN.test(schema)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `schema ${JSON.stringify(schema)} is not a plain schema name; use 1 to 63 lower-case letters, digits ` +
        'and underscores, starting with a letter and not with pg_',
      { field: 'schema' },
    );
  }
  return schema;
}

/**
 * Applies every pending migration in one transaction under a transaction-level advisory lock,
 * after reading under that lock which ones landed meanwhile: concurrent callers wait, then find
 * nothing left to do, and each file is applied exactly once. The lock ends with the transaction,
 * so nothing outlives it on a connection that a pooler in transaction mode hands to someone else
 * next (a session-level lock would stay on whichever server connection took it, and its unlock
 * could reach another). One transaction also means the schema moves from one version to the next
 * or not at all, as when the printed script (migrate --print-sql) is applied.
 */
async function applyPending(
  database: Database,
  files: Migration[],
  schema: string,
): Promise<MigrationReport> {
  return database.session(async (session) => {
    const report: MigrationReport = { applied: [], already_applied: 0 };
    await session.query('begin isolation level read committed');
    try {
      await session.query('select pg_advisory_xact_lock($1, $2)', [...MIGRATION_LOCK_KEYS]);
      await ensureMigrationTable(session, schema);
      const landed = await session.query<{ id: number; sha256: string }>(
        `select id, sha256 from ${schema}.migrations order by id`,
      );
      const byId = new Map(landed.map((row) => [Number(row.id), row.sha256]));
      for (const migration of files) {
        const landedSha = byId.get(migration.id);
        if (landedSha !== undefined) {
          if (landedSha !== migration.sha256) throw changedMigration(migration, landedSha, schema);
          report.already_applied += 1;
          continue;
        }
        await applyMigration(session, migration, schema);
        report.applied.push(label(schema, migration.name));
      }
      await session.query('commit');
    } catch (error) {
      await session.query('rollback').catch(() => undefined);
      throw error;
    }
    await assertRuntimeRolesSafe(session);
    return report;
  });
}

async function applyMigration(session: Session, migration: Migration, schema: string): Promise<void> {
  try {
    await session.exec(migration.sql);
    await session.query(`insert into ${schema}.migrations (id, name, sha256) values ($1, $2, $3)`, [
      migration.id,
      migration.name,
      migration.sha256,
    ]);
  } catch (error) {
    if (error instanceof LedgerError && error.code === 'DATABASE_UNAVAILABLE') throw error;
    throw new LedgerError(
      'MIGRATION_FAILED',
      `migration ${label(schema, migration.name)} failed: ${(error as Error).message}; nothing was applied (pending migrations ` +
        'are applied in one transaction); the connecting role needs CREATEROLE and ownership of the database ' +
        '(or run `migrate` once as such a role)',
      { cause: error },
    );
  }
}

/**
 * The migrations recorded in the schema's table, none when the table does not exist yet, or
 * 'unreadable' when the connecting role may not read it (a runtime role before the set granted
 * it that, as the ledger's 0007 did).
 */
async function appliedMigrations(
  database: Queryable,
  schema: string,
): Promise<{ id: number; sha256: string }[] | 'unreadable'> {
  const [table] = await database.query<{ exists: boolean; readable: boolean }>(
    // CASE, not AND: has_table_privilege fails on a missing table, and AND may evaluate it first.
    `select to_regclass($1::text) is not null as exists,
       case when to_regclass($1::text) is null then false
         else has_table_privilege($1::text, 'select') end as readable`,
    [`${schema}.migrations`],
  );
  if (table?.exists !== true) return [];
  if (table.readable !== true) return 'unreadable';
  return database.query<{ id: number; sha256: string }>(
    `select id, sha256 from ${schema}.migrations order by id`,
  );
}

/**
 * The files not yet recorded in the database (every file when the schema does not exist yet),
 * read without the lock: recorded migrations never go away.
 */
async function pendingMigrations(
  database: Queryable,
  files: Migration[],
  schema: string,
): Promise<Migration[] | 'unreadable'> {
  const applied = await appliedMigrations(database, schema);
  if (applied === 'unreadable') return applied;
  const byId = new Map(applied.map((row) => [Number(row.id), row.sha256]));
  return files.filter((migration) => {
    const landedSha = byId.get(migration.id);
    if (landedSha !== undefined && landedSha !== migration.sha256)
      throw changedMigration(migration, landedSha, schema);
    return landedSha === undefined;
  });
}

/**
 * Only a superuser, a member of the schema's owner, or (before the schema exists) a role that may
 * create schemas in the database can migrate. Anyone else would fail half way with a bare
 * permission error: say instead who must run `migrate`.
 */
async function assertCanMigrate(
  database: Queryable,
  pending: Migration[] | undefined,
  schema: string,
): Promise<void> {
  const [role] = await database.query<{ name: string; owner: string | null; can_migrate: boolean }>(
    `select r.rolname as name, o.rolname as owner,
       r.rolsuper or coalesce(pg_has_role(r.oid, n.nspowner, 'MEMBER'),
         has_database_privilege(current_database(), 'CREATE')) as can_migrate
     from pg_roles r
     left join pg_namespace n on n.nspname = $1
     left join pg_roles o on o.oid = n.nspowner
     where r.rolname = current_user`,
    [schema],
  );
  if (role === undefined || role.can_migrate) return;
  const what =
    pending === undefined
      ? `role ${role.name} may not read ${schema}.migrations, so whether the schema is current is unknown`
      : `${schema === LEDGER_MIGRATION_SET.schema ? 'the ledger schema' : `schema ${schema}`} needs ${pending
          .map((migration) => migration.name)
          .join(', ')}`;
  throw new LedgerError(
    'SCHEMA_OUT_OF_DATE',
    `${what}, and role ${role.name} cannot migrate it (it does not own the schema${
      role.owner === null ? ' and may not create one' : `; ${role.owner} does`
    }); run \`execution-ledger migrate --database <URL of ${role.owner ?? 'the owner'}>\` as the owner, ` +
      'then start again (docs/security.md, "Roles on a server")',
    { details: { role: role.name, owner: role.owner, schema } },
  );
}

/** The schema of a migration set and the table that records its applied files. */
export function migrationTableSql(schema: string): string {
  return `
create schema if not exists ${schema};
create table if not exists ${schema}.migrations (
  id integer primary key,
  name text not null,
  sha256 text not null,
  applied_at timestamptz not null default clock_timestamp()
);`;
}

/** The ledger's migration table; the printed script (migrate --print-sql) starts with it. */
export const MIGRATION_TABLE_SQL = migrationTableSql('execution_ledger');

async function ensureMigrationTable(session: Session, schema: string): Promise<void> {
  await session.exec(migrationTableSql(schema));
}

function changedMigration(migration: Migration, landedSha: string, schema: string): LedgerError {
  return new LedgerError(
    'MIGRATION_FAILED',
    `migration ${label(schema, migration.name)} was changed after it was applied (sha256 ${landedSha.slice(0, 12)}… ` +
      `in the database, ${migration.sha256.slice(0, 12)}… on disk); landed migrations are never edited: restore ` +
      'the file and add a new numbered migration instead',
  );
}

/** A file's name as reports and messages show it: another set's files carry their schema. */
function label(schema: string, name: string): string {
  return schema === LEDGER_MIGRATION_SET.schema ? name : `${schema}/${name}`;
}

/** RLS means nothing to a superuser or a BYPASSRLS role: the roles scoped reads use must be neither. */
async function assertRuntimeRolesSafe(session: Queryable): Promise<void> {
  const unsafe = await session.query<{ rolname: string }>(
    `select rolname from pg_roles
     where rolname in ('execution_ledger_reader', 'execution_ledger_appender', 'execution_ledger_checkpointer')
       and (rolsuper or rolbypassrls)`,
  );
  if (unsafe.length > 0) {
    throw new LedgerError(
      'MIGRATION_FAILED',
      `role ${unsafe.map((row) => row.rolname).join(', ')} is a superuser or bypasses RLS, so row level security ` +
        'would not apply; run ALTER ROLE … NOSUPERUSER NOBYPASSRLS',
    );
  }
}
