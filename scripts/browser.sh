#!/usr/bin/env bash
# The browser tests: builds the web console, starts two relays of its own serving it (A
# stores in S3, B on disk; ports DATAMGMT_BROWSER_PORT and the next one; node accounts
# //Dave//stash and //Eve//stash, which no other relay here uses) against the
# running devnet and Garage, and drives Debian's Chromium through the whole story
# (web/tests/story.mjs). Screenshots and results go to DATAMGMT_SCREENSHOTS (default:
# the state dir's `screenshots`). The relays serve HTTPS with the scripts' local CA.
# The relays are stopped afterwards, even on failure.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ -f "$DEPLOY_STATE" ] || die "no contract deployed: scripts/devnet.sh up && scripts/deploy.sh"
PORT=${DATAMGMT_BROWSER_PORT:-18081}
export DATAMGMT_SCREENSHOTS=${DATAMGMT_SCREENSHOTS:-$STATE_DIR/screenshots}
export DATAMGMT_RELAYS="browser-a $PORT //Dave//stash s3
browser-b $((PORT + 1)) //Eve//stash local"
command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ] || die "no chromium: run scripts/setup.sh"
trap '"$ROOT/scripts/relays.sh" down' EXIT
# Relays of an earlier run left behind would keep their old settings.
"$ROOT/scripts/relays.sh" down
"$ROOT/scripts/relays.sh" up
rm -rf "$DATAMGMT_SCREENSHOTS"
# The relays serve HTTPS with certificates of the scripts' local CA; Chromium is told
# to accept exactly those two certificates (by their public keys), as a browser that
# trusts the CA would, and Node.js (the story's own requests) trusts the CA.
spki() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64; }
if [ "${DATAMGMT_RELAY_TLS:-1}" != 0 ]; then
  DATAMGMT_TRUSTED_SPKI="$(spki "$TLS_DIR/relay-browser-a.pem"),$(spki "$TLS_DIR/relay-browser-b.pem")"
  export DATAMGMT_TRUSTED_SPKI
fi
DATAMGMT_A_URL=$(relay_url "$PORT") DATAMGMT_A_TOKEN=$(cat "$STATE_DIR/relay-browser-a/token") \
  DATAMGMT_B_URL=$(relay_url "$((PORT + 1))") DATAMGMT_B_TOKEN=$(cat "$STATE_DIR/relay-browser-b/token") \
  CHROMIUM=${CHROMIUM:-$(command -v chromium)} NODE_EXTRA_CA_CERTS=$LOCAL_CA \
  node "$ROOT/web/tests/story.mjs"
