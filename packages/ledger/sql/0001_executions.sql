-- The execution ledger: one append-only, hash-chained table per database.
-- Landed migrations are never edited; the migrator checks each file's sha256.

-- Roles are cluster-wide and may already exist from another database.
do $$ begin create role execution_ledger_reader nologin; exception when duplicate_object then null; end $$;
do $$ begin create role execution_ledger_service nologin; exception when duplicate_object then null; end $$;
do $$ begin create role execution_ledger_writer nologin; exception when duplicate_object then null; end $$;
do $$ begin create role execution_ledger_appender nologin; exception when duplicate_object then null; end $$;

-- The connecting role may read everything (service), call the append functions (writer) and
-- drop to the RLS-scoped reader role for per-user reads. It gets no direct write path.
grant execution_ledger_reader, execution_ledger_service, execution_ledger_writer to current_user;

create table execution_ledger.executions (
  id uuid primary key default gen_random_uuid(),
  run_id text not null,
  project_id text not null,
  user_id text not null,
  agent_id text not null,
  parent_run_id text,
  intent text not null,
  input jsonb not null,
  output jsonb,
  cost_json jsonb not null,
  execution_trace_json jsonb not null,
  status text not null,
  error_message text,
  created_at timestamptz not null,
  seq bigint not null,
  cost_total numeric(20, 6) generated always as ((cost_json ->> 'total')::numeric(20, 6)) stored,
  duration_ms bigint generated always as (round((execution_trace_json ->> 'duration_ms')::numeric)::bigint) stored,
  hash_version smallint not null,
  payload_hash bytea not null,
  prev_hash bytea not null,
  entry_hash bytea not null,
  constraint executions_run_id_key unique (run_id),
  constraint executions_project_seq_key unique (project_id, seq),
  constraint executions_project_prev_hash_key unique (project_id, prev_hash),
  -- Backstops only: the library enforces the configurable, tighter bounds with clear messages.
  constraint executions_status_check check (status in ('completed', 'failed', 'aborted')),
  constraint executions_error_message_check check (status = 'completed' or error_message is not null),
  constraint executions_ids_check check (
    char_length(run_id) between 1 and 1024 and char_length(project_id) between 1 and 1024
    and char_length(user_id) between 1 and 1024 and char_length(agent_id) between 1 and 1024
    and char_length(coalesce(parent_run_id, 'x')) between 1 and 1024),
  constraint executions_text_check check (
    char_length(intent) between 1 and 100000 and char_length(coalesce(error_message, '')) <= 1000000),
  constraint executions_json_check check (
    jsonb_typeof(input) = 'object' and jsonb_typeof(cost_json) = 'object'
    and jsonb_typeof(execution_trace_json) = 'object'),
  constraint executions_cost_check check (cost_total >= 0),
  constraint executions_duration_check check (duration_ms is null or duration_ms >= 0),
  constraint executions_seq_check check (seq >= 1),
  constraint executions_hash_check check (
    hash_version = 1 and octet_length(payload_hash) = 32 and octet_length(prev_hash) = 32
    and octet_length(entry_hash) = 32)
);

-- Range statistics per project read only this index (covering), never the JSON columns.
create index executions_project_time_idx on execution_ledger.executions (project_id, created_at)
  include (agent_id, status, cost_total, duration_ms);
create index executions_agent_time_idx on execution_ledger.executions (agent_id, created_at desc, id desc)
  include (project_id, cost_total);
create index executions_user_time_idx on execution_ledger.executions (user_id, created_at desc, id desc);
create index executions_time_idx on execution_ledger.executions (created_at desc, id desc);
create index executions_failed_idx on execution_ledger.executions (project_id, created_at desc, id desc)
  where status <> 'completed';
create index executions_parent_idx on execution_ledger.executions (parent_run_id)
  where parent_run_id is not null;

create table execution_ledger.project_members (
  project_id text not null,
  user_id text not null,
  role text not null default 'reader' check (role in ('reader', 'admin')),
  added_at timestamptz not null default clock_timestamp(),
  primary key (project_id, user_id)
);
create index project_members_user_idx on execution_ledger.project_members (user_id);

