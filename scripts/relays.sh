#!/usr/bin/env bash
# Starts, stops and reports on the relays listed in substrate-dev.toml (`[[relays]]`),
# on 127.0.0.1, against the running devnet (and Garage for `storage = "s3"`). Each relay
# gets a directory in the state dir with its configuration, keyring (and passphrase),
# index, log, and an API token in `token` (owner-readable only) for curl. Relays serve
# HTTPS with a certificate from the scripts' local CA (`<state_dir>/tls/ca.pem`, which
# they trust for each other's P2P calls; curl --cacert / dmn --ca-cert it), unless
# DATAMGMT_RELAY_TLS=0 (plain HTTP, loopback only).
# Usage: scripts/relays.sh up|down|status (DATAMGMT_RELAY_PROFILE=release: optimized build;
# DATAMGMT_RELAY_SETTINGS=FILE: TOML tables such as [releases] added to each relay's config)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# relays: one line per relay, "name port account storage": substrate-dev.toml's, or
# DATAMGMT_RELAYS when set (lines in the same form: a relay of a tool's own, say).
relays() {
  if [ -n "${DATAMGMT_RELAYS:-}" ]; then
    printf '%s\n' "$DATAMGMT_RELAYS"
    return
  fi
  python3 - "$CONFIG" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    for relay in tomllib.load(f).get("relays", []):
        print(relay["name"], relay["port"], relay["account"], relay["storage"])
PY
}

relay_dir() { printf '%s/relay-%s\n' "$STATE_DIR" "$1"; }
relay_pid() { local f; f="$(relay_dir "$1")/relay.pid"; [ -f "$f" ] && cat "$f"; }
is_running() { local pid; pid=$(relay_pid "$1") && kill -0 "$pid" 2>/dev/null; }

# write_config NAME PORT STORAGE: the relay's TOML, with a fresh token hash.
write_config() {
  local name=$1 port=$2 storage=$3 dir
  dir=$(relay_dir "$name")
  (umask 077 && mkdir -p "$dir" \
    && { [ -f "$dir/token" ] || od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/token"; } \
    && { [ -f "$dir/passphrase" ] || od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/passphrase"; })
  local token_hash tls=
  token_hash=$(tr -d '\n' <"$dir/token" | sha256sum | cut -d' ' -f1)
  if [ "${DATAMGMT_RELAY_TLS:-1}" != 0 ]; then
    relay_certificate "$name"
    tls=$TLS_DIR
  fi
  (umask 077 && python3 - "$dir" "$port" "$storage" "$token_hash" "$DEPLOY_STATE" "$STATE_DIR/s3.json" "$name" "$tls" >"$dir/relay.toml" <<'PY'
import json, os, sys
dir, port, storage, token_hash, deploy_state, s3_state, name, tls = sys.argv[1:]
q = json.dumps  # TOML basic strings accept JSON string escapes
print(f"listen = {q('127.0.0.1:' + port)}")
print(f"public_url = {q(('https' if tls else 'http') + '://127.0.0.1:' + port)}")
# The devnet's node is on loopback, so dApps on this machine may be told about it.
node_url = json.load(open(deploy_state))["url"]
print(f"[chain]\ndeploy_state = {q(deploy_state)}\npublic_node_url = {q(node_url)}")
print(f"[keyring]\npath = {q(dir + '/keyring.json')}")
# The web console, when it has been built (scripts/lib.sh build_web).
web = os.environ.get("DATAMGMT_WEB_DIST", "")
if web and os.path.isfile(os.path.join(web, "index.html")):
    print(f"[console]\ndir = {q(web)}")
print(f"[database]\nurl = {q('sqlite://' + dir + '/index.db')}")
if tls:
    print(f"[tls]\ncert = {q(f'{tls}/relay-{name}.pem')}\nkey = {q(f'{tls}/relay-{name}.key')}")
    print(f"peer_roots = {q(tls + '/ca.pem')}")
if storage == "s3":
    s3 = json.load(open(s3_state))
    print('[storage]\nkind = "s3"')
    for key in ("endpoint", "region", "bucket", "access_key_id", "secret_access_key"):
        print(f"{key} = {q(s3[key])}")
else:
    print(f'[storage]\nkind = "local"\nroot = {q(dir + "/envelopes")}')
# DATAMGMT_RELAY_SETTINGS names a file of TOML tables added to every relay's settings.
extra = os.environ.get("DATAMGMT_RELAY_SETTINGS")
extra = open(extra).read() if extra else ""
print(extra)
# Every relay of this network runs on this machine: they call each other on loopback.
if "[peers]" not in extra:
    print("[peers]\nallow_loopback = true")
print(f'[[tokens]]\nname = "demo"\nsha256 = {q(token_hash)}\nrole = "admin"')
PY
  )
}

