#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for one local stack:
#   deploy/pg.sh start|stop|status|psql [args]|users|url SERVICE
#
# users (after `caisse-admin migrate`, which creates the services' roles) makes one LOGIN
# user per service, a member of its role (caisse_gateway, ...), with a password generated
# into $CAISSE_STACK_DIR/db-users/ (never committed); url SERVICE prints that service's
# connection URL. The owner ($CAISSE_PG_USER) runs migrations and the admin tool.
#
# It lives entirely in $CAISSE_STACK_DIR/pg (data, socket, log), listens on 127.0.0.1 only,
# and trusts every local connection: it is for development and tests, never for real data.
# Another stack runs next to it by exporting another CAISSE_STACK_DIR and CAISSE_PG_PORT.
set -euo pipefail

# shellcheck source=env.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PG_DIR="$CAISSE_STACK_DIR/pg"
DATA="$PG_DIR/data"
SOCK_DIR="$PG_DIR/run"
LOG="$PG_DIR/postgres.log"
PORT="$CAISSE_PG_PORT"
# The bootstrap superuser; the application role ($CAISSE_PG_USER) is a plain owner.
SUPERUSER=postgres
# The services whose LOGIN users `users` makes: <name> logs in as caisse_<name>_login,
# member of the role caisse_<name> of migration 0014.
DB_SERVICES=(gateway session_worker expiry_worker webhook_worker)
USERS_DIR="$CAISSE_STACK_DIR/db-users"

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

# The server binaries are not on PATH on Debian (only the client wrappers are): take the newest
# installed major version unless CAISSE_PG_BIN says otherwise.
if [ -z "${CAISSE_PG_BIN:-}" ]; then
  while read -r d; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      CAISSE_PG_BIN="$d"
      break
    fi
  done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
fi
[ -n "${CAISSE_PG_BIN:-}" ] || die "no PostgreSQL server found in /usr/lib/postgresql (run deploy/install-deps.sh)"

# initdb and postgres refuse to run as root. As root we run them as the `postgres` system user
# (created by Debian's postgresql package) and give it the cluster directory; as anyone else
# the cluster simply belongs to the current user.
if [ "$(id -u)" -eq 0 ]; then
  AS_OWNER=(runuser -u postgres --)
else
  AS_OWNER=()
fi

pg() { # run a server binary as the cluster owner
  local bin="$1"
  shift
  "${AS_OWNER[@]}" "$CAISSE_PG_BIN/$bin" "$@"
}

# A unix socket path must fit in sun_path (107 bytes); a deep CAISSE_STACK_DIR would make
# the server fail with an obscure error, so say it plainly.
check_socket_path() {
  local sock="$SOCK_DIR/.s.PGSQL.$PORT"
  [ "${#sock}" -le 107 ] || die "socket path too long (${#sock} > 107 bytes): $sock; use a shorter CAISSE_STACK_DIR"
}

# As root, the postgres user must be able to reach $PG_DIR: every ancestor directory needs
# the x bit for others. A repo under /root (mode 700) is the usual culprit; we add o+x only
# (traverse, not list) rather than moving the data elsewhere, and say so.
ensure_traversable() {
  [ "${#AS_OWNER[@]}" -gt 0 ] || return 0
  local d="$PG_DIR" ancestors=()
  while [ "$d" != "/" ]; do
    d="$(dirname "$d")"
    ancestors=("$d" "${ancestors[@]}")
  done
  # From / downwards: a directory can only be tested once its parents are passable.
  for d in "${ancestors[@]}"; do
    if ! runuser -u postgres -- test -x "$d"; then
      echo "pg.sh: making $d traversable (chmod o+x) so the postgres user can reach the cluster" >&2
      chmod o+x "$d"
    fi
  done
}

