#!/usr/bin/env bash
# Starts, stops and reports on the local S3 server: one Garage node on 127.0.0.1 with a
# single-node layout, one bucket and one access key. `up` writes the S3 settings
# (endpoint, region, bucket, key id, secret) to `<state_dir>/s3.json`, readable by the
# owner only, for the relay and the tests.
# Usage: scripts/garage.sh up|down|status
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

GARAGE_DIR=$STATE_DIR/garage
CONFIG_FILE=$GARAGE_DIR/garage.toml
PID_FILE=$GARAGE_DIR/garage.pid
LOG_FILE=$GARAGE_DIR/garage.log
S3_STATE=$STATE_DIR/s3.json
S3_PORT=${DATAMGMT_S3_PORT:-$(cfg s3.s3_port)}
S3_RPC_PORT=${DATAMGMT_S3_RPC_PORT:-$(cfg s3.rpc_port)}
S3_ADMIN_PORT=${DATAMGMT_S3_ADMIN_PORT:-$(cfg s3.admin_port)}
BUCKET=$(cfg s3.bucket)
KEY_NAME=datamgmt-relay

garage() { command garage -c "$CONFIG_FILE" "$@"; }
garage_pid() { [ -f "$PID_FILE" ] && cat "$PID_FILE"; }
is_running() { local pid; pid=$(garage_pid) && kill -0 "$pid" 2>/dev/null; }
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

up() {
  if is_running; then
    log "garage already running (pid $(garage_pid)) on http://127.0.0.1:$S3_PORT"
    return
  fi
  command -v garage >/dev/null || die "garage is not installed: run scripts/setup.sh"
  curl -s --max-time 1 "http://127.0.0.1:$S3_PORT" >/dev/null && die "port $S3_PORT is taken: another S3 server is running"
  rm -rf "$GARAGE_DIR" "$S3_STATE"
  mkdir -p "$GARAGE_DIR/meta" "$GARAGE_DIR/data"
  (umask 077 && cat >"$CONFIG_FILE" <<TOML
metadata_dir = "$GARAGE_DIR/meta"
data_dir = "$GARAGE_DIR/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$S3_RPC_PORT"
rpc_public_addr = "127.0.0.1:$S3_RPC_PORT"
rpc_secret = "$(random_hex 32)"

[s3_api]
s3_region = "$(cfg s3.region)"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$S3_ADMIN_PORT"
admin_token = "$(random_hex 32)"
TOML
  )
  log "starting garage on http://127.0.0.1:$S3_PORT (log: $LOG_FILE)"
  setsid "$(command -v garage)" -c "$CONFIG_FILE" server >"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + $(cfg s3.start_timeout_sec)))
  until garage status >/dev/null 2>&1; do
    is_running || { tail -n 20 "$LOG_FILE" >&2; rm -f "$PID_FILE"; die "garage exited during start-up"; }
    [ $SECONDS -lt $deadline ] || { down; die "garage did not answer in time"; }
    sleep 0.2
  done
  local node
  node=$(garage node id -q 2>/dev/null | cut -d@ -f1)
  garage layout assign -z dc1 -c 1G "$node" >/dev/null
  garage layout apply --version 1 >/dev/null
  garage bucket create "$BUCKET" >/dev/null
  garage key create "$KEY_NAME" >/dev/null
  garage bucket allow --read --write --owner "$BUCKET" --key "$KEY_NAME" >/dev/null
  local info key_id secret
  info=$(garage key info "$KEY_NAME" --show-secret)
  key_id=$(awk -F': *' '/Key ID/ { print $2; exit }' <<<"$info")
  secret=$(awk -F': *' '/Secret key/ { print $2; exit }' <<<"$info")
  if [ -z "$key_id" ] || [ -z "$secret" ]; then
    die "could not read the access key from garage"
  fi
  (umask 077 && python3 - "$S3_STATE" "$S3_PORT" "$(cfg s3.region)" "$BUCKET" "$key_id" "$secret" <<'PY'
import json, os, sys
path, port, region, bucket, key_id, secret = sys.argv[1:]
state = {"endpoint": f"http://127.0.0.1:{port}", "region": region, "bucket": bucket,
         "access_key_id": key_id, "secret_access_key": secret}
with open(path + ".tmp", "w") as f:
    json.dump(state, f, indent=2)
os.replace(path + ".tmp", path)
PY
  )
  log "garage up (pid $(garage_pid)); bucket $BUCKET; settings in $S3_STATE"
}

down() {
  if is_running; then
    local pid
    pid=$(garage_pid)
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    log "garage stopped"
  else
    log "garage not running"
  fi
  # The store was a scratch one: its data goes with it.
  rm -rf "$GARAGE_DIR" "$S3_STATE"
}

status() {
  if ! is_running; then
    echo "garage: stopped"
    return 1
  fi
  echo "garage: running (pid $(garage_pid)), http://127.0.0.1:$S3_PORT, bucket $BUCKET"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
