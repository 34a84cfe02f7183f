# Shared by scripts/up and scripts/test: find or start the PostgreSQL they use.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEFAULT_SERVER_URL="postgres://postgres@127.0.0.1:5432/postgres"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

answers() { psql "$1" -qAtc 'SELECT 1' >/dev/null 2>&1; }

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  printf 'error: %s is not installed. %s\n' "$1" "$2" >&2
  exit 1
}

# Exports DATABASE_URL pointing at a PostgreSQL server that answers: $DATABASE_URL when
# it does, else the usual local server, else a throwaway cluster under .dev/ (started
# from the PostgreSQL server binaries; as a non-root user, since PostgreSQL refuses root).
ensure_server() {
  need psql "Install the PostgreSQL client and server: apt-get install postgresql"
  if [ -n "${DATABASE_URL:-}" ]; then
    if answers "$DATABASE_URL"; then return 0; fi
    say "DATABASE_URL does not answer; starting a throwaway local cluster instead"
  elif answers "$DEFAULT_SERVER_URL"; then
    export DATABASE_URL="$DEFAULT_SERVER_URL"
    return 0
  fi
  start_local_cluster
}

start_local_cluster() {
  local bin port dir user
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$bin/initdb" ] || { echo "error: no PostgreSQL server binaries found; apt-get install postgresql" >&2; exit 1; }
  port=${HALO_LOCAL_PG_PORT:-55432}
  dir="$ROOT/.dev/pg"
  user=$(id -un)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
    chown "$user" "$dir"
    if ! runuser -u "$user" -- test -w "$dir"; then
      # The repo sits somewhere the postgres user cannot reach (e.g. under /root).
      dir="/tmp/halo-bestie-pg-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
      mkdir -p "$dir" && chown "$user" "$dir"
    fi
  fi
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    say "creating a throwaway PostgreSQL cluster in $dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
  fi
  if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    say "starting it on 127.0.0.1:$port"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  answers "$DATABASE_URL" || { echo "error: the local cluster does not answer; see $dir/server.log" >&2; exit 1; }
}

# The migrations CREATE EXTENSION btree_gist, cube and earthdistance (booking). On Debian
# they ship in the server package (postgresql-NN, its contrib part); a server that lacks
# them gets postgresql-contrib when this machine can install it, else a clear error.
BOOKING_EXTENSIONS="'btree_gist', 'cube', 'earthdistance'"
ensure_extensions() {
  local have
  have=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM pg_available_extensions WHERE name IN ($BOOKING_EXTENSIONS)")
  [ "$have" = 3 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing postgresql-contrib (btree_gist, cube, earthdistance)"
    apt-get update -qq && apt-get install -y -qq postgresql-contrib >/dev/null
    have=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM pg_available_extensions WHERE name IN ($BOOKING_EXTENSIONS)")
    [ "$have" = 3 ] && return 0
  fi
  echo "error: the PostgreSQL server lacks btree_gist, cube or earthdistance; install its contrib package (Debian: apt-get install postgresql-contrib) on the server" >&2
  exit 1
}

# Replaces the database name in a Postgres URL: with_database URL NAME.
with_database() {
  local url=$1 name=$2 query=""
  case "$url" in *\?*) query="?${url#*\?}"; url=${url%%\?*} ;; esac
  printf '%s/%s%s' "${url%/*}" "$name" "$query"
}
