-- A project moved to another shard is sealed on the shard it left (docs/scaling.md, "Moving a
-- project"): the sharded library appends straight to a project's shard from a placement it
-- cached, so a process that has not seen the move yet must be refused here rather than extend a
-- chain nobody reads any more. The refusal (SQLSTATE EL005) names the shard the project went to;
-- the library then reads the placement again and sends the append there.
--
-- The check is a statement trigger over the inserted rows, so it runs after append_batch holds
-- the project's lock: a move seals the project under that same lock, and an append that waited
-- for it sees the seal. An unsealed shard pays one index probe of an empty table per append.
create table execution_ledger.project_seals (
  project_id text primary key,
  moved_to text not null,
  sealed_at timestamptz not null default now()
);
revoke all on execution_ledger.project_seals from public;
grant select on execution_ledger.project_seals to execution_ledger_appender, execution_ledger_service;

create function execution_ledger.refuse_sealed_inserts() returns trigger
language plpgsql
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_project text;
  v_moved_to text;
begin
  -- One project per append statement; the import of a move names its project in a
  -- transaction-local setting and may continue the chain of a sealed project (moving it back).
  select i.project_id into v_project from inserted i limit 1;
  if v_project is null then return null; end if;
  select s.moved_to into v_moved_to from execution_ledger.project_seals s where s.project_id = v_project;
  if v_moved_to is null then return null; end if;
  if current_setting('execution_ledger.import_project', true) is not distinct from v_project then
    return null;
  end if;
  raise exception 'project % moved to shard %; this shard takes no more entries of it', v_project, v_moved_to
    using errcode = 'EL005',
    hint = 'Read the project''s placement from the shard catalog again and append on that shard.';
end
$$;

create trigger executions_sealed_projects after insert on execution_ledger.executions
  referencing new table as inserted
  for each statement execute function execution_ledger.refuse_sealed_inserts();
alter table execution_ledger.executions enable always trigger executions_sealed_projects;

-- Seals a project on this shard under its append lock (held until the caller's transaction
-- ends, so in-flight appends finish first and later ones see the seal) and returns its head
-- here: the mover copies what follows the target's tip, compares heads, and only then commits.
create function execution_ledger.seal_project(p_project_id text, p_moved_to text)
returns table (r_seq bigint, r_entry_hash text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  if p_moved_to is null or p_moved_to = '' then
    raise exception 'p_moved_to must name the shard the project moves to' using errcode = '22023';
  end if;
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  insert into project_seals (project_id, moved_to) values (p_project_id, p_moved_to)
    on conflict (project_id) do update set moved_to = excluded.moved_to;
  return query
    select e.seq, encode(e.entry_hash, 'hex') from executions e
    where e.project_id = p_project_id order by e.seq desc limit 1;
end
$$;

-- Lifts the seal when a project moves back to this shard (after the import of everything it
-- missed, and after the shard it left is sealed).
create function execution_ledger.unseal_project(p_project_id text) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  delete from project_seals s where s.project_id = p_project_id;
  return found;
end
$$;

revoke execute on function execution_ledger.refuse_sealed_inserts() from public;
revoke execute on function execution_ledger.seal_project(text, text) from public;
revoke execute on function execution_ledger.unseal_project(text) from public;
grant execute on function execution_ledger.seal_project(text, text), execution_ledger.unseal_project(text)
  to execution_ledger_importer;
