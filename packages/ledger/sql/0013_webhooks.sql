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
  cost_vals double precision[] not null,
  duration_vals double precision[] not null,
  primary key (project_id, agent_id)
);

-- Spend per (project, agent) and UTC day, kept only for the baseline of the daily check.
create table execution_ledger.anomaly_daily (
  project_id text not null,
  agent_id text not null,
  day date not null,
  spent_micros bigint not null,
  -- The baseline of the days before, computed once, by the day's first run (null: too little history).
  baseline_median double precision,
  baseline_mad double precision,
  baseline_mean_ad double precision,
  baseline_days integer,
  primary key (project_id, agent_id, day)
);

-- The median, MAD and mean absolute deviation of p_vals.
create function execution_ledger.robust_stats(p_vals double precision[],
  out r_median double precision, out r_mad double precision, out r_mean_ad double precision)
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  select percentile_cont(0.5) within group (order by v) into r_median from unnest(p_vals) as t(v);
  select percentile_cont(0.5) within group (order by abs(v - r_median)), avg(abs(v - r_median))
    into r_mad, r_mean_ad from unnest(p_vals) as t(v);
end
$$;

-- The robust score of p_x: 0.6745 (x - median) / MAD; when MAD is 0,
-- (x - median) / (1.253314 · mean absolute deviation); when that is 0 too (every value equal),
-- +infinity above the median and 0 otherwise.
create function execution_ledger.robust_score(p_x double precision, p_median double precision,
  p_mad double precision, p_mean_ad double precision)
returns double precision
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select case when p_mad > 0 then 0.6745 * (p_x - p_median) / p_mad
    when p_mean_ad > 0 then (p_x - p_median) / (1.253314 * p_mean_ad)
    when p_x > p_median then 'Infinity'::double precision
    else 0 end
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
  v_daily anomaly_daily%rowtype;
  v_window anomaly_windows%rowtype;
  v_stats record;
  v_cost double precision;
  v_duration double precision;
  v_median double precision;
  v_mad double precision;
  v_costs double precision[];
  v_durations double precision[];
  v_score double precision;
