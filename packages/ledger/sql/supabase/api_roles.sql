-- Supabase's API roles (printed after the ledger's migrations by
-- `execution-ledger migrate --print-sql --supabase`; docs/supabase.md). Safe to run again: every
-- statement replaces or re-grants what it made. It touches no object in schema public.
--
--   authenticated  reads, through row level security, the runs it recorded (user_id = auth.uid())
--                  and every run of the projects its JWT names in app_metadata.ledger_projects or
--                  that execution_ledger.project_members lists for it. Nothing else, no writes.
--                  The policy reads only the request's settings, never a table: the membership is
--                  resolved before the query by execution_ledger_api.pre_request(), which the data
--                  API calls at the start of every request once it is named in PostgREST's
--                  db-pre-request setting (docs/supabase.md). Until then members see only their
--                  own runs and the projects their JWT names: it fails closed.
--   anon           nothing: no usage on the schema (only on execution_ledger_api, to run the
--                  pre-request function, which reads nothing for a request without a user).
--   service_role   reads everything (it bypasses RLS), appends through the append function only;
--                  it holds no INSERT, UPDATE, DELETE or TRUNCATE on the ledger's tables, and the
--                  append-only triggers refuse those for every role anyway.
-- Both API roles are NOINHERIT on Supabase, so they are granted privileges directly, not the
-- ledger's group roles.

-- The strings of a JSON array, in order; anything but an array grants nothing, and an element
-- that is not a string is left out. Both sources of project ids below are read through it.
create or replace function execution_ledger.json_string_array(p_value jsonb) returns text[]
language sql immutable
set search_path = ''
as $$
  select coalesce(array(
    select e.value #>> '{}'
    from pg_catalog.jsonb_array_elements(
      case when pg_catalog.jsonb_typeof(p_value) = 'array' then p_value else '[]'::jsonb end) as e(value)
    where pg_catalog.jsonb_typeof(e.value) = 'string'), '{}'::text[])
$$;
revoke execute on function execution_ledger.json_string_array(jsonb) from public;

-- The project ids a user's JWT grants: app_metadata, which only the service key can change
-- (never user_metadata, which users write themselves). Anything but an array of strings grants
-- nothing.
create or replace function execution_ledger.jwt_ledger_projects() returns text[]
language sql stable
set search_path = ''
as $$
  select execution_ledger.json_string_array(auth.jwt() -> 'app_metadata' -> 'ledger_projects')
$$;
revoke execute on function execution_ledger.jwt_ledger_projects() from public;

revoke all on schema execution_ledger from anon;
grant usage on schema execution_ledger to authenticated, service_role;

-- The request's user as auth.uid() reads it (the legacy request.jwt.claim.sub first, then sub in
-- request.jwt.claims), as text and never cast: a sub that is not a uuid must not make every data
-- API request fail in the pre-request function. Null without a user (anon).
create or replace function execution_ledger.supabase_request_sub() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
$$;
revoke execute on function execution_ledger.supabase_request_sub() from public;

-- The projects execution_ledger.project_members lists for the request's user, as resolved by
-- execution_ledger_api.pre_request() at the start of this request: the transaction-local setting
-- execution_ledger.member_projects, {"sub": <user>, "projects": [<project id>, ...]}. It counts
-- only for the user it was resolved for (sub equal to this request's), and anything else (no
-- setting because the pre-request function is not configured, another user's, not an array of
-- strings) grants nothing.
create or replace function execution_ledger.supabase_member_projects() returns text[]
language sql stable
set search_path = ''
as $$
  select execution_ledger.json_string_array(case
      when s.resolved ->> 'sub' = execution_ledger.supabase_request_sub() then s.resolved -> 'projects' end)
  from (select nullif(pg_catalog.current_setting('execution_ledger.member_projects', true), '')::jsonb
    as resolved) as s
$$;
revoke execute on function execution_ledger.supabase_member_projects() from public;

