-- API keys of the HTTP service, in the service's own schema (created with its migrations table
-- before this file runs). A key is shown once when created; only the SHA-256 of its text is kept.
-- Each key has one role and is bound to a list of projects, or to every project when projects is
-- null. Keys are never deleted: revoking sets revoked_at once, so the table keeps the history of
-- who could do what. This set builds on the ledger's roles: it is applied after the ledger's.
create table execution_ledger_keys.api_keys (
  id text primary key,
  name text not null,
  role text not null,
  projects text[],
  secret_hash bytea not null,
  created_at timestamptz not null default clock_timestamp(),
  revoked_at timestamptz,
  constraint api_keys_id_check check (id ~ '^[a-z0-9_]{4,40}$'),
  constraint api_keys_name_check check (char_length(name) between 1 and 200),
  constraint api_keys_role_check check (role in ('ingest', 'read', 'admin')),
  constraint api_keys_projects_check check (
    projects is null or (cardinality(projects) between 1 and 1000 and array_position(projects, null) is null)),
  constraint api_keys_hash_check check (octet_length(secret_hash) = 32),
  constraint api_keys_secret_hash_key unique (secret_hash)
);

-- The only change a key ever sees is its revocation, once; everything else about it is fixed,
-- and a key is never removed (an audit must be able to name the key behind an old request).
create function execution_ledger_keys.guard_api_key_change() returns trigger
language plpgsql
as $$
begin
  -- Nested so that OLD and NEW are read only in a row-level UPDATE, where they exist.
  if tg_op = 'UPDATE' then
    if old.revoked_at is null and new.revoked_at is not null
      and new.id = old.id and new.name = old.name and new.role = old.role
      and new.projects is not distinct from old.projects and new.secret_hash = old.secret_hash
      and new.created_at = old.created_at then
      return new;
    end if;
  end if;
  raise exception 'execution_ledger_keys.api_keys: % is not allowed; a key can only be revoked, once', tg_op
    using errcode = 'EL001', hint = 'Create a new key instead of changing or removing one.';
end
$$;
create trigger api_keys_guard before update or delete on execution_ledger_keys.api_keys
  for each row execute function execution_ledger_keys.guard_api_key_change();
create trigger api_keys_guard_truncate before truncate on execution_ledger_keys.api_keys
  for each statement execute function execution_ledger_keys.guard_api_key_change();
alter table execution_ledger_keys.api_keys enable always trigger api_keys_guard;
alter table execution_ledger_keys.api_keys enable always trigger api_keys_guard_truncate;

-- Keys made before this set existed live in the ledger's schema (its migration 0005): copy them,
-- revoked ones with their revocation, under a lock that holds off any writer until commit. The
-- service then may no longer add or revoke keys there (the ledger's 0011 says the same, for
-- whichever of the two runs first), so nothing written there after the copy can be missed.
do $$
begin
  if to_regclass('execution_ledger.api_keys') is null then
    return;
  end if;
  lock table execution_ledger.api_keys in share mode;
  insert into execution_ledger_keys.api_keys (id, name, role, projects, secret_hash, created_at, revoked_at)
    select id, name, role, projects, secret_hash, created_at, revoked_at from execution_ledger.api_keys;
  revoke insert, update, delete, truncate on execution_ledger.api_keys from execution_ledger_service;
end
$$;

-- What the service reads and writes, as functions: its code holds no SQL, and every statement it
-- runs is here, checksummed like the rest of the set. They run with the caller's privileges
-- (security invoker), so the grants at the end are what bound the service.
create type execution_ledger_keys.api_key as (
  id text, name text, role text, projects text[], created_at text, revoked_at text
);
-- Only authentication needs the hash: the other functions never return it.
create type execution_ledger_keys.stored_api_key as (
  id text, name text, role text, projects text[], created_at text, revoked_at text, secret_hash bytea
);

-- ISO 8601 in UTC with milliseconds, as every time in the API is written.
create function execution_ledger_keys.utc_text(moment timestamptz) returns text
language sql stable
as $$ select to_char(moment at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

create function execution_ledger_keys.create_key(
  key_id text, key_name text, key_role text, key_projects text[], key_secret_hash bytea
) returns setof execution_ledger_keys.api_key
language sql
as $$
  insert into execution_ledger_keys.api_keys (id, name, role, projects, secret_hash)
  values (key_id, key_name, key_role, key_projects, key_secret_hash)
  returning id, name, role, projects, execution_ledger_keys.utc_text(created_at),
    execution_ledger_keys.utc_text(revoked_at);
$$;

-- An operator's key from the environment, registered once: starting again finds it, and a
-- revoked one stays revoked.
create function execution_ledger_keys.register_operator_key(
  key_id text, key_name text, key_secret_hash bytea
) returns setof execution_ledger_keys.api_key
language sql
as $$
  insert into execution_ledger_keys.api_keys (id, name, role, projects, secret_hash)
  values (key_id, key_name, 'admin', null, key_secret_hash)
  on conflict (id) do nothing;
  select id, name, role, projects, execution_ledger_keys.utc_text(created_at),
    execution_ledger_keys.utc_text(revoked_at)
  from execution_ledger_keys.api_keys where id = key_id;
$$;

create function execution_ledger_keys.list_keys() returns setof execution_ledger_keys.api_key
language sql stable
as $$
  select id, name, role, projects, execution_ledger_keys.utc_text(created_at),
    execution_ledger_keys.utc_text(revoked_at)
  from execution_ledger_keys.api_keys order by created_at desc, id;
$$;

create function execution_ledger_keys.find_key(key_id text) returns setof execution_ledger_keys.stored_api_key
language sql stable
as $$
  select id, name, role, projects, execution_ledger_keys.utc_text(created_at),
    execution_ledger_keys.utc_text(revoked_at), secret_hash
  from execution_ledger_keys.api_keys where id = key_id;
$$;

-- Revokes once; a key revoked before (here or at the same moment elsewhere) keeps its time.
create function execution_ledger_keys.revoke_key(key_id text) returns setof execution_ledger_keys.api_key
language sql
as $$
  update execution_ledger_keys.api_keys set revoked_at = clock_timestamp()
  where id = key_id and revoked_at is null;
  select id, name, role, projects, execution_ledger_keys.utc_text(created_at),
    execution_ledger_keys.utc_text(revoked_at)
  from execution_ledger_keys.api_keys where id = key_id;
$$;

-- The service (and so the runtime role, a member of it) may read, add and revoke keys and read
-- which migrations landed (to check, without migrating, that the set is current); nobody else
-- may see the schema, the hashes included.
revoke all on schema execution_ledger_keys from public;
grant usage on schema execution_ledger_keys to execution_ledger_service;
revoke all on execution_ledger_keys.api_keys, execution_ledger_keys.migrations from public;
grant select, insert, update on execution_ledger_keys.api_keys to execution_ledger_service;
grant select on execution_ledger_keys.migrations to execution_ledger_service;
revoke execute on all functions in schema execution_ledger_keys from public;
grant execute on all functions in schema execution_ledger_keys to execution_ledger_service;
