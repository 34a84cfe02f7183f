# Shared by the bench scripts (bench/run, bench/money, bench/flow): a fresh database for a
# scenario and waiting for a server to answer. Sourced after scripts/lib.sh.
# shellcheck shell=bash

# fresh_database NAME: drops and creates NAME on the server in $DATABASE_URL, exports
# DATABASE_URL pointing at it without TLS (as production's Cloud SQL unix socket is; on
# loopback sqlx's `sslmode=prefer` would negotiate TLS with the distribution's self-signed
# certificate, a cost of this machine, see BENCHMARKS.md) and SERVER_URL at the server.
fresh_database() {
  SERVER_URL=${SERVER_URL:-$DATABASE_URL}
  psql "$SERVER_URL" -qc "DROP DATABASE IF EXISTS $1" -qc "CREATE DATABASE $1"
  DATABASE_URL=$(with_database "$SERVER_URL" "$1")
  case $DATABASE_URL in *\?*) DATABASE_URL+="&sslmode=disable" ;; *) DATABASE_URL+="?sslmode=disable" ;; esac
  export DATABASE_URL SERVER_URL
}

# wait_http URL [SECONDS]: until URL answers 2xx (default 10 s), else an error.
wait_http() {
  local tries=$(( ${2:-10} * 10 ))
  for _ in $(seq "$tries"); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "error: $1 does not answer" >&2
  return 1
}