begin
  select * into v_settings from anomaly_settings;
  if not found or not v_settings.enabled then
    return null;
  end if;
  for v_run in
    select i.run_id, i.project_id, i.agent_id, i.user_id, i.cost_total, i.duration_ms, i.created_at
    from inserted i order by i.seq
  loop
    select * into v_window from anomaly_windows w
      where w.project_id = v_run.project_id and w.agent_id = v_run.agent_id for update;
    v_costs := coalesce(v_window.cost_vals, '{}');
    v_durations := coalesce(v_window.duration_vals, '{}');
    v_cost := ln(1 + v_run.cost_total::double precision);
    v_duration := case when v_run.duration_ms is null then null else ln(1 + v_run.duration_ms::double precision) end;
    if cardinality(v_costs) >= v_settings.min_sample then
      -- Both windows' medians and deviations in one statement: the per-run cost of detection.
      select m.cm as cm,
          (select percentile_cont(0.5) within group (order by abs(v - m.cm)) from unnest(v_costs) as t(v)) as cmad,
          (select avg(abs(v - m.cm)) from unnest(v_costs) as t(v)) as cmean,
          m.dm as dm,
          (select percentile_cont(0.5) within group (order by abs(v - m.dm)) from unnest(v_durations) as t(v)) as dmad,
          (select avg(abs(v - m.dm)) from unnest(v_durations) as t(v)) as dmean
        into v_stats
        from (select (select percentile_cont(0.5) within group (order by v) from unnest(v_costs) as t(v)) as cm,
          (select percentile_cont(0.5) within group (order by v) from unnest(v_durations) as t(v)) as dm) as m;
      foreach v_metric in array array['cost', 'duration'] loop
        v_x := case when v_metric = 'cost' then v_cost else v_duration end;
        continue when v_x is null or (v_metric = 'duration' and cardinality(v_durations) < v_settings.min_sample);
        v_median := case when v_metric = 'cost' then v_stats.cm else v_stats.dm end;
        v_mad := case when v_metric = 'cost' then v_stats.cmad else v_stats.dmad end;
        v_score := robust_score(v_x, v_median, v_mad, case when v_metric = 'cost' then v_stats.cmean else v_stats.dmean end);
        if v_score > v_settings.threshold then
          perform append_event('anomaly.' || v_metric, v_run.project_id, v_run.agent_id, v_run.user_id, v_run.run_id, null,
            jsonb_build_object('metric', v_metric,
              'value', case when v_metric = 'cost' then v_run.cost_total::double precision else v_run.duration_ms::double precision end,
              'baseline_median', exp(v_median) - 1,
              'score', case when v_score = 'Infinity' then null else round(v_score::numeric, 3) end,
              'mad_log', v_mad,
              'window_runs', case when v_metric = 'cost' then cardinality(v_costs) else cardinality(v_durations) end,
              'threshold', v_settings.threshold),
            'anomaly.' || v_metric || ':' || v_run.run_id);
        end if;
      end loop;
    end if;
    -- The windows keep the newest window_runs values, the scored one included.
    v_costs := (v_costs || v_cost)[greatest(1, cardinality(v_costs) + 2 - v_settings.window_runs):];
    if v_duration is not null then
      v_durations := (v_durations || v_duration)[greatest(1, cardinality(v_durations) + 2 - v_settings.window_runs):];
    end if;
    if v_window.project_id is null then
      insert into anomaly_windows (project_id, agent_id, cost_vals, duration_vals)
      values (v_run.project_id, v_run.agent_id, v_costs, v_durations);
    else
      update anomaly_windows w set cost_vals = v_costs, duration_vals = v_durations
        where w.project_id = v_run.project_id and w.agent_id = v_run.agent_id;
    end if;

    v_day := (v_run.created_at at time zone 'UTC')::date;
    update anomaly_daily d set spent_micros = d.spent_micros + (v_run.cost_total * 1000000)::bigint
      where d.project_id = v_run.project_id and d.agent_id = v_run.agent_id and d.day = v_day
      returning * into v_daily;
    if not found then
      -- The day's first run: its baseline, from the days before, once.
      select min(d.day) into v_first from anomaly_daily d
        where d.project_id = v_run.project_id and d.agent_id = v_run.agent_id
          and d.day >= v_day - v_settings.daily_days and d.day < v_day;
      v_baseline := null;
      if v_first <= v_day - v_settings.daily_min_days then
        -- Days without runs spent nothing: they count as zero in the baseline.
        select array_agg(ln(1 + coalesce(d.spent_micros, 0) / 1000000.0)) into v_baseline
        from generate_series(greatest(v_first, v_day - v_settings.daily_days)::timestamp, (v_day - 1)::timestamp,
            interval '1 day') as g(day)
        left join anomaly_daily d on d.project_id = v_run.project_id and d.agent_id = v_run.agent_id
          and d.day = g.day::date;
      end if;
      insert into anomaly_daily (project_id, agent_id, day, spent_micros, baseline_median, baseline_mad,
        baseline_mean_ad, baseline_days)
      select v_run.project_id, v_run.agent_id, v_day, (v_run.cost_total * 1000000)::bigint, t.r_median, t.r_mad,
        t.r_mean_ad, cardinality(v_baseline)
      from (select * from robust_stats(v_baseline)) as t
      returning * into v_daily;
    end if;
    v_spent := v_daily.spent_micros;
    if v_daily.baseline_days is not null then
      v_score := robust_score(ln(1 + v_spent / 1000000.0), v_daily.baseline_median, v_daily.baseline_mad,
        v_daily.baseline_mean_ad);
      if v_score > v_settings.threshold then
        perform append_event('anomaly.daily_spend', v_run.project_id, v_run.agent_id, null, v_run.run_id, null,
          jsonb_build_object('metric', 'daily_spend', 'day', v_day, 'value', v_spent / 1000000.0,
            'baseline_median', exp(v_daily.baseline_median) - 1,
            'score', case when v_score = 'Infinity' then null else round(v_score::numeric, 3) end,
            'baseline_days', v_daily.baseline_days, 'threshold', v_settings.threshold),
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
grant execute on function execution_ledger.robust_stats(double precision[])
  to execution_ledger_appender, execution_ledger_service;
grant execute on function execution_ledger.robust_score(double precision, double precision, double precision, double precision)
  to execution_ledger_appender, execution_ledger_service;

grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.anomaly_inserted() owner to execution_ledger_appender;
alter function execution_ledger.anomaly_configure(boolean, integer, double precision, integer, integer, integer)
  owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