-- The caller's identity, read exactly as Supabase's auth.uid() does: the transaction-local
-- request.jwt.claims setting, field sub.
create function execution_ledger.current_user_id() returns text
language sql stable
as $$ select nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub' $$;

-- Append-only: refuse every UPDATE, DELETE and TRUNCATE loudly, whoever asks.
create function execution_ledger.reject_change() returns trigger
language plpgsql
as $$
begin
  raise exception 'execution_ledger.executions is append-only: % is not allowed', tg_op
    using errcode = 'EL001',
      hint = 'Entries are never changed; record a new execution that corrects or supersedes the old one.';
end
$$;
create trigger executions_append_only_row before update or delete on execution_ledger.executions
  for each row execute function execution_ledger.reject_change();
create trigger executions_append_only_statement before update or delete on execution_ledger.executions
  for each statement execute function execution_ledger.reject_change();
create trigger executions_append_only_truncate before truncate on execution_ledger.executions
  for each statement execute function execution_ledger.reject_change();
-- ENABLE ALWAYS: session_replication_role = replica must not skip the guards.
alter table execution_ledger.executions enable always trigger executions_append_only_row;
alter table execution_ledger.executions enable always trigger executions_append_only_statement;
alter table execution_ledger.executions enable always trigger executions_append_only_truncate;

-- Row level security, forced so the table owner is bound by it too. No INSERT policy exists
-- except for the appender role that owns the append functions: that is the only write path.
alter table execution_ledger.executions enable row level security;
alter table execution_ledger.executions force row level security;
create policy executions_service_read on execution_ledger.executions for select
  to execution_ledger_service, execution_ledger_appender using (true);
create policy executions_member_read on execution_ledger.executions for select
  to execution_ledger_reader using (
    user_id = execution_ledger.current_user_id()
    or exists (
      select 1 from execution_ledger.project_members m
      where m.project_id = executions.project_id and m.user_id = execution_ledger.current_user_id()));
create policy executions_append on execution_ledger.executions for insert
  to execution_ledger_appender with check (true);

alter table execution_ledger.project_members enable row level security;
create policy project_members_service on execution_ledger.project_members for all
  to execution_ledger_service using (true) with check (true);
create policy project_members_own on execution_ledger.project_members for select
  to execution_ledger_reader using (user_id = execution_ledger.current_user_id());

revoke all on execution_ledger.executions, execution_ledger.project_members from public;
grant usage on schema execution_ledger to execution_ledger_reader, execution_ledger_service,
  execution_ledger_writer, execution_ledger_appender;
grant select on execution_ledger.executions to execution_ledger_reader, execution_ledger_service;
grant select on execution_ledger.project_members to execution_ledger_reader;
grant select, insert, delete, update on execution_ledger.project_members to execution_ledger_service;
grant select, insert on execution_ledger.executions to execution_ledger_appender;
-- The owner keeps ownership (for migrations) but gives up its own write privileges.
revoke insert, update, delete, truncate on execution_ledger.executions from current_user;

-- Hash version 1 (docs/security.md): the genesis link and the entry hash, byte for byte the
-- same as src/integrity/entry-hash.ts; a golden-vector test pins both.
create function execution_ledger.genesis_hash_v1(p_project_id text) returns bytea
language sql immutable strict
as $$
  select sha256(convert_to('execution-ledger/genesis/v1', 'UTF8') || '\x00'::bytea
    || convert_to(p_project_id, 'UTF8'))
$$;

create function execution_ledger.entry_hash_v1(
  p_project_id text, p_seq bigint, p_created_ms bigint, p_payload_hash bytea, p_prev_hash bytea
) returns bytea
language sql immutable strict
as $$
  select sha256(convert_to('execution-ledger/entry/v1', 'UTF8') || '\x00'::bytea
    || int2send(1::smallint)
    || int4send(octet_length(convert_to(p_project_id, 'UTF8')))
    || convert_to(p_project_id, 'UTF8')
    || int8send(p_seq)
    || int8send(p_created_ms)
    || p_payload_hash
    || p_prev_hash)
$$;
