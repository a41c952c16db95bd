-- Supabase's role set and auth schema, recreated in a plain PostgreSQL 15 cluster so that the
-- printed Supabase migration (execution-ledger migrate --print-sql --supabase) can be applied
-- and checked the way a Supabase project runs it. Run as the cluster's bootstrap superuser
-- (named supabase_admin, as on Supabase), once per database: the roles are cluster-wide and
-- made only when missing; the auth schema and the default privileges belong to the database.
--
-- What it reproduces, and why it matters to the ledger:
--   postgres       LOGIN, not a superuser, CREATEROLE, CREATEDB, BYPASSRLS: the role a Supabase
--                  project's connection strings log in as, so the role that applies migrations.
--   anon           NOLOGIN NOINHERIT: requests without a user.
--   authenticated  NOLOGIN NOINHERIT: requests with a user's JWT; RLS decides what it reads.
--   service_role   NOLOGIN NOINHERIT BYPASSRLS: the service key; RLS does not apply to it.
--   authenticator  LOGIN NOINHERIT, granted the three: the data API connects as it and runs
--                  each request as `set local role <role>` with `set local request.jwt.claims`.
--   auth.uid(), auth.role(), auth.jwt(): read request.jwt.claims as Supabase's do.
--   pgrst.db_pre_request: postgres may set it on authenticator (`alter role authenticator set
--                  pgrst.db_pre_request = …`), as on Supabase, whose supautils extension lets it
--                  set PostgREST's settings there; PostgreSQL 15's SET privilege on the parameter
--                  stands in for that here.
--   Default privileges: ALL on every new table, function and sequence in public to anon,
--   authenticated and service_role (which is why the ledger creates nothing in public).

select 'create role postgres login password ''postgres'' createrole createdb bypassrls'
  where not exists (select from pg_roles where rolname = 'postgres') \gexec
select 'create role anon nologin noinherit'
  where not exists (select from pg_roles where rolname = 'anon') \gexec
select 'create role authenticated nologin noinherit'
  where not exists (select from pg_roles where rolname = 'authenticated') \gexec
select 'create role service_role nologin noinherit bypassrls'
  where not exists (select from pg_roles where rolname = 'service_role') \gexec
select 'create role authenticator login noinherit password ''authenticator'''
  where not exists (select from pg_roles where rolname = 'authenticator') \gexec
grant anon, authenticated, service_role to authenticator;
-- Supabase lets postgres act as the API roles (it administers them).
grant anon, authenticated, service_role to postgres with admin option;
-- ... and name the data API's pre-request function in authenticator's settings.
grant set on parameter pgrst.db_pre_request to postgres;

-- The project database: postgres may create schemas in it but does not own it.
grant connect, create, temporary on database :"DBNAME" to postgres;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role, postgres;

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant usage on schema public to postgres, anon, authenticated, service_role;
grant create on schema public to postgres;
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
