-- Rollup levels folded after the append instead of in it (docs/analytics.md, "When the levels
-- are kept"). Three statement triggers upserted every level, the zone days and the step levels
-- in each append transaction: at 16 concurrent callers that was 40% of the database time of an
-- append, each batch contending for the same hour, day, month and year rows (bench/RESULTS.md).
-- The same upserts now run over every entry appended since the last fold, a second's worth in
-- one statement per family, and every read folds what is pending before it reads, so statistics
-- stay exact while appends pay nothing for them.
--
-- * rollup_marks: per project, the seq up to which every level, zone day and step level holds the
--   entries. Entries past it are folded by the next fold.
-- * fold_rollups(project): under the project's mark (a row lock; appends never wait for it),
--   adds the entries (mark, head] to every level and moves the mark to the head. A project with
--   nothing pending returns at once without taking any lock.
-- * fold_pending_rollups(): every project whose head is past its mark, in project order.
-- * rebuild_project_rollups(project): the one rebuild entry point, under the append lock: every
--   level, zone day and step level recomputed from all entries, and the mark set to the head.
--   The three rebuilds of 0009, 0028 and 0029 are no longer the writer's to call alone: run
--   without moving the mark, the next fold would add the entries past it a second time.
-- * add_rollup_time_zone: folds first, so the zone's days recomputed from every entry agree with
--   the mark.
-- * The terms views carry each entry's seq, so verification compares the levels with the entries
--   up to the mark while appends go on.

-- No append may commit while the triggers go and the marks are set: dropping a trigger takes an
-- ACCESS EXCLUSIVE lock on the entries until this migration commits.
drop trigger executions_rollup on execution_ledger.executions;
drop trigger executions_zone_rollup on execution_ledger.executions;
drop trigger executions_step_rollup on execution_ledger.executions;

create table execution_ledger.rollup_marks (
  project_id text primary key,
  mark bigint not null,
  folded_at timestamptz not null default now(),
  constraint rollup_marks_mark_check check (mark >= 0)
);
-- Until now every level held every entry: each project's mark is its head.
insert into execution_ledger.rollup_marks (project_id, mark) select h.project_id, h.seq from execution_ledger.heads h;

alter table execution_ledger.rollup_marks enable row level security;
alter table execution_ledger.rollup_marks force row level security;
create policy rollup_marks_service_read on execution_ledger.rollup_marks for select
  to execution_ledger_service using (true);
create policy rollup_marks_member_read on execution_ledger.rollup_marks for select
  to execution_ledger_reader using (
    project_id = any ((select execution_ledger.claimed_projects())::text[]));
create policy rollup_marks_appender on execution_ledger.rollup_marks for all
  to execution_ledger_appender using (true) with check (true);
revoke all on execution_ledger.rollup_marks from public;
grant select on execution_ledger.rollup_marks to execution_ledger_reader, execution_ledger_service;
grant select, insert, update on execution_ledger.rollup_marks to execution_ledger_appender;
revoke insert, update, delete, truncate on execution_ledger.rollup_marks from current_user;

-- The views as in 0003 and 0009, with each entry's seq added at the end.
create or replace view execution_ledger.execution_rollup_terms with (security_invoker = true) as
select e.project_id, date_trunc('hour', e.created_at, 'UTC') as hour, e.agent_id, e.user_id, e.status,
  e.created_at, e.cost_total,
  coalesce((e.cost_json -> 'breakdown' ->> 'tokens')::numeric, 0) as tokens,
  coalesce((e.cost_json -> 'breakdown' ->> 'toolCalls')::numeric, 0) as tool_calls,
  coalesce((e.cost_json -> 'breakdown' ->> 'externalRequests')::numeric, 0) as external_requests,
  coalesce((e.cost_json -> 'breakdown' ->> 'penalties')::numeric, 0) as penalties,
  nullif(coalesce(e.cost_json -> 'breakdown', '{}'::jsonb)
    - array['tokens', 'toolCalls', 'externalRequests', 'penalties'], '{}'::jsonb) as other_parts,
  e.duration_ms,
  e.seq
from execution_ledger.executions e;

create or replace view execution_ledger.step_rollup_terms with (security_invoker = true) as
select e.project_id, date_trunc('day', e.created_at, 'UTC') as day, e.agent_id, e.user_id, e.status,
  e.created_at,
  coalesce(case when jsonb_typeof(s.step -> 'kind') = 'string' then s.step ->> 'kind' end, '') as kind,
  coalesce(case when jsonb_typeof(s.step -> 'name') = 'string' then s.step ->> 'name' end, '') as name,
  coalesce(case when jsonb_typeof(s.step -> 'model') = 'string' then s.step ->> 'model' end, '') as model,
  coalesce(case when jsonb_typeof(s.step -> 'cost') = 'number' then (s.step ->> 'cost')::numeric end, 0)
    as cost,
  coalesce(case when jsonb_typeof(s.step -> 'tokens' -> 'input') = 'number'
    then (s.step -> 'tokens' ->> 'input')::numeric end, 0) as input_tokens,
  coalesce(case when jsonb_typeof(s.step -> 'tokens' -> 'output') = 'number'
    then (s.step -> 'tokens' ->> 'output')::numeric end, 0) as output_tokens,
  coalesce(case when jsonb_typeof(s.step -> 'tokens' -> 'cached_input') = 'number'
    then (s.step -> 'tokens' ->> 'cached_input')::numeric end, 0) as cached_input_tokens,
  e.seq
from execution_ledger.executions e
cross join lateral jsonb_array_elements(
  case when jsonb_typeof(e.execution_trace_json -> 'steps') = 'array'
    then e.execution_trace_json -> 'steps' else '[]'::jsonb end) as s(step)
where jsonb_typeof(s.step) = 'object' and (s.step ? 'kind' or s.step ? 'cost');

-- The triggers' functions went with them; the fold below runs their statements over the entries
-- past the mark instead of a transition table.
grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
drop function execution_ledger.rollup_inserted_executions();
drop function execution_ledger.rollup_zone_days();
drop function execution_ledger.rollup_inserted_steps();

-- Adds a project's entries past its mark to every level (the statements of 0028's, 0029's and
-- 0009's triggers, unchanged but for the entries they read) and returns how many it folded.
create function execution_ledger.fold_rollups(p_project_id text) returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_head bigint;
  v_mark bigint;
begin
  -- Nothing pending: no lock, no write.
  select h.seq into v_head from heads h where h.project_id = p_project_id;
  if v_head is null then
    return 0;
  end if;
  select m.mark into v_mark from rollup_marks m where m.project_id = p_project_id;
  if v_mark >= v_head then
    return 0;
  end if;
  -- One folder per project at a time: the mark's row lock. Appends never take it; a second
  -- folder waits here and then finds the mark moved.
  insert into rollup_marks (project_id, mark) values (p_project_id, 0)
    on conflict (project_id) do nothing;
  select m.mark into v_mark from rollup_marks m where m.project_id = p_project_id for update;
  -- The head after the lock: every entry up to it is committed (append_batch moves the head in
  -- the transaction that writes them), so (mark, head] is complete.
  select h.seq into v_head from heads h where h.project_id = p_project_id;
  if v_mark >= v_head then
    return 0;
  end if;

  with inserted as materialized (
    select e.project_id, e.created_at, e.agent_id, e.user_id, e.status, e.cost_total, e.cost_json,
      e.duration_ms
    from execution_ledger.executions e
    where e.project_id = p_project_id and e.seq > v_mark and e.seq <= v_head
  ),
  base as (
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

  with inserted as materialized (
    select e.project_id, e.created_at, e.agent_id, e.status, e.cost_total, e.cost_json, e.duration_ms
    from execution_ledger.executions e
    where e.project_id = p_project_id and e.seq > v_mark and e.seq <= v_head
  )
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

  with inserted as materialized (
    select e.project_id, e.created_at, e.agent_id, e.user_id, e.status, e.execution_trace_json
    from execution_ledger.executions e
    where e.project_id = p_project_id and e.seq > v_mark and e.seq <= v_head
  ),
  t as (
    select i.project_id, date_trunc('day', i.created_at, 'UTC') as day, i.agent_id, i.user_id, i.status,
      coalesce(case when jsonb_typeof(s.step -> 'kind') = 'string' then s.step ->> 'kind' end, '') as kind,
      coalesce(case when jsonb_typeof(s.step -> 'name') = 'string' then s.step ->> 'name' end, '') as name,
      coalesce(case when jsonb_typeof(s.step -> 'model') = 'string' then s.step ->> 'model' end, '') as model,
      coalesce(case when jsonb_typeof(s.step -> 'cost') = 'number' then (s.step ->> 'cost')::numeric end, 0)
        as cost,
      coalesce(case when jsonb_typeof(s.step -> 'tokens' -> 'input') = 'number'
        then (s.step -> 'tokens' ->> 'input')::numeric end, 0) as input_tokens,
      coalesce(case when jsonb_typeof(s.step -> 'tokens' -> 'output') = 'number'
        then (s.step -> 'tokens' ->> 'output')::numeric end, 0) as output_tokens,
      coalesce(case when jsonb_typeof(s.step -> 'tokens' -> 'cached_input') = 'number'
        then (s.step -> 'tokens' ->> 'cached_input')::numeric end, 0) as cached_input_tokens
    from inserted i
    cross join lateral jsonb_array_elements(
      case when jsonb_typeof(i.execution_trace_json -> 'steps') = 'array'
        then i.execution_trace_json -> 'steps' else '[]'::jsonb end) as s(step)
    where jsonb_typeof(s.step) = 'object' and (s.step ? 'kind' or s.step ? 'cost')
  ),
  full_level as (
    insert into execution_ledger.step_rollups as r (
      project_id, day, agent_id, user_id, status, kind, name, model, step_count, cost_sum,
      input_tokens_sum, output_tokens_sum, cached_input_tokens_sum)
    select t.project_id, t.day, t.agent_id, t.user_id, t.status, t.kind, t.name, t.model, count(*),
      sum(t.cost), sum(t.input_tokens), sum(t.output_tokens), sum(t.cached_input_tokens)
    from t
    group by 1, 2, 3, 4, 5, 6, 7, 8
    on conflict (project_id, day, agent_id, user_id, status, kind, name, model) do update set
      step_count = r.step_count + excluded.step_count,
      cost_sum = r.cost_sum + excluded.cost_sum,
      input_tokens_sum = r.input_tokens_sum + excluded.input_tokens_sum,
      output_tokens_sum = r.output_tokens_sum + excluded.output_tokens_sum,
      cached_input_tokens_sum = r.cached_input_tokens_sum + excluded.cached_input_tokens_sum
  )
  insert into execution_ledger.step_rollups_by_project as p (
    project_id, day, kind, name, model, step_count, cost_sum, input_tokens_sum, output_tokens_sum,
    cached_input_tokens_sum)
  select t.project_id, t.day, t.kind, t.name, t.model, count(*), sum(t.cost), sum(t.input_tokens),
    sum(t.output_tokens), sum(t.cached_input_tokens)
  from t
  group by 1, 2, 3, 4, 5
  on conflict (project_id, day, kind, name, model) do update set
    step_count = p.step_count + excluded.step_count,
    cost_sum = p.cost_sum + excluded.cost_sum,
    input_tokens_sum = p.input_tokens_sum + excluded.input_tokens_sum,
    output_tokens_sum = p.output_tokens_sum + excluded.output_tokens_sum,
    cached_input_tokens_sum = p.cached_input_tokens_sum + excluded.cached_input_tokens_sum;

  update rollup_marks set mark = v_head, folded_at = now() where project_id = p_project_id;
  return v_head - v_mark;
end
$$;

-- Every project with entries past its mark, one after another in project order (so two of these
-- never wait on each other's marks); returns the projects folded and their entries.
create function execution_ledger.fold_pending_rollups()
returns table (project_id text, entries bigint)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_project text;
  v_entries bigint;
begin
  for v_project in
    select h.project_id from heads h left join rollup_marks m on m.project_id = h.project_id
    where m.mark is null or h.seq > m.mark
    order by h.project_id
  loop
    v_entries := fold_rollups(v_project);
    if v_entries > 0 then
      project_id := v_project;
      entries := v_entries;
      return next;
    end if;
  end loop;
end
$$;

-- Every level, zone day and step level of one project recomputed from all its entries, under its
-- append lock (no append interleaves) and its mark (no fold does), and the mark set to the head
-- the entries end at. Rows per level as rebuild_rollups gives them, then 'zone_day' and 'steps'.
create function execution_ledger.rebuild_project_rollups(p_project_id text)
returns table (r_level text, r_groups bigint)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  insert into rollup_marks (project_id, mark) values (p_project_id, 0)
    on conflict (project_id) do nothing;
  perform 1 from rollup_marks m where m.project_id = p_project_id for update;
  update rollup_marks set
    mark = coalesce((select h.seq from heads h where h.project_id = p_project_id), 0), folded_at = now()
  where project_id = p_project_id;
  return query
  select r.r_level, r.r_groups from rebuild_rollups(p_project_id) r
  union all select 'zone_day'::text, rebuild_zone_rollups(p_project_id)
  union all select 'steps'::text, rebuild_step_rollups(p_project_id);
end
$$;

-- As in 0029, but the entries past the mark are folded first: the zone's days are recomputed
-- from every entry below, which must be every entry the mark covers.
create or replace function execution_ledger.add_rollup_time_zone(p_project_id text, p_time_zone text) returns bigint
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
  perform fold_rollups(p_project_id);
  insert into rollup_time_zones (project_id, time_zone) values (p_project_id, p_time_zone)
    on conflict (project_id, time_zone) do nothing;
  select z.zone_id into v_zone_id from rollup_time_zones z
  where z.project_id = p_project_id and z.time_zone = p_time_zone;
  return fill_zone_days(p_project_id, v_zone_id);
end
$$;

alter function execution_ledger.fold_rollups(text) owner to execution_ledger_appender;
alter function execution_ledger.fold_pending_rollups() owner to execution_ledger_appender;
alter function execution_ledger.rebuild_project_rollups(text) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;

-- Who may call what, granted while a member of the owning role: PostgreSQL records a member's
-- grants as the owner's, and a non-member's REVOKE only warns (0010). 0009 and 0029 revoked and
-- granted after giving their functions away, so PUBLIC kept EXECUTE on rebuild_step_rollups,
-- fill_zone_days, add_rollup_time_zone and rebuild_zone_rollups; taken away here.
revoke execute on function execution_ledger.rebuild_rollups(text) from public, execution_ledger_writer;
revoke execute on function execution_ledger.rebuild_step_rollups(text) from public, execution_ledger_writer;
revoke execute on function execution_ledger.rebuild_zone_rollups(text) from public, execution_ledger_writer;
revoke execute on function execution_ledger.fill_zone_days(text, integer) from public;
revoke execute on function execution_ledger.add_rollup_time_zone(text, text) from public;
grant execute on function execution_ledger.add_rollup_time_zone(text, text) to execution_ledger_writer;
-- Rebuilding is the writer's, through the one function that also sets the mark.
revoke execute on function execution_ledger.rebuild_project_rollups(text) from public;
grant execute on function execution_ledger.rebuild_project_rollups(text) to execution_ledger_writer;
-- Folding adds nothing a reader could not compute from the entries it may see and moves no data
-- between projects: every ledger role may fold.
revoke execute on function execution_ledger.fold_rollups(text) from public;
revoke execute on function execution_ledger.fold_pending_rollups() from public;
grant execute on function execution_ledger.fold_rollups(text)
  to execution_ledger_writer, execution_ledger_service, execution_ledger_reader;
grant execute on function execution_ledger.fold_pending_rollups()
  to execution_ledger_writer, execution_ledger_service, execution_ledger_reader;
revoke execution_ledger_appender from current_user;
