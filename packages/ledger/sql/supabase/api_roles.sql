-- Supabase's API roles (printed after the ledger's migrations by
-- `execution-ledger migrate --print-sql --supabase`; docs/supabase.md). Safe to run again: every
-- statement replaces or re-grants what it made. It touches no object in schema public.
--
--   authenticated  reads, through row level security, the runs it recorded (user_id = auth.uid())
--                  and every run of the projects its JWT names in app_metadata.ledger_projects or
--                  that execution_ledger.project_members lists for it. Nothing else, no writes.
--   anon           nothing: no usage on the schema.
--   service_role   reads everything (it bypasses RLS), appends through the append function only;
--                  it holds no INSERT, UPDATE, DELETE or TRUNCATE on the ledger's tables, and the
--                  append-only triggers refuse those for every role anyway.
-- Both API roles are NOINHERIT on Supabase, so they are granted privileges directly, not the
-- ledger's group roles.

-- The project ids a user's JWT grants: app_metadata, which only the service key can change
-- (never user_metadata, which users write themselves). Anything but an array of strings grants
-- nothing.
create or replace function execution_ledger.jwt_ledger_projects() returns text[]
language sql stable
set search_path = ''
as $$
  select coalesce(array(
    select p.value #>> '{}'
    from jsonb_array_elements(
      case when jsonb_typeof(auth.jwt() -> 'app_metadata' -> 'ledger_projects') = 'array'
        then auth.jwt() -> 'app_metadata' -> 'ledger_projects' else '[]'::jsonb end) as p(value)
    where jsonb_typeof(p.value) = 'string'), '{}'::text[])
$$;
revoke execute on function execution_ledger.jwt_ledger_projects() from public;

revoke all on schema execution_ledger from anon;
grant usage on schema execution_ledger to authenticated, service_role;

-- authenticated: its own runs and its projects' runs.
drop policy if exists executions_supabase_read on execution_ledger.executions;
create policy executions_supabase_read on execution_ledger.executions for select
  to authenticated using (
    user_id = (select auth.uid())::text
    or project_id = any ((select execution_ledger.jwt_ledger_projects())::text[])
    or exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = executions.project_id and m.user_id = (select auth.uid())::text));
drop policy if exists project_members_supabase_own on execution_ledger.project_members;
create policy project_members_supabase_own on execution_ledger.project_members for select
  to authenticated using (user_id = (select auth.uid())::text);

-- Start from nothing on every table of the schema (tables added by later migrations included), then
-- grant each API role exactly its part.
revoke all on all tables in schema execution_ledger from anon, authenticated, service_role;

-- authenticated: its own runs and its projects' runs.
grant execute on function execution_ledger.jwt_ledger_projects() to authenticated;
grant select on execution_ledger.executions, execution_ledger.project_members to authenticated;

-- service_role: every table read (as the ledger's service role), the member list, and the append
-- function; never INSERT, UPDATE, DELETE or TRUNCATE on the ledger's entries.
grant select on all tables in schema execution_ledger to service_role;
grant insert, update, delete on execution_ledger.project_members to service_role;
-- The appender owns append_batch: a grant counts only from a member of the owning role.
grant execution_ledger_appender to current_user;
grant execute on function execution_ledger.append_batch(text, jsonb) to service_role;
revoke execution_ledger_appender from current_user;
