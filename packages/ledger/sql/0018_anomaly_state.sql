-- Anomaly detection with less work per appended run (docs/alerts.md, "Cost on appends"). The
-- method and its results are those of 0013; what changes is how the state is kept:
--
-- * The day's running spend and its baseline live in the (project, agent) state row beside the
--   windows, so a run writes one row, not two. A day's row in anomaly_daily is written when the
--   next day begins for that (project, agent): anomaly_daily holds the days that are over (and
--   any day that was under way before this migration).
-- * A batch reads the states of all its (project, agent) pairs in one statement, scores its runs
--   in memory (runs of one pair in chain order, each against the window as it stood before it),
--   and writes every state back in one statement.
-- * Each window is also kept sorted, updated by insertion and removal as runs come and go, so
--   the median is read off it and the MAD is found by walking outward from the median (about
--   window_runs / 2 steps), with no sort and no query per run. The mean absolute deviation, which
--   the score uses only when the MAD is 0, is computed then alone. The arithmetic is that of
--   percentile_cont(0.5) and avg in 0013, so every score is the same to the last bit.
-- * The events a batch raises are appended after the scoring, in the order 0013 appended them
--   (by the run's seq, then cost, duration, daily spend).

alter table execution_ledger.anomaly_windows
  add column day date,
  add column day_spent_micros bigint not null default 0,
  add column day_baseline_median double precision,
  add column day_baseline_mad double precision,
  add column day_baseline_mean_ad double precision,
  add column day_baseline_days integer,
  -- The windows' values in ascending order (null until the pair's next run fills them).
  add column cost_sorted double precision[],
  add column duration_sorted double precision[];

-- p_sorted (ascending) without one occurrence of each value of p_remove, and with p_add (when
-- not null) inserted after the values at most equal to it (width_bucket: a binary search).
create function execution_ledger.sorted_window(p_sorted double precision[], p_remove double precision[],
  p_add double precision)
returns double precision[]
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_sorted double precision[] := p_sorted;
  v_value double precision;
  v_at integer;
begin
  foreach v_value in array coalesce(p_remove, '{}') loop
    v_at := array_position(v_sorted, v_value);
    v_sorted := v_sorted[1:v_at - 1] || v_sorted[v_at + 1:];
  end loop;
  if p_add is not null then
    v_at := width_bucket(p_add, v_sorted);
    v_sorted := v_sorted[1:v_at] || p_add || v_sorted[v_at + 1:];
  end if;
  return v_sorted;
end
$$;

-- The median and the MAD of an ascending array, as percentile_cont(0.5) computes them: the
-- middle value, or lo + 0.5 · (hi − lo) of the two middle ones. The deviations |v − median| grow
-- outward from the median on each side, so they form two ascending lists (leftward from the
-- middle, rightward after it) and the k-th smallest deviation is found by a binary search for
-- how many of the k smallest come from the left list: about log2(n) steps.
create function execution_ledger.sorted_median_mad(p_sorted double precision[],
  out r_median double precision, out r_mad double precision)
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_n integer := cardinality(p_sorted);
  v_i integer;
  v_k integer;
  v_low integer;
  v_high integer;
  v_a integer;
  v_kth double precision;
  v_next double precision;
begin
  if v_n = 0 then
    return;
  end if;
  -- Left list: |p_sorted[v_i - t + 1] − median|, t = 1 .. v_i; right list: |p_sorted[v_i + t] − median|.
  v_i := (v_n + 1) / 2;
  if v_n % 2 = 1 then
    r_median := p_sorted[v_i];
  else
    r_median := p_sorted[v_i] + 0.5::double precision * (p_sorted[v_i + 1] - p_sorted[v_i]);
  end if;
  v_k := (v_n + 1) / 2;
  -- The least v_a (taken from the left) whose next left deviation is not below the right's k − v_a-th.
  v_low := greatest(0, v_k - (v_n - v_i));
  v_high := least(v_k, v_i);
  while v_low < v_high loop
    v_a := (v_low + v_high) / 2;
    if abs(p_sorted[v_i - v_a] - r_median) >= abs(p_sorted[v_i + v_k - v_a] - r_median) then
      v_high := v_a;
    else
      v_low := v_a + 1;
    end if;
  end loop;
  v_a := v_low;
  -- Past either end a subscript reads null, which greatest and least pass over.
  v_kth := greatest(case when v_a > 0 then abs(p_sorted[v_i - v_a + 1] - r_median) end,
    case when v_k > v_a then abs(p_sorted[v_i + v_k - v_a] - r_median) end);
  if v_n % 2 = 1 then
    r_mad := v_kth;
  else
    v_next := least(abs(p_sorted[v_i - v_a] - r_median), abs(p_sorted[v_i + v_k - v_a + 1] - r_median));
    r_mad := v_kth + 0.5::double precision * (v_next - v_kth);
  end if;
