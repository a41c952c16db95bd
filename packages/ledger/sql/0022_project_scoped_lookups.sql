-- Changes any deployment sharded by project needs, made on the single-node schema
-- (docs/scaling.md, "Where the schema stands against Citus's list").
--
-- The replay lookup of append_batch names the project: when an entry's run_id is already
-- stored, the function finds it among the project's own rows (project_id, run_id), never by
-- run_id alone, which a sharded deployment would have to ask of every shard.
-- The heads table (one row per project) replaces every recursive skip scan over the entries,
-- and the tip lookups of append_batch and import_entries. Their bodies are 0006's and 0020's
-- otherwise, unchanged.

-- The heads: one row per project, its newest entry (seq, entry_hash, created_at), kept by
-- append_batch and import_entries in the transaction that appends, under the project's lock.
-- Listing every project's head (checkpoints, rollup rebuilds) reads this table instead of a
-- recursive skip scan over the entries, which a distributed engine cannot run, and the append
-- reads its tip here instead of from the entries' index.
create table execution_ledger.heads (
  project_id text primary key,
  seq bigint not null,
  entry_hash bytea not null,
  created_at timestamptz not null,
  constraint heads_seq_check check (seq >= 1),
  constraint heads_hash_check check (octet_length(entry_hash) = 32)
);

-- Every project's head as stored now, and no append may commit meanwhile. The owner holds no
-- write privilege on the entries, which LOCK TABLE in SHARE mode would ask for; re-stating a guard
-- (a no-op) takes a SHARE ROW EXCLUSIVE lock, which blocks inserts until this migration commits.
alter table execution_ledger.executions enable always trigger executions_append_only_row;
insert into execution_ledger.heads (project_id, seq, entry_hash, created_at)
select e.project_id, e.seq, e.entry_hash, e.created_at
from (select project_id, max(seq) as seq from execution_ledger.executions group by project_id) m
join execution_ledger.executions e on e.project_id = m.project_id and e.seq = m.seq;

-- A head only moves forward: never removed, never back, never to another project.
create function execution_ledger.reject_head_change() returns trigger
language plpgsql
as $$
begin
  if tg_op = 'UPDATE' and new.project_id = old.project_id and new.seq > old.seq then
    return new;
  end if;
  raise exception 'execution_ledger.heads only moves forward: % is not allowed', tg_op
    using errcode = 'EL001', hint = 'Heads follow the entries; append entries instead.';
end
$$;
create trigger heads_forward_only before update or delete on execution_ledger.heads
  for each row execute function execution_ledger.reject_head_change();
create trigger heads_no_truncate before truncate on execution_ledger.heads
  for each statement execute function execution_ledger.reject_head_change();
alter table execution_ledger.heads enable always trigger heads_forward_only;
alter table execution_ledger.heads enable always trigger heads_no_truncate;

alter table execution_ledger.heads enable row level security;
alter table execution_ledger.heads force row level security;
create policy heads_service_read on execution_ledger.heads for select
  to execution_ledger_service using (true);
create policy heads_appender on execution_ledger.heads for all
  to execution_ledger_appender using (true) with check (true);
revoke all on execution_ledger.heads from public;
grant select on execution_ledger.heads to execution_ledger_service;
grant select, insert, update on execution_ledger.heads to execution_ledger_appender;

revoke insert, update, delete, truncate on execution_ledger.heads from current_user;

