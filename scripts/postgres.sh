#!/usr/bin/env bash
# Starts, stops and reports on a PostgreSQL cluster of the scripts' own: Debian's
# PostgreSQL (initdb + pg_ctl) listening on 127.0.0.1 only, data under the state
# directory, one role `datamgmt` with a random password (scram-sha-256) and one database
# `datamgmt`. `up` writes the connection URL of that database to `<state_dir>/postgres.url`
# (readable by the owner only) for the relays and the tests; `down` stops the server and
# deletes its data (it is a scratch cluster); `stop` and `start` stop it and start it
# again on the same data (what the database outage test does). Run as root, the server runs as the
# `postgres` system user, as PostgreSQL requires.
# Usage: scripts/postgres.sh up|down|stop|start|restart|status
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PG_VERSION=$(cfg postgres.version)
PG_PORT=${DATAMGMT_PG_PORT:-$(cfg postgres.port)}
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
PG_URL_FILE=$STATE_DIR/postgres.url
PG_ROLE=datamgmt

# as_server COMMAND…: COMMAND as the user the server runs as.
as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The data directory: under the state directory when the server's user can reach it,
# else under /tmp (root's state directory may be closed to the `postgres` user).
pg_dir() {
  local dir=$STATE_DIR/postgres
  mkdir -p "$STATE_DIR"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$STATE_DIR"; then
    dir=/tmp/datamgmt-postgres-$(printf '%s' "$STATE_DIR" | cksum | cut -d' ' -f1)
  fi
  printf '%s\n' "$dir"
}
PG_DIR=$(pg_dir)
PG_DATA=$PG_DIR/data
# Loopback TCP only: no Unix socket (whose path may be too long under a state dir).
PG_OPTIONS="-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories='' -c max_connections=200"

is_running() { [ -f "$PG_DATA/postmaster.pid" ] && as_server "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

up() {
  if is_running && [ -f "$PG_URL_FILE" ]; then
    log "postgres already running on 127.0.0.1:$PG_PORT"
    return
  fi
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL $PG_VERSION is not installed: run scripts/setup.sh"
  is_running && down
  if (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; then
    die "port $PG_PORT is taken: another server is listening there (set DATAMGMT_PG_PORT)"
  fi
  set -E
  trap 'down' ERR
  rm -rf "$PG_DIR" "$PG_URL_FILE"
  mkdir -p "$PG_DIR"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$PG_DIR"
  local password pwfile
  password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  pwfile=$PG_DIR/pwfile
  (umask 077 && printf '%s\n' "$password" >"$pwfile")
  [ "$(id -u)" -ne 0 ] || chown postgres: "$pwfile"
  log "initdb in $PG_DATA"
  as_server "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_ROLE" --pwfile="$pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1
  rm -f "$pwfile"
  log "starting postgres on 127.0.0.1:$PG_PORT (log: $PG_DIR/postgres.log)"
  as_server "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w \
    -t "$(cfg postgres.start_timeout_sec)" \
    -o "$PG_OPTIONS" start >/dev/null
  PGPASSWORD=$password "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" datamgmt
  (umask 077 && printf 'postgres://%s:%s@127.0.0.1:%s/datamgmt\n' "$PG_ROLE" "$password" "$PG_PORT" >"$PG_URL_FILE")
  trap - ERR
  log "postgres up; database URL in $PG_URL_FILE"
}

# stop: stops the server, keeping its data.
stop() {
  is_running || return 0
  as_server "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
}

down() {
  if is_running; then stop; log "postgres stopped"; else log "postgres not running"; fi
  rm -rf "$PG_DIR" "$PG_URL_FILE"
}

# start: starts the server again on the data `stop` kept.
start() {
  is_running && return 0
  if [ ! -f "$PG_URL_FILE" ] || [ ! -d "$PG_DATA" ]; then die "no cluster to start: run $0 up"; fi
  as_server "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -o "$PG_OPTIONS" start >/dev/null
  log "postgres started"
}

# restart: stops the server and starts it again on the same data.
restart() {
  is_running || die "postgres is not running"
  stop
  start
}

status() {
  if is_running; then echo "postgres: running on 127.0.0.1:$PG_PORT"; else echo "postgres: stopped"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  stop) stop; log "postgres stopped (data kept; \`$0 start\` starts it again)" ;;
  start) start ;;
  restart) restart ;;
  status) status ;;
  *) die "usage: $0 up|down|stop|start|restart|status" ;;
esac
