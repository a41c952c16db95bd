-- Daily step rollups: cost by tool and by model without reading traces. One row per (project, UTC
-- day, agent, user, status, step kind, step name, model) holds the number of typed steps, their
-- exact cost sum and their token sums. A step is typed when it has a `kind` or a `cost` key, the
-- rule the library validates (docs/api.md, "Typed steps"); free-form steps are not counted. A
-- missing kind, name or model is kept as '' so the key has no nulls. Like execution_rollups it is
-- a cache kept exact by the append transaction, with its own statement trigger and rebuild.
create table execution_ledger.step_rollups (
  project_id text not null,
  day timestamptz not null,
  agent_id text not null,
  user_id text not null,
  status text not null,
  kind text not null,
  name text not null,
  model text not null,
  step_count bigint not null,
  cost_sum numeric not null,
  input_tokens_sum numeric not null,
  output_tokens_sum numeric not null,
  cached_input_tokens_sum numeric not null,
  constraint step_rollups_pkey primary key (project_id, day, agent_id, user_id, status, kind, name, model),
  constraint step_rollups_day_check check (day = date_trunc('day', day, 'UTC')),
  constraint step_rollups_count_check check (step_count >= 1)
);

-- The same steps by project only: (project, UTC day, kind, name, model). Runs spread over many
-- users hold about one step per row of step_rollups; this level sums them all, so the unfiltered
-- questions (what did the deploy tool cost this month) read a few rows per day. It is read only
-- by roles that see every entry (the service role), never under a scoped reader's policy.
create table execution_ledger.step_rollups_by_project (
  project_id text not null,
  day timestamptz not null,
  kind text not null,
  name text not null,
  model text not null,
  step_count bigint not null,
  cost_sum numeric not null,
  input_tokens_sum numeric not null,
  output_tokens_sum numeric not null,
  cached_input_tokens_sum numeric not null,
  constraint step_rollups_by_project_pkey primary key (project_id, day, kind, name, model),
  constraint step_rollups_by_project_day_check check (day = date_trunc('day', day, 'UTC')),
  constraint step_rollups_by_project_count_check check (step_count >= 1)
);

-- The typed steps of the entries, one row each: the terms the rollup adds up, in one place for
-- the rebuild, the verification and the library's exact edges. A value of the wrong JSON type
-- (possible only for rows written outside the library) counts as absent instead of failing.
create view execution_ledger.step_rollup_terms with (security_invoker = true) as
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
    then (s.step -> 'tokens' ->> 'cached_input')::numeric end, 0) as cached_input_tokens
from execution_ledger.executions e
cross join lateral jsonb_array_elements(
  case when jsonb_typeof(e.execution_trace_json -> 'steps') = 'array'
    then e.execution_trace_json -> 'steps' else '[]'::jsonb end) as s(step)
where jsonb_typeof(s.step) = 'object' and (s.step ? 'kind' or s.step ? 'cost');

