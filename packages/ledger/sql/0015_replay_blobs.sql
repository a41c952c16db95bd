-- Replay logs (docs/replay.md): what a run's calls sent and received, content-addressed. A blob's
-- key is the SHA-256 of its bytes (the canonical JSON of the redacted request or response),
-- checked here on the way in; steps keep the hashes, so the chain covers what was captured.
-- Append-only like the entries: the same content is stored once, and nothing is changed.

create table execution_ledger.replay_blobs (
  hash bytea primary key,
  content bytea not null,
  created_at timestamptz not null default clock_timestamp(),
  constraint replay_blobs_values_check check (octet_length(hash) = 32 and octet_length(content) <= 16777216)
);

create function execution_ledger.reject_replay_blob_change() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception 'execution_ledger.% is append-only: % is not allowed', tg_table_name, tg_op
    using errcode = 'EL001', hint = 'Blobs are content-addressed: store new content under its own hash.';
end
$$;

create trigger replay_blobs_append_only_row before update or delete
  on execution_ledger.replay_blobs for each row execute function execution_ledger.reject_replay_blob_change();
create trigger replay_blobs_append_only_statement before update or delete
  on execution_ledger.replay_blobs for each statement execute function execution_ledger.reject_replay_blob_change();
create trigger replay_blobs_append_only_truncate before truncate
  on execution_ledger.replay_blobs for each statement execute function execution_ledger.reject_replay_blob_change();
alter table execution_ledger.replay_blobs enable always trigger replay_blobs_append_only_row;
alter table execution_ledger.replay_blobs enable always trigger replay_blobs_append_only_statement;
alter table execution_ledger.replay_blobs enable always trigger replay_blobs_append_only_truncate;

-- The only write path: refuses content that does not hash to its key; storing it again is a no-op.
create function execution_ledger.put_replay_blob(p_hash bytea, p_content bytea) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  if sha256(p_content) <> p_hash then
    raise exception 'a replay blob''s content does not hash to its key' using errcode = '22023';
  end if;
  insert into replay_blobs (hash, content) values (p_hash, p_content) on conflict (hash) do nothing;
  return found;
end
$$;

revoke all on execution_ledger.replay_blobs from public;
grant select on execution_ledger.replay_blobs to execution_ledger_service;
revoke execute on function execution_ledger.put_replay_blob(bytea, bytea) from public;
grant execute on function execution_ledger.put_replay_blob(bytea, bytea) to execution_ledger_writer;
revoke execute on function execution_ledger.reject_replay_blob_change() from public;