-- CREATE OR REPLACE keeps the owner (the appender role) and the grants; only a member of the
-- owning role may replace it.
grant execution_ledger_appender to current_user;
create or replace function execution_ledger.append_batch(p_project_id text, p_entries jsonb)
returns table (
  r_ordinal integer,
  r_outcome text,
  r_id text,
  r_seq bigint,
  r_created_at text,
  r_hash_version smallint,
  r_payload_hash text,
  r_prev_hash text,
  r_entry_hash text
)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_entry jsonb;
  v_tip_seq bigint;
  v_tip_hash bytea;
  v_tip_at timestamptz;
  v_now timestamptz;
  v_now_ms bigint;
  v_created_text text;
  v_payload_hash bytea;
  v_all_hashes bytea[];
  v_bad bigint;
  v_entry_hash bytea;
  v_known jsonb;
  v_seen jsonb;
  v_extra text;
  c_content_fields constant text[] := array['run_id', 'project_id', 'user_id', 'agent_id',
    'parent_run_id', 'intent', 'input', 'output', 'cost_json', 'execution_trace_json', 'status',
    'error_message'];
  v_ids uuid[] := '{}';
  v_seqs bigint[] := '{}';
  v_payload_hashes bytea[] := '{}';
  v_prev_hashes bytea[] := '{}';
  v_entry_hashes bytea[] := '{}';
  v_ordinals integer[] := '{}';
  v_repeated text[];
