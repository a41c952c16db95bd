-- Verifications of a project's chain run through the service (the dashboard's "verify now" and
-- POST /v1/projects/{projectId}/verify), so that the newest of each project outlives a restart
-- and every process behind a balancer shows the same one. A verification is what was found at
-- its moment: rows are added, never changed or removed, and so also keep who verified when.
create table execution_ledger_keys.chain_verifications (
  id bigint generated always as identity primary key,
  project_id text not null,
  verified_at timestamptz not null default clock_timestamp(),
  key_id text not null,
  key_name text not null,
  ok boolean not null,
  entries_checked bigint not null,
  report jsonb not null,
  constraint chain_verifications_project_check check (char_length(project_id) between 1 and 1000),
  constraint chain_verifications_key_check check (char_length(key_id) between 1 and 200
    and char_length(key_name) between 1 and 200),
  constraint chain_verifications_entries_check check (entries_checked >= 0),
  -- The report is the library's VerificationReport, about this project, with its verdict.
  constraint chain_verifications_report_check check (
    jsonb_typeof(report) = 'object' and report->>'project_id' = project_id
    and (report->>'ok')::boolean = ok and (report->>'entries_checked')::bigint = entries_checked)
);
create index chain_verifications_newest
  on execution_ledger_keys.chain_verifications (project_id, verified_at desc, id desc);

create function execution_ledger_keys.guard_chain_verification_change() returns trigger
language plpgsql
as $$
begin
  raise exception 'execution_ledger_keys.chain_verifications: % is not allowed; verifications are append-only', tg_op
    using errcode = 'EL001', hint = 'Verify the project again: the newest verification is the one shown.';
end
$$;
create trigger chain_verifications_guard before update or delete on execution_ledger_keys.chain_verifications
  for each row execute function execution_ledger_keys.guard_chain_verification_change();
create trigger chain_verifications_guard_truncate before truncate on execution_ledger_keys.chain_verifications
  for each statement execute function execution_ledger_keys.guard_chain_verification_change();
alter table execution_ledger_keys.chain_verifications enable always trigger chain_verifications_guard;
alter table execution_ledger_keys.chain_verifications enable always trigger chain_verifications_guard_truncate;

create type execution_ledger_keys.chain_verification as (
  project_id text, verified_at text, key_id text, key_name text, report jsonb
);

-- Records one verification's report, by the key that asked for it.
create function execution_ledger_keys.record_chain_verification(
  verified_key_id text, verified_key_name text, verification jsonb
) returns setof execution_ledger_keys.chain_verification
language sql
as $$
  insert into execution_ledger_keys.chain_verifications (project_id, key_id, key_name, ok, entries_checked, report)
  values (verification->>'project_id', verified_key_id, verified_key_name, (verification->>'ok')::boolean,
    (verification->>'entries_checked')::bigint, verification)
  returning project_id, execution_ledger_keys.utc_text(verified_at), key_id, key_name, report;
$$;

-- The newest verification of each of the given projects that has one (one index probe each).
create function execution_ledger_keys.newest_chain_verifications(projects text[])
returns setof execution_ledger_keys.chain_verification
language sql stable
as $$
  select v.project_id, execution_ledger_keys.utc_text(v.verified_at), v.key_id, v.key_name, v.report
  from unnest(projects) as p(project_id)
  cross join lateral (
    select * from execution_ledger_keys.chain_verifications c
    where c.project_id = p.project_id
    order by c.verified_at desc, c.id desc
    limit 1
  ) v;
$$;

revoke all on execution_ledger_keys.chain_verifications from public;
grant select, insert on execution_ledger_keys.chain_verifications to execution_ledger_service;
revoke execute on all functions in schema execution_ledger_keys from public;
grant execute on all functions in schema execution_ledger_keys to execution_ledger_service;
