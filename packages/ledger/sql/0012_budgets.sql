-- Budgets shared by every process, enforced by reservations taken in the database, and the
-- append-only events table that records what the ledger notices (docs/budgets.md).
--
-- Spend is never a counter of its own: budget_spend is maintained by a trigger on the entries,
-- in the transaction that appends them, and budget_rebuild() re-derives it from the entries.

create table execution_ledger.budgets (
  id text primary key,
  project_id text,
  agent_id text,
  user_id text,
  period text not null,
  time_zone text not null,
  limit_micros bigint not null,
  thresholds smallint[] not null,
  action text not null,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  constraint budgets_scope_check check (coalesce(project_id, agent_id, user_id) is not null),
  constraint budgets_period_check check (period in ('day', 'week', 'month', 'total')),
  constraint budgets_limit_check check (limit_micros > 0),
  constraint budgets_action_check check (action in ('warn', 'block'))
);

-- What the entries in a budget's scope cost, per period. Only the trigger below and the
-- rebuild write it.
create table execution_ledger.budget_spend (
  budget_id text not null references execution_ledger.budgets (id) on delete cascade,
  period_start timestamptz not null,
  spent_micros bigint not null,
  runs bigint not null,
  primary key (budget_id, period_start)
);

-- Every reservation ever taken. A reservation whose expires_at has passed while still 'held'
-- is expired: its holds no longer count, whoever removes them.
create table execution_ledger.budget_reservations (
  id uuid primary key default gen_random_uuid(),
  project_id text not null,
  agent_id text not null,
  user_id text not null,
  estimated_micros bigint not null,
  budget_ids text[] not null,
  state text not null default 'held',
  created_at timestamptz not null default clock_timestamp(),
  expires_at timestamptz not null,
  settled_at timestamptz,
  run_id text unique,
  actual_micros bigint,
  constraint budget_reservations_state_check check (state in ('held', 'settled', 'released'))
);

-- The part of a live reservation each budget counts; removed when it is settled, released or
-- found expired.
create table execution_ledger.budget_holds (
  budget_id text not null references execution_ledger.budgets (id) on delete cascade,
  reservation_id uuid not null references execution_ledger.budget_reservations (id),
  micros bigint not null,
  expires_at timestamptz not null,
  primary key (budget_id, reservation_id)
);
create index budget_holds_reservation on execution_ledger.budget_holds (reservation_id);

create table execution_ledger.events (
  seq bigint generated always as identity primary key,
  id uuid not null unique default gen_random_uuid(),
  type text not null,
  project_id text,
  agent_id text,
  user_id text,
  run_id text,
  budget_id text,
  payload jsonb not null,
  idempotency_key text unique,
  created_at timestamptz not null default clock_timestamp()
);
create index events_project_seq on execution_ledger.events (project_id, seq);

create function execution_ledger.reject_event_change() returns trigger
language plpgsql
as $$
begin
  raise exception 'execution_ledger.events is append-only: % is not allowed', tg_op
    using errcode = 'EL001',
      hint = 'Events are never changed; dismissing or resolving one is a new event.';
end
$$;
create trigger events_append_only_row before update or delete on execution_ledger.events
  for each row execute function execution_ledger.reject_event_change();
create trigger events_append_only_truncate before truncate on execution_ledger.events
  for each statement execute function execution_ledger.reject_event_change();
alter table execution_ledger.events enable always trigger events_append_only_row;
alter table execution_ledger.events enable always trigger events_append_only_truncate;

-- The start of the period holding p_at: a calendar day, ISO week (Monday) or month in the
-- budget's time zone, or -infinity for a budget over all time.
create function execution_ledger.budget_period_start(p_period text, p_zone text, p_at timestamptz)
returns timestamptz
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select case when p_period = 'total' then '-infinity'::timestamptz
    else date_trunc(p_period, p_at, p_zone) end
$$;

-- Appends one event. Events are numbered in commit order: writers take one lock for the rest
-- of their transaction, so a reader that has seen seq n never later finds a smaller one. A
-- repeated idempotency key appends nothing and returns null.
create function execution_ledger.append_event(
  p_type text, p_project_id text, p_agent_id text, p_user_id text, p_run_id text, p_budget_id text,
  p_payload jsonb, p_idempotency_key text)
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_seq bigint;
begin
  if p_idempotency_key is not null
     and exists (select 1 from events e where e.idempotency_key = p_idempotency_key) then
    return null;
  end if;
  perform pg_advisory_xact_lock(1162626372, hashtext('execution_ledger.events'));
  insert into events (type, project_id, agent_id, user_id, run_id, budget_id, payload, idempotency_key)
  values (p_type, p_project_id, p_agent_id, p_user_id, p_run_id, p_budget_id, p_payload, p_idempotency_key)
  on conflict (idempotency_key) do nothing
  returning seq into v_seq;
  return v_seq;
