#!/usr/bin/env bash
# Starts, stops and reports on the local S3 server: Garage on 127.0.0.1, one node by
# default, or a cluster of DATAMGMT_S3_NODES nodes (3 for a real one) with replication
# factor 3 (every object on every node; reads and writes need two). Node i listens on
# the configured S3, RPC and admin ports plus 100 x i; the S3 endpoint given out is node
# 0's. One bucket and one access key. `up` writes the S3 settings (endpoint, region,
# bucket, key id, secret) to `<state_dir>/s3.json`, readable by the owner only, for the
# relay and the tests, and each node's pid to `garage/node<i>/garage.pid`.
# Usage: scripts/garage.sh up|down|status
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

GARAGE_DIR=$STATE_DIR/garage
S3_STATE=$STATE_DIR/s3.json
S3_PORT=${DATAMGMT_S3_PORT:-$(cfg s3.s3_port)}
S3_RPC_PORT=${DATAMGMT_S3_RPC_PORT:-$(cfg s3.rpc_port)}
S3_ADMIN_PORT=${DATAMGMT_S3_ADMIN_PORT:-$(cfg s3.admin_port)}
NODES=${DATAMGMT_S3_NODES:-1}
BUCKET=$(cfg s3.bucket)
KEY_NAME=datamgmt-relay

case "$NODES" in
  1) REPLICATION=1 ;;
  3) REPLICATION=3 ;;
  *) die "DATAMGMT_S3_NODES must be 1 or 3, not $NODES" ;;
esac

node_dir() { printf '%s/node%s\n' "$GARAGE_DIR" "$1"; }
# garage ARGS…: the garage CLI against node 0.
garage() { command garage -c "$(node_dir 0)/garage.toml" "$@"; }
garage_pid() { local f; f="$(node_dir "$1")/garage.pid"; [ -f "$f" ] && cat "$f"; }
# is_running I: node I's process is alive (and is a garage, not a reused pid).
is_running() {
  local pid
  pid=$(garage_pid "$1") && kill -0 "$pid" 2>/dev/null && grep -q garage "/proc/$pid/cmdline" 2>/dev/null
}
# running_nodes: the indexes of the nodes whose process is alive.
running_nodes() { local i; for i in 0 1 2; do is_running "$i" && echo "$i"; done; return 0; }
# stop_legacy: stops a Garage started before nodes had directories of their own.
stop_legacy() {
  local pid
  pid=$(cat "$GARAGE_DIR/garage.pid" 2>/dev/null) || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  log "garage stopped (started by an earlier version of this script)"
}
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# write_config I SECRET TOKEN: node I's garage.toml.
write_config() {
  local i=$1 dir offset
  dir=$(node_dir "$i")
  offset=$((100 * i))
  mkdir -p "$dir/meta" "$dir/data"
  (umask 077 && cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = $REPLICATION
rpc_bind_addr = "127.0.0.1:$((S3_RPC_PORT + offset))"
rpc_public_addr = "127.0.0.1:$((S3_RPC_PORT + offset))"
rpc_secret = "$2"

[s3_api]
s3_region = "$(cfg s3.region)"
api_bind_addr = "127.0.0.1:$((S3_PORT + offset))"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((S3_ADMIN_PORT + offset))"
admin_token = "$3"
TOML
  )
}