begin
  -- Under REPEATABLE READ or SERIALIZABLE the snapshot predates the lock wait, so the tip read
  -- below could be stale and the chain would fork. Refuse rather than rely on the backstops.
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'execution_ledger.append_batch must run at READ COMMITTED, not %',
      current_setting('transaction_isolation')
      using errcode = 'EL002', hint = 'Call it outside any REPEATABLE READ or SERIALIZABLE transaction.';
  end if;
  if jsonb_typeof(p_entries) <> 'array' then
    raise exception 'p_entries must be a JSON array' using errcode = '22023';
  end if;

  -- Two-integer form with a product constant (0x454C4544, "ELED"): no clash with other users
  -- of advisory locks in the same database.
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));

  -- The project's tip from its heads row (kept below, in this transaction, under this lock).
  select h.seq, h.entry_hash, h.created_at into v_tip_seq, v_tip_hash, v_tip_at
  from heads h where h.project_id = p_project_id;
  if not found then
    v_tip_seq := 0;
    v_tip_hash := genesis_hash_v1(p_project_id);
    v_tip_at := '-infinity';
  end if;
  -- clock_timestamp() after the lock, truncated to milliseconds and never earlier than the tip:
  -- created_at follows chain order.
  v_now := greatest(date_trunc('milliseconds', clock_timestamp()), v_tip_at);
  v_now_ms := (extract(epoch from v_now) * 1000)::bigint;
  v_created_text := to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

  -- Every run_id of the batch that this project already stores, looked up in one query (under
  -- the lock, so no entry of this project can appear meanwhile). The lookup names the project:
  -- it reads this project's rows only, so a deployment sharded by project answers it on one
  -- shard. A run_id stored by another project is caught by the unique constraint on run_id at
  -- the insert below (the library reports it as RUN_ID_CONFLICT). A version 1 entry's hash
  -- cannot be derived here, so its content is kept for comparison instead; jsonb equality
  -- treats 1.0 and 1 alike, as RFC 8785 does.
  select coalesce(jsonb_object_agg(e.run_id, jsonb_build_object(
      'payload_hash', encode(e.payload_hash, 'hex'), 'id', e.id::text, 'seq', e.seq,
      'created_at', to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'hash_version', e.hash_version, 'prev_hash', encode(e.prev_hash, 'hex'),
      'entry_hash', encode(e.entry_hash, 'hex'),
      'payload', case when e.hash_version = 1 then payload_v2(e.run_id, e.project_id, e.user_id,
        e.agent_id, e.parent_run_id, e.intent, e.input, e.output, e.cost_json,
        e.execution_trace_json, e.status, e.error_message) end)), '{}'::jsonb)
    into v_known
  from executions e
  where e.project_id = p_project_id
    and e.run_id in (select t.value ->> 'run_id' from jsonb_array_elements(p_entries) as t);

  -- run_ids that occur more than once in this batch (almost always none).
  v_repeated := array(
    select t.value ->> 'run_id' from jsonb_array_elements(p_entries) as t group by 1 having count(*) > 1);

  -- Every entry's payload hash, and the first entry that is not a plain object of content
  -- fields, in one statement: per-entry expressions in the loop below cost more than the
  -- hashing itself on the embedded engine. The hash covers exactly the values the insert at
  -- the end stores.
  select array_agg(case when jsonb_typeof(t.value) = 'object' then
        sha256(convert_to(payload_v2(t.value ->> 'run_id', p_project_id, t.value ->> 'user_id',
          t.value ->> 'agent_id', t.value ->> 'parent_run_id', t.value ->> 'intent', t.value -> 'input',
          nullif(t.value -> 'output', 'null'::jsonb), t.value -> 'cost_json', t.value -> 'execution_trace_json',
          t.value ->> 'status', t.value ->> 'error_message')::text, 'UTF8')) end order by t.ordinality),
      min(t.ordinality) filter (where case when jsonb_typeof(t.value) = 'object'
        then (t.value - c_content_fields) <> '{}'::jsonb else true end)
    into v_all_hashes, v_bad
  from jsonb_array_elements(p_entries) with ordinality as t;
  if v_bad is not null then
    v_entry := p_entries -> (v_bad::integer - 1);
    if jsonb_typeof(v_entry) <> 'object' then
      raise exception 'entry % must be a JSON object', v_bad using errcode = '22023';
    end if;
    select min(k) into v_extra from jsonb_object_keys(v_entry - c_content_fields) as k;
    raise exception 'entry % has the field %, which append_batch does not take', v_bad, v_extra
      using errcode = '22023',
      hint = 'Send the twelve content fields only: hashes, seq and created_at are derived by the database.';
  end if;

  for r_ordinal, v_entry in select t.ordinality::integer, t.value
    from jsonb_array_elements(p_entries) with ordinality as t loop
    if v_entry ->> 'project_id' is distinct from p_project_id then
      raise exception 'entry % belongs to project %, not %', r_ordinal, v_entry ->> 'project_id', p_project_id
        using errcode = '22023';
    end if;
    v_payload_hash := v_all_hashes[r_ordinal];

    v_seen := v_known -> (v_entry ->> 'run_id');
    if v_seen is not null then
      if (v_seen ->> 'hash_version' = '1' and v_seen -> 'payload' = payload_v2(v_entry ->> 'run_id',
            p_project_id, v_entry ->> 'user_id', v_entry ->> 'agent_id', v_entry ->> 'parent_run_id',
            v_entry ->> 'intent', v_entry -> 'input', nullif(v_entry -> 'output', 'null'::jsonb),
            v_entry -> 'cost_json', v_entry -> 'execution_trace_json', v_entry ->> 'status',
            v_entry ->> 'error_message'))
        or (v_seen ->> 'hash_version' <> '1' and v_seen ->> 'payload_hash' = encode(v_payload_hash, 'hex')) then
        r_outcome := 'replayed';
        r_id := v_seen ->> 'id';
        r_seq := (v_seen ->> 'seq')::bigint;
        r_created_at := v_seen ->> 'created_at';
        r_hash_version := (v_seen ->> 'hash_version')::smallint;
        r_payload_hash := v_seen ->> 'payload_hash';
        r_prev_hash := v_seen ->> 'prev_hash';
        r_entry_hash := v_seen ->> 'entry_hash';
      else
        -- Say nothing about the stored entry: the caller may not be allowed to read it.
        r_outcome := 'conflict';
        r_id := null; r_seq := null; r_created_at := null; r_hash_version := null;
        r_payload_hash := null; r_prev_hash := null; r_entry_hash := null;
      end if;
      return next;
      continue;
    end if;

    v_tip_seq := v_tip_seq + 1;
    v_entry_hash := entry_hash_v2(p_project_id, v_tip_seq, v_now_ms, v_payload_hash, v_tip_hash);
    r_outcome := 'created';
    r_id := gen_random_uuid()::text;
    r_seq := v_tip_seq;
    r_created_at := v_created_text;
    r_hash_version := 2;
    r_payload_hash := encode(v_payload_hash, 'hex');
    r_prev_hash := encode(v_tip_hash, 'hex');
    r_entry_hash := encode(v_entry_hash, 'hex');
    return next;

    v_ids := v_ids || r_id::uuid;
    v_ordinals := v_ordinals || r_ordinal;
    v_seqs := v_seqs || v_tip_seq;
    v_payload_hashes := v_payload_hashes || v_payload_hash;
    v_prev_hashes := v_prev_hashes || v_tip_hash;
    v_entry_hashes := v_entry_hashes || v_entry_hash;
    -- A second entry with the same run_id later in this batch is a replay of (or conflict with) this one.
    if (v_entry ->> 'run_id') = any(v_repeated) then
      v_known := v_known || jsonb_build_object(v_entry ->> 'run_id', jsonb_build_object(
        'payload_hash', r_payload_hash, 'id', r_id, 'seq', r_seq, 'created_at', r_created_at,
        'hash_version', 2, 'prev_hash', r_prev_hash, 'entry_hash', r_entry_hash));
    end if;
    v_tip_hash := v_entry_hash;
  end loop;

  -- One multi-row insert for the whole batch: per-statement overhead is paid once.
  insert into executions (
    id, run_id, project_id, user_id, agent_id, parent_run_id, intent, input, output, cost_json,
    execution_trace_json, status, error_message, created_at, seq, hash_version, payload_hash,
    prev_hash, entry_hash)
  select c.id, t.value ->> 'run_id', p_project_id, t.value ->> 'user_id', t.value ->> 'agent_id',
    t.value ->> 'parent_run_id', t.value ->> 'intent', t.value -> 'input',
    nullif(t.value -> 'output', 'null'::jsonb), t.value -> 'cost_json', t.value -> 'execution_trace_json',
    t.value ->> 'status', t.value ->> 'error_message', v_now, c.seq, 2, c.payload_hash, c.prev_hash,
    c.entry_hash
  from unnest(v_ordinals, v_ids, v_seqs, v_payload_hashes, v_prev_hashes, v_entry_hashes)
    as c(ordinal, id, seq, payload_hash, prev_hash, entry_hash)
  join jsonb_array_elements(p_entries) with ordinality as t on t.ordinality = c.ordinal
  order by c.seq;

  -- The new tip, in the same transaction: one row per project, never read from the entries.
  -- A plain update when the project has a head (a speculative insert costs more); the first
  -- entry of a project inserts it.
  if cardinality(v_seqs) > 0 then
    if v_seqs[1] = 1 then
      insert into heads (project_id, seq, entry_hash, created_at)
      values (p_project_id, v_tip_seq, v_tip_hash, v_now);
    else
      update heads h set seq = v_tip_seq, entry_hash = v_tip_hash, created_at = v_now
      where h.project_id = p_project_id;
    end if;
  end if;
