-- Hourly rollups: a derived cache of the ledger, kept exact by the append transaction itself.
-- One row per (project, UTC hour, agent, user, status) holds count, cost sum/min/max, the sums of
-- the four cost parts the seed names (typed columns: read without parsing JSON), the sums of any
-- other parts (jsonb, null in the common case) and the duration count/sum/max. Statistics read
-- whole hours here and only the partial hours at a range's ends from the entries.
create table execution_ledger.execution_rollups (
  project_id text not null,
  hour timestamptz not null,
  agent_id text not null,
  user_id text not null,
  status text not null,
  run_count bigint not null,
  cost_sum numeric not null,
  cost_min numeric,
  cost_max numeric,
  tokens_sum numeric not null,
  tool_calls_sum numeric not null,
  external_requests_sum numeric not null,
  penalties_sum numeric not null,
  other_parts jsonb,
  duration_count bigint not null,
  duration_ms_sum numeric not null,
  duration_ms_max bigint,
  constraint execution_rollups_pkey primary key (project_id, hour, agent_id, user_id, status),
  constraint execution_rollups_hour_check check (hour = date_trunc('hour', hour, 'UTC')),
  constraint execution_rollups_count_check check (run_count >= 1)
);
-- Agent statistics across projects read this index instead of every project's rows.
create index execution_rollups_agent_hour_idx on execution_ledger.execution_rollups (agent_id, hour);

-- The per-entry terms a rollup adds up, in one place for the rebuild, the verification and the
-- library's exact edges. security_invoker: a scoped reader sees only the entries RLS lets them see.
create view execution_ledger.execution_rollup_terms with (security_invoker = true) as
select e.project_id, date_trunc('hour', e.created_at, 'UTC') as hour, e.agent_id, e.user_id, e.status,
  e.created_at, e.cost_total,
  coalesce((e.cost_json -> 'breakdown' ->> 'tokens')::numeric, 0) as tokens,
  coalesce((e.cost_json -> 'breakdown' ->> 'toolCalls')::numeric, 0) as tool_calls,
  coalesce((e.cost_json -> 'breakdown' ->> 'externalRequests')::numeric, 0) as external_requests,
  coalesce((e.cost_json -> 'breakdown' ->> 'penalties')::numeric, 0) as penalties,
  nullif(coalesce(e.cost_json -> 'breakdown', '{}'::jsonb)
    - array['tokens', 'toolCalls', 'externalRequests', 'penalties'], '{}'::jsonb) as other_parts,
  e.duration_ms
from execution_ledger.executions e;

-- Sums part maps ({"gpu": 12.5}, …) key by key, exactly (jsonb numbers are numeric); null when
-- there is nothing to sum, so the common case stores no jsonb at all. STRICT: a null input returns
-- at once instead of running the query, which keeps the trigger cheap for batches without extra parts.
create function execution_ledger.sum_part_maps(p_maps jsonb) returns jsonb
language sql immutable strict
as $$
  select jsonb_object_agg(p.key, p.amount order by p.key)
  from (
    select part.key, sum(part.value::numeric) as amount
    from jsonb_array_elements(p_maps) as m(map), jsonb_each_text(m.map) as part
    where jsonb_typeof(m.map) = 'object'
    group by part.key
  ) p
$$;

-- One upsert per appended batch (a statement trigger over the transition table), in the append
-- transaction: the rollups can never lag or drift from the entries they summarise. The terms
-- repeat those of execution_rollup_terms because a trigger reads its own transition table;
-- the library's verifyRollups() and the test suite prove the two agree.
create function execution_ledger.rollup_inserted_executions() returns trigger
language plpgsql
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  insert into execution_ledger.execution_rollups as r (
    project_id, hour, agent_id, user_id, status, run_count, cost_sum, cost_min, cost_max, tokens_sum,
    tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
    duration_ms_max)
  select i.project_id, date_trunc('hour', i.created_at, 'UTC'), i.agent_id, i.user_id, i.status, count(*),
    coalesce(sum(i.cost_total), 0), min(i.cost_total), max(i.cost_total),
    coalesce(sum((i.cost_json -> 'breakdown' ->> 'tokens')::numeric), 0),
    coalesce(sum((i.cost_json -> 'breakdown' ->> 'toolCalls')::numeric), 0),
    coalesce(sum((i.cost_json -> 'breakdown' ->> 'externalRequests')::numeric), 0),
    coalesce(sum((i.cost_json -> 'breakdown' ->> 'penalties')::numeric), 0),
    execution_ledger.sum_part_maps(jsonb_agg((i.cost_json -> 'breakdown')
      - array['tokens', 'toolCalls', 'externalRequests', 'penalties'])
      filter (where (i.cost_json -> 'breakdown')
        - array['tokens', 'toolCalls', 'externalRequests', 'penalties'] <> '{}'::jsonb)),
    count(i.duration_ms), coalesce(sum(i.duration_ms), 0), max(i.duration_ms)
  from inserted i
  group by 1, 2, 3, 4, 5
  on conflict (project_id, hour, agent_id, user_id, status) do update set
    run_count = r.run_count + excluded.run_count,
    cost_sum = r.cost_sum + excluded.cost_sum,
    cost_min = least(r.cost_min, excluded.cost_min),
    cost_max = greatest(r.cost_max, excluded.cost_max),
    tokens_sum = r.tokens_sum + excluded.tokens_sum,
    tool_calls_sum = r.tool_calls_sum + excluded.tool_calls_sum,
    external_requests_sum = r.external_requests_sum + excluded.external_requests_sum,
    penalties_sum = r.penalties_sum + excluded.penalties_sum,
    other_parts = case when excluded.other_parts is null then r.other_parts
      else execution_ledger.sum_part_maps(jsonb_build_array(r.other_parts, excluded.other_parts)) end,
    duration_count = r.duration_count + excluded.duration_count,
    duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
    duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max);
  return null;
