-- More changes a deployment sharded by project needs, made on the single-node schema
-- (docs/scaling.md, "Where the schema stands against Citus's list").

-- Only immutable expressions in ON CONFLICT DO UPDATE: a distributed engine evaluates the SET
-- list where the row lives and refuses volatile functions there. budget_set (0012) set
-- updated_at = clock_timestamp() in it; the time is now read once, before the statement.
-- The appender role owns budget_set (0012): only a member of it may replace it.
grant execution_ledger_appender to current_user;
create or replace function execution_ledger.budget_set(
  p_id text, p_project_id text, p_agent_id text, p_user_id text, p_period text, p_time_zone text,
  p_limit_micros bigint, p_thresholds smallint[], p_action text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_now timestamptz;
begin
  perform pg_advisory_xact_lock(1162626372, hashtext('execution_ledger.budgets'));
  v_now := clock_timestamp();
  insert into budgets as b (id, project_id, agent_id, user_id, period, time_zone, limit_micros, thresholds,
    action, created_at, updated_at)
  values (p_id, p_project_id, p_agent_id, p_user_id, p_period, p_time_zone, p_limit_micros, p_thresholds,
    p_action, v_now, v_now)
  on conflict (id) do update set project_id = excluded.project_id, agent_id = excluded.agent_id,
    user_id = excluded.user_id, period = excluded.period, time_zone = excluded.time_zone,
    limit_micros = excluded.limit_micros, thresholds = excluded.thresholds, action = excluded.action,
    updated_at = excluded.updated_at;
  perform budget_rebuild(p_id);
end
$$;
revoke execution_ledger_appender from current_user;


-- The rollup trigger merged two part maps with sum_part_maps(jsonb_build_array(a, b)) inside
-- its DO UPDATE: jsonb_build_array takes "any" and so is only STABLE. sum_part_pair does the
-- same sum from two jsonb values and is immutable; the trigger (0016's, otherwise unchanged) calls it.
create function execution_ledger.sum_part_pair(p_left jsonb, p_right jsonb) returns jsonb
language sql immutable
as $$ select execution_ledger.sum_part_maps(jsonb_build_array(p_left, p_right)) $$;
grant execute on function execution_ledger.sum_part_pair(jsonb, jsonb) to execution_ledger_appender;

create or replace function execution_ledger.rollup_inserted_executions() returns trigger
language plpgsql
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  with base as (
    select i.project_id, date_trunc('hour', i.created_at, 'UTC') as hour, i.agent_id, i.user_id, i.status,
      count(*) as run_count, coalesce(sum(i.cost_total), 0) as cost_sum, min(i.cost_total) as cost_min,
      max(i.cost_total) as cost_max,
      coalesce(sum((i.cost_json -> 'breakdown' ->> 'tokens')::numeric), 0) as tokens_sum,
      coalesce(sum((i.cost_json -> 'breakdown' ->> 'toolCalls')::numeric), 0) as tool_calls_sum,
      coalesce(sum((i.cost_json -> 'breakdown' ->> 'externalRequests')::numeric), 0) as external_requests_sum,
      coalesce(sum((i.cost_json -> 'breakdown' ->> 'penalties')::numeric), 0) as penalties_sum,
      execution_ledger.sum_part_maps(jsonb_agg((i.cost_json -> 'breakdown')
        - array['tokens', 'toolCalls', 'externalRequests', 'penalties'])
        filter (where (i.cost_json -> 'breakdown')
          - array['tokens', 'toolCalls', 'externalRequests', 'penalties'] <> '{}'::jsonb)) as other_parts,
      count(i.duration_ms) as duration_count, coalesce(sum(i.duration_ms), 0) as duration_ms_sum,
      max(i.duration_ms) as duration_ms_max
    from inserted i
    group by 1, 2, 3, 4, 5
  ),
  w_hour_user as (
    insert into execution_ledger.execution_rollups as r (project_id, hour, agent_id, user_id, status,
      run_count, cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum, external_requests_sum,
      penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max)
    select b.project_id, b.hour, b.agent_id, b.user_id, b.status,
      b.run_count, b.cost_sum, b.cost_min, b.cost_max, b.tokens_sum, b.tool_calls_sum, b.external_requests_sum,
      b.penalties_sum, b.other_parts, b.duration_count, b.duration_ms_sum, b.duration_ms_max
    from base b
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
        else execution_ledger.sum_part_pair(r.other_parts, excluded.other_parts) end,
      duration_count = r.duration_count + excluded.duration_count,
      duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  ),
  w_hour as (
    insert into execution_ledger.execution_rollups_hour as r (project_id, hour, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
    select b.project_id, b.hour, b.agent_id,
      sum(b.run_count), coalesce(sum(b.run_count) filter (where b.status = 'completed'), 0),
      coalesce(sum(b.run_count) filter (where b.status = 'failed'), 0),
      coalesce(sum(b.run_count) filter (where b.status = 'aborted'), 0),
      sum(b.cost_sum), min(b.cost_min), max(b.cost_max), sum(b.tokens_sum), sum(b.tool_calls_sum),
      sum(b.external_requests_sum), sum(b.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null)),
      sum(b.duration_count), sum(b.duration_ms_sum), max(b.duration_ms_max)
    from base b
    group by 1, 2, 3
    on conflict (project_id, hour, agent_id) do update set
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
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  ),
  w_day as (
    insert into execution_ledger.execution_rollups_day as r (project_id, day, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
    select b.project_id, date_trunc('day', b.hour, 'UTC'), b.agent_id,
      sum(b.run_count), coalesce(sum(b.run_count) filter (where b.status = 'completed'), 0),
      coalesce(sum(b.run_count) filter (where b.status = 'failed'), 0),
      coalesce(sum(b.run_count) filter (where b.status = 'aborted'), 0),
      sum(b.cost_sum), min(b.cost_min), max(b.cost_max), sum(b.tokens_sum), sum(b.tool_calls_sum),
      sum(b.external_requests_sum), sum(b.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null)),
      sum(b.duration_count), sum(b.duration_ms_sum), max(b.duration_ms_max)
    from base b
    group by 1, 2, 3
    on conflict (project_id, day, agent_id) do update set
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
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  ),
  w_month as (
    insert into execution_ledger.execution_rollups_month as r (project_id, month, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
    select b.project_id, date_trunc('month', b.hour, 'UTC'), b.agent_id,
      sum(b.run_count), coalesce(sum(b.run_count) filter (where b.status = 'completed'), 0),
      coalesce(sum(b.run_count) filter (where b.status = 'failed'), 0),
      coalesce(sum(b.run_count) filter (where b.status = 'aborted'), 0),
      sum(b.cost_sum), min(b.cost_min), max(b.cost_max), sum(b.tokens_sum), sum(b.tool_calls_sum),
      sum(b.external_requests_sum), sum(b.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null)),
      sum(b.duration_count), sum(b.duration_ms_sum), max(b.duration_ms_max)
    from base b
    group by 1, 2, 3
    on conflict (project_id, month, agent_id) do update set
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
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  ),
  w_day_user as (
    insert into execution_ledger.execution_rollups_day_user as r (project_id, day, agent_id, user_id, status,
      run_count, cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum, external_requests_sum,
      penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max)
    select b.project_id, date_trunc('day', b.hour, 'UTC'), b.agent_id, b.user_id, b.status,
      sum(b.run_count), sum(b.cost_sum), min(b.cost_min), max(b.cost_max), sum(b.tokens_sum),
      sum(b.tool_calls_sum), sum(b.external_requests_sum), sum(b.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null)),
      sum(b.duration_count), sum(b.duration_ms_sum), max(b.duration_ms_max)
    from base b
    group by 1, 2, 3, 4, 5
    on conflict (project_id, day, agent_id, user_id, status) do update set
      run_count = r.run_count + excluded.run_count,
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
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  )
  insert into execution_ledger.execution_rollups_month_user as r (project_id, month, user_id,
    run_count, cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum, external_requests_sum,
    penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max)
  select b.project_id, date_trunc('month', b.hour, 'UTC'), b.user_id,
    sum(b.run_count), sum(b.cost_sum), min(b.cost_min), max(b.cost_max), sum(b.tokens_sum),
    sum(b.tool_calls_sum), sum(b.external_requests_sum), sum(b.penalties_sum),
    execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null)),
    sum(b.duration_count), sum(b.duration_ms_sum), max(b.duration_ms_max)
  from base b
  group by 1, 2, 3
  on conflict (project_id, month, user_id) do update set
    run_count = r.run_count + excluded.run_count,
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


