-- Cheaper appends of batches (docs/scaling.md, "Moving a project"; docs/analytics.md, "Rollup
-- levels"). Nothing stored changes: no table, key or column; only functions and one trigger.
--
-- * The seal of a project moved to another shard (0024) is checked by append_batch and
--   import_entries themselves, in the statement that reads the project's head after taking its
--   lock, instead of by a statement trigger over every insert's transition table. The rule is
--   the same: an append that would store entries of a sealed project fails with SQLSTATE EL005
--   naming the shard it went to, unless the import of a move back names the project in the
--   transaction-local setting execution_ledger.import_project; answers that store nothing
--   (every entry a replay or a conflict) are still given. seal_project takes the same lock and
--   commits before releasing it, so an append that waited for it reads the seal.
-- * append_batch looks up the batch's run_ids already stored one run_id at a time through the
--   unique index on run_id, and keeps the project's own rows among what it finds (one row at
--   most per run_id; another project's is still refused by unique(run_id) at the insert). The
--   lookup of 0022 put both conditions in one scan, and for a project newer than the table's
--   statistics (estimated at one row) the planner chose the project's index and read every
--   entry of the project on every batch: a batch cost more as its project grew.
-- * append_batch's usual batch (no run_id already stored, none repeated) no longer walks its
--   entries one by one in PL/pgSQL: only the chain of entry hashes is a loop (each covers the
--   one before); the ids, the insert and the answer are one statement each. The hashes are
--   entry_hash_v2's, byte for byte (its fixed prefix and the time are built once per batch).
--   Batches with replays, conflicts or repeated run_ids take the entry-by-entry path of 0022.
-- * The run-level rollup trigger groups the batch once by agent for the three agent-keyed
--   levels (hour, day, month) instead of grouping the finest rows once per level.
-- * payload_v2 (0006) is declared STABLE, which it is (jsonb_build_object is): a SQL function
--   declared IMMUTABLE around a stable body cannot be inlined, so every entry's payload hash
--   paid a SQL function call. Same body, same bytes.

drop trigger executions_sealed_projects on execution_ledger.executions;
drop function execution_ledger.refuse_sealed_inserts();

alter function execution_ledger.payload_v2(text, text, text, text, text, text, jsonb, jsonb, jsonb, jsonb,
  text, text) stable;

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
  v_i integer;
  v_moved_to text;
  v_wrong_project bigint;
  v_count integer;
  v_first_prev bytea;
  v_prefix bytea;
  v_now_bytes bytea;
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

  -- The project's tip from its heads row (kept below, in this transaction, under this lock), and
  -- its seal (0024) in the same statement: read after the lock, so an append that waited for a
  -- move's seal_project sees the seal that move committed.
  select h.seq, h.entry_hash, h.created_at, s.moved_to into v_tip_seq, v_tip_hash, v_tip_at, v_moved_to
  from (values (p_project_id)) as p(project_id)
  left join heads h on h.project_id = p.project_id
  left join project_seals s on s.project_id = p.project_id;
  if v_tip_seq is null then
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
  from jsonb_array_elements(p_entries) as t
  cross join lateral (
    -- OFFSET 0 keeps the project's condition out of this scan, so it can only be the probe of
    -- the unique index on run_id; the condition keeps the project's own rows just after.
    select * from executions s where s.run_id = t.value ->> 'run_id' offset 0) e
  where e.project_id = p_project_id;

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
        then (t.value - c_content_fields) <> '{}'::jsonb else true end),
      min(t.ordinality) filter (where (t.value ->> 'project_id') is distinct from p_project_id),
      count(*)
    into v_all_hashes, v_bad, v_wrong_project, v_count
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

  if v_wrong_project is not null then
    raise exception 'entry % belongs to project %, not %', v_wrong_project,
      p_entries -> (v_wrong_project::integer - 1) ->> 'project_id', p_project_id
      using errcode = '22023';
  end if;

  -- The usual batch: no run_id stored yet, none repeated. Only the chain of entry hashes is a
  -- loop (each hash covers the one before it); ids, the insert and the answer are one statement
  -- each. The hash is entry_hash_v2's (0006), its fixed prefix and the time built once.
  if v_known = '{}'::jsonb and cardinality(v_repeated) = 0 then
    if v_count = 0 then
      return;
    end if;
    if v_moved_to is not null
      and current_setting('execution_ledger.import_project', true) is distinct from p_project_id then
      raise exception 'project % moved to shard %; this shard takes no more entries of it', p_project_id, v_moved_to
        using errcode = 'EL005',
        hint = 'Read the project''s placement from the shard catalog again and append on that shard.';
    end if;
    v_prefix := convert_to('execution-ledger/entry/v1', 'UTF8') || '\x00'::bytea || int2send(2::smallint)
      || int4send(octet_length(convert_to(p_project_id, 'UTF8'))) || convert_to(p_project_id, 'UTF8');
    v_now_bytes := int8send(v_now_ms);
    v_first_prev := v_tip_hash;
    for v_i in 1 .. v_count loop
      v_tip_hash := sha256(v_prefix || int8send(v_tip_seq + v_i) || v_now_bytes || v_all_hashes[v_i] || v_tip_hash);
      v_entry_hashes[v_i] := v_tip_hash;
    end loop;
    v_ids := array(select gen_random_uuid() from generate_series(1, v_count));

    insert into executions (
      id, run_id, project_id, user_id, agent_id, parent_run_id, intent, input, output, cost_json,
      execution_trace_json, status, error_message, created_at, seq, hash_version, payload_hash,
      prev_hash, entry_hash)
    select v_ids[t.ordinality], t.value ->> 'run_id', p_project_id, t.value ->> 'user_id', t.value ->> 'agent_id',
      t.value ->> 'parent_run_id', t.value ->> 'intent', t.value -> 'input',
      nullif(t.value -> 'output', 'null'::jsonb), t.value -> 'cost_json', t.value -> 'execution_trace_json',
      t.value ->> 'status', t.value ->> 'error_message', v_now, v_tip_seq + t.ordinality, 2,
      v_all_hashes[t.ordinality], coalesce(v_entry_hashes[t.ordinality - 1], v_first_prev),
      v_entry_hashes[t.ordinality]
    from jsonb_array_elements(p_entries) with ordinality as t;

    if v_tip_seq = 0 then
      insert into heads (project_id, seq, entry_hash, created_at)
      values (p_project_id, v_count, v_tip_hash, v_now);
    else
      update heads h set seq = v_tip_seq + v_count, entry_hash = v_tip_hash, created_at = v_now
      where h.project_id = p_project_id;
    end if;

    return query
      select o.i::integer, 'created'::text, v_ids[o.i]::text, v_tip_seq + o.i, v_created_text, 2::smallint,
        encode(v_all_hashes[o.i], 'hex'), encode(coalesce(v_entry_hashes[o.i - 1], v_first_prev), 'hex'),
        encode(v_entry_hashes[o.i], 'hex')
      from generate_series(1, v_count) as o(i);
    return;
  end if;

  -- Replays, conflicts and run_ids repeated within the batch: entry by entry.
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

  if cardinality(v_seqs) > 0 and v_moved_to is not null
    and current_setting('execution_ledger.import_project', true) is distinct from p_project_id then
    raise exception 'project % moved to shard %; this shard takes no more entries of it', p_project_id, v_moved_to
      using errcode = 'EL005',
      hint = 'Read the project''s placement from the shard catalog again and append on that shard.';
  end if;

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
  v_moved_to text;
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
  select h.seq, h.entry_hash, h.created_at, s.moved_to into v_tip_seq, v_tip_hash, v_tip_at, v_moved_to
  from (values (p_project_id)) as p(project_id)
  left join heads h on h.project_id = p.project_id
  left join project_seals s on s.project_id = p.project_id;
  if v_tip_seq is null then
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

    -- A sealed project takes entries only from the import of a move back, which names it in a
    -- transaction-local setting (0024); checked where the first entry would be stored, as the
    -- statement trigger it replaces did.
    if v_ordinal = 1 and v_moved_to is not null
      and current_setting('execution_ledger.import_project', true) is distinct from p_project_id then
      raise exception 'project % moved to shard %; this shard takes no more entries of it', p_project_id, v_moved_to
        using errcode = 'EL005',
        hint = 'Read the project''s placement from the shard catalog again and append on that shard.';
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