is_running() {
  [ -f "$DATA/PG_VERSION" ] && pg pg_ctl status -D "$DATA" >/dev/null 2>&1
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

init_cluster() {
  echo "pg.sh: creating cluster in $DATA" >&2
  mkdir -p "$PG_DIR"
  chmod 755 "$CAISSE_STACK_DIR" "$PG_DIR" 2>/dev/null || true
  ensure_traversable
  # Build in a temporary directory and rename at the end, so an interrupted initdb never leaves
  # a half-made cluster that the next start would mistake for a real one.
  local tmp="$PG_DIR/data.initdb"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if [ "${#AS_OWNER[@]}" -gt 0 ]; then chown postgres: "$tmp"; fi
  # C locale + UTF8: no dependence on the machine's locales, and byte-order collation
  # (stable, fast B-tree comparisons; the app sorts by time and UUIDv7 anyway).
  pg initdb -D "$tmp" -U "$SUPERUSER" --auth=trust --encoding=UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
    { tail -n 20 "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  # Settings for a test box. fsync/synchronous_commit stay on: the tests kill processes and
  # expect committed data to survive. Port and socket are passed at each start instead, so a
  # stack can be restarted on other ports without editing this file.
  cat >>"$tmp/postgresql.conf" <<'EOF'

# --- caisse local stack ---
listen_addresses = '127.0.0.1'
max_connections = 200
shared_buffers = 128MB
# Fewer WAL checkpoints during load tests; recovery after a crash stays quick at this size.
max_wal_size = 1GB
# postgres.log lines say which connection logged them.
log_line_prefix = '%m [%p] %q%u@%d '
timezone = 'UTC'
log_timezone = 'UTC'
EOF
  mv "$tmp" "$DATA"
}

# Who may connect how: the superuser and the owner without a password (loopback, a
# development cluster), the services' users only with theirs (SCRAM), so each service's
# URL is what lets it in. Rewritten at each start.
write_hba() {
  cat >"$DATA/pg_hba.conf" <<EOF
# Written by deploy/pg.sh at each start.
local all all trust
host all $SUPERUSER 127.0.0.1/32 trust
host all "$CAISSE_PG_USER" 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
EOF
  if [ "${#AS_OWNER[@]}" -gt 0 ]; then chown postgres: "$DATA/pg_hba.conf"; fi
}

ensure_role_and_db() {
  # Runs on every start (cheap): it also repairs a cluster whose role/db someone dropped.
  local q=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -tA)
  if [ -z "$("${q[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$CAISSE_PG_USER'")" ]; then
    # CREATEDB so tests can make scratch databases of their own.
    "${q[@]}" -c "CREATE ROLE \"$CAISSE_PG_USER\" LOGIN CREATEDB CREATEROLE"
  fi
  # CREATEROLE: migration 0014 creates the services' roles (also on an older cluster).
  "${q[@]}" -c "ALTER ROLE \"$CAISSE_PG_USER\" CREATEROLE"
  if [ -z "$("${q[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$CAISSE_PG_DB'")" ]; then
    "${q[@]}" -c "CREATE DATABASE \"$CAISSE_PG_DB\" OWNER \"$CAISSE_PG_USER\""
  fi
}

cmd_start() {
  check_socket_path
  if is_running; then
    # Already up (idempotent start); still make sure it answers and has our role/db.
    pg_isready -q -h 127.0.0.1 -p "$PORT" -t 30 || die "cluster in $DATA runs but does not answer on port $PORT (started with another port?)"
    ensure_role_and_db
    return 0
  fi
  port_in_use && die "port $PORT is already taken by another process (set CAISSE_PG_PORT)"
  [ -f "$DATA/PG_VERSION" ] || init_cluster
  write_hba
  ensure_traversable
  mkdir -p "$SOCK_DIR"
  touch "$LOG"
  if [ "${#AS_OWNER[@]}" -gt 0 ]; then chown postgres: "$SOCK_DIR" "$LOG"; fi
  # -w waits until the server accepts connections (or fails), -t bounds that wait.
  if ! pg pg_ctl start -D "$DATA" -l "$LOG" -w -t 60 -s \
    -o "-p $PORT -k $SOCK_DIR -c listen_addresses=127.0.0.1"; then
    tail -n 30 "$LOG" >&2
    die "PostgreSQL did not start (log: $LOG)"
  fi
  pg_isready -q -h 127.0.0.1 -p "$PORT" -t 30 || die "PostgreSQL started but is not ready on port $PORT"
  ensure_role_and_db
  echo "pg.sh: PostgreSQL ready at $CAISSE_DATABASE_URL" >&2
}

cmd_stop() {
  if ! is_running; then
    return 0
  fi
  # fast = roll back open transactions and shut down cleanly (no crash recovery next start).
  pg pg_ctl stop -D "$DATA" -m fast -w -t 60 -s || {
    echo "pg.sh: fast shutdown timed out, using immediate" >&2
    pg pg_ctl stop -D "$DATA" -m immediate -w -t 30 -s
  }
}

cmd_status() {
  if is_running; then
    if pg_isready -q -h 127.0.0.1 -p "$PORT" -t 5; then
      echo "postgres: running, ready at $CAISSE_DATABASE_URL"
      return 0
    fi
    echo "postgres: running but not answering on port $PORT"
    return 1
  fi
  echo "postgres: stopped ($DATA)"
  return 3
}

# A service's password: made once per stack, kept in its directory (mode 600).
user_password() {
  local file="$USERS_DIR/$1.password"
  if [ ! -s "$file" ]; then
    mkdir -p "$USERS_DIR"
    chmod 700 "$USERS_DIR"
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file.tmp")
    mv "$file.tmp" "$file"
  fi
  cat "$file"
}

cmd_users() {
  local q=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d "$CAISSE_PG_DB" -tA)
  local s user role pw
  for s in "${DB_SERVICES[@]}"; do
    role="caisse_$s"
    user="caisse_${s}_login"
    [ -n "$("${q[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" ] ||
      die "role $role is missing: run caisse-admin migrate first"
    pw=$(user_password "$s")
    if [ -z "$("${q[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" ]; then
      "${q[@]}" -c "CREATE ROLE $user LOGIN PASSWORD '$pw' IN ROLE $role"
    else
      "${q[@]}" -c "ALTER ROLE $user LOGIN PASSWORD '$pw'" -c "GRANT $role TO $user"
    fi
  done
}

# The URL a service connects with (its own user and password).
cmd_url() {
  local s=${1:-}
  s=${s//-/_}
  local ok=0 x
  for x in "${DB_SERVICES[@]}"; do [ "$x" = "$s" ] && ok=1; done
  [ $ok = 1 ] || die "url: one of ${DB_SERVICES[*]} (got \"${1:-}\")"
  [ -s "$USERS_DIR/$s.password" ] || die "no user for $s yet: run deploy/pg.sh users (make up does)"
  echo "postgresql://caisse_${s}_login:$(cat "$USERS_DIR/$s.password")@127.0.0.1:${PORT}/${CAISSE_PG_DB}"
}

case "${1:-}" in
  start) cmd_start ;;
  users) cmd_users ;;
  url) cmd_url "${2:-}" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  psql)
    shift
    exec psql -X "$CAISSE_DATABASE_URL" "$@"
    ;;
  *)
    echo "usage: $0 start|stop|status|psql [psql args]|users|url SERVICE" >&2
    exit 2
    ;;
esac