-- Policies that read only the claims: no policy runs a subquery against project_members. The
-- membership is resolved before the query, by the library as the service, and passed in the
-- transaction-local claims (request.jwt.claims, set with set_config(..., true)) as
-- ledger_projects, an array of project ids; a distributed engine can then check a row where it
-- lives, with nothing to join. Anything but an array of strings grants nothing.
create function execution_ledger.claimed_projects() returns text[]
language sql stable
as $$
  select coalesce(array(
    select p.value #>> '{}'
    from jsonb_array_elements(case
      when jsonb_typeof(nullif(current_setting('request.jwt.claims', true), '')::jsonb -> 'ledger_projects') = 'array'
      then nullif(current_setting('request.jwt.claims', true), '')::jsonb -> 'ledger_projects'
      else '[]'::jsonb end) as p(value)
    where jsonb_typeof(p.value) = 'string'), '{}'::text[])
$$;
grant execute on function execution_ledger.claimed_projects() to execution_ledger_reader;

drop policy executions_member_read on execution_ledger.executions;
create policy executions_member_read on execution_ledger.executions for select to execution_ledger_reader using (
  user_id = execution_ledger.current_user_id()
  or project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy execution_rollups_member_read on execution_ledger.execution_rollups;
create policy execution_rollups_member_read on execution_ledger.execution_rollups for select to execution_ledger_reader using (
  user_id = execution_ledger.current_user_id()
  or project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy execution_rollups_day_user_member_read on execution_ledger.execution_rollups_day_user;
create policy execution_rollups_day_user_member_read on execution_ledger.execution_rollups_day_user for select to execution_ledger_reader using (
  user_id = execution_ledger.current_user_id()
  or project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy execution_rollups_month_user_member_read on execution_ledger.execution_rollups_month_user;
create policy execution_rollups_month_user_member_read on execution_ledger.execution_rollups_month_user for select to execution_ledger_reader using (
  user_id = execution_ledger.current_user_id()
  or project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy run_links_member_read on execution_ledger.run_links;
create policy run_links_member_read on execution_ledger.run_links for select to execution_ledger_reader using (
  user_id = execution_ledger.current_user_id()
  or project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy step_rollups_member_read on execution_ledger.step_rollups;
create policy step_rollups_member_read on execution_ledger.step_rollups for select to execution_ledger_reader using (
  user_id = execution_ledger.current_user_id()
  or project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy execution_rollups_hour_member_read on execution_ledger.execution_rollups_hour;
create policy execution_rollups_hour_member_read on execution_ledger.execution_rollups_hour for select to execution_ledger_reader using (
  project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy execution_rollups_day_member_read on execution_ledger.execution_rollups_day;
create policy execution_rollups_day_member_read on execution_ledger.execution_rollups_day for select to execution_ledger_reader using (
  project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy execution_rollups_month_member_read on execution_ledger.execution_rollups_month;
create policy execution_rollups_month_member_read on execution_ledger.execution_rollups_month for select to execution_ledger_reader using (
  project_id = any ((select execution_ledger.claimed_projects())::text[]));
drop policy step_rollups_by_project_member_read on execution_ledger.step_rollups_by_project;
create policy step_rollups_by_project_member_read on execution_ledger.step_rollups_by_project for select to execution_ledger_reader using (
  project_id = any ((select execution_ledger.claimed_projects())::text[]));
