-- Webhook endpoints and their delivery cursors: the outbox is the events table itself, read by
-- each endpoint from its own cursor, so appends never wait on a delivery (docs/budgets.md,
-- "Webhooks"). And anomaly detection per (project, agent), kept incrementally by a trigger on the
-- entries (docs/alerts.md).

create table execution_ledger.webhook_endpoints (
  id text primary key,
  url text not null,
  secret text not null,
  project_id text,
  cursor_seq bigint not null,
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default '-infinity',
  leased_until timestamptz not null default '-infinity',
  last_error text,
  delivered bigint not null default 0,
  created_at timestamptz not null default clock_timestamp(),
  constraint webhook_endpoints_url_check check (url ~ '^https?://')
);

-- Creates or replaces an endpoint. A new endpoint starts after p_from_seq, or after the newest
-- event when it is null; replacing one keeps its cursor.
create function execution_ledger.webhook_set(
  p_id text, p_url text, p_secret text, p_project_id text, p_from_seq bigint)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  insert into webhook_endpoints as w (id, url, secret, project_id, cursor_seq)
  values (p_id, p_url, p_secret, p_project_id,
    coalesce(p_from_seq, (select coalesce(max(e.seq), 0) from events e)))
  on conflict (id) do update set url = excluded.url, secret = excluded.secret,
    project_id = excluded.project_id, attempts = 0, next_attempt_at = '-infinity', last_error = null;
end
$$;

create function execution_ledger.webhook_delete(p_id text) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  delete from webhook_endpoints w where w.id = p_id;
  return found;
end
$$;

-- Leases the endpoints due for delivery to one deliverer for p_lease_ms, so two services never
-- deliver to one endpoint at once (that would break its order).
create function execution_ledger.webhook_claim(p_lease_ms integer)
returns table (r_id text, r_url text, r_secret text, r_project_id text, r_cursor_seq bigint, r_attempts integer)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_now timestamptz := clock_timestamp();
begin
  return query
  update webhook_endpoints w set leased_until = v_now + make_interval(secs => p_lease_ms / 1000.0)
  where w.id in (
    select d.id from webhook_endpoints d
    where d.next_attempt_at <= v_now and d.leased_until <= v_now
      and exists (select 1 from events e where e.seq > d.cursor_seq
        and (d.project_id is null or e.project_id = d.project_id))
    order by d.id
    for update skip locked)
  returning w.id, w.url, w.secret, w.project_id, w.cursor_seq, w.attempts;
end
$$;

-- An event was delivered: the cursor moves past it (never back) and the failures are forgotten.
create function execution_ledger.webhook_ack(p_id text, p_seq bigint) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  update webhook_endpoints w set cursor_seq = greatest(w.cursor_seq, p_seq), attempts = 0, last_error = null,
    delivered = w.delivered + 1
  where w.id = p_id;
end
$$;

-- A delivery failed: count it, wait until p_retry_ms from now, and give the lease back.
create function execution_ledger.webhook_fail(p_id text, p_error text, p_retry_ms integer) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  update webhook_endpoints w set attempts = w.attempts + 1, last_error = left(p_error, 1000),
    next_attempt_at = clock_timestamp() + make_interval(secs => p_retry_ms / 1000.0),
    leased_until = '-infinity'
  where w.id = p_id;
end
$$;

create function execution_ledger.webhook_release(p_id text) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  update webhook_endpoints w set leased_until = '-infinity' where w.id = p_id;
end
$$;

-- The service reads endpoints (without writing them directly); the secret is needed to sign.
revoke all on execution_ledger.webhook_endpoints from public;
grant select on execution_ledger.webhook_endpoints to execution_ledger_service;
grant select, insert, update, delete on execution_ledger.webhook_endpoints to execution_ledger_appender;
grant select on execution_ledger.events to execution_ledger_appender;

revoke execute on function execution_ledger.webhook_set(text, text, text, text, bigint) from public;
revoke execute on function execution_ledger.webhook_delete(text) from public;
revoke execute on function execution_ledger.webhook_claim(integer) from public;
revoke execute on function execution_ledger.webhook_ack(text, bigint) from public;
revoke execute on function execution_ledger.webhook_fail(text, text, integer) from public;
revoke execute on function execution_ledger.webhook_release(text) from public;
grant execute on function execution_ledger.webhook_set(text, text, text, text, bigint) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_delete(text) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_claim(integer) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_ack(text, bigint) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_fail(text, text, integer) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_release(text) to execution_ledger_writer;

grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.webhook_set(text, text, text, text, bigint) owner to execution_ledger_appender;
alter function execution_ledger.webhook_delete(text) owner to execution_ledger_appender;
alter function execution_ledger.webhook_claim(integer) owner to execution_ledger_appender;
alter function execution_ledger.webhook_ack(text, bigint) owner to execution_ledger_appender;
alter function execution_ledger.webhook_fail(text, text, integer) owner to execution_ledger_appender;
alter function execution_ledger.webhook_release(text) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;

-- Anomaly detection. One settings row; off until configured.
create table execution_ledger.anomaly_settings (
  id boolean primary key default true,
  enabled boolean not null default false,
  window_runs integer not null default 50,
  threshold double precision not null default 3.5,
  min_sample integer not null default 20,
  daily_days integer not null default 14,
  daily_min_days integer not null default 7,
  constraint anomaly_settings_single check (id)
);
insert into execution_ledger.anomaly_settings default values;

-- The last window_runs values of each metric per (project, agent), on the log scale ln(1 + x).
create table execution_ledger.anomaly_windows (
  project_id text not null,
  agent_id text not null,
  metric text not null,
  vals double precision[] not null,
  primary key (project_id, agent_id, metric)
);

-- Spend per (project, agent) and UTC day, kept only for the baseline of the daily check.
create table execution_ledger.anomaly_daily (
  project_id text not null,
  agent_id text not null,
  day date not null,
  spent_micros bigint not null,
  primary key (project_id, agent_id, day)
);

-- The robust score of p_x against p_vals: 0.6745 (x - median) / MAD; when MAD is 0,
-- (x - median) / (1.253314 · mean absolute deviation); when that is 0 too (every value equal),
-- +infinity above the median and 0 otherwise.
create function execution_ledger.robust_score(p_vals double precision[], p_x double precision,
  out r_median double precision, out r_mad double precision, out r_score double precision)
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_mean_ad double precision;
begin
  select percentile_cont(0.5) within group (order by v) into r_median from unnest(p_vals) as t(v);
  select percentile_cont(0.5) within group (order by abs(v - r_median)), avg(abs(v - r_median))
    into r_mad, v_mean_ad from unnest(p_vals) as t(v);
  if r_mad > 0 then
    r_score := 0.6745 * (p_x - r_median) / r_mad;
  elsif v_mean_ad > 0 then
    r_score := (p_x - r_median) / (1.253314 * v_mean_ad);
  elsif p_x > r_median then
    r_score := 'Infinity';
  else
    r_score := 0;
  end if;
end
$$;

-- Scores each appended run's cost and duration against the last runs of its (project, agent),
-- and the day's spend against the days before; an anomaly is an event in the append's transaction.
-- Work per run is bounded by the window, never by the history.
create function execution_ledger.anomaly_inserted() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_settings anomaly_settings%rowtype;
  v_run record;
  v_metric text;
  v_x double precision;
  v_raw double precision;
  v_vals double precision[];
  v_result record;
  v_day date;
  v_spent bigint;
  v_first date;
  v_baseline double precision[];
