-- OTLP staging in groups: the exports that arrive while a staging statement is in flight are
-- staged together by the next one (one statement, one commit for all of them), and the
-- assembler reads and finishes many traces per statement. Each export still gets its own counts
-- and is answered only once its spans are committed.

create type execution_ledger_keys.otlp_stage_request_result as (
  request integer, accepted integer, duplicates integer, late integer
);

-- Stages the spans of several exports at once. requests is a JSON array with one element per
-- export, each an array of { trace_id, span_id, parent_span_id, project_id, key_id, span } as
-- otlp_stage_spans takes. Answers one row per export, numbered from 1 in the order given: its
-- spans newly staged, its duplicates (already staged, or staged by an earlier export of the same
-- group) and its late spans (their trace was already recorded).
create function execution_ledger_keys.otlp_stage_requests(requests jsonb)
returns setof execution_ledger_keys.otlp_stage_request_result
language sql
as $$
  with request_list as (
    select r.request::integer as request, r.spans
    from jsonb_array_elements(requests) with ordinality as r(spans, request)
  ), incoming as (
    select l.request, e->>'trace_id' as trace_id, e->>'span_id' as span_id,
      e->>'parent_span_id' as parent_span_id, e->>'project_id' as project_id, e->>'key_id' as key_id,
      e->'span' as span
    from request_list l, jsonb_array_elements(l.spans) as e
  ), open_spans as (
    select i.* from incoming i
    where not exists (select 1 from execution_ledger_keys.otlp_recorded_traces r where r.trace_id = i.trace_id)
  ), claimed as (
    -- The same span in two exports of the group: the first export claims it.
    select distinct on (trace_id, span_id) * from open_spans order by trace_id, span_id, request
  ), inserted as (
    insert into execution_ledger_keys.otlp_spans (trace_id, span_id, parent_span_id, project_id, key_id, span, size_bytes)
    select trace_id, span_id, parent_span_id, project_id, key_id, span, octet_length(span::text) from claimed
    on conflict (trace_id, span_id) do nothing
    returning trace_id, span_id
  ), accepted as (
    select c.request, count(*)::integer as spans
    from claimed c join inserted i using (trace_id, span_id)
    group by c.request
  ), incoming_counts as (
    select request, count(*)::integer as spans from incoming group by request
  ), open_counts as (
    select request, count(*)::integer as spans from open_spans group by request
  )
  select l.request, coalesce(a.spans, 0), coalesce(o.spans, 0) - coalesce(a.spans, 0),
    coalesce(i.spans, 0) - coalesce(o.spans, 0)
  from request_list l
  left join incoming_counts i using (request)
  left join open_counts o using (request)
  left join accepted a using (request)
  order by l.request;
$$;

create type execution_ledger_keys.otlp_traced_span as (trace_id text, project_id text, span jsonb);

-- Every staged span of several traces, by trace and then in the fixed order otlp_trace_spans
-- gives, so an assembly repeated after a restart sees the same spans in the same order.
create function execution_ledger_keys.otlp_traces_spans(traces text[])
returns setof execution_ledger_keys.otlp_traced_span
language sql stable
as $$
  select trace_id, project_id, span from execution_ledger_keys.otlp_spans
  where trace_id = any(traces)
  order by trace_id, span_id;
$$;

-- After the runs of several traces are recorded: remember each trace with its run count and
-- delete their spans, in one transaction. Returns how many spans were deleted.
create function execution_ledger_keys.otlp_finish_traces(traces text[], run_counts integer[])
returns setof integer
language sql
as $$
  insert into execution_ledger_keys.otlp_recorded_traces (trace_id, runs)
  select t.trace_id, t.runs from unnest(traces, run_counts) as t(trace_id, runs)
  on conflict (trace_id) do nothing;
  with deleted as (delete from execution_ledger_keys.otlp_spans where trace_id = any(traces) returning 1)
  select count(*)::integer from deleted;
$$;

revoke execute on all functions in schema execution_ledger_keys from public;
grant execute on all functions in schema execution_ledger_keys to execution_ledger_service;