end
$$;

create trigger executions_rollup after insert on execution_ledger.executions
  referencing new table as inserted
  for each statement execute function execution_ledger.rollup_inserted_executions();
-- ENABLE ALWAYS: session_replication_role = replica must not let entries in without their rollup.
alter table execution_ledger.executions enable always trigger executions_rollup;

-- Recreates one project's rollups from its entries, under the project's append lock (the same
-- two-integer key as append_batch) so no append can interleave. Returns the number of groups.
create function execution_ledger.rebuild_rollups(p_project_id text) returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_groups bigint;
begin
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  delete from execution_rollups where project_id = p_project_id;
  insert into execution_rollups (
    project_id, hour, agent_id, user_id, status, run_count, cost_sum, cost_min, cost_max, tokens_sum,
    tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
    duration_ms_max)
  select t.project_id, t.hour, t.agent_id, t.user_id, t.status, count(*), coalesce(sum(t.cost_total), 0),
    min(t.cost_total), max(t.cost_total), sum(t.tokens), sum(t.tool_calls), sum(t.external_requests),
    sum(t.penalties), sum_part_maps(jsonb_agg(t.other_parts) filter (where t.other_parts is not null)),
    count(t.duration_ms), coalesce(sum(t.duration_ms), 0), max(t.duration_ms)
  from execution_rollup_terms t
  where t.project_id = p_project_id
  group by 1, 2, 3, 4, 5;
  get diagnostics v_groups = row_count;
  return v_groups;
end
$$;

-- Entries recorded before this migration get their rollups now, before RLS and the revokes below
-- take the owner's own write access away.
insert into execution_ledger.execution_rollups (
  project_id, hour, agent_id, user_id, status, run_count, cost_sum, cost_min, cost_max, tokens_sum,
  tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
  duration_ms_max)
select t.project_id, t.hour, t.agent_id, t.user_id, t.status, count(*), coalesce(sum(t.cost_total), 0),
  min(t.cost_total), max(t.cost_total), sum(t.tokens), sum(t.tool_calls), sum(t.external_requests),
  sum(t.penalties),
  execution_ledger.sum_part_maps(jsonb_agg(t.other_parts) filter (where t.other_parts is not null)),
  count(t.duration_ms), coalesce(sum(t.duration_ms), 0), max(t.duration_ms)
from execution_ledger.execution_rollup_terms t
group by 1, 2, 3, 4, 5;

-- Row level security mirrors the entries' policies exactly (the rollup key carries project and
-- user), so a scoped reader's statistics equal an aggregate over the entries they may see.
alter table execution_ledger.execution_rollups enable row level security;
alter table execution_ledger.execution_rollups force row level security;
create policy execution_rollups_service_read on execution_ledger.execution_rollups for select
  to execution_ledger_service using (true);
create policy execution_rollups_member_read on execution_ledger.execution_rollups for select
  to execution_ledger_reader using (
    user_id = execution_ledger.current_user_id()
    or exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = execution_rollups.project_id and m.user_id = execution_ledger.current_user_id()));
create policy execution_rollups_appender on execution_ledger.execution_rollups for all
  to execution_ledger_appender using (true) with check (true);

revoke all on execution_ledger.execution_rollups, execution_ledger.execution_rollup_terms from public;
grant select on execution_ledger.execution_rollups to execution_ledger_reader, execution_ledger_service;
grant select on execution_ledger.execution_rollup_terms to execution_ledger_reader,
  execution_ledger_service, execution_ledger_appender;
-- The appender writes rollups (from the trigger, which runs as the inserting role, and in rebuilds).
grant select, insert, update, delete on execution_ledger.execution_rollups to execution_ledger_appender;
-- The owner keeps ownership (for migrations) but only the append path and the rebuild write here.
revoke insert, update, delete, truncate on execution_ledger.execution_rollups from current_user;

-- The appender owns the rebuild, exactly as it owns append_batch; the writer role may call it.
grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.rebuild_rollups(text) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
revoke execute on function execution_ledger.rebuild_rollups(text) from public;
grant execute on function execution_ledger.rebuild_rollups(text) to execution_ledger_writer;
