-- Signed checkpoints (docs/security.md): each checkpoint commits to every project's head through
-- an RFC 6962 Merkle tree and is signed outside the database with a key the database never sees.
-- Both tables are append-only with the same guards as executions.

do $$ begin create role execution_ledger_checkpointer nologin; exception when duplicate_object then null; end $$;

create table execution_ledger.checkpoints (
  seq bigint primary key,
  created_at timestamptz not null,
  tree_size bigint not null,
  root bytea not null,
  prev_hash bytea not null,
  log_root bytea not null,
  origin text not null,
  key_id text not null,
  note text not null,
  checkpoint_hash bytea not null,
  -- Two checkpoints can never follow the same one: the checkpoint chain cannot fork.
  constraint checkpoints_prev_hash_key unique (prev_hash),
  constraint checkpoints_values_check check (
    seq >= 1 and tree_size >= 0 and octet_length(root) = 32 and octet_length(prev_hash) = 32
    and octet_length(log_root) = 32 and octet_length(checkpoint_hash) = 32
    and key_id ~ '^[0-9a-f]{8}$' and octet_length(note) <= 65536)
);

-- Only the heads that moved since the previous checkpoint are stored; the full set of heads of
-- checkpoint N is, per project, the newest row with checkpoint_seq <= N. No foreign key: its
-- check locks the checkpoint row FOR KEY SHARE, which needs the UPDATE right nobody holds here;
-- append_checkpoint() writes a checkpoint and its heads in one transaction instead.
create table execution_ledger.checkpoint_heads (
  checkpoint_seq bigint not null,
  project_id text not null,
  seq bigint not null,
  entry_hash bytea not null,
  primary key (project_id, checkpoint_seq),
  constraint checkpoint_heads_values_check check (seq >= 1 and octet_length(entry_hash) = 32)
);
create index checkpoint_heads_checkpoint_idx on execution_ledger.checkpoint_heads (checkpoint_seq);

create function execution_ledger.reject_checkpoint_change() returns trigger
language plpgsql
as $$
begin
  raise exception 'execution_ledger.% is append-only: % is not allowed', tg_table_name, tg_op
    using errcode = 'EL001',
      hint = 'Checkpoints are never changed; create a new checkpoint instead.';
end
$$;

create trigger checkpoints_append_only_row before update or delete on execution_ledger.checkpoints
  for each row execute function execution_ledger.reject_checkpoint_change();
create trigger checkpoints_append_only_statement before update or delete on execution_ledger.checkpoints
  for each statement execute function execution_ledger.reject_checkpoint_change();
create trigger checkpoints_append_only_truncate before truncate on execution_ledger.checkpoints
  for each statement execute function execution_ledger.reject_checkpoint_change();
create trigger checkpoint_heads_append_only_row before update or delete on execution_ledger.checkpoint_heads
  for each row execute function execution_ledger.reject_checkpoint_change();
create trigger checkpoint_heads_append_only_statement before update or delete on execution_ledger.checkpoint_heads
  for each statement execute function execution_ledger.reject_checkpoint_change();
create trigger checkpoint_heads_append_only_truncate before truncate on execution_ledger.checkpoint_heads
  for each statement execute function execution_ledger.reject_checkpoint_change();
-- ENABLE ALWAYS: session_replication_role = replica must not skip the guards.
alter table execution_ledger.checkpoints enable always trigger checkpoints_append_only_row;
alter table execution_ledger.checkpoints enable always trigger checkpoints_append_only_statement;
alter table execution_ledger.checkpoints enable always trigger checkpoints_append_only_truncate;
alter table execution_ledger.checkpoint_heads enable always trigger checkpoint_heads_append_only_row;
alter table execution_ledger.checkpoint_heads enable always trigger checkpoint_heads_append_only_statement;
alter table execution_ledger.checkpoint_heads enable always trigger checkpoint_heads_append_only_truncate;

-- Forced row level security: the owner is bound too, and only the checkpointer role may insert.
alter table execution_ledger.checkpoints enable row level security;
alter table execution_ledger.checkpoints force row level security;
alter table execution_ledger.checkpoint_heads enable row level security;
alter table execution_ledger.checkpoint_heads force row level security;
create policy checkpoints_read on execution_ledger.checkpoints for select
  to execution_ledger_service, execution_ledger_checkpointer, execution_ledger_reader using (true);
create policy checkpoints_append on execution_ledger.checkpoints for insert
  to execution_ledger_checkpointer with check (true);