-- The data API's pre-request function (PostgREST's db-pre-request): called as the request's role
-- (anon, authenticated or service_role) right after PostgREST has set the role and
-- request.jwt.claims for the transaction, before the request's query. It resolves the user's
-- project memberships once, here, into the transaction-local execution_ledger.member_projects, so
-- that the policy below reads only settings and runs no subquery over a table. It is owned by
-- execution_ledger_service (which reads project_members) and runs with its rights, with a fixed
-- search_path; it takes no argument and reads the user only from the claims PostgREST set from
-- the verified JWT, so it resolves nothing a JWT did not name. Every call overwrites the setting:
-- a request without a user, or not running as authenticated (anon), gets an empty one. It
-- lives in a schema of its own because PostgREST runs it for every request of every exposed
-- schema: anon must be able to call it but has no usage on execution_ledger.
create schema if not exists execution_ledger_api;
revoke all on schema execution_ledger_api from public;
grant usage on schema execution_ledger_api to anon, authenticated, service_role;
-- execution_ledger_service owns the function: a re-run replaces it as a member of that role, which
-- the ledger's owner is (0001 made it one), and a new owner needs CREATE on the schema at the
-- moment of the change only.
create or replace function execution_ledger_api.pre_request() returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_sub text := execution_ledger.supabase_request_sub();
  v_projects jsonb;
begin
  -- Only a request that runs as authenticated (the role PostgREST switched to, the one the policy
  -- is for) with a user gets a resolution; anon, service_role and requests without a sub get none.
  if v_sub is null or pg_catalog.current_setting('role', true) is distinct from 'authenticated' then
    perform pg_catalog.set_config('execution_ledger.member_projects', '', true);
    return;
  end if;
  select coalesce(pg_catalog.jsonb_agg(m.project_id order by m.project_id), '[]'::jsonb)
    into v_projects
    from execution_ledger.project_members m
    where m.user_id = v_sub;
  perform pg_catalog.set_config('execution_ledger.member_projects',
    pg_catalog.jsonb_build_object('sub', v_sub, 'projects', v_projects)::text, true);
end
$$;
grant create on schema execution_ledger_api to execution_ledger_service;
alter function execution_ledger_api.pre_request() owner to execution_ledger_service;
revoke create on schema execution_ledger_api from execution_ledger_service;
revoke execute on function execution_ledger_api.pre_request() from public;
grant execute on function execution_ledger.supabase_request_sub() to execution_ledger_service;
grant execute on function execution_ledger_api.pre_request() to anon, authenticated, service_role;

-- authenticated: its own runs and its projects' runs, from the request's claims and settings only.
drop policy if exists executions_supabase_read on execution_ledger.executions;
create policy executions_supabase_read on execution_ledger.executions for select
  to authenticated using (
    user_id = (select auth.uid())::text
    or project_id = any ((select execution_ledger.jwt_ledger_projects())::text[])
    or project_id = any ((select execution_ledger.supabase_member_projects())::text[]));
drop policy if exists project_members_supabase_own on execution_ledger.project_members;
create policy project_members_supabase_own on execution_ledger.project_members for select
  to authenticated using (user_id = (select auth.uid())::text);

-- Start from nothing on every table of the schema (tables added by later migrations included), then
-- grant each API role exactly its part.
revoke all on all tables in schema execution_ledger from anon, authenticated, service_role;

-- authenticated: its own runs and its projects' runs.
grant execute on function execution_ledger.json_string_array(jsonb), execution_ledger.jwt_ledger_projects(),
  execution_ledger.supabase_request_sub(),
  execution_ledger.supabase_member_projects() to authenticated;
grant select on execution_ledger.executions, execution_ledger.project_members to authenticated;

-- service_role: every table read (as the ledger's service role), the member list, and the append
-- function; never INSERT, UPDATE, DELETE or TRUNCATE on the ledger's entries.
grant select on all tables in schema execution_ledger to service_role;
grant insert, update, delete on execution_ledger.project_members to service_role;
-- The appender owns append_batch: a grant counts only from a member of the owning role.
grant execution_ledger_appender to current_user;
grant execute on function execution_ledger.append_batch(text, jsonb) to service_role;
revoke execution_ledger_appender from current_user;
