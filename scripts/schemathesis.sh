#!/usr/bin/env bash
# Property-based API testing: schemathesis generates requests from the relay's own
# /openapi.json and checks every answer: no 5xx, status codes, content types, headers
# and bodies as documented, invalid input refused, authentication enforced.
# Runs against a relay of its own (`schema`, local storage, account //Dave) on the
# running devnet, stopped afterwards. Installs schemathesis (the version in
# substrate-dev.toml) with pip when missing.
# Usage: scripts/schemathesis.sh [SECONDS]   (time budget of the run; default 60)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
BUDGET=${1:-60}
VERSION=$(cfg tools.schemathesis)
[ -f "$DEPLOY_STATE" ] || die "no contract deployed: scripts/devnet.sh up && scripts/deploy.sh"

if [ "$(schemathesis --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+')" != "$VERSION" ]; then
  log "installing schemathesis $VERSION"
  python3 -m pip install --quiet "schemathesis==$VERSION"
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATAMGMT_RELAYS="schema $PORT //Dave local"
trap '"$ROOT/scripts/relays.sh" down' EXIT
"$ROOT/scripts/relays.sh" up
TOKEN=$(cat "$STATE_DIR/relay-schema/token")
REPORT_DIR=$STATE_DIR/schemathesis
mkdir -p "$REPORT_DIR"

URL=$(relay_url "$PORT")
# Over HTTPS, schemathesis trusts the scripts' local CA (and nothing else).
TLS=()
[ "${DATAMGMT_RELAY_TLS:-1}" = 0 ] || TLS=(--tls-verify "$LOCAL_CA")
log "schemathesis against $URL/openapi.json for ${BUDGET}s"
# Its caches go beside its reports, not into the checkout. One worker: with more, its
# coverage phase has been seen to fail inside CPython (a recursion-depth SystemError).
cd "$REPORT_DIR"
schemathesis run "$URL/openapi.json" "${TLS[@]}" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,ignored_auth \
  --max-time "$BUDGET" \
  --workers 1 \
  --request-timeout 30 \
  --suppress-health-check all \
  --report junit,ndjson --report-dir "$REPORT_DIR" \
  --output-truncate true
