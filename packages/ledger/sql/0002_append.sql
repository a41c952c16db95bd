-- The only write path. Appends a batch of entries to one project's chain under the project's
-- advisory lock, in the caller's transaction, and returns one result row per entry:
-- 'created', 'replayed' (same run_id, same payload_hash: nothing appended) or 'conflict'
-- (same run_id, different content: nothing appended). Entries arrive validated and hashed by
-- the library; the chain fields (seq, created_at, prev_hash, entry_hash) are assigned here.
create function execution_ledger.append_batch(p_project_id text, p_entries jsonb)
returns table (
  r_ordinal integer,
  r_outcome text,
  r_id text,
  r_seq bigint,
  r_created_at text,
  r_hash_version smallint,
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
  v_payload_hash bytea;
  v_entry_hash bytea;
  v_existing record;
  v_id uuid;
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

  select e.seq, e.entry_hash, e.created_at into v_tip_seq, v_tip_hash, v_tip_at
  from executions e where e.project_id = p_project_id order by e.seq desc limit 1;
  if not found then
    v_tip_seq := 0;
    v_tip_hash := genesis_hash_v1(p_project_id);
    v_tip_at := '-infinity';
  end if;
  -- clock_timestamp() after the lock, truncated to milliseconds and never earlier than the tip:
  -- created_at follows chain order.
  v_now := greatest(date_trunc('milliseconds', clock_timestamp()), v_tip_at);
  v_now_ms := (extract(epoch from v_now) * 1000)::bigint;

  for r_ordinal, v_entry in select t.ordinality::integer, t.value
    from jsonb_array_elements(p_entries) with ordinality as t loop
    if v_entry ->> 'project_id' is distinct from p_project_id then
      raise exception 'entry % belongs to project %, not %', r_ordinal, v_entry ->> 'project_id', p_project_id
        using errcode = '22023';
    end if;
    v_payload_hash := decode(v_entry ->> 'payload_hash', 'hex');

    select e.id, e.seq, e.created_at, e.hash_version, e.prev_hash, e.entry_hash, e.payload_hash
      into v_existing
    from executions e where e.run_id = v_entry ->> 'run_id';
    if found then
      r_outcome := case when v_existing.payload_hash = v_payload_hash then 'replayed' else 'conflict' end;
      if r_outcome = 'replayed' then
        r_id := v_existing.id::text;
        r_seq := v_existing.seq;
        r_created_at := to_char(v_existing.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
        r_hash_version := v_existing.hash_version;
        r_prev_hash := encode(v_existing.prev_hash, 'hex');
        r_entry_hash := encode(v_existing.entry_hash, 'hex');
      else
        -- Say nothing about the stored entry: the caller may not be allowed to read it.
        r_id := null; r_seq := null; r_created_at := null; r_hash_version := null;
        r_prev_hash := null; r_entry_hash := null;
      end if;
      return next;
      continue;
    end if;

    v_tip_seq := v_tip_seq + 1;
    v_entry_hash := entry_hash_v1(p_project_id, v_tip_seq, v_now_ms, v_payload_hash, v_tip_hash);
    insert into executions (
      run_id, project_id, user_id, agent_id, parent_run_id, intent, input, output, cost_json,
      execution_trace_json, status, error_message, created_at, seq, hash_version, payload_hash,
      prev_hash, entry_hash)
    values (
      v_entry ->> 'run_id', p_project_id, v_entry ->> 'user_id', v_entry ->> 'agent_id',
      v_entry ->> 'parent_run_id', v_entry ->> 'intent', v_entry -> 'input',
      nullif(v_entry -> 'output', 'null'::jsonb), v_entry -> 'cost_json', v_entry -> 'execution_trace_json',
      v_entry ->> 'status', v_entry ->> 'error_message', v_now, v_tip_seq, 1, v_payload_hash,
      v_tip_hash, v_entry_hash)
    returning id into v_id;

    r_outcome := 'created';
    r_id := v_id::text;
    r_seq := v_tip_seq;
    r_created_at := to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
    r_hash_version := 1;
    r_prev_hash := encode(v_tip_hash, 'hex');
    r_entry_hash := encode(v_entry_hash, 'hex');
    return next;
    v_tip_hash := v_entry_hash;
  end loop;
end
$$;

-- The appender role owns the function, so it runs with exactly the appender's rights (insert
-- through the RLS policy made for it) and nobody else holds those rights.
-- A new owner needs CREATE on the schema at the moment of the change only.
grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.append_batch(text, jsonb) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
revoke execute on function execution_ledger.append_batch(text, jsonb) from public;
grant execute on function execution_ledger.append_batch(text, jsonb) to execution_ledger_writer;
grant execute on function execution_ledger.genesis_hash_v1(text) to execution_ledger_appender;
grant execute on function execution_ledger.entry_hash_v1(text, bigint, bigint, bytea, bytea)
  to execution_ledger_appender;
