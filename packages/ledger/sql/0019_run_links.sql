-- Lineage links (docs/lineage.md): one narrow row per run that names a parent, written in the
-- append transaction, read by the lineage functions below instead of the wide entries. The
-- entries stay the record; this is a derived copy of the columns a tree shows, like the rollups.

create table execution_ledger.run_links (
  parent_run_id text not null,
  run_id text not null,
  project_id text not null,
  user_id text not null,
  agent_id text not null,
  status text not null,
  cost_total numeric(20, 6) not null,
  -- created_at in milliseconds since the epoch, as a tree shows and orders it: nothing to convert
  -- per row on the way out.
  created_ms bigint not null
);
-- Covering: a level of a tree is one index range per parent, every column read from the index.
create index run_links_parent_idx on execution_ledger.run_links (parent_run_id)
  include (run_id, project_id, user_id, agent_id, status, cost_total, created_ms);

create function execution_ledger.reject_run_link_change() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception 'execution_ledger.% is append-only: % is not allowed', tg_table_name, tg_op
    using errcode = 'EL001', hint = 'Run links follow the entries, which are never changed.';
end
$$;
create trigger run_links_append_only_row before update or delete
  on execution_ledger.run_links for each row execute function execution_ledger.reject_run_link_change();
create trigger run_links_append_only_statement before update or delete
  on execution_ledger.run_links for each statement execute function execution_ledger.reject_run_link_change();
create trigger run_links_append_only_truncate before truncate
  on execution_ledger.run_links for each statement execute function execution_ledger.reject_run_link_change();
alter table execution_ledger.run_links enable always trigger run_links_append_only_row;
alter table execution_ledger.run_links enable always trigger run_links_append_only_statement;
alter table execution_ledger.run_links enable always trigger run_links_append_only_truncate;

-- One insert per appended batch, in the append transaction; a batch without parents inserts nothing.
create function execution_ledger.link_inserted_runs() returns trigger
language plpgsql
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  insert into run_links (parent_run_id, run_id, project_id, user_id, agent_id, status, cost_total, created_ms)
  select i.parent_run_id, i.run_id, i.project_id, i.user_id, i.agent_id, i.status, i.cost_total,
    floor(extract(epoch from i.created_at) * 1000)::bigint
  from inserted i
  where i.parent_run_id is not null;
  return null;
end
$$;
create trigger executions_run_links after insert on execution_ledger.executions
  referencing new table as inserted
  for each statement execute function execution_ledger.link_inserted_runs();
-- ENABLE ALWAYS: session_replication_role = replica must not let entries in without their links.
alter table execution_ledger.executions enable always trigger executions_run_links;

-- Runs recorded before this migration get their links now, before the owner's write access goes.
insert into execution_ledger.run_links (
  parent_run_id, run_id, project_id, user_id, agent_id, status, cost_total, created_ms)
select e.parent_run_id, e.run_id, e.project_id, e.user_id, e.agent_id, e.status, e.cost_total,
  floor(extract(epoch from e.created_at) * 1000)::bigint
from execution_ledger.executions e
where e.parent_run_id is not null;

-- Row level security mirrors the entries' policies exactly: a link carries its run's project and
-- user, so a scoped reader sees the links of exactly the runs they may read.
alter table execution_ledger.run_links enable row level security;
alter table execution_ledger.run_links force row level security;
create policy run_links_service_read on execution_ledger.run_links for select
  to execution_ledger_service, execution_ledger_appender using (true);
create policy run_links_member_read on execution_ledger.run_links for select
  to execution_ledger_reader using (
    user_id = execution_ledger.current_user_id()
    or exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = run_links.project_id and m.user_id = execution_ledger.current_user_id()));
create policy run_links_append on execution_ledger.run_links for insert
  to execution_ledger_appender with check (true);

revoke all on execution_ledger.run_links from public;
grant select on execution_ledger.run_links to execution_ledger_reader, execution_ledger_service;
-- The trigger runs as the inserting role: the appender that owns append_batch.
grant select, insert on execution_ledger.run_links to execution_ledger_appender;
revoke insert, update, delete, truncate on execution_ledger.run_links from current_user;

-- A run and its ancestors in one round trip: the run (position 0), its parent, and so on, one
-- indexed lookup (unique run_id) per link. Stops at a run without parent, a parent already on the
-- path (a cycle), a parent not recorded or not visible, or after p_max_depth links with a parent
-- still above. The caller tells which from the last row. SECURITY INVOKER: row level security
-- applies to the caller, and p_projects (null for every project) hides other projects' runs.
-- A loop of statements, not a recursive query over the entries: a deployment sharded by project
-- runs the same steps on every shard, which a recursive query cannot.
-- Both walks run with jit off: a level's statement planned before a young table has statistics
-- can be estimated costly enough for JIT, which then compiles every level (over a second for a
-- 6,705-run tree in bench:lineage).
create function execution_ledger.lineage_up(p_run_id text, p_max_depth integer, p_projects text[])
returns table (run_id text, parent_run_id text, project_id text, agent_id text, user_id text,
  status text, cost text, created_ms bigint)
language plpgsql
stable
set search_path = pg_catalog, execution_ledger, pg_temp
set jit = off
as $$
#variable_conflict use_column
declare
  v_path text[] := '{}';
  v_next text := p_run_id;
  v_row record;