create policy checkpoint_heads_read on execution_ledger.checkpoint_heads for select
  to execution_ledger_service, execution_ledger_checkpointer using (true);
create policy checkpoint_heads_append on execution_ledger.checkpoint_heads for insert
  to execution_ledger_checkpointer with check (true);

revoke all on execution_ledger.checkpoints, execution_ledger.checkpoint_heads from public;
grant usage on schema execution_ledger to execution_ledger_checkpointer;
-- Notes and roots name no tenant data, so scoped readers may see them; heads name projects.
grant select on execution_ledger.checkpoints to execution_ledger_service, execution_ledger_reader;
grant select on execution_ledger.checkpoint_heads to execution_ledger_service;
grant select, insert on execution_ledger.checkpoints, execution_ledger.checkpoint_heads
  to execution_ledger_checkpointer;
revoke insert, update, delete, truncate on execution_ledger.checkpoints, execution_ledger.checkpoint_heads
  from current_user;

-- The only write path. The library computes the tree and signs the note (the private key never
-- reaches the database); this function takes the checkpoint lock, checks that the new
-- checkpoint follows the newest one, hashes the signed body itself and stores both parts.
create function execution_ledger.append_checkpoint(
  p_seq bigint, p_created_ms bigint, p_tree_size bigint, p_root bytea, p_prev_hash bytea,
  p_log_root bytea, p_origin text, p_key_id text, p_note text, p_heads jsonb
) returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_last record;
  v_created_at timestamptz := 'epoch'::timestamptz + p_created_ms * interval '1 millisecond';
  v_body_end integer := position(E'\n\n' in p_note);
  v_hash bytea;
begin
  -- Product constant "ELED" then "CKPT": one checkpoint writer at a time.
  perform pg_advisory_xact_lock(1162626372, 1129009236);
  select c.seq, c.checkpoint_hash, c.created_at into v_last
  from checkpoints c order by c.seq desc limit 1;
  if p_seq <> coalesce(v_last.seq, 0) + 1 then
    raise exception 'checkpoint % does not follow the newest checkpoint %', p_seq, coalesce(v_last.seq, 0)
      using errcode = 'EL003', hint = 'Another checkpoint was written meanwhile; create the checkpoint again.';
  end if;
  if p_prev_hash <> coalesce(v_last.checkpoint_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
    or v_created_at < coalesce(v_last.created_at, '-infinity') then
    raise exception 'checkpoint % does not link to checkpoint % or goes back in time', p_seq, v_last.seq
      using errcode = 'EL003';
  end if;
  if v_body_end = 0 then
    raise exception 'the checkpoint note has no signature block' using errcode = '22023';
  end if;
  -- The signed body is the note up to and including the newline before the blank line.
  v_hash := sha256(convert_to(substring(p_note from 1 for v_body_end), 'UTF8'));
  insert into checkpoints (seq, created_at, tree_size, root, prev_hash, log_root, origin, key_id, note,
    checkpoint_hash)
  values (p_seq, v_created_at, p_tree_size, p_root, p_prev_hash, p_log_root, p_origin, p_key_id, p_note,
    v_hash);
  insert into checkpoint_heads (checkpoint_seq, project_id, seq, entry_hash)
  select p_seq, h ->> 'project_id', (h ->> 'seq')::bigint, decode(h ->> 'entry_hash', 'hex')
  from jsonb_array_elements(p_heads) as h;
  return encode(v_hash, 'hex');
end
$$;

-- As for append_batch: the checkpointer role owns the function, so it runs with exactly that
-- role's rights, and CREATE on the schema is held only for the moment of the change.
grant execution_ledger_checkpointer to current_user;
grant create on schema execution_ledger to execution_ledger_checkpointer;
alter function execution_ledger.append_checkpoint(bigint, bigint, bigint, bytea, bytea, bytea, text, text, text, jsonb)
  owner to execution_ledger_checkpointer;
revoke create on schema execution_ledger from execution_ledger_checkpointer;
revoke execution_ledger_checkpointer from current_user;
revoke execute on function execution_ledger.append_checkpoint(bigint, bigint, bigint, bytea, bytea, bytea, text, text, text, jsonb)
  from public;
grant execute on function execution_ledger.append_checkpoint(bigint, bigint, bigint, bytea, bytea, bytea, text, text, text, jsonb)
  to execution_ledger_writer;
