-- A yearly level (docs/analytics.md, "Rollup levels"). Statistics over long or open ranges read
-- whole months of the agent-keyed month level: an agent's statistics across 200 projects over a
-- quarter read 600 rows, and over a year 2,600. The year level holds the same measures per
-- project, UTC year and agent (with a count per status, as the month level), so such a range is
-- read as whole years, then whole months, days and hours at its edges, as before.
--
-- * execution_rollups_year: keyed and secured exactly as execution_rollups_month (0016, 0023):
--   the service reads every row, a scoped reader only the rows of the projects it is a member
--   of, and the appender writes. An index by agent and year carries the measures agent
--   statistics read, as 0017's does for months.
-- * The rollup trigger (as in 0026) keeps it in the same statement as every other level, from
--   the same grouping by agent; the rebuild (as in 0016) recreates it with the others.
-- * Existing ledgers get it from their month level, which holds the same runs.

create table execution_ledger.execution_rollups_year (
  project_id text not null,
  year timestamptz not null,
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
  constraint execution_rollups_year_pkey primary key (project_id, year, agent_id),
  constraint execution_rollups_year_year_check check (year = date_trunc('year', year, 'UTC')),
  constraint execution_rollups_year_count_check check (run_count >= 1),
  constraint execution_rollups_year_status_check check (
    completed_count >= 0 and failed_count >= 0 and aborted_count >= 0
    and run_count = completed_count + failed_count + aborted_count)
);
create index execution_rollups_year_agent_measures_idx on execution_ledger.execution_rollups_year
  (agent_id, year) include (run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max);

insert into execution_ledger.execution_rollups_year (project_id, year, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
select m.project_id, date_trunc('year', m.month, 'UTC'), m.agent_id,
      sum(m.run_count), sum(m.completed_count), sum(m.failed_count), sum(m.aborted_count),
      sum(m.cost_sum), min(m.cost_min), max(m.cost_max), sum(m.tokens_sum), sum(m.tool_calls_sum),
      sum(m.external_requests_sum), sum(m.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(m.other_parts) filter (where m.other_parts is not null)),
      sum(m.duration_count), sum(m.duration_ms_sum), max(m.duration_ms_max)
from execution_ledger.execution_rollups_month m
group by 1, 2, 3;

alter table execution_ledger.execution_rollups_year enable row level security;
alter table execution_ledger.execution_rollups_year force row level security;
create policy execution_rollups_year_service_read on execution_ledger.execution_rollups_year for select
  to execution_ledger_service using (true);
create policy execution_rollups_year_member_read on execution_ledger.execution_rollups_year for select
  to execution_ledger_reader using (
    project_id = any ((select execution_ledger.claimed_projects())::text[]));
create policy execution_rollups_year_appender on execution_ledger.execution_rollups_year for all
  to execution_ledger_appender using (true) with check (true);
revoke all on execution_ledger.execution_rollups_year from public;
grant select on execution_ledger.execution_rollups_year to execution_ledger_reader, execution_ledger_service;
grant select, insert, update, delete on execution_ledger.execution_rollups_year to execution_ledger_appender;
-- The owner keeps ownership (for migrations) but only the append path and the rebuild write here.
revoke insert, update, delete, truncate on execution_ledger.execution_rollups_year from current_user;

-- The rollup trigger of 0026 with the year level, fed from the same grouping by agent.
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
  -- The agent-keyed levels all read this one grouping of base: hour writes it as it is, day and
  -- month add up its (at most a few) rows per agent.
  by_agent as (
    select b.project_id, b.hour, b.agent_id,
      sum(b.run_count) as run_count, coalesce(sum(b.run_count) filter (where b.status = 'completed'), 0) as completed_count,
      coalesce(sum(b.run_count) filter (where b.status = 'failed'), 0) as failed_count,
      coalesce(sum(b.run_count) filter (where b.status = 'aborted'), 0) as aborted_count,
      sum(b.cost_sum) as cost_sum, min(b.cost_min) as cost_min, max(b.cost_max) as cost_max,
      sum(b.tokens_sum) as tokens_sum, sum(b.tool_calls_sum) as tool_calls_sum,
      sum(b.external_requests_sum) as external_requests_sum, sum(b.penalties_sum) as penalties_sum,
      execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null))
        as other_parts,
      sum(b.duration_count) as duration_count, sum(b.duration_ms_sum) as duration_ms_sum,
      max(b.duration_ms_max) as duration_ms_max
    from base b
    group by 1, 2, 3
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
    select a.project_id, a.hour, a.agent_id, a.run_count, a.completed_count, a.failed_count, a.aborted_count,
      a.cost_sum, a.cost_min, a.cost_max, a.tokens_sum, a.tool_calls_sum, a.external_requests_sum,
      a.penalties_sum, a.other_parts, a.duration_count, a.duration_ms_sum, a.duration_ms_max
    from by_agent a
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
    select a.project_id, date_trunc('day', a.hour, 'UTC'), a.agent_id,
      sum(a.run_count), sum(a.completed_count), sum(a.failed_count), sum(a.aborted_count),
      sum(a.cost_sum), min(a.cost_min), max(a.cost_max), sum(a.tokens_sum), sum(a.tool_calls_sum),
      sum(a.external_requests_sum), sum(a.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(a.other_parts) filter (where a.other_parts is not null)),
      sum(a.duration_count), sum(a.duration_ms_sum), max(a.duration_ms_max)
    from by_agent a
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
    select a.project_id, date_trunc('month', a.hour, 'UTC'), a.agent_id,
      sum(a.run_count), sum(a.completed_count), sum(a.failed_count), sum(a.aborted_count),
      sum(a.cost_sum), min(a.cost_min), max(a.cost_max), sum(a.tokens_sum), sum(a.tool_calls_sum),
      sum(a.external_requests_sum), sum(a.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(a.other_parts) filter (where a.other_parts is not null)),
      sum(a.duration_count), sum(a.duration_ms_sum), max(a.duration_ms_max)
    from by_agent a
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
  w_year as (
    insert into execution_ledger.execution_rollups_year as r (project_id, year, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
    select a.project_id, date_trunc('year', a.hour, 'UTC'), a.agent_id,
      sum(a.run_count), sum(a.completed_count), sum(a.failed_count), sum(a.aborted_count),
      sum(a.cost_sum), min(a.cost_min), max(a.cost_max), sum(a.tokens_sum), sum(a.tool_calls_sum),
      sum(a.external_requests_sum), sum(a.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(a.other_parts) filter (where a.other_parts is not null)),
      sum(a.duration_count), sum(a.duration_ms_sum), max(a.duration_ms_max)
    from by_agent a
    group by 1, 2, 3
    on conflict (project_id, year, agent_id) do update set
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

-- The rebuild of 0016 with the year level. Same signature, owner and privileges: the appender
-- owns it, so the owner takes the appender's role just long enough to replace it.
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
  delete from execution_rollups_year where project_id = p_project_id;
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
  w_year as (
    insert into execution_ledger.execution_rollups_year as r (project_id, year, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
    select b.project_id, date_trunc('year', b.hour, 'UTC'), b.agent_id,
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
  union all select 'year'::text, count(*) from w_year
  union all select 'day_user'::text, count(*) from w_day_user
  union all select 'month_user'::text, count(*) from w_month_user;
end
$$;
revoke execution_ledger_appender from current_user;