end
$$;

create or replace function execution_ledger.import_entries(p_project_id text, p_entries jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_entry jsonb;
  v_ordinal integer;
  v_tip_seq bigint;
  v_tip_hash bytea;
  v_tip_at timestamptz;
  v_at timestamptz;
  v_version smallint;
  v_payload_hash bytea;
  v_prev_hash bytea;
  v_entry_hash bytea;
  v_derived bytea;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'execution_ledger.import_entries must run at READ COMMITTED, not %',
      current_setting('transaction_isolation') using errcode = 'EL002';
  end if;
  if jsonb_typeof(p_entries) <> 'array' then
    raise exception 'p_entries must be a JSON array' using errcode = '22023';
  end if;
  -- The same lock as append_batch: no append of this project can interleave.
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  select h.seq, h.entry_hash, h.created_at into v_tip_seq, v_tip_hash, v_tip_at
  from heads h where h.project_id = p_project_id;
  if not found then
    v_tip_seq := 0;
    v_tip_hash := genesis_hash_v1(p_project_id);
    v_tip_at := '-infinity';
  end if;

  for v_ordinal, v_entry in select t.ordinality::integer, t.value
    from jsonb_array_elements(p_entries) with ordinality as t loop
    if v_entry ->> 'project_id' is distinct from p_project_id then
      raise exception 'entry % belongs to project %, not %', v_ordinal, v_entry ->> 'project_id', p_project_id
        using errcode = '22023';
    end if;
    if (v_entry ->> 'seq')::bigint is distinct from v_tip_seq + 1 then
      raise exception 'entry % has seq %, but the chain of % on this server ends at seq %',
        v_ordinal, v_entry ->> 'seq', p_project_id, v_tip_seq
        using errcode = 'EL003', hint = 'Import the entries that follow the stored tip, oldest first.';
    end if;
    v_version := (v_entry ->> 'hash_version')::smallint;
    v_payload_hash := decode(v_entry ->> 'payload_hash', 'hex');
    v_prev_hash := decode(v_entry ->> 'prev_hash', 'hex');
    v_entry_hash := decode(v_entry ->> 'entry_hash', 'hex');
    v_at := (v_entry ->> 'created_at')::timestamptz;
    if v_prev_hash is distinct from v_tip_hash then
      raise exception 'entry % (seq %) does not link to the entry before it', v_ordinal, v_entry ->> 'seq'
        using errcode = 'EL003';
    end if;
    if v_at is null or v_at < v_tip_at then
      raise exception 'entry % (seq %) is older than the entry before it', v_ordinal, v_entry ->> 'seq'
        using errcode = 'EL003';
    end if;
    if v_version = 2 then
      v_derived := sha256(convert_to(payload_v2(v_entry ->> 'run_id', p_project_id, v_entry ->> 'user_id',
        v_entry ->> 'agent_id', v_entry ->> 'parent_run_id', v_entry ->> 'intent', v_entry -> 'input',
        nullif(v_entry -> 'output', 'null'::jsonb), v_entry -> 'cost_json', v_entry -> 'execution_trace_json',
        v_entry ->> 'status', v_entry ->> 'error_message')::text, 'UTF8'));
      if v_derived is distinct from v_payload_hash then
        raise exception 'entry % (seq %): its payload_hash does not match its content', v_ordinal, v_entry ->> 'seq'
          using errcode = 'EL003';
      end if;
      v_derived := entry_hash_v2(p_project_id, v_tip_seq + 1,
        (extract(epoch from v_at) * 1000)::bigint, v_payload_hash, v_prev_hash);
    elsif v_version = 1 then
      -- Version 1's payload hash is canonical JSON derived by the library; verifyLedger checks it.
      v_derived := entry_hash_v1(p_project_id, v_tip_seq + 1,
        (extract(epoch from v_at) * 1000)::bigint, v_payload_hash, v_prev_hash);
    else
      raise exception 'entry % has hash_version %, which this server does not know', v_ordinal, v_version
        using errcode = '22023';
    end if;
    if v_derived is distinct from v_entry_hash then
      raise exception 'entry % (seq %): its entry_hash does not match the derived one', v_ordinal, v_entry ->> 'seq'
        using errcode = 'EL003';
    end if;

    insert into executions (
      id, run_id, project_id, user_id, agent_id, parent_run_id, intent, input, output, cost_json,
      execution_trace_json, status, error_message, created_at, seq, hash_version, payload_hash,
      prev_hash, entry_hash)
    values ((v_entry ->> 'id')::uuid, v_entry ->> 'run_id', p_project_id, v_entry ->> 'user_id',
      v_entry ->> 'agent_id', v_entry ->> 'parent_run_id', v_entry ->> 'intent', v_entry -> 'input',
      nullif(v_entry -> 'output', 'null'::jsonb), v_entry -> 'cost_json', v_entry -> 'execution_trace_json',
      v_entry ->> 'status', v_entry ->> 'error_message', v_at, v_tip_seq + 1, v_version, v_payload_hash,
      v_prev_hash, v_entry_hash);
    v_tip_seq := v_tip_seq + 1;
    v_tip_hash := v_entry_hash;
    v_tip_at := v_at;
  end loop;
  if v_tip_seq > 0 then
    insert into heads as h (project_id, seq, entry_hash, created_at)
    values (p_project_id, v_tip_seq, v_tip_hash, v_tip_at)
    on conflict (project_id) do update
      set seq = excluded.seq, entry_hash = excluded.entry_hash, created_at = excluded.created_at;
  end if;
  return v_tip_seq;
end
$$;

revoke execution_ledger_appender from current_user;
