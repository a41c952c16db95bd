-- Cheaper appends of batches (bench/RESULTS.md, "Batches without the lookup first"). Nothing
-- stored changes: no table, key, column or hash; only append_batch.
--
-- * The usual batch (no run_id stored yet, none repeated, the project not moved away) is
--   inserted without first looking up its run_ids: the unique index on run_id, which the insert
--   probes anyway, finds a stored or repeated one. That insert runs in a block of its own
--   (a subtransaction); a unique violation undoes the block, and the batch goes the way 0026
--   sent batches its lookup found something in: run_id by run_id, replays answered, conflicts
--   refused, another project's run_id refused at the insert by unique(run_id). The lookup was a
--   probe of that index per entry: an eighth of a batch's time in the database. The block takes
--   a second transaction id (a subtransaction's) per batch; nothing else about it shows.
-- * An entry that already is its payload (every one the library sends: the twelve content
--   fields, the text fields strings or null, the project's own id) is hashed from its own jsonb
--   text, which is payload_v2's text byte for byte, instead of building the same object again.
--   Any other entry (a field missing, a number where text goes) is rebuilt by payload_v2 as
--   before, so the hash still covers exactly what the insert stores.

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
  v_prefix bytea;
  v_now_bytes bytea;
  v_hash bytea;
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

  -- Every entry's payload hash, and the first entry that is not a plain object of content
  -- fields, in one statement: per-entry expressions in the loop below cost more than the
  -- hashing itself on the embedded engine. The hash covers exactly the values the insert at
  -- the end stores.
  select array_agg(case
      when jsonb_typeof(t.value) <> 'object' then null
      -- An entry that already is its payload (the twelve fields present, the project's id and
      -- the seven other text fields strings or null) prints as payload_v2 prints it: hash its
      -- own text rather than building the same object again. Any other entry is rebuilt.
      when t.value ?& c_content_fields and jsonb_typeof(t.value -> 'project_id') = 'string'
        and jsonb_typeof(t.value -> 'run_id') in ('string', 'null')
        and jsonb_typeof(t.value -> 'user_id') in ('string', 'null')
        and jsonb_typeof(t.value -> 'agent_id') in ('string', 'null')
        and jsonb_typeof(t.value -> 'parent_run_id') in ('string', 'null')
        and jsonb_typeof(t.value -> 'intent') in ('string', 'null')
        and jsonb_typeof(t.value -> 'status') in ('string', 'null')
        and jsonb_typeof(t.value -> 'error_message') in ('string', 'null')
      then sha256(convert_to(t.value::text, 'UTF8'))
      else sha256(convert_to(payload_v2(t.value ->> 'run_id', p_project_id, t.value ->> 'user_id',
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

  if v_count = 0 then
    return;
  end if;

  -- The usual batch, tried first: no run_id stored yet, none repeated, the project not moved
  -- away. No lookup of its run_ids first: the insert's unique index on run_id finds a stored or
  -- repeated one anyway, and then the subtransaction of this block is undone (nothing of it
  -- stays) and the batch goes entry by entry below, as 0026 sent it there after its lookup.
  -- Only the chain of entry hashes is a loop (each hash covers the one before it); ids, the
  -- insert and the answer are one statement each. The hash is entry_hash_v2's (0006), its fixed
  -- prefix and the time built once.
  if v_moved_to is null
    or current_setting('execution_ledger.import_project', true) is not distinct from p_project_id then
    begin
      v_prefix := convert_to('execution-ledger/entry/v1', 'UTF8') || '\x00'::bytea || int2send(2::smallint)
        || int4send(octet_length(convert_to(p_project_id, 'UTF8'))) || convert_to(p_project_id, 'UTF8');
      v_now_bytes := int8send(v_now_ms);
      v_hash := v_tip_hash;
      for v_i in 1 .. v_count loop
        v_hash := sha256(v_prefix || int8send(v_tip_seq + v_i) || v_now_bytes || v_all_hashes[v_i] || v_hash);
        v_entry_hashes[v_i] := v_hash;
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
        v_all_hashes[t.ordinality], coalesce(v_entry_hashes[t.ordinality - 1], v_tip_hash),
        v_entry_hashes[t.ordinality]
      from jsonb_array_elements(p_entries) with ordinality as t;

      if v_tip_seq = 0 then
        insert into heads (project_id, seq, entry_hash, created_at)
        values (p_project_id, v_count, v_hash, v_now);
      else
        update heads h set seq = v_tip_seq + v_count, entry_hash = v_hash, created_at = v_now
        where h.project_id = p_project_id;
      end if;

      return query
        select o.i::integer, 'created'::text, v_ids[o.i]::text, v_tip_seq + o.i, v_created_text, 2::smallint,
          encode(v_all_hashes[o.i], 'hex'), encode(coalesce(v_entry_hashes[o.i - 1], v_tip_hash), 'hex'),
          encode(v_entry_hashes[o.i], 'hex')
        from generate_series(1, v_count) as o(i);
      return;
    exception when unique_violation then
      -- The variables keep what the block set: start the entry-by-entry path from nothing.
      v_ids := '{}';
      v_entry_hashes := '{}';
    end;
  end if;

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


  -- Replays, conflicts, run_ids repeated within the batch, a run_id another project stores (the
  -- insert at the end refuses it again, as unique(run_id)) and a moved project: entry by entry.
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

revoke execution_ledger_appender from current_user;