up() {
  [ -f "$DEPLOY_STATE" ] || die "no contract deployed: scripts/devnet.sh up && scripts/deploy.sh"
  # DATAMGMT_RELAY_PROFILE=release runs optimized relays (for benchmarks).
  claim_build_cache
  local profile=${DATAMGMT_RELAY_PROFILE:-debug}
  log "building the relay ($profile)"
  case "$profile" in
    debug) build_binaries --quiet ;;
    release) build_binaries --quiet --release ;;
    *) die "DATAMGMT_RELAY_PROFILE must be debug or release, not $profile" ;;
  esac
  log "building the web console"
  build_web
  local binary=$CARGO_TARGET_DIR/$profile/datamgmt-relay
  while read -r name port account storage; do
    if is_running "$name"; then
      log "relay $name already running (pid $(relay_pid "$name"))"
      continue
    fi
    if [ "$storage" = s3 ] && [ ! -f "$STATE_DIR/s3.json" ]; then
      die "relay $name stores in S3: start Garage first (scripts/garage.sh up)"
    fi
    local dir contract
    dir=$(relay_dir "$name")
    contract=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["contract"])' "$DEPLOY_STATE")
    # A relay's index and keys belong to one chain: the devnet keeps no state across
    # restarts, so neither does a relay of it.
    if [ -f "$dir/contract" ] && [ "$(cat "$dir/contract")" != "$contract" ]; then
      log "relay $name: the devnet was restarted since it last ran; starting it afresh"
      rm -rf "$dir"
    fi
    write_config "$name" "$port" "$storage"
    echo "$contract" >"$dir/contract"
    DATAMGMT_NODE_SURI=$account DATAMGMT_KEYRING_PASSPHRASE=$(cat "$dir/passphrase") \
      setsid "$binary" --config "$dir/relay.toml" >"$dir/relay.log" 2>&1 </dev/null &
    echo $! >"$dir/relay.pid"
    log "relay $name starting on $(relay_url "$port") (log: $dir/relay.log)"
  done < <(relays)
  while read -r name port _ _; do
    local deadline=$((SECONDS + 60))
    until relay_curl -sf --max-time 2 "$(relay_url "$port")/readyz" >/dev/null; do
      is_running "$name" || { tail -n 20 "$(relay_dir "$name")/relay.log" >&2; die "relay $name exited"; }
      [ $SECONDS -lt $deadline ] || die "relay $name was not ready within 60s: $(relay_curl -s "$(relay_url "$port")/readyz")"
      sleep 0.5
    done
    log "relay $name ready: $(relay_curl -s "$(relay_url "$port")/healthz")"
  done < <(relays)
}

down() {
  while read -r name _ _ _; do
    if is_running "$name"; then
      local pid
      pid=$(relay_pid "$name")
      kill -TERM "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      log "relay $name stopped"
    fi
    rm -f "$(relay_dir "$name")/relay.pid"
  done < <(relays)
}

status() {
  local all_up=0
  while read -r name port _ _; do
    if is_running "$name"; then
      echo "relay $name: running on $(relay_url "$port") $(relay_curl -s --max-time 2 "$(relay_url "$port")/readyz")"
    else
      echo "relay $name: stopped"
      all_up=1
    fi
  done < <(relays)
  return $all_up
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