-- One upsert per appended batch, in the append transaction, beside (not inside) the run-level
-- rollup trigger. The terms repeat those of step_rollup_terms because a trigger reads its own
-- transition table; verifyRollups() and the test suite prove the two agree. A batch without
-- typed steps upserts nothing.
create function execution_ledger.rollup_inserted_steps() returns trigger
language plpgsql
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  with t as (
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
  return null;
end
$$;

create trigger executions_step_rollup after insert on execution_ledger.executions
  referencing new table as inserted
  for each statement execute function execution_ledger.rollup_inserted_steps();
-- ENABLE ALWAYS: session_replication_role = replica must not let entries in without their rollup.
alter table execution_ledger.executions enable always trigger executions_step_rollup;

-- Recreates one project's step rollups (both levels) from its entries, under the project's append
-- lock (the same two-integer key as append_batch and rebuild_rollups). Returns the number of
-- groups of both levels.
create function execution_ledger.rebuild_step_rollups(p_project_id text) returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_groups bigint;
  v_project_groups bigint;
begin
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  delete from step_rollups where project_id = p_project_id;
  delete from step_rollups_by_project where project_id = p_project_id;
  insert into step_rollups_by_project (
    project_id, day, kind, name, model, step_count, cost_sum, input_tokens_sum, output_tokens_sum,
    cached_input_tokens_sum)
  select t.project_id, t.day, t.kind, t.name, t.model, count(*), sum(t.cost), sum(t.input_tokens),
    sum(t.output_tokens), sum(t.cached_input_tokens)
  from step_rollup_terms t
  where t.project_id = p_project_id
  group by 1, 2, 3, 4, 5;
  get diagnostics v_project_groups = row_count;
  insert into step_rollups (
    project_id, day, agent_id, user_id, status, kind, name, model, step_count, cost_sum,
    input_tokens_sum, output_tokens_sum, cached_input_tokens_sum)
  select t.project_id, t.day, t.agent_id, t.user_id, t.status, t.kind, t.name, t.model, count(*),
    sum(t.cost), sum(t.input_tokens), sum(t.output_tokens), sum(t.cached_input_tokens)
  from step_rollup_terms t
  where t.project_id = p_project_id
  group by 1, 2, 3, 4, 5, 6, 7, 8;
  get diagnostics v_groups = row_count;
  return v_groups + v_project_groups;
end
$$;

-- Entries recorded before this migration get their step rollups now, before RLS and the revokes
-- below take the owner's own write access away.
insert into execution_ledger.step_rollups (
  project_id, day, agent_id, user_id, status, kind, name, model, step_count, cost_sum,
  input_tokens_sum, output_tokens_sum, cached_input_tokens_sum)
select t.project_id, t.day, t.agent_id, t.user_id, t.status, t.kind, t.name, t.model, count(*),
  sum(t.cost), sum(t.input_tokens), sum(t.output_tokens), sum(t.cached_input_tokens)
from execution_ledger.step_rollup_terms t
group by 1, 2, 3, 4, 5, 6, 7, 8;

insert into execution_ledger.step_rollups_by_project (
  project_id, day, kind, name, model, step_count, cost_sum, input_tokens_sum, output_tokens_sum,
  cached_input_tokens_sum)
select t.project_id, t.day, t.kind, t.name, t.model, count(*), sum(t.cost), sum(t.input_tokens),
  sum(t.output_tokens), sum(t.cached_input_tokens)
from execution_ledger.step_rollup_terms t
group by 1, 2, 3, 4, 5;

-- Row level security mirrors the entries' policies exactly, as for execution_rollups.
alter table execution_ledger.step_rollups enable row level security;
alter table execution_ledger.step_rollups force row level security;
create policy step_rollups_service_read on execution_ledger.step_rollups for select
  to execution_ledger_service using (true);
create policy step_rollups_member_read on execution_ledger.step_rollups for select
  to execution_ledger_reader using (
    user_id = execution_ledger.current_user_id()
    or exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = step_rollups.project_id and m.user_id = execution_ledger.current_user_id()));
create policy step_rollups_appender on execution_ledger.step_rollups for all
  to execution_ledger_appender using (true) with check (true);

-- The project level has no user: a scoped reader sees the rows of projects they are a member of
-- (the library never reads it for them; the policy only keeps direct SQL from seeing more).
alter table execution_ledger.step_rollups_by_project enable row level security;
alter table execution_ledger.step_rollups_by_project force row level security;
create policy step_rollups_by_project_service_read on execution_ledger.step_rollups_by_project
  for select to execution_ledger_service using (true);
create policy step_rollups_by_project_member_read on execution_ledger.step_rollups_by_project
  for select to execution_ledger_reader using (
    exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = step_rollups_by_project.project_id
        and m.user_id = execution_ledger.current_user_id()));
create policy step_rollups_by_project_appender on execution_ledger.step_rollups_by_project for all
  to execution_ledger_appender using (true) with check (true);
revoke all on execution_ledger.step_rollups_by_project from public;
grant select on execution_ledger.step_rollups_by_project to execution_ledger_reader, execution_ledger_service;
grant select, insert, update, delete on execution_ledger.step_rollups_by_project to execution_ledger_appender;
revoke insert, update, delete, truncate on execution_ledger.step_rollups_by_project from current_user;

revoke all on execution_ledger.step_rollups, execution_ledger.step_rollup_terms from public;
grant select on execution_ledger.step_rollups to execution_ledger_reader, execution_ledger_service;
grant select on execution_ledger.step_rollup_terms to execution_ledger_reader,
  execution_ledger_service, execution_ledger_appender;
-- The appender writes step rollups (from the trigger, which runs as the inserting role, and in rebuilds).
grant select, insert, update, delete on execution_ledger.step_rollups to execution_ledger_appender;
-- The owner keeps ownership (for migrations) but only the append path and the rebuild write here.
revoke insert, update, delete, truncate on execution_ledger.step_rollups from current_user;

-- The appender owns the rebuild, exactly as it owns rebuild_rollups; the writer role may call it.
grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.rebuild_step_rollups(text) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
revoke execute on function execution_ledger.rebuild_step_rollups(text) from public;
grant execute on function execution_ledger.rebuild_step_rollups(text) to execution_ledger_writer;