begin
  loop
    select e.run_id, e.parent_run_id, e.project_id, e.agent_id, e.user_id, e.status,
      e.cost_total::text as cost,
      floor(extract(epoch from e.created_at) * 1000)::bigint as created_ms
    into v_row
    from executions e
    where e.run_id = v_next and (p_projects is null or e.project_id = any(p_projects));
    exit when not found;
    run_id := v_row.run_id;
    parent_run_id := v_row.parent_run_id;
    project_id := v_row.project_id;
    agent_id := v_row.agent_id;
    user_id := v_row.user_id;
    status := v_row.status;
    cost := v_row.cost;
    created_ms := v_row.created_ms;
    return next;
    v_path := array_append(v_path, v_row.run_id);
    exit when v_row.parent_run_id is null or v_row.parent_run_id = any(v_path)
      or cardinality(v_path) > p_max_depth;
    v_next := v_row.parent_run_id;
  end loop;
end
$$;

-- The runs under p_root, level by level (one statement per level over run_links, in one round
-- trip), at most p_max_nodes runs (p_root counts as one) and p_max_depth levels. One row per
-- level: `runs` is a JSON array of [run_id, parent_run_id, project_id, agent_id, user_id, status,
-- cost, created_ms] (cost as decimal text), oldest first, then by run id in byte order: one
-- text per level for the client to parse instead of a row per run. Level 0 is p_root itself when
-- it is recorded and visible; with p_require_root and no such run, nothing is returned. A level
-- holds the children of the runs kept at the level above; when they do not all fit, the oldest
-- are kept and a row marked 'nodes' follows. Runs below the depth bound give a row marked
-- 'depth'. p_root met again as a child closes a cycle: that run comes in a row marked 'cycle'
-- and is not followed.
create function execution_ledger.lineage_down(p_root text, p_max_depth integer, p_max_nodes integer,
  p_projects text[], p_require_root boolean)
returns table (level integer, mark text, runs json)
language plpgsql
stable
set search_path = pg_catalog, execution_ledger, pg_temp
set jit = off
as $$
#variable_conflict use_column
declare
  v_level text[] := array[p_root];
  v_depth integer := 1;
  v_nodes integer := 1;
  v_room integer;
  v_stop boolean;
  v_limit integer;
  v_rows run_links[];
  v_others integer;
begin
  select json_build_array(json_build_array(e.run_id, e.parent_run_id, e.project_id, e.agent_id, e.user_id,
      e.status, e.cost_total::text, floor(extract(epoch from e.created_at) * 1000)::bigint))
  into runs
  from executions e
  where e.run_id = p_root and (p_projects is null or e.project_id = any(p_projects));
  if found then
    level := 0;
    mark := null;
    return next;
  elsif p_require_root then
    return;
  end if;
  while cardinality(v_level) > 0 loop
    v_room := p_max_nodes - v_nodes;
    v_stop := v_depth > p_max_depth or v_room = 0;
    -- One row more than there is room for tells whether runs are left out; one more again leaves
    -- room for p_root, met again when a cycle closes. Unordered: a sort is only needed when cut.
    v_limit := case when v_stop then 2 else v_room + 2 end;
    v_rows := array(
      select row(l.parent_run_id, l.run_id, l.project_id, l.user_id, l.agent_id, l.status, l.cost_total,
        l.created_ms)::run_links
      from run_links l
      where l.parent_run_id = any(v_level) and (p_projects is null or l.project_id = any(p_projects))
      limit v_limit);
    if cardinality(v_rows) = v_limit then
      v_rows := array(
        select row(l.parent_run_id, l.run_id, l.project_id, l.user_id, l.agent_id, l.status, l.cost_total,
          l.created_ms)::run_links
        from run_links l
        where l.parent_run_id = any(v_level) and (p_projects is null or l.project_id = any(p_projects))
        order by l.created_ms, l.run_id collate "C"
        limit v_limit);
    end if;
    v_others := cardinality(v_rows);
    if p_root = any(select r.run_id from unnest(v_rows) r) then
      v_others := v_others - 1;
      level := v_depth;
      mark := 'cycle';
      select json_agg(json_build_array(r.run_id, r.parent_run_id, r.project_id, r.agent_id, r.user_id,
          r.status, r.cost_total::text, r.created_ms))
      into runs
      from unnest(v_rows) r
      where r.run_id = p_root;
      return next;
    end if;
    if v_stop then
      if v_others > 0 then
        level := v_depth;
        mark := case when v_depth > p_max_depth then 'depth' else 'nodes' end;
        runs := null;
        return next;
      end if;
      exit;
    end if;
    exit when v_others = 0;
    level := v_depth;
    if v_others > v_room then
      mark := 'nodes';
      runs := null;
      return next;
    end if;
    -- Only the runs of this level: without p_root, and cut to the oldest that fit.
    if v_others > v_room then
      v_rows := array(
        select r from unnest(v_rows) r
        where r.run_id <> p_root
        order by r.created_ms, r.run_id collate "C"
        limit v_room);
    elsif v_others < cardinality(v_rows) then
      v_rows := array(select r from unnest(v_rows) r where r.run_id <> p_root);
    end if;
    mark := null;
    select json_agg(json_build_array(r.run_id, r.parent_run_id, r.project_id, r.agent_id, r.user_id,
        r.status, r.cost_total::text, r.created_ms) order by r.created_ms, r.run_id collate "C")
    into runs
    from unnest(v_rows) r;
    return next;
    v_level := array(select r.run_id from unnest(v_rows) r);
    v_nodes := v_nodes + cardinality(v_level);
    v_depth := v_depth + 1;
  end loop;
end
$$;

revoke execute on function execution_ledger.lineage_up(text, integer, text[]) from public;
revoke execute on function execution_ledger.lineage_down(text, integer, integer, text[], boolean) from public;
grant execute on function execution_ledger.lineage_up(text, integer, text[])
  to execution_ledger_reader, execution_ledger_service;
grant execute on function execution_ledger.lineage_down(text, integer, integer, text[], boolean)
  to execution_ledger_reader, execution_ledger_service;
revoke execute on function execution_ledger.link_inserted_runs() from public;
revoke execute on function execution_ledger.reject_run_link_change() from public;
