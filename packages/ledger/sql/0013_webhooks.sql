-- Webhook endpoints and their delivery cursors: the outbox is the events table itself, read by
-- each endpoint from its own cursor, so appends never wait on a delivery (docs/budgets.md,
-- "Webhooks").

create table execution_ledger.webhook_endpoints (
  id text primary key,
  url text not null,
  secret text not null,
  project_id text,
  cursor_seq bigint not null,
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default '-infinity',
  leased_until timestamptz not null default '-infinity',
  last_error text,
  delivered bigint not null default 0,
  created_at timestamptz not null default clock_timestamp(),
  constraint webhook_endpoints_url_check check (url ~ '^https?://')
);

-- Creates or replaces an endpoint. A new endpoint starts after p_from_seq, or after the newest
-- event when it is null; replacing one keeps its cursor.
create function execution_ledger.webhook_set(
  p_id text, p_url text, p_secret text, p_project_id text, p_from_seq bigint)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  insert into webhook_endpoints as w (id, url, secret, project_id, cursor_seq)
  values (p_id, p_url, p_secret, p_project_id,
    coalesce(p_from_seq, (select coalesce(max(e.seq), 0) from events e)))
  on conflict (id) do update set url = excluded.url, secret = excluded.secret,
    project_id = excluded.project_id, attempts = 0, next_attempt_at = '-infinity', last_error = null;
end
$$;

create function execution_ledger.webhook_delete(p_id text) returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  delete from webhook_endpoints w where w.id = p_id;
  return found;
end
$$;

-- Leases the endpoints due for delivery to one deliverer for p_lease_ms, so two services never
-- deliver to one endpoint at once (that would break its order).
create function execution_ledger.webhook_claim(p_lease_ms integer)
returns table (r_id text, r_url text, r_secret text, r_project_id text, r_cursor_seq bigint, r_attempts integer)
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
declare
  v_now timestamptz := clock_timestamp();
begin
  return query
  update webhook_endpoints w set leased_until = v_now + make_interval(secs => p_lease_ms / 1000.0)
  where w.id in (
    select d.id from webhook_endpoints d
    where d.next_attempt_at <= v_now and d.leased_until <= v_now
      and exists (select 1 from events e where e.seq > d.cursor_seq
        and (d.project_id is null or e.project_id = d.project_id))
    order by d.id
    for update skip locked)
  returning w.id, w.url, w.secret, w.project_id, w.cursor_seq, w.attempts;
end
$$;

-- An event was delivered: the cursor moves past it (never back) and the failures are forgotten.
create function execution_ledger.webhook_ack(p_id text, p_seq bigint) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  update webhook_endpoints w set cursor_seq = greatest(w.cursor_seq, p_seq), attempts = 0, last_error = null,
    delivered = w.delivered + 1
  where w.id = p_id;
end
$$;

-- A delivery failed: count it, wait until p_retry_ms from now, and give the lease back.
create function execution_ledger.webhook_fail(p_id text, p_error text, p_retry_ms integer) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  update webhook_endpoints w set attempts = w.attempts + 1, last_error = left(p_error, 1000),
    next_attempt_at = clock_timestamp() + make_interval(secs => p_retry_ms / 1000.0),
    leased_until = '-infinity'
  where w.id = p_id;
end
$$;

create function execution_ledger.webhook_release(p_id text) returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  update webhook_endpoints w set leased_until = '-infinity' where w.id = p_id;
end
$$;

-- The service reads endpoints (without writing them directly); the secret is needed to sign.
revoke all on execution_ledger.webhook_endpoints from public;
grant select on execution_ledger.webhook_endpoints to execution_ledger_service;
grant select, insert, update, delete on execution_ledger.webhook_endpoints to execution_ledger_appender;
grant select on execution_ledger.events to execution_ledger_appender;

revoke execute on function execution_ledger.webhook_set(text, text, text, text, bigint) from public;
revoke execute on function execution_ledger.webhook_delete(text) from public;
revoke execute on function execution_ledger.webhook_claim(integer) from public;
revoke execute on function execution_ledger.webhook_ack(text, bigint) from public;
revoke execute on function execution_ledger.webhook_fail(text, text, integer) from public;
revoke execute on function execution_ledger.webhook_release(text) from public;
grant execute on function execution_ledger.webhook_set(text, text, text, text, bigint) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_delete(text) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_claim(integer) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_ack(text, bigint) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_fail(text, text, integer) to execution_ledger_writer;
grant execute on function execution_ledger.webhook_release(text) to execution_ledger_writer;

grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;
alter function execution_ledger.webhook_set(text, text, text, text, bigint) owner to execution_ledger_appender;
alter function execution_ledger.webhook_delete(text) owner to execution_ledger_appender;
alter function execution_ledger.webhook_claim(integer) owner to execution_ledger_appender;
alter function execution_ledger.webhook_ack(text, bigint) owner to execution_ledger_appender;
alter function execution_ledger.webhook_fail(text, text, integer) owner to execution_ledger_appender;
alter function execution_ledger.webhook_release(text) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;
revoke execution_ledger_appender from current_user;
