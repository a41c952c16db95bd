-- Anomaly detection that costs appends less (docs/alerts.md, "Cost on appends"). The method,
-- the state and every score are those of 0018; what changes is the work around them, found by
-- timing the trigger per batch of 16 runs of 16 agents (pg_stat_user_functions):
--
-- * The state rows were written by INSERT .. ON CONFLICT from an array of whole rows, and each
--   update moved the row (about 1.8 kB, four to a full page) to another page with a new index
--   entry: the table grew by a page every few updates and the write was most of the trigger's
--   time. The rows now leave room on their page (fillfactor), so an update stays on its page
--   (HOT: no index entry, dead versions pruned in place), and a known pair is written by a plain
--   UPDATE of its own columns, a new one by a plain INSERT.
-- * The state of the pair under way is kept in scalar and array variables instead of a row
--   variable copied in and out of an array of rows.
-- * Most runs cannot be anomalies, and two binary searches over the sorted window prove it
--   without the MAD (see the comment in the loop); only the others compute it as before, so
--   every flag and every payload is the one 0018 gives. The window's one value out and one in
--   are written out in the loop instead of a call per metric and run.
-- * The helpers (robust_score, sorted_median_mad, sorted_window) no longer set search_path on
--   each call: every call saved and restored the setting, which costs more than the arithmetic,
--   and it kept robust_score from being inlined. They are invoker's-rights, immutable, and name
--   only built-in operators and functions, which resolve in pg_catalog whatever the caller's
--   path (pg_catalog is searched first unless a caller puts it later, and then the caller only
--   misleads its own call); the trigger that calls them pins its own path.

alter table execution_ledger.anomaly_windows set (fillfactor = 30);

alter function execution_ledger.robust_score(double precision, double precision, double precision, double precision)
  reset all;
alter function execution_ledger.sorted_median_mad(double precision[]) reset all;
alter function execution_ledger.sorted_window(double precision[], double precision[], double precision) reset all;

-- The function belongs to the appender role (0013): replace it as a member of that role.
grant execution_ledger_appender to current_user;

create or replace function execution_ledger.anomaly_inserted() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_settings anomaly_settings%rowtype;
  v_run record;
  -- The state of the (project, agent) under way: v_project is null before the first run.
  v_project text;
  v_agent text;
  v_known boolean;
  v_costs double precision[];
  v_durations double precision[];
  v_cost_sorted double precision[];
  v_duration_sorted double precision[];
  v_state_day date;
  v_spent bigint;
  v_day_median double precision;
  v_day_mad double precision;
  v_day_mean_ad double precision;
  v_day_days integer;
  v_events jsonb[] := '{}';
  v_event jsonb;
  v_metric text;
  v_x double precision;
  v_stats record;
  v_sorted double precision[];
  v_n integer;
  v_k integer;
  v_bound double precision;
  v_at integer;
  v_mean_ad double precision;
  v_from integer;
  v_day date;
  v_first date;
  v_baseline double precision[];
  v_daily anomaly_daily%rowtype;
  v_cost double precision;
  v_duration double precision;
  v_median double precision;
  v_mad double precision;
  v_score double precision;
  v_ordinal integer := 0;
