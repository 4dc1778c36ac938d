#!/usr/bin/env bash
# The main job: installs what is missing, starts the devnet, deploys the contract, starts
# Garage (S3) and three relays (A stores in S3, B and C on disk), then
# 1. walks through the contract's rules on chain (client/examples/walkthrough.rs),
# 2. shares data from relay A to node B over the REST API with curl, reads it back as the
#    owner and lists it, and
# 3. tells the whole story with the `dmn` CLI: A shares a file with B at a price with an
#    expiry, B pays and reads it, C is refused, A revokes, B is refused, and a compliance
#    export straight from the chain shows all of it and verifies.
# Everything keeps running afterwards (each relay serves the web console at its address);
# `scripts/run.sh down` stops it all.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if [ "${1:-}" = down ]; then
  "$ROOT/scripts/relays.sh" down
  "$ROOT/scripts/garage.sh" down
  "$ROOT/scripts/devnet.sh" down
  exit 0
fi

claim_build_cache
"$ROOT/scripts/setup.sh"
"$ROOT/scripts/devnet.sh" up
"$ROOT/scripts/deploy.sh"
"$ROOT/scripts/garage.sh" up
"$ROOT/scripts/relays.sh" up
cd "$ROOT" || exit 1

log "the contract's rules, straight on chain"
DATAMGMT_DEPLOY_STATE=$DEPLOY_STATE cargo run --quiet --locked -p datamgmt-client --example walkthrough

port() { python3 -c 'import sys, tomllib; r = {x["name"]: x for x in tomllib.load(open(sys.argv[1], "rb"))["relays"]}; print(r[sys.argv[2]]["port"])' "$CONFIG" "$1"; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
show() { printf '\n$ %s\n' "$*" >&2; "$@"; echo; }

# The relays serve HTTPS with certificates of the scripts' local CA, which curl and dmn
# are told to trust.
A=$(relay_url "$(port a)")
B=$(relay_url "$(port b)")
C=$(relay_url "$(port c)")
TOKEN=$(cat "$STATE_DIR/relay-a/token")
B_NODE=$(relay_curl -sf "$B/healthz" | json_field node_id)

log "sharing through relay A ($A) with node B ($B_NODE)"
response=$(show relay_curl -sf -X POST "$A/share_data" \
  -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"data\": \"Sensitive enterprise data...\", \"recipient\": \"$B_NODE\", \"encrypt\": true, \"require_payment\": false}")
echo "$response"
HASH=$(json_field data_hash <<<"$response")
show relay_curl -sf "$A/data/$HASH" -H "authorization: Bearer $TOKEN"
show relay_curl -sf "$A/data/list?limit=5" -H "authorization: Bearer $TOKEN"
sleep 2 # the proof lists finalized blocks once the indexer has read them
show relay_curl -sf "$A/verify_data/$HASH" -H "authorization: Bearer $TOKEN"


log "the story, with the dmn CLI"
build_binaries --quiet
DMN=$CARGO_TARGET_DIR/debug/dmn
as_node() { # as_node NAME dmn-args…: dmn with relay NAME's endpoint and token
  local name=$1; shift
  DMN_ENDPOINT=$(relay_url "$(port "$name")") DMN_CA_CERT=$LOCAL_CA DMN_TOKEN=$(cat "$STATE_DIR/relay-$name/token") \
    "$DMN" "$@"
}
story() { printf '\n# %s\n' "$1" >&2; }
expect_refusal() { # expect_refusal dmn-args…: the command must fail
  if "$@"; then die "expected a refusal: $*"; fi
}
DEMO_DIR="$STATE_DIR/demo"
mkdir -p "$DEMO_DIR"
head -c 3000000 /dev/urandom >"$DEMO_DIR/quarterly-report.bin"
EXPIRES=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)

story "A shares a 3 MB file with B at 5 units per access, until $EXPIRES"
shared=$(as_node a --json share "$DEMO_DIR/quarterly-report.bin" --recipient "$B_NODE" --price 5 --expires-at "$EXPIRES")
echo "$shared"
FILE_HASH=$(json_field data_hash <<<"$shared")
SHARE_ID=$(json_field share_id <<<"$shared")
sleep 2 # B's indexer reads finalized blocks

story "B asks before paying: refused"
expect_refusal as_node b get "$FILE_HASH" -o "$DEMO_DIR/received.bin"
story "B pays, then reads it (fetched from A over signed P2P, checked against its hash)"
as_node b pay "$SHARE_ID"
as_node b get "$FILE_HASH" -o "$DEMO_DIR/received.bin"
cmp "$DEMO_DIR/quarterly-report.bin" "$DEMO_DIR/received.bin" && echo "identical to what A shared"
story "C asks: refused (nothing was shared with C)"
expect_refusal as_node c get "$FILE_HASH"
story "A revokes"
as_node a revoke "$SHARE_ID"
story "B pays again and asks: refused, the share is revoked"
expect_refusal as_node b pay "$SHARE_ID"
expect_refusal as_node b get "$FILE_HASH"

story "compliance: every record of this data, straight from the chain"
sleep 2 # the export reads finalized blocks
DATAMGMT_DEPLOY_STATE=$DEPLOY_STATE "$DMN" audit export --data-hash "$FILE_HASH" --format csv -o "$DEMO_DIR/audit.csv"
tail -n +2 "$DEMO_DIR/audit.csv" | cut -d, -f1,5,7,8,10
DATAMGMT_DEPLOY_STATE=$DEPLOY_STATE "$DMN" audit verify "$DEMO_DIR/audit.csv"

log "all still running: devnet $RPC_URL, Garage, relays A $A, B $B and C $C; API token of each in $STATE_DIR/relay-*/token"
log "web console: $A/ and $B/ (token in $STATE_DIR/relay-<name>/token), dApp page: $B/dapp.html"
log "stop everything with: scripts/run.sh down"
