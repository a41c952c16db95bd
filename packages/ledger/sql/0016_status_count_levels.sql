-- Status as columns in the agent-keyed levels. At real density the `hour`, `day` and `month`
-- levels (0008) held a row per agent and status: one dense row for completed runs and one or two
-- sparse rows for failed and aborted ones, so a day of a project took about 93 rows for 40 agents.
-- No statistic needs status as a key beside its counts (project statistics count completed,
-- failed and aborted runs; list totals filtered by status count runs), so these levels are now
-- keyed by agent alone and carry one count per status:
--
--   level   table                     period      keys    per status
--   hour    execution_rollups_hour    UTC hour    agent   completed_count, failed_count, aborted_count
--   day     execution_rollups_day     UTC day     agent   (the same)
--   month   execution_rollups_month   UTC month   agent   (the same)
--
-- Every other measure covers every status. A query that filters or groups by status and reads
-- more than counts (a cost series by status, cost by part of failed runs) reads the user-keyed
-- levels, which keep status as a key (docs/analytics.md). The tables are rebuilt in place: each
-- new row is the exact sum of the old rows of its agent (counts, sums, minima, maxima and part
-- maps add up exactly), so no entry is read again.

alter table execution_ledger.execution_rollups_hour rename to execution_rollups_hour_0008;
alter table execution_ledger.execution_rollups_hour_0008
  rename constraint execution_rollups_hour_pkey to execution_rollups_hour_0008_pkey;
alter index execution_ledger.execution_rollups_hour_agent_idx rename to execution_rollups_hour_0008_agent_idx;

