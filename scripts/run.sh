#!/usr/bin/env bash
# The main job: installs what is missing, starts the devnet, deploys the contract, starts
# Garage (S3) and two relays (A stores in S3, B on disk), then
# 1. walks through the contract's rules on chain (client/examples/walkthrough.rs), and
# 2. shares data from relay A to node B over the REST API with curl, reads it back as the
#    owner and lists it.
# Everything keeps running afterwards; `scripts/run.sh down` stops it all.
source "$(dirname "$0")/lib.sh"

if [ "${1:-}" = down ]; then
  "$ROOT/scripts/relays.sh" down
  "$ROOT/scripts/garage.sh" down
  "$ROOT/scripts/devnet.sh" down
  exit 0
fi

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/devnet.sh" up
"$ROOT/scripts/deploy.sh"
"$ROOT/scripts/garage.sh" up
"$ROOT/scripts/relays.sh" up
cd "$ROOT"

log "the contract's rules, straight on chain"
DATAMGMT_DEPLOY_STATE=$DEPLOY_STATE cargo run --quiet --locked -p datamgmt-client --example walkthrough

port() { python3 -c 'import sys, tomllib; r = {x["name"]: x for x in tomllib.load(open(sys.argv[1], "rb"))["relays"]}; print(r[sys.argv[2]]["port"])' "$CONFIG" "$1"; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
show() { printf '\n$ %s\n' "$*" >&2; "$@"; echo; }

A="http://127.0.0.1:$(port a)"
B="http://127.0.0.1:$(port b)"
TOKEN=$(cat "$STATE_DIR/relay-a/token")
B_NODE=$(curl -sf "$B/healthz" | json_field node_id)

log "sharing through relay A ($A) with node B ($B_NODE)"
response=$(show curl -sf -X POST "$A/share_data" \
  -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"data\": \"Sensitive enterprise data...\", \"recipient\": \"$B_NODE\", \"encrypt\": true, \"require_payment\": false}")
echo "$response"
HASH=$(json_field data_hash <<<"$response")
show curl -sf "$A/data/$HASH" -H "authorization: Bearer $TOKEN"
show curl -sf "$A/data/list?limit=5" -H "authorization: Bearer $TOKEN"
sleep 2 # the proof lists finalized blocks once the indexer has read them
show curl -sf "$A/verify_data/$HASH" -H "authorization: Bearer $TOKEN"


log "all still running: devnet $RPC_URL, Garage, relays A $A and B $B; API token of A in $STATE_DIR/relay-a/token"
log "stop everything with: scripts/run.sh down"
