-- API keys of the HTTP service. A key is shown once when created; only the SHA-256 of its text
-- is kept. Each key has one role and is bound to a list of projects, or to every project when
-- projects is null. Keys are never deleted: revoking sets revoked_at once, so the table keeps
-- the history of who could do what.
create table execution_ledger.api_keys (
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
create function execution_ledger.guard_api_key_change() returns trigger
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
  raise exception 'execution_ledger.api_keys: % is not allowed; a key can only be revoked, once', tg_op
    using errcode = 'EL001', hint = 'Create a new key instead of changing or removing one.';
end
$$;
create trigger api_keys_guard before update or delete on execution_ledger.api_keys
  for each row execute function execution_ledger.guard_api_key_change();
create trigger api_keys_guard_truncate before truncate on execution_ledger.api_keys
  for each statement execute function execution_ledger.guard_api_key_change();
alter table execution_ledger.api_keys enable always trigger api_keys_guard;
alter table execution_ledger.api_keys enable always trigger api_keys_guard_truncate;

revoke all on execution_ledger.api_keys from public;
grant select, insert, update on execution_ledger.api_keys to execution_ledger_service;