begin
  select * into v_settings from anomaly_settings;
  if not found or not v_settings.enabled then
    return null;
  end if;
  for v_run in
    select i.run_id, i.project_id, i.agent_id, i.user_id, i.cost_total, i.duration_ms, i.created_at
    from inserted i order by i.seq
  loop
    foreach v_metric in array array['cost', 'duration'] loop
      v_raw := case when v_metric = 'cost' then v_run.cost_total::double precision else v_run.duration_ms::double precision end;
      continue when v_raw is null;
      v_x := ln(1 + v_raw);
      select w.vals into v_vals from anomaly_windows w
        where w.project_id = v_run.project_id and w.agent_id = v_run.agent_id and w.metric = v_metric for update;
      if coalesce(cardinality(v_vals), 0) >= v_settings.min_sample then
        select * into v_result from robust_score(v_vals, v_x);
        if v_result.r_score > v_settings.threshold then
          perform append_event('anomaly.' || v_metric, v_run.project_id, v_run.agent_id, v_run.user_id, v_run.run_id, null,
            jsonb_build_object('metric', v_metric, 'value', v_raw, 'baseline_median', exp(v_result.r_median) - 1,
              'score', case when v_result.r_score = 'Infinity' then null else round(v_result.r_score::numeric, 3) end,
              'mad_log', v_result.r_mad, 'window_runs', cardinality(v_vals), 'threshold', v_settings.threshold),
            'anomaly.' || v_metric || ':' || v_run.run_id);
        end if;
      end if;
      insert into anomaly_windows as w (project_id, agent_id, metric, vals)
      values (v_run.project_id, v_run.agent_id, v_metric, array[v_x])
      on conflict (project_id, agent_id, metric) do update
        set vals = (w.vals || v_x)[greatest(1, cardinality(w.vals) + 2 - v_settings.window_runs):];
    end loop;

    v_day := (v_run.created_at at time zone 'UTC')::date;
    insert into anomaly_daily as d (project_id, agent_id, day, spent_micros)
    values (v_run.project_id, v_run.agent_id, v_day, (v_run.cost_total * 1000000)::bigint)
    on conflict (project_id, agent_id, day) do update set spent_micros = d.spent_micros + excluded.spent_micros
    returning d.spent_micros into v_spent;
    select min(d.day) into v_first from anomaly_daily d
      where d.project_id = v_run.project_id and d.agent_id = v_run.agent_id
        and d.day >= v_day - v_settings.daily_days;
    if v_first <= v_day - v_settings.daily_min_days then
      -- Days without runs spent nothing: they count as zero in the baseline.
      select array_agg(ln(1 + coalesce(d.spent_micros, 0) / 1000000.0)) into v_baseline
      from generate_series(greatest(v_first, v_day - v_settings.daily_days)::timestamp, (v_day - 1)::timestamp,
        interval '1 day') as g(day)
      left join anomaly_daily d on d.project_id = v_run.project_id and d.agent_id = v_run.agent_id and d.day = g.day::date;
      select * into v_result from robust_score(v_baseline, ln(1 + v_spent / 1000000.0));
      if v_result.r_score > v_settings.threshold then
        perform append_event('anomaly.daily_spend', v_run.project_id, v_run.agent_id, null, v_run.run_id, null,
          jsonb_build_object('metric', 'daily_spend', 'day', v_day, 'value', v_spent / 1000000.0,
            'baseline_median', exp(v_result.r_median) - 1,
            'score', case when v_result.r_score = 'Infinity' then null else round(v_result.r_score::numeric, 3) end,
            'baseline_days', cardinality(v_baseline), 'threshold', v_settings.threshold),
          'anomaly.daily_spend:' || v_run.project_id || ':' || v_run.agent_id || ':' || v_day);
      end if;
    end if;
  end loop;
  return null;
end
$$;

create trigger executions_anomalies after insert on execution_ledger.executions
  referencing new table as inserted
  for each statement execute function execution_ledger.anomaly_inserted();
alter table execution_ledger.executions enable always trigger executions_anomalies;

create function execution_ledger.anomaly_configure(p_enabled boolean, p_window_runs integer,
  p_threshold double precision, p_min_sample integer, p_daily_days integer, p_daily_min_days integer)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
  update anomaly_settings set enabled = p_enabled, window_runs = p_window_runs, threshold = p_threshold,
    min_sample = p_min_sample, daily_days = p_daily_days, daily_min_days = p_daily_min_days;
$$;

revoke all on execution_ledger.anomaly_settings, execution_ledger.anomaly_windows, execution_ledger.anomaly_daily
  from public;
grant select on execution_ledger.anomaly_settings, execution_ledger.anomaly_windows, execution_ledger.anomaly_daily
  to execution_ledger_service;
grant select, update on execution_ledger.anomaly_settings to execution_ledger_appender;
grant select, insert, update, delete on execution_ledger.anomaly_windows, execution_ledger.anomaly_daily
  to execution_ledger_appender;
revoke execute on function execution_ledger.anomaly_inserted() from public;
revoke execute on function execution_ledger.anomaly_configure(boolean, integer, double precision, integer, integer, integer)
  from public;
grant execute on function execution_ledger.anomaly_configure(boolean, integer, double precision, integer, integer, integer)
  to execution_ledger_writer;
grant execute on function execution_ledger.robust_score(double precision[], double precision)
  to execution_ledger_appender, execution_ledger_service;

grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.anomaly_inserted() owner to execution_ledger_appender;
alter function execution_ledger.anomaly_configure(boolean, integer, double precision, integer, integer, integer)
  owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