begin
  select * into v_settings from anomaly_settings;
  if not found or not v_settings.enabled then
    return null;
  end if;
  -- No other transaction writes these states meanwhile: a pair belongs to one project, and
  -- append_batch holds the project's lock until the append commits. The extra row past the
  -- last run (all nulls) writes the last pair's state.
  for v_run in
    select i.seq, i.run_id, i.project_id, i.agent_id, i.user_id, i.cost_total, i.duration_ms, i.created_at,
      w.project_id is not null as known, w.cost_vals, w.duration_vals, w.cost_sorted, w.duration_sorted, w.day,
      w.day_spent_micros, w.day_baseline_median, w.day_baseline_mad, w.day_baseline_mean_ad, w.day_baseline_days
    from inserted i
    left join anomaly_windows w on w.project_id = i.project_id and w.agent_id = i.agent_id
    union all
    select null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
      null, null
    order by 3 nulls last, 4, 1
  loop
    if v_project is distinct from v_run.project_id or v_agent is distinct from v_run.agent_id then
      if v_project is not null and v_known then
        update anomaly_windows w set cost_vals = v_costs, duration_vals = v_durations, cost_sorted = v_cost_sorted,
          duration_sorted = v_duration_sorted, day = v_state_day, day_spent_micros = v_spent,
          day_baseline_median = v_day_median, day_baseline_mad = v_day_mad, day_baseline_mean_ad = v_day_mean_ad,
          day_baseline_days = v_day_days
        where w.project_id = v_project and w.agent_id = v_agent;
      elsif v_project is not null then
        insert into anomaly_windows (project_id, agent_id, cost_vals, duration_vals, day, day_spent_micros,
          day_baseline_median, day_baseline_mad, day_baseline_mean_ad, day_baseline_days, cost_sorted,
          duration_sorted)
        values (v_project, v_agent, v_costs, v_durations, v_state_day, v_spent, v_day_median, v_day_mad,
          v_day_mean_ad, v_day_days, v_cost_sorted, v_duration_sorted);
      end if;
      exit when v_run.project_id is null;
      v_project := v_run.project_id;
      v_agent := v_run.agent_id;
      v_known := v_run.known;
      if v_known then
        v_costs := v_run.cost_vals;
        v_durations := v_run.duration_vals;
        v_cost_sorted := v_run.cost_sorted;
        v_duration_sorted := v_run.duration_sorted;
        if v_cost_sorted is null then
          -- A state kept before the sorted windows: sort it once.
          v_cost_sorted := coalesce((select array_agg(v order by v) from unnest(v_costs) as t(v)), '{}');
          v_duration_sorted := coalesce((select array_agg(v order by v) from unnest(v_durations) as t(v)), '{}');
        end if;
        v_state_day := v_run.day;
        v_spent := v_run.day_spent_micros;
        v_day_median := v_run.day_baseline_median;
        v_day_mad := v_run.day_baseline_mad;
        v_day_mean_ad := v_run.day_baseline_mean_ad;
        v_day_days := v_run.day_baseline_days;
      else
        v_costs := '{}';
        v_durations := '{}';
        v_cost_sorted := '{}';
        v_duration_sorted := '{}';
        v_state_day := null;
        v_spent := 0;
        v_day_median := null;
        v_day_mad := null;
        v_day_mean_ad := null;
        v_day_days := null;
      end if;
    end if;
    v_cost := ln(1 + v_run.cost_total::double precision);
    v_duration := case when v_run.duration_ms is null then null else ln(1 + v_run.duration_ms::double precision) end;
    if cardinality(v_costs) >= v_settings.min_sample then
      foreach v_metric in array array['cost', 'duration'] loop
        v_x := case when v_metric = 'cost' then v_cost else v_duration end;
        continue when v_x is null or (v_metric = 'duration' and cardinality(v_durations) < v_settings.min_sample);
        -- Most runs cannot be anomalies, and two binary searches (in C) show it without the MAD.
        -- A value at or below the median scores at most 0. Above it, with D twice the distance
        -- at which the score would reach the threshold, if fewer than k = ceil(n / 2) values lie
        -- in (median - D, median + D], the k-th smallest deviation (and so the MAD, which is it
        -- or half-way from it to the next) is at least D and the score at most half the
        -- threshold. D is held far above the rounding of median ± D (1e-9 of the median), so
        -- the test decides only what the full computation would; any other run takes it.
        v_sorted := case when v_metric = 'cost' then v_cost_sorted else v_duration_sorted end;
        v_n := cardinality(v_sorted);
        v_k := (v_n + 1) / 2;
        v_median := case when v_n % 2 = 1 then v_sorted[v_k]
          else v_sorted[v_k] + 0.5::double precision * (v_sorted[v_k + 1] - v_sorted[v_k]) end;
        continue when not v_x > v_median;
        v_bound := 2 * 0.6745 * (v_x - v_median) / v_settings.threshold;
        continue when v_bound > 1e-9 * (abs(v_median) + 1)
          and width_bucket(v_median + v_bound, v_sorted) - width_bucket(v_median - v_bound, v_sorted) < v_k;
        v_stats := sorted_median_mad(v_sorted);
        v_median := v_stats.r_median;
        v_mad := v_stats.r_mad;
        -- The mean absolute deviation counts only when the MAD is 0: then it is computed, over
        -- the window in its order, as 0013 did.
        v_mean_ad := null;
        if not v_mad > 0 then
          select avg(abs(t.v - v_median)) into v_mean_ad
          from unnest(case when v_metric = 'cost' then v_costs else v_durations end) as t(v);
        end if;
        v_score := robust_score(v_x, v_median, v_mad, v_mean_ad);
        if v_score > v_settings.threshold then
          v_ordinal := v_ordinal + 1;
          v_events := v_events || jsonb_build_object('seq', v_run.seq, 'ordinal', v_ordinal,
            'type', 'anomaly.' || v_metric, 'project_id', v_run.project_id, 'agent_id', v_run.agent_id,
            'user_id', v_run.user_id, 'run_id', v_run.run_id,
            'payload', jsonb_build_object('metric', v_metric,
              'value', case when v_metric = 'cost' then v_run.cost_total::double precision else v_run.duration_ms::double precision end,
              'baseline_median', exp(v_median) - 1,
              'score', case when v_score = 'Infinity' then null else round(v_score::numeric, 3) end,
              'mad_log', v_mad,
              'window_runs', case when v_metric = 'cost' then cardinality(v_costs) else cardinality(v_durations) end,
              'threshold', v_settings.threshold),
            'key', 'anomaly.' || v_metric || ':' || v_run.run_id);
        end if;
      end loop;
    end if;
    -- The windows keep the newest window_runs values, the scored one included.
    -- The values before v_from leave the window; the sorted copy loses them and gains the new one.
    -- sorted_window's steps, written out for the usual case of one value out and one in.
    v_from := greatest(1, cardinality(v_costs) + 2 - v_settings.window_runs);
    if v_from = 2 then
      v_at := array_position(v_cost_sorted, v_costs[1]);
      v_cost_sorted := v_cost_sorted[1:v_at - 1] || v_cost_sorted[v_at + 1:];
    elsif v_from > 2 then
      v_cost_sorted := sorted_window(v_cost_sorted, v_costs[1:v_from - 1], null);
    end if;
    v_at := width_bucket(v_cost, v_cost_sorted);
    v_cost_sorted := v_cost_sorted[1:v_at] || v_cost || v_cost_sorted[v_at + 1:];
    v_costs := (v_costs || v_cost)[v_from:];
    if v_duration is not null then
      v_from := greatest(1, cardinality(v_durations) + 2 - v_settings.window_runs);
      if v_from = 2 then
        v_at := array_position(v_duration_sorted, v_durations[1]);
        v_duration_sorted := v_duration_sorted[1:v_at - 1] || v_duration_sorted[v_at + 1:];
      elsif v_from > 2 then
        v_duration_sorted := sorted_window(v_duration_sorted, v_durations[1:v_from - 1], null);
      end if;
      v_at := width_bucket(v_duration, v_duration_sorted);
      v_duration_sorted := v_duration_sorted[1:v_at] || v_duration || v_duration_sorted[v_at + 1:];
      v_durations := (v_durations || v_duration)[v_from:];
    end if;

    v_day := (v_run.created_at at time zone 'UTC')::date;
    if v_state_day is distinct from v_day then
      -- Another day for this (project, agent): the day that was kept here is over.
      if v_state_day is not null then
        insert into anomaly_daily as d (project_id, agent_id, day, spent_micros, baseline_median, baseline_mad,
          baseline_mean_ad, baseline_days)
        values (v_project, v_agent, v_state_day, v_spent, v_day_median, v_day_mad, v_day_mean_ad, v_day_days)
        on conflict (project_id, agent_id, day) do update set spent_micros = excluded.spent_micros,
          baseline_median = excluded.baseline_median, baseline_mad = excluded.baseline_mad,
          baseline_mean_ad = excluded.baseline_mean_ad, baseline_days = excluded.baseline_days;
      end if;
      select * into v_daily from anomaly_daily d
        where d.project_id = v_run.project_id and d.agent_id = v_run.agent_id and d.day = v_day;
      if found then
        -- A day begun before the state kept it: its spend and baseline go on from its row.
        v_spent := v_daily.spent_micros;
        v_day_median := v_daily.baseline_median;
        v_day_mad := v_daily.baseline_mad;
        v_day_mean_ad := v_daily.baseline_mean_ad;
        v_day_days := v_daily.baseline_days;
      else
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
        select t.r_median, t.r_mad, t.r_mean_ad into v_day_median, v_day_mad, v_day_mean_ad
        from robust_stats(v_baseline) as t;
        v_day_days := cardinality(v_baseline);
        v_spent := 0;
      end if;
      v_state_day := v_day;
    end if;
    v_spent := v_spent + (v_run.cost_total * 1000000)::bigint;
    if v_day_days is not null then
      v_score := robust_score(ln(1 + v_spent / 1000000.0), v_day_median, v_day_mad, v_day_mean_ad);
      if v_score > v_settings.threshold then
        v_ordinal := v_ordinal + 1;
        v_events := v_events || jsonb_build_object('seq', v_run.seq, 'ordinal', v_ordinal,
          'type', 'anomaly.daily_spend', 'project_id', v_run.project_id, 'agent_id', v_run.agent_id,
          'user_id', null, 'run_id', v_run.run_id,
          'payload', jsonb_build_object('metric', 'daily_spend', 'day', v_day,
            'value', v_spent / 1000000.0,
            'baseline_median', exp(v_day_median) - 1,
            'score', case when v_score = 'Infinity' then null else round(v_score::numeric, 3) end,
            'baseline_days', v_day_days, 'threshold', v_settings.threshold),
          'key', 'anomaly.daily_spend:' || v_run.project_id || ':' || v_run.agent_id || ':' || v_day);
      end if;
    end if;
  end loop;
  -- The events, in the order of the runs that raised them.
  for v_event in
    select e.value from unnest(v_events) as e(value)
    order by (e.value ->> 'seq')::bigint, (e.value ->> 'ordinal')::integer
  loop
    perform append_event(v_event ->> 'type', v_event ->> 'project_id', v_event ->> 'agent_id',
      v_event ->> 'user_id', v_event ->> 'run_id', null, v_event -> 'payload', v_event ->> 'key');
  end loop;
  return null;
end
$$;

revoke execution_ledger_appender from current_user;