up() {
  if [ -n "$(running_nodes)" ] && [ -f "$S3_STATE" ]; then
    log "garage already running ($(running_nodes | wc -l) node(s)) on http://127.0.0.1:$S3_PORT"
    return
  fi
  # Nodes without settings are what a failed start left: start afresh.
  [ -z "$(running_nodes)" ] || down
  # Whatever fails from here on stops what was started.
  set -E
  trap 'down' ERR
  command -v garage >/dev/null || die "garage is not installed: run scripts/setup.sh"
  stop_legacy
  local i
  for i in $(seq 0 $((NODES - 1))); do
    curl -s --max-time 1 "http://127.0.0.1:$((S3_PORT + 100 * i))" >/dev/null \
      && die "port $((S3_PORT + 100 * i)) is taken: another S3 server is running"
  done
  rm -rf "$GARAGE_DIR" "$S3_STATE"
  local secret token
  secret=$(random_hex 32)
  token=$(random_hex 32)
  for i in $(seq 0 $((NODES - 1))); do
    write_config "$i" "$secret" "$token"
    log "starting garage node $i on http://127.0.0.1:$((S3_PORT + 100 * i)) (log: $(node_dir "$i")/garage.log)"
    setsid "$(command -v garage)" -c "$(node_dir "$i")/garage.toml" server \
      >"$(node_dir "$i")/garage.log" 2>&1 </dev/null &
    echo $! >"$(node_dir "$i")/garage.pid"
  done
  local deadline=$((SECONDS + $(cfg s3.start_timeout_sec)))
  for i in $(seq 0 $((NODES - 1))); do
    until command garage -c "$(node_dir "$i")/garage.toml" status >/dev/null 2>&1; do
      is_running "$i" || { tail -n 20 "$(node_dir "$i")/garage.log" >&2; down; die "garage node $i exited during start-up"; }
      [ $SECONDS -lt $deadline ] || { down; die "garage node $i did not answer in time"; }
      sleep 0.2
    done
  done
  local node id
  for i in $(seq 0 $((NODES - 1))); do
    id=$(command garage -c "$(node_dir "$i")/garage.toml" node id -q 2>/dev/null)
    node=${id%%@*}
    # The others join node 0; each node is a zone of its own, so every object has a
    # copy on each.
    [ "$i" -eq 0 ] || garage node connect "$id" >/dev/null
    garage layout assign -z "dc$((i + 1))" -c 1G "$node" >/dev/null
  done
  garage layout apply --version 1 >/dev/null
  # Writes need a quorum of the layout's nodes: wait until every one is healthy.
  until [ "$(garage status 2>/dev/null | awk '/HEALTHY NODES/ { on = 1; next } /====/ { on = 0 } on && /dc[0-9]/' | wc -l)" -ge "$NODES" ]; do
    [ $SECONDS -lt $deadline ] || { down; die "garage: not every node is healthy in time"; }
    sleep 0.2
  done
  garage bucket create "$BUCKET" >/dev/null
  garage key create "$KEY_NAME" >/dev/null
  garage bucket allow --read --write --owner "$BUCKET" --key "$KEY_NAME" >/dev/null
  local info key_id secret_key
  info=$(garage key info "$KEY_NAME" --show-secret)
  key_id=$(awk -F': *' '/Key ID/ { print $2; exit }' <<<"$info")
  secret_key=$(awk -F': *' '/Secret key/ { print $2; exit }' <<<"$info")
  if [ -z "$key_id" ] || [ -z "$secret_key" ]; then
    down
    die "could not read the access key from garage"
  fi
  (umask 077 && python3 - "$S3_STATE" "$S3_PORT" "$(cfg s3.region)" "$BUCKET" "$key_id" "$secret_key" <<'PY'
import json, os, sys
path, port, region, bucket, key_id, secret = sys.argv[1:]
state = {"endpoint": f"http://127.0.0.1:{port}", "region": region, "bucket": bucket,
         "access_key_id": key_id, "secret_access_key": secret}
with open(path + ".tmp", "w") as f:
    json.dump(state, f, indent=2)
os.replace(path + ".tmp", path)
PY
  )
  trap - ERR
  log "garage up ($NODES node(s), replication factor $REPLICATION); bucket $BUCKET; settings in $S3_STATE"
}

down() {
  local i pid stopped=0
  for i in $(running_nodes); do
    pid=$(garage_pid "$i")
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    stopped=$((stopped + 1))
  done
  stop_legacy
  if [ "$stopped" -gt 0 ]; then log "garage stopped ($stopped node(s))"; elif [ ! -f "$GARAGE_DIR/garage.pid" ]; then log "garage not running"; fi
  # The store was a scratch one: its data goes with it.
  rm -rf "$GARAGE_DIR" "$S3_STATE"
}

status() {
  local running
  running=$(running_nodes | wc -l)
  if [ "$running" -eq 0 ]; then
    echo "garage: stopped"
    return 1
  fi
  echo "garage: $running node(s) running, http://127.0.0.1:$S3_PORT, bucket $BUCKET"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