create table execution_ledger.execution_rollups_hour (
  project_id text not null,
  hour timestamptz not null,
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
  constraint execution_rollups_hour_pkey primary key (project_id, hour, agent_id),
  constraint execution_rollups_hour_hour_check check (hour = date_trunc('hour', hour, 'UTC')),
  constraint execution_rollups_hour_count_check check (run_count >= 1),
  constraint execution_rollups_hour_status_check check (
    completed_count >= 0 and failed_count >= 0 and aborted_count >= 0
    and run_count = completed_count + failed_count + aborted_count)
);
insert into execution_ledger.execution_rollups_hour (project_id, hour, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
select o.project_id, o.hour, o.agent_id,
      sum(o.run_count), coalesce(sum(o.run_count) filter (where o.status = 'completed'), 0),
      coalesce(sum(o.run_count) filter (where o.status = 'failed'), 0),
      coalesce(sum(o.run_count) filter (where o.status = 'aborted'), 0),
      sum(o.cost_sum), min(o.cost_min), max(o.cost_max), sum(o.tokens_sum), sum(o.tool_calls_sum),
      sum(o.external_requests_sum), sum(o.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(o.other_parts) filter (where o.other_parts is not null)),
      sum(o.duration_count), sum(o.duration_ms_sum), max(o.duration_ms_max)
from execution_ledger.execution_rollups_hour_0008 o
group by 1, 2, 3;
drop table execution_ledger.execution_rollups_hour_0008;
-- Statistics of one agent across projects read this index instead of every project's rows.
create index execution_rollups_hour_agent_idx on execution_ledger.execution_rollups_hour (agent_id, hour);

alter table execution_ledger.execution_rollups_day rename to execution_rollups_day_0008;
alter table execution_ledger.execution_rollups_day_0008
  rename constraint execution_rollups_day_pkey to execution_rollups_day_0008_pkey;
alter index execution_ledger.execution_rollups_day_agent_idx rename to execution_rollups_day_0008_agent_idx;

create table execution_ledger.execution_rollups_day (
  project_id text not null,
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
  constraint execution_rollups_day_pkey primary key (project_id, day, agent_id),
  constraint execution_rollups_day_day_check check (day = date_trunc('day', day, 'UTC')),
  constraint execution_rollups_day_count_check check (run_count >= 1),
  constraint execution_rollups_day_status_check check (
    completed_count >= 0 and failed_count >= 0 and aborted_count >= 0
    and run_count = completed_count + failed_count + aborted_count)
);
insert into execution_ledger.execution_rollups_day (project_id, day, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
select o.project_id, o.day, o.agent_id,
      sum(o.run_count), coalesce(sum(o.run_count) filter (where o.status = 'completed'), 0),
      coalesce(sum(o.run_count) filter (where o.status = 'failed'), 0),
      coalesce(sum(o.run_count) filter (where o.status = 'aborted'), 0),
      sum(o.cost_sum), min(o.cost_min), max(o.cost_max), sum(o.tokens_sum), sum(o.tool_calls_sum),
      sum(o.external_requests_sum), sum(o.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(o.other_parts) filter (where o.other_parts is not null)),
      sum(o.duration_count), sum(o.duration_ms_sum), max(o.duration_ms_max)
from execution_ledger.execution_rollups_day_0008 o
group by 1, 2, 3;
drop table execution_ledger.execution_rollups_day_0008;
-- Statistics of one agent across projects read this index instead of every project's rows.
create index execution_rollups_day_agent_idx on execution_ledger.execution_rollups_day (agent_id, day);

alter table execution_ledger.execution_rollups_month rename to execution_rollups_month_0008;
alter table execution_ledger.execution_rollups_month_0008
  rename constraint execution_rollups_month_pkey to execution_rollups_month_0008_pkey;
alter index execution_ledger.execution_rollups_month_agent_idx rename to execution_rollups_month_0008_agent_idx;

create table execution_ledger.execution_rollups_month (
  project_id text not null,
  month timestamptz not null,
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
  constraint execution_rollups_month_pkey primary key (project_id, month, agent_id),
  constraint execution_rollups_month_month_check check (month = date_trunc('month', month, 'UTC')),
  constraint execution_rollups_month_count_check check (run_count >= 1),
  constraint execution_rollups_month_status_check check (
    completed_count >= 0 and failed_count >= 0 and aborted_count >= 0
    and run_count = completed_count + failed_count + aborted_count)
);
insert into execution_ledger.execution_rollups_month (project_id, month, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
select o.project_id, o.month, o.agent_id,
      sum(o.run_count), coalesce(sum(o.run_count) filter (where o.status = 'completed'), 0),
      coalesce(sum(o.run_count) filter (where o.status = 'failed'), 0),
      coalesce(sum(o.run_count) filter (where o.status = 'aborted'), 0),
      sum(o.cost_sum), min(o.cost_min), max(o.cost_max), sum(o.tokens_sum), sum(o.tool_calls_sum),
      sum(o.external_requests_sum), sum(o.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(o.other_parts) filter (where o.other_parts is not null)),
      sum(o.duration_count), sum(o.duration_ms_sum), max(o.duration_ms_max)
from execution_ledger.execution_rollups_month_0008 o
group by 1, 2, 3;
drop table execution_ledger.execution_rollups_month_0008;
-- Statistics of one agent across projects read this index instead of every project's rows.
create index execution_rollups_month_agent_idx on execution_ledger.execution_rollups_month (agent_id, month);

-- One statement per appended batch keeps every level, as in 0008: the batch is grouped once by the
-- finest key (project, hour, agent, user, status), and each level upserts its own grouping of
-- those groups; the agent-keyed levels count each status into its own column.
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
        else execution_ledger.sum_part_maps(jsonb_build_array(r.other_parts, excluded.other_parts)) end,
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
        else execution_ledger.sum_part_maps(jsonb_build_array(r.other_parts, excluded.other_parts)) end,
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
        else execution_ledger.sum_part_maps(jsonb_build_array(r.other_parts, excluded.other_parts)) end,
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
        else execution_ledger.sum_part_maps(jsonb_build_array(r.other_parts, excluded.other_parts)) end,
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
        else execution_ledger.sum_part_maps(jsonb_build_array(r.other_parts, excluded.other_parts)) end,
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
      else execution_ledger.sum_part_maps(jsonb_build_array(r.other_parts, excluded.other_parts)) end,
    duration_count = r.duration_count + excluded.duration_count,
    duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
    duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max);
  return null;
end
$$;

-- The rebuild recreates every level of one project under its append lock, as in 0008, with the
-- new shape of the agent-keyed levels. Same signature, owner and privileges: the appender owns
-- it, so the owner takes the appender's role just long enough to replace it.
grant execution_ledger_appender to current_user;
create or replace function execution_ledger.rebuild_rollups(p_project_id text)
returns table (r_level text, r_groups bigint)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  delete from execution_rollups where project_id = p_project_id;
  delete from execution_rollups_hour where project_id = p_project_id;
  delete from execution_rollups_day where project_id = p_project_id;
  delete from execution_rollups_month where project_id = p_project_id;
  delete from execution_rollups_day_user where project_id = p_project_id;
  delete from execution_rollups_month_user where project_id = p_project_id;
  return query
  with base as (
    select t.project_id, t.hour, t.agent_id, t.user_id, t.status, count(*) as run_count,
      coalesce(sum(t.cost_total), 0) as cost_sum, min(t.cost_total) as cost_min, max(t.cost_total) as cost_max,
      sum(t.tokens) as tokens_sum, sum(t.tool_calls) as tool_calls_sum,
      sum(t.external_requests) as external_requests_sum, sum(t.penalties) as penalties_sum,
      execution_ledger.sum_part_maps(jsonb_agg(t.other_parts) filter (where t.other_parts is not null))
        as other_parts,
      count(t.duration_ms) as duration_count, coalesce(sum(t.duration_ms), 0) as duration_ms_sum,
      max(t.duration_ms) as duration_ms_max
    from execution_ledger.execution_rollup_terms t
    where t.project_id = p_project_id
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
    returning 1
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
    returning 1
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
    returning 1
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
    returning 1
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
    returning 1
  ),
  w_month_user as (
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
    returning 1
  )
  select 'hour_user'::text, count(*) from w_hour_user
  union all select 'hour'::text, count(*) from w_hour
  union all select 'day'::text, count(*) from w_day
  union all select 'month'::text, count(*) from w_month
  union all select 'day_user'::text, count(*) from w_day_user
  union all select 'month_user'::text, count(*) from w_month_user;
end
$$;
revoke execution_ledger_appender from current_user;

alter table execution_ledger.execution_rollups_hour enable row level security;
alter table execution_ledger.execution_rollups_hour force row level security;
create policy execution_rollups_hour_service_read on execution_ledger.execution_rollups_hour for select
  to execution_ledger_service using (true);
create policy execution_rollups_hour_member_read on execution_ledger.execution_rollups_hour for select
  to execution_ledger_reader using (
    exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = execution_rollups_hour.project_id and m.user_id = execution_ledger.current_user_id()));
create policy execution_rollups_hour_appender on execution_ledger.execution_rollups_hour for all
  to execution_ledger_appender using (true) with check (true);
alter table execution_ledger.execution_rollups_day enable row level security;
alter table execution_ledger.execution_rollups_day force row level security;
create policy execution_rollups_day_service_read on execution_ledger.execution_rollups_day for select
  to execution_ledger_service using (true);
create policy execution_rollups_day_member_read on execution_ledger.execution_rollups_day for select
  to execution_ledger_reader using (
    exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = execution_rollups_day.project_id and m.user_id = execution_ledger.current_user_id()));
