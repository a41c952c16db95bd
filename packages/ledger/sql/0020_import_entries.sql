-- Moving a project to another server (docs/scaling.md, "Moving a project"): the target takes
-- the project's entries exactly as the source stored them (id, seq, created_at, every hash), so
-- the chain, its checkpoints and its proofs stay valid. Nothing is taken on trust: each entry
-- must follow the project's current tip on this server (seq + 1, prev_hash = the tip's
-- entry_hash, created_at not earlier), and the database re-derives its hashes (payload_hash
-- from the content for version 2, entry_hash for both versions) before it stores it. A chain
-- that does not verify cannot be imported, and an import never rewrites what is stored.
do $$ begin create role execution_ledger_importer nologin; exception when duplicate_object then null; end $$;
grant execution_ledger_importer to current_user;

-- p_entries: a JSON array of stored entries (every executions column but the generated ones,
-- hashes in hex, created_at as text), oldest first. Returns the project's new head seq.
create function execution_ledger.import_entries(p_project_id text, p_entries jsonb)
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
  select e.seq, e.entry_hash, e.created_at into v_tip_seq, v_tip_hash, v_tip_at
  from executions e where e.project_id = p_project_id order by e.seq desc limit 1;
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
  return v_tip_seq;
end
$$;

revoke execute on function execution_ledger.import_entries(text, jsonb) from public;
grant execute on function execution_ledger.import_entries(text, jsonb) to execution_ledger_importer;
grant execute on function execution_ledger.genesis_hash_v1(text) to execution_ledger_appender;
grant execute on function execution_ledger.entry_hash_v1(text, bigint, bigint, bytea, bytea)
  to execution_ledger_appender;

-- The stored entries of a project after a seq, as import_entries takes them: JSON text straight
-- from the server (numbers in input, output and costs keep every digit), oldest first.
create function execution_ledger.export_entries(p_project_id text, p_after_seq bigint, p_limit integer)
returns text
language sql
stable
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'run_id', e.run_id, 'project_id', e.project_id,
      'user_id', e.user_id, 'agent_id', e.agent_id, 'parent_run_id', e.parent_run_id, 'intent', e.intent,
      'input', e.input, 'output', e.output, 'cost_json', e.cost_json,
      'execution_trace_json', e.execution_trace_json, 'status', e.status, 'error_message', e.error_message,
      'created_at', to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'seq', e.seq,
      'hash_version', e.hash_version, 'payload_hash', encode(e.payload_hash, 'hex'),
      'prev_hash', encode(e.prev_hash, 'hex'), 'entry_hash', encode(e.entry_hash, 'hex')) order by e.seq), '[]')::text
  from (select * from executions e where e.project_id = p_project_id and e.seq > p_after_seq
        order by e.seq limit p_limit) e
$$;

revoke execute on function execution_ledger.export_entries(text, bigint, integer) from public;
grant execute on function execution_ledger.export_entries(text, bigint, integer)
  to execution_ledger_importer, execution_ledger_service;

-- As append_batch: the appender role owns both, so they run with exactly the appender's rights.
grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.import_entries(text, jsonb) owner to execution_ledger_appender;
alter function execution_ledger.export_entries(text, bigint, integer) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
