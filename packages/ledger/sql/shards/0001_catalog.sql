-- The shard catalog and router (docs/scaling.md, "Several machines"): a small database of its
-- own, never a ledger, that knows the shards (each an unchanged ledger on its own server), which
-- shard holds each project's chain, and the checkpoints signed over every shard's heads. Its
-- execution_ledger.append_batch has the ledger's signature and is a PL/Proxy function that runs
-- the shard's append_batch on the shard the project is placed on, so any client of the ledger's
-- write function (the library's group commit included) appends through it unchanged.
--
-- PL/Proxy is an untrusted language: a superuser applies this set (once per catalog database).
create extension if not exists plproxy;

do $$ begin create role execution_ledger_router nologin; exception when duplicate_object then null; end $$;
do $$ begin create role execution_ledger_shard_admin nologin; exception when duplicate_object then null; end $$;

-- Shards are numbered 0, 1, 2… in the order they were added, and never removed: PL/Proxy maps
-- the number shard_for() returns onto the n-th connect string.
create table execution_ledger_shards.shards (
  position integer primary key,
  name text not null unique,
  -- libpq connect string PL/Proxy opens (with the shard's runtime role); never shown to routers.
  connstr text not null,
  takes_new_projects boolean not null default true,
  added_at timestamptz not null default now(),
  constraint shards_name_check check (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  constraint shards_position_check check (position >= 0)
);

-- Bumped on every change of the shard list, so PL/Proxy reloads its partitions.
create table execution_ledger_shards.cluster_version (
  only_row boolean primary key default true check (only_row),
  version integer not null
);
insert into execution_ledger_shards.cluster_version (version) values (1);

create function execution_ledger_shards.bump_cluster_version() returns trigger
language plpgsql as $$
begin
  update execution_ledger_shards.cluster_version set version = version + 1;
  return null;
end
$$;
create trigger shards_changed after insert or update or delete on execution_ledger_shards.shards
  for each statement execute function execution_ledger_shards.bump_cluster_version();

-- Which shard holds each project's chain. A project is placed on its first append (by hash over
-- the shards that take new projects) and stays there until it is moved: adding a shard never
-- moves a placed project.
create table execution_ledger_shards.placement (
  project_id text primary key,
  shard integer not null references execution_ledger_shards.shards (position),
  placed_at timestamptz not null default now()
);

-- A moved project's entries stay on the shard it left (entries are never deleted): cross-project
-- reads of that shard leave them out.
create table execution_ledger_shards.left_copies (
  project_id text not null,
  shard integer not null references execution_ledger_shards.shards (position),
  moved_at timestamptz not null default now(),
  primary key (project_id, shard)
);

-- Checkpoints signed over every shard's heads (one tree of all placed projects' heads).
create table execution_ledger_shards.checkpoints (
  seq bigint primary key,
  created_at_ms bigint not null,
  tree_size integer not null,
  root text not null,
  prev_hash text not null,
  log_root text not null,
  checkpoint_hash text not null,
  origin text not null,
  key_id text not null,
  note text not null,
  -- [{project_id, seq, entry_hash, shard}] in tree order
  heads jsonb not null
);

create function execution_ledger_shards.reject_change() returns trigger
language plpgsql as $$
begin
  raise exception 'shard checkpoints are append-only' using errcode = 'EL001';
end
$$;
create trigger checkpoints_append_only before update or delete on execution_ledger_shards.checkpoints
  for each row execute function execution_ledger_shards.reject_change();
create trigger checkpoints_append_only_truncate before truncate on execution_ledger_shards.checkpoints
  for each statement execute function execution_ledger_shards.reject_change();

-- The shard of a project, placing it first if it is new. It holds the project's advisory lock
-- in shared mode until the append's transaction ends (the shard has committed by then); a move
-- takes it exclusively while it copies the last entries and switches, so appends to that project
-- (and only to it) wait for the switch and then read the new placement. An advisory lock, not a
-- row lock: nothing is written to the catalog per append.
create function execution_ledger_shards.shard_for(p_project_id text) returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger_shards, pg_temp
as $$
declare
  v_shard integer;
  v_count integer;
begin
  -- "ELED", then the project's hash: the key append_batch uses on the shards, on another server.
  perform pg_advisory_xact_lock_shared(1162626372, hashtext(p_project_id));
  select p.shard into v_shard from placement p where p.project_id = p_project_id;
  if found then return v_shard; end if;
  select count(*) into v_count from shards s where s.takes_new_projects;
  if v_count = 0 then
    raise exception 'no shard takes new projects' using errcode = 'EL004',
      hint = 'Add a shard, or let one take new projects again.';
  end if;
  select s.position into v_shard from shards s where s.takes_new_projects order by s.position
    offset (hashtext(p_project_id)::bigint & 2147483647) % v_count limit 1;
  insert into placement (project_id, shard) values (p_project_id, v_shard) on conflict (project_id) do nothing;
  select p.shard into v_shard from placement p where p.project_id = p_project_id;
  return v_shard;
end
$$;

-- Holds a project's placement for a move until the transaction ends: appends to it wait.
create function execution_ledger_shards.hold_project(p_project_id text) returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, execution_ledger_shards, pg_temp
as $$
begin
  perform pg_advisory_xact_lock(1162626372, hashtext(p_project_id));
  return (select p.shard from placement p where p.project_id = p_project_id);
end
$$;

-- PL/Proxy's cluster configuration, read from the tables above (cluster 'execution_ledger').
create schema if not exists plproxy;

create function plproxy.get_cluster_version(p_cluster text) returns integer
language sql stable security definer
set search_path = pg_catalog, execution_ledger_shards, pg_temp
as $$
  select v.version from cluster_version v where p_cluster = 'execution_ledger'
$$;

create function plproxy.get_cluster_partitions(p_cluster text) returns setof text
language sql stable security definer
set search_path = pg_catalog, execution_ledger_shards, pg_temp
as $$
  select s.connstr from shards s where p_cluster = 'execution_ledger' order by s.position
$$;

-- modular_mapping: any number of shards (PL/Proxy would otherwise want a power of two).
create function plproxy.get_cluster_config(in p_cluster text, out key text, out val text)
returns setof record
language sql stable
as $$
  values ('modular_mapping', '1'), ('connection_lifetime', '1800')
$$;

create schema if not exists execution_ledger;

create function execution_ledger.append_batch(p_project_id text, p_entries jsonb)
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
language plproxy
as $$
  cluster 'execution_ledger';
  run on execution_ledger_shards.shard_for(p_project_id);
$$;

revoke all on all tables in schema execution_ledger_shards from public;
revoke execute on all functions in schema execution_ledger_shards from public;
revoke execute on all functions in schema plproxy from public;
revoke execute on function execution_ledger.append_batch(text, jsonb) from public;
grant usage on schema execution_ledger_shards, plproxy, execution_ledger
  to execution_ledger_router, execution_ledger_shard_admin;
grant execute on function execution_ledger.append_batch(text, jsonb) to execution_ledger_router;
grant execute on function execution_ledger_shards.shard_for(text) to execution_ledger_router;
grant execute on function execution_ledger_shards.hold_project(text) to execution_ledger_shard_admin;
grant execute on function plproxy.get_cluster_version(text), plproxy.get_cluster_partitions(text),
  plproxy.get_cluster_config(text) to execution_ledger_router;
grant select (position, name, takes_new_projects, added_at) on execution_ledger_shards.shards
  to execution_ledger_router;
grant select on execution_ledger_shards.placement, execution_ledger_shards.left_copies,
  execution_ledger_shards.checkpoints, execution_ledger_shards.cluster_version to execution_ledger_router;
grant select on execution_ledger_shards.migrations to execution_ledger_router, execution_ledger_shard_admin;
-- The administrator adds shards, moves projects and signs checkpoints.
grant execution_ledger_router to execution_ledger_shard_admin;
grant select, insert, update on execution_ledger_shards.shards to execution_ledger_shard_admin;
grant insert, update on execution_ledger_shards.placement to execution_ledger_shard_admin;
grant insert on execution_ledger_shards.left_copies, execution_ledger_shards.checkpoints
  to execution_ledger_shard_admin;
grant update on execution_ledger_shards.cluster_version to execution_ledger_shard_admin;
