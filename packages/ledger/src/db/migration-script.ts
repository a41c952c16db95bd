import { readFile } from 'node:fs/promises';
import { LedgerError } from '../errors.js';
import { loadMigrations, MIGRATION_TABLE_SQL, type Migration } from './migrator.js';

/** Supabase's API roles: grants and policies printed after the migrations (docs/supabase.md). */
const SUPABASE_ROLES_FILE = new URL('../../sql/supabase/api_roles.sql', import.meta.url);

export interface MigrationScriptOptions {
  /** Add the grants and policies for Supabase's anon, authenticated and service_role roles. */
  supabase?: boolean;
  /**
   * The first migration to print (default 1): an upgrade prints only the migrations that a
   * database applied from an earlier script does not have yet.
   */
  from?: number;
}

/**
 * The ledger's migrations as one SQL script, for a tool that applies SQL files itself (Supabase's
 * supabase/migrations/, Flyway, psql). It is exactly what `migrate` applies: the same files, each
 * recorded in execution_ledger.migrations with its sha256, so a ledger that connects afterwards
 * finds its schema current and changes nothing. A guard at the top refuses, before changing
 * anything, a database whose recorded migrations are not exactly those before `from`, so a
 * script applied twice fails with a message that says what to do instead.
 */
export async function migrationScript(options: MigrationScriptOptions = {}): Promise<string> {
  const all = await loadMigrations();
  const newest = all.at(-1)?.id ?? 0;
  const from = options.from ?? 1;
  if (!Number.isSafeInteger(from) || from < 1 || from > newest) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `from must be a migration number between 1 and ${newest} (the newest this version ships); got ${String(options.from)}`,
      { field: 'from' },
    );
  }
  const printed = all.filter((migration) => migration.id >= from);
  const parts = [
    header(printed, options.supabase === true),
    guard(
      from,
      all.map((migration) => migration.id),
      options.supabase === true,
    ),
    MIGRATION_TABLE_SQL.trim(),
    ...printed.map(recorded),
  ];
  if (options.supabase === true) parts.push((await readFile(SUPABASE_ROLES_FILE, 'utf8')).trim());
  return `${parts.join('\n\n')}\n`;
}

function header(printed: Migration[], supabase: boolean): string {
  const names = printed.map((migration) => migration.name).join(', ');
  return [
    `-- Execution Ledger schema: ${names}${supabase ? ", then the grants for Supabase's API roles" : ''}.`,
    '-- Printed by `execution-ledger migrate --print-sql`; apply it in one transaction, as the role',
    '-- that will own the ledger (on Supabase: postgres). Do not edit it: each migration is recorded',
    '-- with its sha256, and a ledger that connects later refuses a schema that differs.',
  ].join('\n');
}

/** Refuses a database that already has any of these migrations, or lacks one before them. */
function guard(from: number, shipped: number[], supabase: boolean): string {
  const before = shipped.filter((id) => id < from);
  const newest = shipped.at(-1);
  const flags = supabase ? ' --supabase' : '';
  const want =
    from === 1
      ? 'execution_ledger already has migrations % recorded: this script installs the schema from migration 1 and would repeat them, so nothing was changed'
      : `execution_ledger has migrations % recorded, but this script applies ${from} to ${newest} and needs exactly ${before.join(', ')} recorded before it, so nothing was changed`;
  return `do $guard$
declare
  v_recorded integer[] := '{}';
  v_next integer;
begin
  if to_regclass('execution_ledger.migrations') is not null then
    execute 'select coalesce(array_agg(id order by id), ''{}'') from execution_ledger.migrations' into v_recorded;
  end if;
  if v_recorded is distinct from '{${before.join(',')}}'::integer[] then
    select min(s.id) into v_next from unnest('{${shipped.join(',')}}'::integer[]) as s(id)
      where s.id > coalesce(v_recorded[cardinality(v_recorded)], 0);
    raise exception '${want}',
      case when cardinality(v_recorded) = 0 then 'none' else array_to_string(v_recorded, ', ') end
      using errcode = 'EL003',
        hint = case
          when cardinality(v_recorded) = 0 then 'Print the whole schema: execution-ledger migrate --print-sql${flags}'
          when v_next is null then 'The schema is already current: this version ships no newer migration.'
          else format('For an upgrade print only the newer migrations: execution-ledger migrate --print-sql${flags} --from %s', v_next)
        end;
  end if;
end
$guard$;`;
}

function recorded(migration: Migration): string {
  return `-- ${migration.name}\n${migration.sql.trim()}\n\ninsert into execution_ledger.migrations (id, name, sha256)\n  values (${migration.id}, '${migration.name}', '${migration.sha256}');`;
}
