-- Days in the time zones a project reports in (docs/analytics.md, "Days in your time zone").
-- Every level is cut on the UTC clock, so a daily series in a zone whose midnight is not a UTC
-- midnight (Asia/Kolkata, America/New_York) can use no day row: each local day was read as 24
-- hour rows per agent, about 2 runs per row read at real density. A zone added to a project with
-- ledger.addRollupTimeZone() gets a day level of its own there, cut at its local midnights (23 or
-- 25 hours long across daylight-saving changes), and the project's daily and weekly series in
-- that zone read one row per agent and local day.
--
-- * rollup_time_zones: the zones each project keeps.
-- * execution_rollups_zone_day: keyed by project, zone, local day (its first instant) and agent,
--   with the measures and counts per status of the day level; secured exactly as that level.
-- * A trigger of its own (beside the rollup trigger of 0028, whose body stays as it is) keeps it
--   in the append statement for every zone of the inserted runs' projects; none, no write.
-- * add_rollup_time_zone: under the project's append lock, lists the zone and fills its days from
--   the entries in the same transaction, so no append is missed and no read sees half a zone.
-- * rebuild_zone_rollups: recreates a project's days of every zone it keeps, under the same lock
--   (rebuildRollups calls it beside rebuild_rollups).

create table execution_ledger.rollup_time_zones (
  zone_id integer generated always as identity primary key,
  project_id text not null,
  time_zone text not null,
  added_at timestamptz not null default now(),
  constraint rollup_time_zones_project_zone_key unique (project_id, time_zone)
);

create table execution_ledger.execution_rollups_zone_day (
  project_id text not null,
  zone_id integer not null,
  day timestamptz not null,
  agent_id text not null,
  run_count bigint not null,
  completed_count bigint not null,
  failed_count bigint not null,
  aborted_count bigint not null,
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
  constraint execution_rollups_zone_day_pkey primary key (project_id, zone_id, day, agent_id),
  constraint execution_rollups_zone_day_count_check check (run_count >= 1),
  constraint execution_rollups_zone_day_status_check check (
    completed_count >= 0 and failed_count >= 0 and aborted_count >= 0
    and run_count = completed_count + failed_count + aborted_count)
);

alter table execution_ledger.rollup_time_zones enable row level security;
alter table execution_ledger.rollup_time_zones force row level security;
create policy rollup_time_zones_service_read on execution_ledger.rollup_time_zones for select
  to execution_ledger_service using (true);
create policy rollup_time_zones_member_read on execution_ledger.rollup_time_zones for select
  to execution_ledger_reader using (
    project_id = any ((select execution_ledger.claimed_projects())::text[]));
create policy rollup_time_zones_appender on execution_ledger.rollup_time_zones for all
  to execution_ledger_appender using (true) with check (true);
revoke all on execution_ledger.rollup_time_zones from public;
grant select on execution_ledger.rollup_time_zones to execution_ledger_reader, execution_ledger_service;
grant select, insert on execution_ledger.rollup_time_zones to execution_ledger_appender;
revoke insert, update, delete, truncate on execution_ledger.rollup_time_zones from current_user;

alter table execution_ledger.execution_rollups_zone_day enable row level security;
alter table execution_ledger.execution_rollups_zone_day force row level security;
create policy execution_rollups_zone_day_service_read on execution_ledger.execution_rollups_zone_day
  for select to execution_ledger_service using (true);
create policy execution_rollups_zone_day_member_read on execution_ledger.execution_rollups_zone_day
  for select to execution_ledger_reader using (
    project_id = any ((select execution_ledger.claimed_projects())::text[]));
create policy execution_rollups_zone_day_appender on execution_ledger.execution_rollups_zone_day
  for all to execution_ledger_appender using (true) with check (true);
revoke all on execution_ledger.execution_rollups_zone_day from public;
grant select on execution_ledger.execution_rollups_zone_day to execution_ledger_reader, execution_ledger_service;
grant select, insert, update, delete on execution_ledger.execution_rollups_zone_day to execution_ledger_appender;
-- The owner keeps ownership (for migrations) but only the append path and the rebuild write here.
revoke insert, update, delete, truncate on execution_ledger.execution_rollups_zone_day from current_user;

