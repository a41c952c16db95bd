-- Spans received on POST /v1/traces, staged until the run they belong to is assembled and
-- recorded in the ledger. A span is written once, before the service answers its export, and
-- never changed; the spans of a trace are deleted together once its runs are recorded, and the
-- trace id is kept for a while so that a late or retried span of it is not assembled twice.
create table execution_ledger_keys.otlp_spans (
  trace_id text not null,
  span_id text not null,
  parent_span_id text,
  project_id text not null,
  key_id text not null,
  span jsonb not null,
  size_bytes integer not null,
  received_at timestamptz not null default clock_timestamp(),
  constraint otlp_spans_pkey primary key (trace_id, span_id),
  constraint otlp_spans_trace_id_check check (trace_id ~ '^[0-9a-f]{32}$'),
  constraint otlp_spans_span_id_check check (span_id ~ '^[0-9a-f]{16}$'),
  constraint otlp_spans_parent_check check (parent_span_id is null or parent_span_id ~ '^[0-9a-f]{16}$')
);
create index otlp_spans_received_at on execution_ledger_keys.otlp_spans (received_at);

create table execution_ledger_keys.otlp_recorded_traces (
  trace_id text primary key,
  runs integer not null,
  recorded_at timestamptz not null default clock_timestamp()
);
create index otlp_recorded_traces_recorded_at on execution_ledger_keys.otlp_recorded_traces (recorded_at);

-- Staged spans are never edited: a span is inserted once and deleted with its trace.
create function execution_ledger_keys.guard_otlp_span_change() returns trigger
language plpgsql
as $$
begin
  raise exception 'execution_ledger_keys.otlp_spans: UPDATE is not allowed; staged spans are append-only'
    using errcode = 'EL001';
end
$$;
create trigger otlp_spans_guard before update on execution_ledger_keys.otlp_spans
  for each row execute function execution_ledger_keys.guard_otlp_span_change();
alter table execution_ledger_keys.otlp_spans enable always trigger otlp_spans_guard;

create type execution_ledger_keys.otlp_stage_result as (accepted integer, duplicates integer, late integer);

-- Stages a batch: each element { trace_id, span_id, parent_span_id, project_id, key_id, span }.
-- A span already staged (an exporter's retry) is a duplicate; a span of a trace already recorded
-- is late and left out.
create function execution_ledger_keys.otlp_stage_spans(batch jsonb)
returns setof execution_ledger_keys.otlp_stage_result
language sql
as $$
  with incoming as (
    select e->>'trace_id' as trace_id, e->>'span_id' as span_id, e->>'parent_span_id' as parent_span_id,
      e->>'project_id' as project_id, e->>'key_id' as key_id, e->'span' as span
    from jsonb_array_elements(batch) as e
  ), open_traces as (
    select i.* from incoming i
    where not exists (select 1 from execution_ledger_keys.otlp_recorded_traces r where r.trace_id = i.trace_id)
  ), inserted as (
    insert into execution_ledger_keys.otlp_spans (trace_id, span_id, parent_span_id, project_id, key_id, span, size_bytes)
    select trace_id, span_id, parent_span_id, project_id, key_id, span, octet_length(span::text) from open_traces
    on conflict (trace_id, span_id) do nothing
    returning 1
  )
  select (select count(*) from inserted)::integer,
    ((select count(*) from open_traces) - (select count(*) from inserted))::integer,
    ((select count(*) from incoming) - (select count(*) from open_traces))::integer;
$$;

-- Traces ready to assemble: a root span (no parent) arrived and nothing arrived for grace_ms,
-- or the first span arrived max_wait_ms ago. Oldest first.
create function execution_ledger_keys.otlp_ready_traces(grace_ms integer, max_wait_ms integer, traces_max integer)
returns setof text
language sql stable
as $$
  select trace_id from execution_ledger_keys.otlp_spans
  group by trace_id
  having (bool_or(parent_span_id is null)
      and max(received_at) <= clock_timestamp() - make_interval(secs => grace_ms / 1000.0))
    or min(received_at) <= clock_timestamp() - make_interval(secs => max_wait_ms / 1000.0)
  order by min(received_at), trace_id
  limit traces_max;
$$;

create type execution_ledger_keys.otlp_trace_span as (project_id text, span jsonb);

-- Every staged span of a trace, in a fixed order so an assembly repeated after a restart sees
-- the same spans in the same order.
create function execution_ledger_keys.otlp_trace_spans(trace text)
returns setof execution_ledger_keys.otlp_trace_span
language sql stable
as $$
  select project_id, span from execution_ledger_keys.otlp_spans where trace_id = trace order by span_id;
$$;

-- After a trace's runs are recorded: remember the trace, delete its spans, in one transaction.
create function execution_ledger_keys.otlp_finish_trace(trace text, run_count integer)
returns setof integer
language sql
as $$
  insert into execution_ledger_keys.otlp_recorded_traces (trace_id, runs) values (trace, run_count)
  on conflict (trace_id) do nothing;
  with deleted as (delete from execution_ledger_keys.otlp_spans where trace_id = trace returning 1)
  select count(*)::integer from deleted;
$$;

create type execution_ledger_keys.otlp_staging_size as (
  spans bigint, traces bigint, bytes bigint, oldest_age_ms bigint, recorded_traces bigint
);

create function execution_ledger_keys.otlp_staging_size()
returns setof execution_ledger_keys.otlp_staging_size
language sql stable
as $$
  select count(*), count(distinct trace_id), coalesce(sum(size_bytes), 0)::bigint,
    coalesce((extract(epoch from clock_timestamp() - min(received_at)) * 1000)::bigint, 0),
    (select count(*) from execution_ledger_keys.otlp_recorded_traces)
  from execution_ledger_keys.otlp_spans;
$$;

-- Forgets recorded traces older than retention_ms, and drops spans that reached a trace after
-- it was recorded (they raced its finish). Returns how many late spans were dropped.
create function execution_ledger_keys.otlp_clean_staging(retention_ms integer)
returns setof integer
language sql
as $$
  delete from execution_ledger_keys.otlp_recorded_traces
  where recorded_at < clock_timestamp() - make_interval(secs => retention_ms / 1000.0);
  with late as (
    delete from execution_ledger_keys.otlp_spans s
    using execution_ledger_keys.otlp_recorded_traces r where r.trace_id = s.trace_id
    returning 1
  )
  select count(*)::integer from late;
$$;

revoke all on execution_ledger_keys.otlp_spans, execution_ledger_keys.otlp_recorded_traces from public;
grant select, insert, delete on execution_ledger_keys.otlp_spans to execution_ledger_service;
grant select, insert, delete on execution_ledger_keys.otlp_recorded_traces to execution_ledger_service;
revoke execute on all functions in schema execution_ledger_keys from public;
grant execute on all functions in schema execution_ledger_keys to execution_ledger_service;
