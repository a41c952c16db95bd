import { LedgerError } from '../errors.js';
import type { Database, Queryable } from './database.js';

/** The roles a runtime role is granted: scoped reads, unscoped reads, the append functions. */
export const RUNTIME_MEMBERSHIPS = [
  'execution_ledger_reader',
  'execution_ledger_service',
  'execution_ledger_writer',
] as const;

/** What a role could do beyond the runtime role's grants, each reason in words an operator acts on. */
export interface RoleReview {
  role: string;
  /** Empty when the role is held by every guard; otherwise why it is not. */
  privileges: string[];
}

interface RoleRow {
  name: string;
  superuser: boolean;
  bypass_rls: boolean;
  create_role: boolean;
  owns: string | null;
  writes_directly: string | null;
}

/** The ledger's own schema; packages built on it may own more (migration sets, db/migrator.ts). */
const LEDGER_SCHEMAS: readonly string[] = ['execution_ledger'];

// Membership counts as ownership: a member of the owner may SET ROLE to it and act as it.
const ROLE_SQL = `
  select r.rolname as name, r.rolsuper as superuser, r.rolbypassrls as bypass_rls,
    r.rolcreaterole as create_role,
    (select string_agg(distinct o.rolname, ', ') from pg_namespace n
       left join pg_class c on c.relnamespace = n.oid
       join pg_roles o on o.oid in (n.nspowner, c.relowner)
     where n.nspname = any($2::text[]) and pg_has_role(r.oid, o.oid, 'MEMBER')) as owns,
    (select string_agg(w.rolname, ', ' order by w.rolname) from pg_roles w
     where w.rolname in ('execution_ledger_appender', 'execution_ledger_checkpointer')
       and pg_has_role(r.oid, w.oid, 'MEMBER')) as writes_directly
  from pg_roles r where r.rolname = coalesce($1::text, current_user)`;

/**
 * Reviews `role` (default the connecting role) against what a runtime role may be. Owning an
 * object in any of `schemas` (default the ledger's) counts as owning the ledger's objects.
 */
export async function reviewRole(
  database: Queryable,
  role?: string,
  schemas: readonly string[] = LEDGER_SCHEMAS,
): Promise<RoleReview | undefined> {
  const [row] = await database.query<RoleRow>(ROLE_SQL, [role ?? null, [...schemas]]);
  if (row === undefined) return undefined;
  const privileges: string[] = [];
  if (row.superuser) privileges.push('is a superuser (bypasses row level security, may disable triggers)');
  else if (row.owns !== null)
    privileges.push(
      `owns the ledger's objects as ${row.owns} (may disable triggers, drop policies, grant itself UPDATE)`,
    );
  if (row.bypass_rls && !row.superuser) privileges.push('has BYPASSRLS (row level security does not apply)');
  if (row.create_role && !row.superuser)
    privileges.push('has CREATEROLE (may grant itself execution_ledger_appender, or the owner)');
  if (row.writes_directly !== null && !row.superuser)
    privileges.push(`is a member of ${row.writes_directly} (may insert directly, past the append functions)`);
  return { role: row.name, privileges };
}

/**
 * Refuses a connecting role that could switch the append-only guards off, with the fix. The
 * embedded engine has one connection, a superuser: nothing to choose there, so it passes.
 */
export async function assertRuntimeRole(
  database: Database,
  schemas: readonly string[] = LEDGER_SCHEMAS,
): Promise<void> {
  if (database.engine !== 'postgres') return;
  const review = await reviewRole(database, undefined, schemas);
  if (review === undefined || review.privileges.length === 0) return;
  throw new LedgerError(
    'PRIVILEGED_ROLE',
    `the service connects as role ${review.role}, which ${review.privileges.join('; ')}, so the database ` +
      'guards would not hold it. Connect as a runtime role that owns nothing: as the owner, run ' +
      "`create role ledger_runtime login password '…'` and `execution-ledger migrate --database <owner URL> " +
      "--grant-runtime ledger_runtime`, then serve with that role's URL; or pass --allow-privileged-role to run " +
      'as this role anyway (docs/security.md, "Roles on a server")',
    { details: { role: review.role, privileges: review.privileges } },
  );
}

/**
 * Grants `role` the runtime memberships (run as the owner, after migrating). The role must exist
 * and be one the guards hold: granting the service's rights to the owner or a superuser would
 * only hide the problem `serve` checks for.
 */
export async function grantRuntimeRole(
  database: Database,
  role: string,
  schemas: readonly string[] = LEDGER_SCHEMAS,
): Promise<string[]> {
  const review = await reviewRole(database, role, schemas);
  if (review === undefined) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `role ${JSON.stringify(role)} does not exist; create it first (as the owner or a superuser): ` +
        `create role ${role} login password '…'`,
      { field: '--grant-runtime' },
    );
  }
  if (review.privileges.length > 0) {
    throw new LedgerError(
      'PRIVILEGED_ROLE',
      `role ${role} ${review.privileges.join('; ')}: it cannot be the runtime role. Create a separate login ` +
        `role that owns nothing (create role ledger_runtime login password '…') and grant that one; a role ` +
        'that only has the attributes can be fixed with alter role … nosuperuser nobypassrls nocreaterole',
      { field: '--grant-runtime', details: { role, privileges: review.privileges } },
    );
  }
  const missing = await database.query<{ name: string; grant_sql: string }>(
    `select m.name, format('grant %I to %I', m.name, $1::text) as grant_sql
     from unnest($2::text[]) as m(name)
     where not pg_has_role($1::text, m.name, 'MEMBER')`,
    [role, [...RUNTIME_MEMBERSHIPS]],
  );
  // Role names cannot be parameters of GRANT: format('%I') quotes them in the server.
  for (const { grant_sql } of missing) await database.query(grant_sql);
  return missing.map((row) => row.name);
}