-- The rollup trigger of 0023 with the agent-keyed levels fed from one grouping (by_agent).
create or replace function execution_ledger.rollup_inserted_executions() returns trigger
language plpgsql
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  with base as (
    select i.project_id, date_trunc('hour', i.created_at, 'UTC') as hour, i.agent_id, i.user_id, i.status,
      count(*) as run_count, coalesce(sum(i.cost_total), 0) as cost_sum, min(i.cost_total) as cost_min,
      max(i.cost_total) as cost_max,
      coalesce(sum((i.cost_json -> 'breakdown' ->> 'tokens')::numeric), 0) as tokens_sum,
      coalesce(sum((i.cost_json -> 'breakdown' ->> 'toolCalls')::numeric), 0) as tool_calls_sum,
      coalesce(sum((i.cost_json -> 'breakdown' ->> 'externalRequests')::numeric), 0) as external_requests_sum,
      coalesce(sum((i.cost_json -> 'breakdown' ->> 'penalties')::numeric), 0) as penalties_sum,
      execution_ledger.sum_part_maps(jsonb_agg((i.cost_json -> 'breakdown')
        - array['tokens', 'toolCalls', 'externalRequests', 'penalties'])
        filter (where (i.cost_json -> 'breakdown')
          - array['tokens', 'toolCalls', 'externalRequests', 'penalties'] <> '{}'::jsonb)) as other_parts,
      count(i.duration_ms) as duration_count, coalesce(sum(i.duration_ms), 0) as duration_ms_sum,
      max(i.duration_ms) as duration_ms_max
    from inserted i
    group by 1, 2, 3, 4, 5
  ),
  -- The agent-keyed levels all read this one grouping of base: hour writes it as it is, day and
  -- month add up its (at most a few) rows per agent.
  by_agent as (
    select b.project_id, b.hour, b.agent_id,
      sum(b.run_count) as run_count, coalesce(sum(b.run_count) filter (where b.status = 'completed'), 0) as completed_count,
      coalesce(sum(b.run_count) filter (where b.status = 'failed'), 0) as failed_count,
      coalesce(sum(b.run_count) filter (where b.status = 'aborted'), 0) as aborted_count,
      sum(b.cost_sum) as cost_sum, min(b.cost_min) as cost_min, max(b.cost_max) as cost_max,
      sum(b.tokens_sum) as tokens_sum, sum(b.tool_calls_sum) as tool_calls_sum,
      sum(b.external_requests_sum) as external_requests_sum, sum(b.penalties_sum) as penalties_sum,
      execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null))
        as other_parts,
      sum(b.duration_count) as duration_count, sum(b.duration_ms_sum) as duration_ms_sum,
      max(b.duration_ms_max) as duration_ms_max
    from base b
    group by 1, 2, 3
  ),
  w_hour_user as (
    insert into execution_ledger.execution_rollups as r (project_id, hour, agent_id, user_id, status,
      run_count, cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum, external_requests_sum,
      penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max)
    select b.project_id, b.hour, b.agent_id, b.user_id, b.status,
      b.run_count, b.cost_sum, b.cost_min, b.cost_max, b.tokens_sum, b.tool_calls_sum, b.external_requests_sum,
      b.penalties_sum, b.other_parts, b.duration_count, b.duration_ms_sum, b.duration_ms_max
    from base b
    on conflict (project_id, hour, agent_id, user_id, status) do update set
      run_count = r.run_count + excluded.run_count,
      cost_sum = r.cost_sum + excluded.cost_sum,
      cost_min = least(r.cost_min, excluded.cost_min),
      cost_max = greatest(r.cost_max, excluded.cost_max),
      tokens_sum = r.tokens_sum + excluded.tokens_sum,
      tool_calls_sum = r.tool_calls_sum + excluded.tool_calls_sum,
      external_requests_sum = r.external_requests_sum + excluded.external_requests_sum,
      penalties_sum = r.penalties_sum + excluded.penalties_sum,
      other_parts = case when excluded.other_parts is null then r.other_parts
        else execution_ledger.sum_part_pair(r.other_parts, excluded.other_parts) end,
      duration_count = r.duration_count + excluded.duration_count,
      duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  ),
  w_hour as (
    insert into execution_ledger.execution_rollups_hour as r (project_id, hour, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
    select a.project_id, a.hour, a.agent_id, a.run_count, a.completed_count, a.failed_count, a.aborted_count,
      a.cost_sum, a.cost_min, a.cost_max, a.tokens_sum, a.tool_calls_sum, a.external_requests_sum,
      a.penalties_sum, a.other_parts, a.duration_count, a.duration_ms_sum, a.duration_ms_max
    from by_agent a
    on conflict (project_id, hour, agent_id) do update set
      run_count = r.run_count + excluded.run_count,
      completed_count = r.completed_count + excluded.completed_count,
      failed_count = r.failed_count + excluded.failed_count,
      aborted_count = r.aborted_count + excluded.aborted_count,
      cost_sum = r.cost_sum + excluded.cost_sum,
      cost_min = least(r.cost_min, excluded.cost_min),
      cost_max = greatest(r.cost_max, excluded.cost_max),
      tokens_sum = r.tokens_sum + excluded.tokens_sum,
      tool_calls_sum = r.tool_calls_sum + excluded.tool_calls_sum,
      external_requests_sum = r.external_requests_sum + excluded.external_requests_sum,
      penalties_sum = r.penalties_sum + excluded.penalties_sum,
      other_parts = case when excluded.other_parts is null then r.other_parts
        else execution_ledger.sum_part_pair(r.other_parts, excluded.other_parts) end,
      duration_count = r.duration_count + excluded.duration_count,
      duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  ),
  w_day as (
    insert into execution_ledger.execution_rollups_day as r (project_id, day, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
    select a.project_id, date_trunc('day', a.hour, 'UTC'), a.agent_id,
      sum(a.run_count), sum(a.completed_count), sum(a.failed_count), sum(a.aborted_count),
      sum(a.cost_sum), min(a.cost_min), max(a.cost_max), sum(a.tokens_sum), sum(a.tool_calls_sum),
      sum(a.external_requests_sum), sum(a.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(a.other_parts) filter (where a.other_parts is not null)),
      sum(a.duration_count), sum(a.duration_ms_sum), max(a.duration_ms_max)
    from by_agent a
    group by 1, 2, 3
    on conflict (project_id, day, agent_id) do update set
      run_count = r.run_count + excluded.run_count,
      completed_count = r.completed_count + excluded.completed_count,
      failed_count = r.failed_count + excluded.failed_count,
      aborted_count = r.aborted_count + excluded.aborted_count,
      cost_sum = r.cost_sum + excluded.cost_sum,
      cost_min = least(r.cost_min, excluded.cost_min),
      cost_max = greatest(r.cost_max, excluded.cost_max),
      tokens_sum = r.tokens_sum + excluded.tokens_sum,
      tool_calls_sum = r.tool_calls_sum + excluded.tool_calls_sum,
      external_requests_sum = r.external_requests_sum + excluded.external_requests_sum,
      penalties_sum = r.penalties_sum + excluded.penalties_sum,
      other_parts = case when excluded.other_parts is null then r.other_parts
        else execution_ledger.sum_part_pair(r.other_parts, excluded.other_parts) end,
      duration_count = r.duration_count + excluded.duration_count,
      duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  ),
  w_month as (
    insert into execution_ledger.execution_rollups_month as r (project_id, month, agent_id,
      run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max, tokens_sum,
      tool_calls_sum, external_requests_sum, penalties_sum, other_parts, duration_count, duration_ms_sum,
      duration_ms_max)
    select a.project_id, date_trunc('month', a.hour, 'UTC'), a.agent_id,
      sum(a.run_count), sum(a.completed_count), sum(a.failed_count), sum(a.aborted_count),
      sum(a.cost_sum), min(a.cost_min), max(a.cost_max), sum(a.tokens_sum), sum(a.tool_calls_sum),
      sum(a.external_requests_sum), sum(a.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(a.other_parts) filter (where a.other_parts is not null)),
      sum(a.duration_count), sum(a.duration_ms_sum), max(a.duration_ms_max)
    from by_agent a
    group by 1, 2, 3
    on conflict (project_id, month, agent_id) do update set
      run_count = r.run_count + excluded.run_count,
      completed_count = r.completed_count + excluded.completed_count,
      failed_count = r.failed_count + excluded.failed_count,
      aborted_count = r.aborted_count + excluded.aborted_count,
      cost_sum = r.cost_sum + excluded.cost_sum,
      cost_min = least(r.cost_min, excluded.cost_min),
      cost_max = greatest(r.cost_max, excluded.cost_max),
      tokens_sum = r.tokens_sum + excluded.tokens_sum,
      tool_calls_sum = r.tool_calls_sum + excluded.tool_calls_sum,
      external_requests_sum = r.external_requests_sum + excluded.external_requests_sum,
      penalties_sum = r.penalties_sum + excluded.penalties_sum,
      other_parts = case when excluded.other_parts is null then r.other_parts
        else execution_ledger.sum_part_pair(r.other_parts, excluded.other_parts) end,
      duration_count = r.duration_count + excluded.duration_count,
      duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  ),
  w_day_user as (
    insert into execution_ledger.execution_rollups_day_user as r (project_id, day, agent_id, user_id, status,
      run_count, cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum, external_requests_sum,
      penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max)
    select b.project_id, date_trunc('day', b.hour, 'UTC'), b.agent_id, b.user_id, b.status,
      sum(b.run_count), sum(b.cost_sum), min(b.cost_min), max(b.cost_max), sum(b.tokens_sum),
      sum(b.tool_calls_sum), sum(b.external_requests_sum), sum(b.penalties_sum),
      execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null)),
      sum(b.duration_count), sum(b.duration_ms_sum), max(b.duration_ms_max)
    from base b
    group by 1, 2, 3, 4, 5
    on conflict (project_id, day, agent_id, user_id, status) do update set
      run_count = r.run_count + excluded.run_count,
      cost_sum = r.cost_sum + excluded.cost_sum,
      cost_min = least(r.cost_min, excluded.cost_min),
      cost_max = greatest(r.cost_max, excluded.cost_max),
      tokens_sum = r.tokens_sum + excluded.tokens_sum,
      tool_calls_sum = r.tool_calls_sum + excluded.tool_calls_sum,
      external_requests_sum = r.external_requests_sum + excluded.external_requests_sum,
      penalties_sum = r.penalties_sum + excluded.penalties_sum,
      other_parts = case when excluded.other_parts is null then r.other_parts
        else execution_ledger.sum_part_pair(r.other_parts, excluded.other_parts) end,
      duration_count = r.duration_count + excluded.duration_count,
      duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
      duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max)
  )
  insert into execution_ledger.execution_rollups_month_user as r (project_id, month, user_id,
    run_count, cost_sum, cost_min, cost_max, tokens_sum, tool_calls_sum, external_requests_sum,
    penalties_sum, other_parts, duration_count, duration_ms_sum, duration_ms_max)
  select b.project_id, date_trunc('month', b.hour, 'UTC'), b.user_id,
    sum(b.run_count), sum(b.cost_sum), min(b.cost_min), max(b.cost_max), sum(b.tokens_sum),
    sum(b.tool_calls_sum), sum(b.external_requests_sum), sum(b.penalties_sum),
    execution_ledger.sum_part_maps(jsonb_agg(b.other_parts) filter (where b.other_parts is not null)),
    sum(b.duration_count), sum(b.duration_ms_sum), max(b.duration_ms_max)
  from base b
  group by 1, 2, 3
  on conflict (project_id, month, user_id) do update set
    run_count = r.run_count + excluded.run_count,
    cost_sum = r.cost_sum + excluded.cost_sum,
    cost_min = least(r.cost_min, excluded.cost_min),
    cost_max = greatest(r.cost_max, excluded.cost_max),
    tokens_sum = r.tokens_sum + excluded.tokens_sum,
    tool_calls_sum = r.tool_calls_sum + excluded.tool_calls_sum,
    external_requests_sum = r.external_requests_sum + excluded.external_requests_sum,
    penalties_sum = r.penalties_sum + excluded.penalties_sum,
    other_parts = case when excluded.other_parts is null then r.other_parts
      else execution_ledger.sum_part_pair(r.other_parts, excluded.other_parts) end,
    duration_count = r.duration_count + excluded.duration_count,
    duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
    duration_ms_max = greatest(r.duration_ms_max, excluded.duration_ms_max);
  return null;
end
$$;
