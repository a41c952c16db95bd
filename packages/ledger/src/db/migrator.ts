import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LedgerError } from '../errors.js';
import type { Database, Queryable, Session } from './database.js';

/** The folder of numbered `.sql` migrations shipped with the package. */
const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../sql/', import.meta.url));
const MIGRATION_NAME_PATTERN = /^(\d{4})_[a-z0-9_]+\.sql$/;
// Advisory lock for migrations, per transaction: product constant "ELED", then "MIGR".
const MIGRATION_LOCK_KEYS = [1162626372, 1296648018] as const;

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

export async function loadMigrations(folder = MIGRATIONS_FOLDER): Promise<Migration[]> {
  const names = (await readdir(folder)).filter((name) => MIGRATION_NAME_PATTERN.test(name)).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(new URL(name, `file://${folder}/`), 'utf8');
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
 * that is behind gets SCHEMA_OUT_OF_DATE, which says to run `migrate` as the owner.
 */
export async function migrateDatabase(
  database: Database,
  migrations?: Migration[],
): Promise<MigrationReport> {
  const files = migrations ?? (await loadMigrations());
  const pending = await pendingMigrations(database, files);
  if (pending !== 'unreadable' && pending.length === 0) {
    await assertRuntimeRolesSafe(database);
    return { applied: [], already_applied: files.length };
  }
  await assertCanMigrate(database, pending === 'unreadable' ? undefined : pending);
  return applyPending(database, files);
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
async function applyPending(database: Database, files: Migration[]): Promise<MigrationReport> {
  return database.session(async (session) => {
    const report: MigrationReport = { applied: [], already_applied: 0 };
    await session.query('begin isolation level read committed');
    try {
      await session.query('select pg_advisory_xact_lock($1, $2)', [...MIGRATION_LOCK_KEYS]);
      await ensureMigrationTable(session);
      const landed = await session.query<{ id: number; sha256: string }>(
        'select id, sha256 from execution_ledger.migrations order by id',
      );
      const byId = new Map(landed.map((row) => [Number(row.id), row.sha256]));
      for (const migration of files) {
        const landedSha = byId.get(migration.id);
        if (landedSha !== undefined) {
          if (landedSha !== migration.sha256) throw changedMigration(migration, landedSha);
          report.already_applied += 1;
          continue;
        }
        await applyMigration(session, migration);
        report.applied.push(migration.name);
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

async function applyMigration(session: Session, migration: Migration): Promise<void> {
  try {
    await session.exec(migration.sql);
    await session.query('insert into execution_ledger.migrations (id, name, sha256) values ($1, $2, $3)', [
      migration.id,
      migration.name,
      migration.sha256,
    ]);
  } catch (error) {
    if (error instanceof LedgerError && error.code === 'DATABASE_UNAVAILABLE') throw error;
    throw new LedgerError(
      'MIGRATION_FAILED',
      `migration ${migration.name} failed: ${(error as Error).message}; nothing was applied (pending migrations ` +
        'are applied in one transaction); the connecting role needs CREATEROLE and ownership of the database ' +
        '(or run `migrate` once as such a role)',
      { cause: error },
    );
  }
}

/**
 * The files not yet recorded in the database (every file when the schema does not exist yet),
 * read without the lock: recorded migrations never go away. 'unreadable' when the connecting
 * role may not read the migrations table (a runtime role before 0007 granted it that).
 */
async function pendingMigrations(
  database: Queryable,
  files: Migration[],
): Promise<Migration[] | 'unreadable'> {
  const [table] = await database.query<{ exists: boolean }>(
    `select to_regclass('execution_ledger.migrations') is not null as exists`,
  );
  if (table?.exists !== true) return files;
  const [access] = await database.query<{ readable: boolean }>(
    `select has_table_privilege('execution_ledger.migrations', 'select') as readable`,
  );
  if (access?.readable !== true) return 'unreadable';
  const applied = await database.query<{ id: number; sha256: string }>(
    'select id, sha256 from execution_ledger.migrations order by id',
  );
  const byId = new Map(applied.map((row) => [Number(row.id), row.sha256]));
  return files.filter((migration) => {
    const landedSha = byId.get(migration.id);
    if (landedSha !== undefined && landedSha !== migration.sha256)
      throw changedMigration(migration, landedSha);
    return landedSha === undefined;
  });
}

/**
 * Only a superuser, a member of the schema's owner, or (before the schema exists) a role that may
 * create schemas in the database can migrate. Anyone else would fail half way with a bare
 * permission error: say instead who must run `migrate`.
 */
async function assertCanMigrate(database: Queryable, pending: Migration[] | undefined): Promise<void> {
  const [role] = await database.query<{ name: string; owner: string | null; can_migrate: boolean }>(
    `select r.rolname as name, o.rolname as owner,
       r.rolsuper or coalesce(pg_has_role(r.oid, n.nspowner, 'MEMBER'),
         has_database_privilege(current_database(), 'CREATE')) as can_migrate
     from pg_roles r
     left join pg_namespace n on n.nspname = 'execution_ledger'
     left join pg_roles o on o.oid = n.nspowner
     where r.rolname = current_user`,
  );
  if (role === undefined || role.can_migrate) return;
  const what =
    pending === undefined
      ? `role ${role.name} may not read execution_ledger.migrations, so whether the schema is current is unknown`
      : `the ledger schema needs ${pending.map((migration) => migration.name).join(', ')}`;
  throw new LedgerError(
    'SCHEMA_OUT_OF_DATE',
    `${what}, and role ${role.name} cannot migrate it (it does not own the schema${
      role.owner === null ? ' and may not create one' : `; ${role.owner} does`
    }); run \`execution-ledger migrate --database <URL of ${role.owner ?? 'the owner'}>\` as the owner, ` +
      'then start again (docs/security.md, "Roles on a server")',
    { details: { role: role.name, owner: role.owner } },
  );
}

/** The schema and the table that records applied migrations; the printed script starts with it too. */
export const MIGRATION_TABLE_SQL = `
create schema if not exists execution_ledger;
create table if not exists execution_ledger.migrations (
  id integer primary key,
  name text not null,
  sha256 text not null,
  applied_at timestamptz not null default clock_timestamp()
);`;

async function ensureMigrationTable(session: Session): Promise<void> {
  await session.exec(MIGRATION_TABLE_SQL);
}

function changedMigration(migration: Migration, landedSha: string): LedgerError {
  return new LedgerError(
    'MIGRATION_FAILED',
    `migration ${migration.name} was changed after it was applied (sha256 ${landedSha.slice(0, 12)}… in the ` +
      `database, ${migration.sha256.slice(0, 12)}… on disk); landed migrations are never edited: restore the ` +
      'file and add a new numbered migration instead',
  );
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