end
$$;

-- Fires the threshold events a move of spend from p_old to p_new crosses, once per threshold
-- per period (the idempotency key names the budget, the period and the threshold).
create function execution_ledger.budget_threshold_events(
  p_budget_id text, p_period_start timestamptz, p_old bigint, p_new bigint, p_run_id text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_budget budgets%rowtype;
  v_threshold smallint;
  v_period text;
begin
  select * into v_budget from budgets b where b.id = p_budget_id;
  v_period := case when p_period_start = '-infinity' then 'total'
    else to_char(p_period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') end;
  foreach v_threshold in array v_budget.thresholds loop
    if p_old * 100 < v_threshold::bigint * v_budget.limit_micros
       and p_new * 100 >= v_threshold::bigint * v_budget.limit_micros then
      perform append_event('budget.threshold', v_budget.project_id, v_budget.agent_id, v_budget.user_id,
        p_run_id, v_budget.id,
        jsonb_build_object('threshold_percent', v_threshold, 'period_start', v_period,
          'spent_micros', p_new, 'limit_micros', v_budget.limit_micros, 'action', v_budget.action),
        'budget.threshold:' || v_budget.id || ':' || v_period || ':' || v_threshold);
    end if;
  end loop;
end
$$;

-- Adds appended entries to the spend of every budget whose scope holds them, in the append's
-- transaction. The shared lock lets appends run together and makes a budget's creation or
-- rebuild (exclusive) wait for appends in flight, so no entry is counted twice or missed.
create function execution_ledger.budget_count_inserted() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_row record;
begin
  -- The lock first: a budget created meanwhile is seen once its creator commits.
  perform pg_advisory_xact_lock_shared(1162626372, hashtext('execution_ledger.budgets'));
  if not exists (select 1 from budgets) then
    return null;
  end if;
  for v_row in
    with added as (
      select b.id as budget_id, budget_period_start(b.period, b.time_zone, i.created_at) as period_start,
        sum((i.cost_total * 1000000)::bigint)::bigint as micros, count(*) as runs, max(i.run_id) as run_id
      from inserted i
      join budgets b on (b.project_id is null or b.project_id = i.project_id)
        and (b.agent_id is null or b.agent_id = i.agent_id)
        and (b.user_id is null or b.user_id = i.user_id)
      group by 1, 2
    )
    insert into budget_spend as s (budget_id, period_start, spent_micros, runs)
    select a.budget_id, a.period_start, a.micros, a.runs from added a
    order by a.budget_id, a.period_start
    on conflict (budget_id, period_start) do update
      set spent_micros = s.spent_micros + excluded.spent_micros, runs = s.runs + excluded.runs
    returning s.budget_id, s.period_start, s.spent_micros,
      (select a.micros from added a where a.budget_id = s.budget_id and a.period_start = s.period_start) as micros,
      (select a.run_id from added a where a.budget_id = s.budget_id and a.period_start = s.period_start) as run_id
  loop
    perform budget_threshold_events(v_row.budget_id, v_row.period_start, v_row.spent_micros - v_row.micros,
      v_row.spent_micros, v_row.run_id);
  end loop;
  return null;
end
$$;

create trigger executions_budget_spend after insert on execution_ledger.executions
  referencing new table as inserted
  for each statement execute function execution_ledger.budget_count_inserted();
alter table execution_ledger.executions enable always trigger executions_budget_spend;

-- Re-derives the spend of one budget (or of every budget when null) from the entries, with
-- appends held off. Returns the number of (budget, period) rows written.
create function execution_ledger.budget_rebuild(p_budget_id text) returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_rows bigint;
begin
  perform pg_advisory_xact_lock(1162626372, hashtext('execution_ledger.budgets'));
  delete from budget_spend s where p_budget_id is null or s.budget_id = p_budget_id;
  insert into budget_spend (budget_id, period_start, spent_micros, runs)
  select b.id, budget_period_start(b.period, b.time_zone, e.created_at),
    sum((e.cost_total * 1000000)::bigint), count(*)
  from budgets b
  join executions e on (b.project_id is null or b.project_id = e.project_id)
    and (b.agent_id is null or b.agent_id = e.agent_id)
    and (b.user_id is null or b.user_id = e.user_id)
  where p_budget_id is null or b.id = p_budget_id
  group by 1, 2;
  get diagnostics v_rows = row_count;
  return v_rows;
end
$$;

-- Creates or replaces a budget and derives its spend from the entries already recorded.
create function execution_ledger.budget_set(
  p_id text, p_project_id text, p_agent_id text, p_user_id text, p_period text, p_time_zone text,
  p_limit_micros bigint, p_thresholds smallint[], p_action text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  perform pg_advisory_xact_lock(1162626372, hashtext('execution_ledger.budgets'));
  insert into budgets as b (id, project_id, agent_id, user_id, period, time_zone, limit_micros, thresholds, action)
  values (p_id, p_project_id, p_agent_id, p_user_id, p_period, p_time_zone, p_limit_micros, p_thresholds, p_action)
  on conflict (id) do update set project_id = excluded.project_id, agent_id = excluded.agent_id,
    user_id = excluded.user_id, period = excluded.period, time_zone = excluded.time_zone,
    limit_micros = excluded.limit_micros, thresholds = excluded.thresholds, action = excluded.action,
    updated_at = clock_timestamp();
  perform budget_rebuild(p_id);
end
$$;

-- Removes a budget with its spend and holds; reservations keep their history. True if it existed.
create function execution_ledger.budget_delete(p_id text) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  perform pg_advisory_xact_lock(1162626372, hashtext('execution_ledger.budgets'));
  delete from budgets b where b.id = p_id;
  return found;
end
$$;

-- Reserves p_micros against every budget whose scope holds (project, agent, user), atomically:
-- the budgets are locked in id order, expired holds are dropped, and a 'block' budget whose
-- spend this period plus live holds plus the request would pass its limit refuses the whole
-- reservation (outcome 'blocked', with that budget's numbers, and a budget.blocked event once
-- per period). Otherwise one row per budget with outcome 'reserved' (one row with a null
-- budget when no budget applies).
create function execution_ledger.budget_reserve(
  p_project_id text, p_agent_id text, p_user_id text, p_micros bigint, p_ttl_ms integer)
returns table (
  r_outcome text,
  r_reservation_id text,
  r_expires_at text,
  r_budget_id text,
  r_action text,
  r_limit_micros bigint,
  r_spent_micros bigint,
  r_held_micros bigint
)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_now timestamptz := clock_timestamp();
  v_budget budgets%rowtype;
  v_ids text[] := '{}';
  v_spent bigint[] := '{}';
  v_held bigint[] := '{}';
  v_actions text[] := '{}';
  v_limits bigint[] := '{}';
  v_period_start timestamptz;
  v_s bigint;
  v_h bigint;
  v_id uuid;
  v_expires timestamptz;
  v_period text;
  i integer;
begin
  for v_budget in
    select * from budgets b
    where (b.project_id is null or b.project_id = p_project_id)
      and (b.agent_id is null or b.agent_id = p_agent_id)
      and (b.user_id is null or b.user_id = p_user_id)
    order by b.id
    for no key update
  loop
    delete from budget_holds h where h.budget_id = v_budget.id and h.expires_at <= v_now;
    v_period_start := budget_period_start(v_budget.period, v_budget.time_zone, v_now);
    select coalesce(sum(s.spent_micros), 0) into v_s from budget_spend s
      where s.budget_id = v_budget.id and s.period_start = v_period_start;
    select coalesce(sum(h.micros), 0) into v_h from budget_holds h where h.budget_id = v_budget.id;
    if v_budget.action = 'block' and v_s + v_h + p_micros > v_budget.limit_micros then
      v_period := case when v_period_start = '-infinity' then 'total'
        else to_char(v_period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') end;
      perform append_event('budget.blocked', v_budget.project_id, v_budget.agent_id, v_budget.user_id,
        null, v_budget.id,
        jsonb_build_object('period_start', v_period, 'spent_micros', v_s, 'held_micros', v_h,
          'requested_micros', p_micros, 'limit_micros', v_budget.limit_micros,
          'project_id', p_project_id, 'agent_id', p_agent_id, 'user_id', p_user_id),
        'budget.blocked:' || v_budget.id || ':' || v_period);
      return query select 'blocked'::text, null::text, null::text, v_budget.id, v_budget.action,
        v_budget.limit_micros, v_s, v_h;
      return;
    end if;
    v_ids := v_ids || v_budget.id;
    v_spent := v_spent || v_s;
    v_held := v_held || v_h;
    v_actions := v_actions || v_budget.action;
    v_limits := v_limits || v_budget.limit_micros;
  end loop;

  v_expires := v_now + make_interval(secs => p_ttl_ms / 1000.0);
  insert into budget_reservations (project_id, agent_id, user_id, estimated_micros, budget_ids, created_at, expires_at)
  values (p_project_id, p_agent_id, p_user_id, p_micros, v_ids, v_now, v_expires)
  returning id into v_id;
  insert into budget_holds (budget_id, reservation_id, micros, expires_at)
  select u.budget_id, v_id, p_micros, v_expires from unnest(v_ids) as u(budget_id);

  r_outcome := 'reserved';
  r_reservation_id := v_id::text;
  r_expires_at := to_char(v_expires at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  if cardinality(v_ids) = 0 then
    r_budget_id := null; r_action := null; r_limit_micros := null; r_spent_micros := null; r_held_micros := null;
    return next;
    return;
  end if;
  for i in 1 .. cardinality(v_ids) loop
    r_budget_id := v_ids[i];
    r_action := v_actions[i];
    r_limit_micros := v_limits[i];
    r_spent_micros := v_spent[i];
    r_held_micros := v_held[i] + p_micros;
    return next;
  end loop;
end
$$;

-- Settles a reservation with a recorded run: the run's exact cost_total becomes the
-- reservation's actual amount (the run's spend was counted when it was appended) and the holds
-- go. Outcomes: 'settled', 'replayed' (already settled by this run), 'not_found', 'closed'
-- (settled by another run, or released), 'run_not_found', 'scope_mismatch', 'run_taken' (the
-- run settles another reservation).
create function execution_ledger.budget_settle(p_reservation_id uuid, p_run_id text)
returns table (r_outcome text, r_actual_micros bigint, r_estimated_micros bigint, r_expired boolean)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_reservation budget_reservations%rowtype;
  v_run record;
  v_now timestamptz := clock_timestamp();
begin
  select * into v_reservation from budget_reservations r where r.id = p_reservation_id for update;
  if not found then
    return query select 'not_found'::text, null::bigint, null::bigint, null::boolean;
    return;
  end if;
  if v_reservation.state = 'settled' and v_reservation.run_id = p_run_id then
    return query select 'replayed'::text, v_reservation.actual_micros, v_reservation.estimated_micros,
      v_reservation.settled_at > v_reservation.expires_at;
    return;
  end if;
  if v_reservation.state <> 'held' then
    return query select 'closed'::text, v_reservation.actual_micros, v_reservation.estimated_micros, null::boolean;
    return;
  end if;
  select e.project_id, e.agent_id, e.user_id, (e.cost_total * 1000000)::bigint as micros into v_run
  from executions e where e.run_id = p_run_id;
  if not found then
    return query select 'run_not_found'::text, null::bigint, v_reservation.estimated_micros, null::boolean;
    return;
  end if;
  if (v_run.project_id, v_run.agent_id, v_run.user_id)
     is distinct from (v_reservation.project_id, v_reservation.agent_id, v_reservation.user_id) then
    return query select 'scope_mismatch'::text, v_run.micros, v_reservation.estimated_micros, null::boolean;
    return;
  end if;
  if exists (select 1 from budget_reservations r where r.run_id = p_run_id) then
    return query select 'run_taken'::text, v_run.micros, v_reservation.estimated_micros, null::boolean;
    return;
  end if;
  update budget_reservations r set state = 'settled', settled_at = v_now, run_id = p_run_id,
    actual_micros = v_run.micros
  where r.id = p_reservation_id;
  delete from budget_holds h where h.reservation_id = p_reservation_id;
  return query select 'settled'::text, v_run.micros, v_reservation.estimated_micros, v_now > v_reservation.expires_at;
end
$$;

-- Gives a reservation's holds back without a run (the work was not done). Outcomes:
-- 'released', 'not_found', 'closed' (already settled or released).
create function execution_ledger.budget_release(p_reservation_id uuid) returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_state text;
begin
  select r.state into v_state from budget_reservations r where r.id = p_reservation_id for update;
  if not found then
    return 'not_found';
  end if;
  if v_state <> 'held' then
    return 'closed';
  end if;
  update budget_reservations r set state = 'released', settled_at = clock_timestamp(), actual_micros = 0
  where r.id = p_reservation_id;
  delete from budget_holds h where h.reservation_id = p_reservation_id;
  return 'released';
end
$$;

-- Appends a dismissal (or resolution) of an event; once per event and kind. Returns the new
-- event's seq, null when it was already dismissed, or -1 when no such event exists.
create function execution_ledger.event_dismiss(p_event_id uuid, p_kind text, p_note text) returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_event events%rowtype;
begin
  select * into v_event from events e where e.id = p_event_id;
  if not found then
    return -1;
  end if;
  return append_event('event.' || p_kind, v_event.project_id, v_event.agent_id, v_event.user_id,
    v_event.run_id, v_event.budget_id,
    jsonb_build_object('event_id', v_event.id, 'event_seq', v_event.seq, 'event_type', v_event.type,
      'note', p_note),
    'event.' || p_kind || ':' || v_event.id);
end
$$;

-- Privileges: the tables are read by the service; every write goes through the functions above,
-- owned by the appender role (as append_batch is) and callable by the writer role.
revoke all on execution_ledger.budgets, execution_ledger.budget_spend, execution_ledger.budget_reservations,
  execution_ledger.budget_holds, execution_ledger.events from public;
grant select on execution_ledger.budgets, execution_ledger.budget_spend, execution_ledger.budget_reservations,
  execution_ledger.budget_holds, execution_ledger.events to execution_ledger_service;
grant select, insert, update, delete on execution_ledger.budgets, execution_ledger.budget_spend,
  execution_ledger.budget_reservations, execution_ledger.budget_holds to execution_ledger_appender;
grant select, insert on execution_ledger.events to execution_ledger_appender;

revoke execute on function execution_ledger.append_event(text, text, text, text, text, text, jsonb, text) from public;
revoke execute on function execution_ledger.budget_threshold_events(text, timestamptz, bigint, bigint, text) from public;
revoke execute on function execution_ledger.budget_count_inserted() from public;
revoke execute on function execution_ledger.budget_rebuild(text) from public;
revoke execute on function execution_ledger.budget_set(text, text, text, text, text, text, bigint, smallint[], text)
  from public;
revoke execute on function execution_ledger.budget_delete(text) from public;
revoke execute on function execution_ledger.budget_reserve(text, text, text, bigint, integer) from public;
revoke execute on function execution_ledger.budget_settle(uuid, text) from public;
revoke execute on function execution_ledger.budget_release(uuid) from public;
revoke execute on function execution_ledger.event_dismiss(uuid, text, text) from public;

grant execute on function execution_ledger.append_event(text, text, text, text, text, text, jsonb, text)
  to execution_ledger_appender;
grant execute on function execution_ledger.budget_threshold_events(text, timestamptz, bigint, bigint, text)
  to execution_ledger_appender;
grant execute on function execution_ledger.budget_period_start(text, text, timestamptz)
  to execution_ledger_appender, execution_ledger_service;
grant execute on function execution_ledger.budget_rebuild(text) to execution_ledger_writer, execution_ledger_appender;
grant execute on function execution_ledger.budget_set(text, text, text, text, text, text, bigint, smallint[], text)
  to execution_ledger_writer;
grant execute on function execution_ledger.budget_delete(text) to execution_ledger_writer;
grant execute on function execution_ledger.budget_reserve(text, text, text, bigint, integer) to execution_ledger_writer;
grant execute on function execution_ledger.budget_settle(uuid, text) to execution_ledger_writer;
grant execute on function execution_ledger.budget_release(uuid) to execution_ledger_writer;
grant execute on function execution_ledger.event_dismiss(uuid, text, text) to execution_ledger_writer;

grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.budget_count_inserted() owner to execution_ledger_appender;
alter function execution_ledger.budget_rebuild(text) owner to execution_ledger_appender;
alter function execution_ledger.budget_set(text, text, text, text, text, text, bigint, smallint[], text)
  owner to execution_ledger_appender;
alter function execution_ledger.budget_delete(text) owner to execution_ledger_appender;
alter function execution_ledger.budget_reserve(text, text, text, bigint, integer) owner to execution_ledger_appender;
alter function execution_ledger.budget_settle(uuid, text) owner to execution_ledger_appender;
alter function execution_ledger.budget_release(uuid) owner to execution_ledger_appender;
alter function execution_ledger.event_dismiss(uuid, text, text) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
