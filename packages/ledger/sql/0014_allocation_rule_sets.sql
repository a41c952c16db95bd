-- Cost allocation rule sets (docs/allocation.md): versioned and append-only. Each version is the
-- rule set as the library checked and normalised it, with the SHA-256 of its canonical JSON
-- (RFC 8785), computed by the library and checked again on every read. A report names the version
-- and hash it used; a new version never changes what an older one says.

create table execution_ledger.allocation_rule_sets (
  version integer primary key,
  effective_from date not null,
  body jsonb not null,
  body_hash bytea not null,
  created_at timestamptz not null default clock_timestamp(),
  constraint allocation_rule_sets_values_check check (
    version >= 1 and octet_length(body_hash) = 32 and jsonb_typeof(body) = 'object'
    and octet_length(body::text) <= 1048576)
);

create function execution_ledger.reject_rule_set_change() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception 'execution_ledger.% is append-only: % is not allowed', tg_table_name, tg_op
    using errcode = 'EL001', hint = 'Publish a new rule set version instead.';
end
$$;

create trigger allocation_rule_sets_append_only_row before update or delete
  on execution_ledger.allocation_rule_sets for each row execute function execution_ledger.reject_rule_set_change();
create trigger allocation_rule_sets_append_only_statement before update or delete
  on execution_ledger.allocation_rule_sets for each statement execute function execution_ledger.reject_rule_set_change();
create trigger allocation_rule_sets_append_only_truncate before truncate
  on execution_ledger.allocation_rule_sets for each statement execute function execution_ledger.reject_rule_set_change();
alter table execution_ledger.allocation_rule_sets enable always trigger allocation_rule_sets_append_only_row;
alter table execution_ledger.allocation_rule_sets enable always trigger allocation_rule_sets_append_only_statement;
alter table execution_ledger.allocation_rule_sets enable always trigger allocation_rule_sets_append_only_truncate;

-- The only write path: the next version number under a lock, so two publishers never share one.
create function execution_ledger.append_allocation_rule_set(
  p_effective_from date, p_body jsonb, p_body_hash bytea
) returns table (r_version integer, r_created_at text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_version integer;
  v_created_at timestamptz := clock_timestamp();
begin
  -- Product constant "ELED" then "RULE": one publisher at a time.
  perform pg_advisory_xact_lock(1162626372, 1381321797);
  select coalesce(max(s.version), 0) + 1 into v_version from allocation_rule_sets s;
  insert into allocation_rule_sets (version, effective_from, body, body_hash, created_at)
  values (v_version, p_effective_from, p_body, p_body_hash, v_created_at);
  return query select v_version,
    to_char(v_created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
end
$$;

revoke all on execution_ledger.allocation_rule_sets from public;
grant select on execution_ledger.allocation_rule_sets to execution_ledger_service;
revoke execute on function execution_ledger.append_allocation_rule_set(date, jsonb, bytea) from public;
grant execute on function execution_ledger.append_allocation_rule_set(date, jsonb, bytea) to execution_ledger_writer;
revoke execute on function execution_ledger.reject_rule_set_change() from public;
