#!/usr/bin/env bash
# Key-release latency through P2P: relay B asks relay A for a 1 KiB share, under load.
# `wrk` on B's GET /data/{hash} with 1 client, then 32, three runs each; for each run
# also the latency of A's own P2P route (from its /metrics histogram, so bucket upper
# bounds). Every request is a full release: signed request, chain decision, outbox row,
# envelope re-wrapped for B, B decrypts and checks the hash.
# Needs the devnet, the contract and Garage (scripts/run.sh leaves them running); runs
# the relays as release builds with the rate limits off (bench-p2p.toml), and leaves
# them running (scripts/relays.sh down && scripts/relays.sh up restores the defaults).
# Usage: scripts/bench-p2p.sh [SECONDS_PER_RUN]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
SECONDS_PER_RUN=${1:-20}
command -v wrk >/dev/null || die "needs wrk (Debian: apt-get install wrk)"
[ -f "$DEPLOY_STATE" ] || die "no contract deployed: scripts/devnet.sh up && scripts/deploy.sh"

"$ROOT/scripts/relays.sh" down
# The release path itself is measured: the per-node and per-share rate limits are off.
DATAMGMT_RELAY_PROFILE=release DATAMGMT_RELAY_SETTINGS="$ROOT/scripts/bench-p2p.toml" \
  "$ROOT/scripts/relays.sh" up

port() { python3 -c 'import sys, tomllib; r = {x["name"]: x for x in tomllib.load(open(sys.argv[1], "rb"))["relays"]}; print(r[sys.argv[2]]["port"])' "$CONFIG" "$1"; }
A_PORT=$(port a)
B_PORT=$(port b)
A_TOKEN=$(cat "$STATE_DIR/relay-a/token")
B_TOKEN=$(cat "$STATE_DIR/relay-b/token")
A_URL=$(relay_url "$A_PORT")
B_URL=$(relay_url "$B_PORT")
B_NODE=$(relay_curl -sf "$B_URL/healthz" | python3 -c 'import json, sys; print(json.load(sys.stdin)["node_id"])')

DATA=$(head -c 768 /dev/urandom | base64 -w0) # 1,024 characters
HASH=$(relay_curl -sf -X POST "$A_URL/share_data" \
  -H "authorization: Bearer $A_TOKEN" -H 'content-type: application/json' \
  -d "{\"data\": \"$DATA\", \"recipient\": \"$B_NODE\"}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["data_hash"])')
log "A shared 1 KiB with B: $HASH"
URL="$B_URL/data/$HASH"
for _ in $(seq 1 120); do
  [ "$(relay_curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $B_TOKEN" "$URL")" = 200 ] && break
  sleep 0.5
done
[ "$(relay_curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $B_TOKEN" "$URL")" = 200 ] \
  || die "B never read the share"

# route_buckets: A's P2P route latency histogram, "upper_bound count" per line.
route_buckets() {
  relay_curl -sf "$A_URL/metrics" | python3 -c '
import re, sys
for line in sys.stdin:
    if line.startswith("datamgmt_http_request_duration_seconds_bucket") and "/p2p/envelopes/" in line:
        le = re.search(r"le=\"([^\"]+)\"", line).group(1)
        print(le, line.split()[-1])'
}

# quantiles BEFORE AFTER: p50/p90/p99 bucket bounds of the requests between two snapshots.
quantiles() {
  python3 - "$1" "$2" <<'PY'
import sys
def read(text):
    return {float(le): int(n) for le, n in (l.split() for l in text.strip().splitlines())}
before, after = read(sys.argv[1]), read(sys.argv[2])
bounds = sorted(after)
counts = [after[b] - before.get(b, 0) for b in bounds]
total = counts[-1]
def q(p):
    return next(b for b, n in zip(bounds, counts) if n >= p * total)
ms = lambda s: "inf" if s == float("inf") else f"{s * 1000:g} ms"
print(f"  A's P2P route: {total} releases, p50 <= {ms(q(0.5))}, p90 <= {ms(q(0.9))}, p99 <= {ms(q(0.99))}")
PY
}

for clients in 1 32; do
  threads=$((clients < 2 ? 1 : 2))
  for run in 1 2 3; do
    log "$clients client(s), run $run, ${SECONDS_PER_RUN}s"
    before=$(route_buckets)
    wrk -t"$threads" -c"$clients" -d"${SECONDS_PER_RUN}s" --latency \
      -H "authorization: Bearer $B_TOKEN" "$URL" \
      | grep -E 'Latency Distribution|50%|90%|99%|Requests/sec|Non-2xx'
    quantiles "$before" "$(route_buckets)"
  done
done
relay_curl -sf "$A_URL/metrics" | grep -E '^datamgmt_(key_releases|release_records)_total'
