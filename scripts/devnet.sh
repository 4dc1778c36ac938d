#!/usr/bin/env bash
# Starts, stops and reports on the local chain: one `substrate-contracts-node --dev` with
# temporary state, RPC and p2p on 127.0.0.1, flags from substrate-dev.toml.
# Usage: scripts/devnet.sh up|down|status
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PID_FILE=$STATE_DIR/node.pid
LOG_FILE=$STATE_DIR/node.log

rpc() {
  curl -sf --max-time 2 -H 'Content-Type: application/json' \
    -d "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":[]}" \
    "http://127.0.0.1:$RPC_PORT"
}

node_pid() { [ -f "$PID_FILE" ] && cat "$PID_FILE"; }
is_running() { local pid; pid=$(node_pid) && kill -0 "$pid" 2>/dev/null; }

up() {
  if is_running; then
    log "devnet already running (pid $(node_pid)) on $RPC_URL"
    return
  fi
  rpc system_health >/dev/null && die "port $RPC_PORT already answers JSON-RPC: another node is running; stop it first"
  local binary flags=()
  binary=$(cfg node.binary)
  command -v "$binary" >/dev/null || die "$binary is not installed: run scripts/setup.sh"
  mapfile -t flags < <(cfg node.extra_flags)
  mkdir -p "$STATE_DIR"
  rm -f "$DEPLOY_STATE"
  log "starting $binary on $RPC_URL (log: $LOG_FILE)"
  setsid "$binary" --dev --tmp \
    --rpc-port "$RPC_PORT" \
    --listen-addr "/ip4/127.0.0.1/tcp/$P2P_PORT" \
    --finalize-delay-sec "$(cfg node.finalize_delay_sec)" \
    "${flags[@]}" >"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + $(cfg node.start_timeout_sec)))
  until rpc system_health >/dev/null; do
    if ! is_running; then
      tail -n 20 "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      die "$binary exited during start-up"
    fi
    [ $SECONDS -lt $deadline ] || { down; die "$binary did not answer within $(cfg node.start_timeout_sec)s"; }
    sleep 0.2
  done
  log "devnet up (pid $(node_pid)) after ${SECONDS}s"
}

down() {
  if ! is_running; then
    rm -f "$PID_FILE" "$DEPLOY_STATE"
    log "devnet not running"
    return
  fi
  local pid
  pid=$(node_pid)
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "node did not stop within 20s; killing it"
    kill -KILL "$pid"
  fi
  # The chain state was temporary: a deployment does not outlive its node.
  rm -f "$PID_FILE" "$DEPLOY_STATE"
  log "devnet stopped"
}

status() {
  if ! is_running; then
    echo "devnet: stopped"
    return 1
  fi
  local head
  head=$(rpc chain_getHeader | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["result"]["number"], 16))' 2>/dev/null || echo "?")
  echo "devnet: running (pid $(node_pid)), $RPC_URL, best block $head"
  if [ -f "$DEPLOY_STATE" ]; then
    echo "contract: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contract"])' "$DEPLOY_STATE")"
  else
    echo "contract: not deployed (scripts/deploy.sh)"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