-- The zone days of the inserted runs, one upsert per statement; the measures exactly as the
-- rollup trigger computes them (0028).
create function execution_ledger.rollup_zone_days() returns trigger
language plpgsql
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  insert into execution_ledger.execution_rollups_zone_day as r (project_id, zone_id, day, agent_id,
    run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
    tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
    duration_ms_max)
  select i.project_id, z.zone_id, date_trunc('day', i.created_at, z.time_zone), i.agent_id,
    count(*), count(*) filter (where i.status = 'completed'), count(*) filter (where i.status = 'failed'),
    count(*) filter (where i.status = 'aborted'),
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
  join execution_ledger.rollup_time_zones z on z.project_id = i.project_id
  group by 1, 2, 3, 4
  on conflict (project_id, zone_id, day, agent_id) do update set
    run_count = r.run_count + excluded.run_count,
    completed_count = r.completed_count + excluded.completed_count,
    failed_count = r.failed_count + excluded.failed_count,
    aborted_count = r.aborted_count + excluded.aborted_count,
    cost_sum = r.cost_sum + excluded.cost_sum,
    cost_min = least(r.cost_min, excluded.cost_min),
    cost_max = greatest(r.cost_max, excluded.cost_max),
    tokens_sum = r.tokens_sum + excluded.tokens_sum,
    tool_calls_sum = r.tool_calls_sum + excluded.tool_calls_sum,
    external_requests_sum = r.external_requests_sum + excluded.external_requests_sum,
    penalties_sum = r.penalties_sum + excluded.penalties_sum,
    other_parts = case when excluded.other_parts is null then r.other_parts
      else execution_ledger.sum_part_pair(r.other_parts, excluded.other_parts) end,
    duration_count = r.duration_count + excluded.duration_count,
    duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
    duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max);
  return null;
end
$$;
create trigger executions_zone_rollup after insert on execution_ledger.executions
  referencing new table as inserted
  for each statement execute function execution_ledger.rollup_zone_days();
-- ENABLE ALWAYS: session_replication_role = replica must not let entries in without their rollup.
alter table execution_ledger.executions enable always trigger executions_zone_rollup;

-- Every zone of a project: its days recomputed from the entries (the rows of one zone only when
-- p_zone_id is given), under the project's append lock.
create function execution_ledger.fill_zone_days(p_project_id text, p_zone_id integer) returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_groups bigint;
begin
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  delete from execution_rollups_zone_day
  where project_id = p_project_id and (p_zone_id is null or zone_id = p_zone_id);
  insert into execution_rollups_zone_day (project_id, zone_id, day, agent_id,
    run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
    tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
    duration_ms_max)
  select t.project_id, z.zone_id, date_trunc('day', t.created_at, z.time_zone), t.agent_id,
    count(*), count(*) filter (where t.status = 'completed'), count(*) filter (where t.status = 'failed'),
    count(*) filter (where t.status = 'aborted'),
    coalesce(sum(t.cost_total), 0), min(t.cost_total), max(t.cost_total), sum(t.tokens), sum(t.tool_calls),
    sum(t.external_requests), sum(t.penalties),
    execution_ledger.sum_part_maps(jsonb_agg(t.other_parts) filter (where t.other_parts is not null)),
    count(t.duration_ms), coalesce(sum(t.duration_ms), 0), max(t.duration_ms)
  from execution_rollup_terms t
  join rollup_time_zones z on z.project_id = t.project_id
  where t.project_id = p_project_id and (p_zone_id is null or z.zone_id = p_zone_id)
  group by 1, 2, 3, 4;
  get diagnostics v_groups = row_count;
  return v_groups;
end
$$;

-- Lists a zone for a project and fills its days, in one transaction under the project's append
-- lock: appends to the project wait for it, and every later one's trigger sees the zone. Adding
-- a zone already listed fills it again. Returns the day groups written.
create function execution_ledger.add_rollup_time_zone(p_project_id text, p_time_zone text) returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_zone_id integer;
begin
  -- An unknown zone fails here (22023), before anything is written.
  perform now() at time zone p_time_zone;
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  insert into rollup_time_zones (project_id, time_zone) values (p_project_id, p_time_zone)
    on conflict (project_id, time_zone) do nothing;
  select z.zone_id into v_zone_id from rollup_time_zones z
  where z.project_id = p_project_id and z.time_zone = p_time_zone;
  return fill_zone_days(p_project_id, v_zone_id);
end
$$;

create function execution_ledger.rebuild_zone_rollups(p_project_id text) returns bigint
language sql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
  select execution_ledger.fill_zone_days(p_project_id, null);
$$;

-- The appender owns the functions, as it owns rebuild_rollups; the writer role may call the two
-- entry points (fill_zone_days is theirs alone).
grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.fill_zone_days(text, integer) owner to execution_ledger_appender;
alter function execution_ledger.add_rollup_time_zone(text, text) owner to execution_ledger_appender;
alter function execution_ledger.rebuild_zone_rollups(text) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
revoke execute on function execution_ledger.fill_zone_days(text, integer) from public;
revoke execute on function execution_ledger.add_rollup_time_zone(text, text) from public;
revoke execute on function execution_ledger.rebuild_zone_rollups(text) from public;
grant execute on function execution_ledger.add_rollup_time_zone(text, text) to execution_ledger_writer;
grant execute on function execution_ledger.rebuild_zone_rollups(text) to execution_ledger_writer;