create policy execution_rollups_day_appender on execution_ledger.execution_rollups_day for all
  to execution_ledger_appender using (true) with check (true);
alter table execution_ledger.execution_rollups_month enable row level security;
alter table execution_ledger.execution_rollups_month force row level security;
create policy execution_rollups_month_service_read on execution_ledger.execution_rollups_month for select
  to execution_ledger_service using (true);
create policy execution_rollups_month_member_read on execution_ledger.execution_rollups_month for select
  to execution_ledger_reader using (
    exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = execution_rollups_month.project_id and m.user_id = execution_ledger.current_user_id()));
create policy execution_rollups_month_appender on execution_ledger.execution_rollups_month for all
  to execution_ledger_appender using (true) with check (true);

-- As in 0008: readers and the service read, only the appender (the trigger and the rebuild) writes,
-- and the owner keeps ownership for migrations but cannot write.
revoke all on execution_ledger.execution_rollups_hour, execution_ledger.execution_rollups_day, execution_ledger.execution_rollups_month from public;
grant select on execution_ledger.execution_rollups_hour, execution_ledger.execution_rollups_day, execution_ledger.execution_rollups_month to execution_ledger_reader, execution_ledger_service;
grant select, insert, update, delete on execution_ledger.execution_rollups_hour, execution_ledger.execution_rollups_day, execution_ledger.execution_rollups_month to execution_ledger_appender;
revoke insert, update, delete, truncate on execution_ledger.execution_rollups_hour, execution_ledger.execution_rollups_day, execution_ledger.execution_rollups_month from current_user;