end
$$;

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
  v_state anomaly_windows%rowtype;
  v_states anomaly_windows[] := '{}';
  v_events jsonb[] := '{}';
  v_event jsonb;
  v_metric text;
  v_x double precision;
  v_cost_stats record;
  v_duration_stats record;
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
  v_costs double precision[];
  v_durations double precision[];
  v_score double precision;
  v_ordinal integer := 0;
begin
  select * into v_settings from anomaly_settings;
  if not found or not v_settings.enabled then
    return null;
  end if;
  -- No other transaction writes these states meanwhile: a pair belongs to one project, and
  -- append_batch holds the project's lock until the append commits.
  for v_run in
    select i.seq, i.run_id, i.project_id, i.agent_id, i.user_id, i.cost_total, i.duration_ms, i.created_at,
      w as state, w.project_id is not null as known
    from inserted i
    left join anomaly_windows w on w.project_id = i.project_id and w.agent_id = i.agent_id
    order by i.project_id, i.agent_id, i.seq
  loop
    if v_state.project_id is distinct from v_run.project_id or v_state.agent_id is distinct from v_run.agent_id then
      if v_state.project_id is not null then
        v_states := v_states || v_state;
      end if;
      if v_run.known then
        v_state := v_run.state;
        if v_state.cost_sorted is null then
          -- A state kept before the sorted windows: sort it once.
          v_state.cost_sorted := coalesce((select array_agg(v order by v) from unnest(v_state.cost_vals) as t(v)), '{}');
          v_state.duration_sorted :=
            coalesce((select array_agg(v order by v) from unnest(v_state.duration_vals) as t(v)), '{}');
        end if;
      else
        v_state := row(v_run.project_id, v_run.agent_id, '{}', '{}', null, 0, null, null, null, null, '{}', '{}');
      end if;
    end if;
    v_costs := v_state.cost_vals;
    v_durations := v_state.duration_vals;
    v_cost := ln(1 + v_run.cost_total::double precision);
    v_duration := case when v_run.duration_ms is null then null else ln(1 + v_run.duration_ms::double precision) end;
    if cardinality(v_costs) >= v_settings.min_sample then
      v_cost_stats := sorted_median_mad(v_state.cost_sorted);
      v_duration_stats := null;
      foreach v_metric in array array['cost', 'duration'] loop
        v_x := case when v_metric = 'cost' then v_cost else v_duration end;
        continue when v_x is null or (v_metric = 'duration' and cardinality(v_durations) < v_settings.min_sample);
        if v_metric = 'cost' then
          v_median := v_cost_stats.r_median;
          v_mad := v_cost_stats.r_mad;
        else
          v_duration_stats := sorted_median_mad(v_state.duration_sorted);
          v_median := v_duration_stats.r_median;
          v_mad := v_duration_stats.r_mad;
        end if;
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
    v_from := greatest(1, cardinality(v_costs) + 2 - v_settings.window_runs);
    v_state.cost_vals := (v_costs || v_cost)[v_from:];
    v_state.cost_sorted := sorted_window(v_state.cost_sorted, v_costs[1:v_from - 1], v_cost);
    if v_duration is not null then
      v_from := greatest(1, cardinality(v_durations) + 2 - v_settings.window_runs);
      v_state.duration_vals := (v_durations || v_duration)[v_from:];
      v_state.duration_sorted := sorted_window(v_state.duration_sorted, v_durations[1:v_from - 1], v_duration);
    end if;

    v_day := (v_run.created_at at time zone 'UTC')::date;
    if v_state.day is distinct from v_day then
      -- Another day for this (project, agent): the day that was kept here is over.
      if v_state.day is not null then
        insert into anomaly_daily as d (project_id, agent_id, day, spent_micros, baseline_median, baseline_mad,
          baseline_mean_ad, baseline_days)
        values (v_state.project_id, v_state.agent_id, v_state.day, v_state.day_spent_micros,
          v_state.day_baseline_median, v_state.day_baseline_mad, v_state.day_baseline_mean_ad,
          v_state.day_baseline_days)
        on conflict (project_id, agent_id, day) do update set spent_micros = excluded.spent_micros,
          baseline_median = excluded.baseline_median, baseline_mad = excluded.baseline_mad,
          baseline_mean_ad = excluded.baseline_mean_ad, baseline_days = excluded.baseline_days;
      end if;
      select * into v_daily from anomaly_daily d
        where d.project_id = v_run.project_id and d.agent_id = v_run.agent_id and d.day = v_day;
      if found then
        -- A day begun before the state kept it: its spend and baseline go on from its row.
        v_state.day_spent_micros := v_daily.spent_micros;
        v_state.day_baseline_median := v_daily.baseline_median;
        v_state.day_baseline_mad := v_daily.baseline_mad;
        v_state.day_baseline_mean_ad := v_daily.baseline_mean_ad;
        v_state.day_baseline_days := v_daily.baseline_days;
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
        select t.r_median, t.r_mad, t.r_mean_ad into v_state.day_baseline_median, v_state.day_baseline_mad,
          v_state.day_baseline_mean_ad
        from robust_stats(v_baseline) as t;
        v_state.day_baseline_days := cardinality(v_baseline);
        v_state.day_spent_micros := 0;
      end if;
      v_state.day := v_day;
    end if;
    v_state.day_spent_micros := v_state.day_spent_micros + (v_run.cost_total * 1000000)::bigint;
    if v_state.day_baseline_days is not null then
      v_score := robust_score(ln(1 + v_state.day_spent_micros / 1000000.0), v_state.day_baseline_median,
        v_state.day_baseline_mad, v_state.day_baseline_mean_ad);
      if v_score > v_settings.threshold then
        v_ordinal := v_ordinal + 1;
        v_events := v_events || jsonb_build_object('seq', v_run.seq, 'ordinal', v_ordinal,
          'type', 'anomaly.daily_spend', 'project_id', v_run.project_id, 'agent_id', v_run.agent_id,
          'user_id', null, 'run_id', v_run.run_id,
          'payload', jsonb_build_object('metric', 'daily_spend', 'day', v_day,
            'value', v_state.day_spent_micros / 1000000.0,
            'baseline_median', exp(v_state.day_baseline_median) - 1,
            'score', case when v_score = 'Infinity' then null else round(v_score::numeric, 3) end,
            'baseline_days', v_state.day_baseline_days, 'threshold', v_settings.threshold),
          'key', 'anomaly.daily_spend:' || v_run.project_id || ':' || v_run.agent_id || ':' || v_day);
      end if;
    end if;
  end loop;
  if v_state.project_id is not null then
    v_states := v_states || v_state;
  end if;
  insert into anomaly_windows as w
  select * from unnest(v_states)
  on conflict (project_id, agent_id) do update set cost_vals = excluded.cost_vals,
    duration_vals = excluded.duration_vals, day = excluded.day, day_spent_micros = excluded.day_spent_micros,
    day_baseline_median = excluded.day_baseline_median, day_baseline_mad = excluded.day_baseline_mad,
    day_baseline_mean_ad = excluded.day_baseline_mean_ad, day_baseline_days = excluded.day_baseline_days,
    cost_sorted = excluded.cost_sorted, duration_sorted = excluded.duration_sorted;
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

revoke execute on function execution_ledger.sorted_window(double precision[], double precision[], double precision)
  from public;
revoke execute on function execution_ledger.sorted_median_mad(double precision[]) from public;
grant execute on function execution_ledger.sorted_window(double precision[], double precision[], double precision)
  to execution_ledger_appender;
grant execute on function execution_ledger.sorted_median_mad(double precision[]) to execution_ledger_appender;
