#!/usr/bin/env bash
# Test services beyond the shared PostgreSQL 15 cluster, for the Supabase and pooler suites:
#
#   start  1. a throwaway cluster "supa" on port 5470 whose bootstrap superuser is supabase_admin,
#             so that Supabase's own role set (a non-superuser postgres, anon, authenticated,
#             service_role, authenticator) and auth schema can be made in it
#             (packages/server/test/support/supabase-roles.sql);
#          2. PgBouncer from Debian's packages in transaction mode on port 6470, in front of the
#             main cluster's database ledger_pooler_test, for the pooler suite.
#   stop   stops PgBouncer and drops the cluster.
#
# Prints the environment the suites read (eval "$(.ci/test-services.sh start)").
set -euo pipefail
cd "$(dirname "$0")/.."

SUPA_PORT=5470
POOLER_PORT=6470
POOLER_DIR="${TMPDIR:-/tmp}/execution-ledger-pgbouncer"
POOLER_DB=${POOLER_DB:-ledger_pooler_test}

start() {
  # The cluster: local socket connections trust (a throwaway cluster reachable only by local
  # users of this machine, torn down at the end); TCP, which the tests use, asks for passwords.
  pg_dropcluster --stop 15 supa >/dev/null 2>&1 || true
  PGUSER=supabase_admin pg_createcluster 15 supa -p "$SUPA_PORT" -- --username=supabase_admin \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  PGUSER=supabase_admin pg_ctlcluster 15 supa start 2>/dev/null
  for _ in $(seq 1 30); do pg_isready -q -h localhost -p "$SUPA_PORT" && break; sleep 1; done
  psql -h /var/run/postgresql -p "$SUPA_PORT" -U supabase_admin -d postgres -v ON_ERROR_STOP=1 -q \
    -c "alter role supabase_admin password 'supabase_admin'" >/dev/null
  psql -h /var/run/postgresql -p "$SUPA_PORT" -U supabase_admin -d postgres -v ON_ERROR_STOP=1 -q \
    -v DBNAME=postgres -f packages/server/test/support/supabase-roles.sql >/dev/null

  # The pooler's database, migrated by the tests through the pooler itself.
  su postgres -c "psql -v ON_ERROR_STOP=1 -q" >/dev/null <<SQL
drop database if exists $POOLER_DB;
create database $POOLER_DB owner ledger;
SQL
  if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
  fi
  # The package starts its own instance on 6432 under systemd; this one is separate.
  stop_pooler
  mkdir -p "$POOLER_DIR"
  # Client and server logins with SCRAM: the userlist holds the roles' passwords, which
  # PgBouncer needs in clear to log in to the server on the client's behalf.
  cat >"$POOLER_DIR/userlist.txt" <<'LIST'
"ledger" "ledger"
"ledger_runtime" "ledger_runtime"
LIST
  cat >"$POOLER_DIR/pgbouncer.ini" <<INI
[databases]
$POOLER_DB = host=127.0.0.1 port=5432 dbname=$POOLER_DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $POOLER_PORT
unix_socket_dir = $POOLER_DIR
auth_type = scram-sha-256
auth_file = $POOLER_DIR/userlist.txt
pool_mode = transaction
default_pool_size = 8
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
logfile = $POOLER_DIR/pgbouncer.log
pidfile = $POOLER_DIR/pgbouncer.pid
INI
  chown -R postgres:postgres "$POOLER_DIR"
  chmod 600 "$POOLER_DIR/userlist.txt"
  # PgBouncer refuses to run as root.
  su postgres -c "pgbouncer -d $POOLER_DIR/pgbouncer.ini"
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$POOLER_PORT" -U ledger -d "$POOLER_DB" && break; sleep 1; done

  echo "export TEST_SUPABASE_ADMIN_URL=postgres://supabase_admin:supabase_admin@localhost:$SUPA_PORT/postgres"
  echo "export TEST_POOLER_OWNER_DATABASE_URL=postgres://ledger:ledger@127.0.0.1:$POOLER_PORT/$POOLER_DB"
  echo "export TEST_POOLER_DATABASE_URL=postgres://ledger_runtime:ledger_runtime@127.0.0.1:$POOLER_PORT/$POOLER_DB"
}

stop_pooler() {
  if [ -f "$POOLER_DIR/pgbouncer.pid" ]; then
    kill "$(cat "$POOLER_DIR/pgbouncer.pid")" 2>/dev/null || true
    for _ in $(seq 1 20); do [ -f "$POOLER_DIR/pgbouncer.pid" ] || break; sleep 0.2; done
  fi
}

stop() {
  stop_pooler
  rm -rf "$POOLER_DIR"
  pg_dropcluster --stop 15 supa >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
