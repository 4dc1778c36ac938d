# shellcheck shell=bash disable=SC2034 # the variables here are for the scripts that source this file
# Shared by the scripts: paths, config lookup from substrate-dev.toml, logging.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFIG=${DATAMGMT_DEVNET_CONFIG:-$ROOT/substrate-dev.toml}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export PATH="$CARGO_HOME/bin:$PATH"
# Build outputs live outside the clone so a fresh clone (CI) reuses earlier builds.
CACHE_DIR=${DATAMGMT_CACHE_DIR:-$HOME/.cache/datamgmt}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE_DIR/target}
CONTRACT_TARGET_DIR=$CACHE_DIR/contract-target
# The web console's build (web/, `vite build`): what the relays serve at `/`.
export DATAMGMT_WEB_DIST=${DATAMGMT_WEB_DIST:-$CACHE_DIR/web}

# Each line says how long the script has run, so a slow step shows in any log.
log() { printf '==> [%ss] %s\n' "$SECONDS" "$*" >&2; }

# build_binaries [CARGO-ARGS...]: the relay and dmn, built the one way every script
# builds them (the same packages, so the same features: a second script rebuilds
# nothing).
build_binaries() {
  (cd "$ROOT" && cargo build --locked -p datamgmt-relay -p datamgmt-client --bins "$@")
}

# build_web: type-checks and builds the web console and the dApp page into
# $DATAMGMT_WEB_DIST (web/'s packages are installed by scripts/setup.sh). The build goes
# to a new folder that then takes the old one's place, so relays serving it never see a
# half-written one; a folder there that is not a build is left alone.
build_web() {
  local dist=$DATAMGMT_WEB_DIST fresh
  if [ -e "$dist" ] && [ ! -f "$dist/index.html" ]; then
    die "$dist is not a web console build; set DATAMGMT_WEB_DIST to where it belongs"
  fi
  mkdir -p "$(dirname "$dist")"
  fresh=$(mktemp -d "$dist.new.XXXXXX")
  (cd "$ROOT/web" && DATAMGMT_WEB_DIST=$fresh npm run --silent build -- --logLevel warn) \
    || { rm -rf "$fresh"; return 1; }
  rm -rf "$dist.old" && { [ ! -e "$dist" ] || mv "$dist" "$dist.old"; } && mv "$fresh" "$dist" && rm -rf "$dist.old"
}

# Cargo names a workspace crate's build the same whichever checkout it comes from, and
# judges it fresh by the source files that build read. With one shared target directory,
# a second checkout (a CI clone) could therefore run what the first one built. When the
# checkout using the cache changes, forget the project's own crates there (dependencies
# stay built), so they are compiled from this checkout. Called by the scripts that build
# the project (not by those that only start or stop services, which may run while
# another checkout builds).
claim_build_cache() {
  local dir marker
  for dir in "$CARGO_TARGET_DIR" "$CONTRACT_TARGET_DIR"; do
    marker=$dir/.datamgmt-checkout
    [ -d "$dir" ] || continue
    [ "$(cat "$marker" 2>/dev/null)" = "$ROOT" ] && continue
    find "$dir" -maxdepth 4 -type d -path '*/.fingerprint/*' \
      \( -name 'datamgmt-*' -o -name 'access-*' \) -exec rm -rf {} + 2>/dev/null || true
    printf '%s\n' "$ROOT" >"$marker"
  done
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# cfg KEY.PATH: prints a value of substrate-dev.toml (array items one per line).
cfg() {
  python3 - "$CONFIG" "$1" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    value = tomllib.load(f)
for part in sys.argv[2].split("."):
    if not isinstance(value, dict) or part not in value:
        sys.exit(f"substrate-dev.toml has no `{sys.argv[2]}`")
    value = value[part]
print("\n".join(map(str, value)) if isinstance(value, list) else value)
PY
}

# abspath PATH: PATH made absolute against the project root.
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$ROOT/$1" ;; esac; }

# DATAMGMT_STATE_DIR / _RPC_PORT / _P2P_PORT let a second devnet (the test run's) live
# beside the one a user keeps running.
STATE_DIR=${DATAMGMT_STATE_DIR:-$(abspath "$(cfg devnet.state_dir)")}
DEPLOY_STATE=$STATE_DIR/deploy.json
RPC_PORT=${DATAMGMT_RPC_PORT:-$(cfg node.rpc_port)}
P2P_PORT=${DATAMGMT_P2P_PORT:-$(cfg node.p2p_port)}
RPC_URL="ws://127.0.0.1:$RPC_PORT"

# The local certificate authority the scripts make for the relays' HTTPS (the demo's,
# the browser story's and schemathesis's relays): ca.pem is what clients trust
# (curl --cacert, dmn --ca-cert, the relays' [tls] peer_roots).
TLS_DIR=$STATE_DIR/tls
LOCAL_CA=$TLS_DIR/ca.pem
# relay_url PORT: the base URL of the scripts' relay on PORT (HTTPS unless
# DATAMGMT_RELAY_TLS=0, with which relays.sh starts them on plain loopback HTTP).
relay_url() {
  if [ "${DATAMGMT_RELAY_TLS:-1}" = 0 ]; then printf 'http://127.0.0.1:%s\n' "$1"; else printf 'https://127.0.0.1:%s\n' "$1"; fi
}
# relay_curl ARGS…: curl trusting the local CA.
relay_curl() { curl --cacert "$LOCAL_CA" "$@"; }

# relay_certificate NAME: makes the local CA (once) and a certificate of relay NAME for
# 127.0.0.1 and localhost signed by it (once): $TLS_DIR/relay-NAME.pem (the certificate,
# then the CA's) and $TLS_DIR/relay-NAME.key (readable by the owner only). One process at
# a time (the end-to-end suites' test processes call it too), under a lock in $TLS_DIR.
relay_certificate() {
  mkdir -p "$TLS_DIR"
  (
    flock 9
    make_relay_certificate "$1"
  ) 9>"$TLS_DIR/.lock"
}
make_relay_certificate() {
  local name=$1
  if [ ! -f "$LOCAL_CA" ] || [ ! -f "$TLS_DIR/ca.key" ] \
    || ! openssl x509 -in "$LOCAL_CA" -noout -checkend 604800 >/dev/null 2>&1; then
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -days 365 -subj "/CN=DataMgmt local CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$TLS_DIR/ca.key" -out "$LOCAL_CA" 2>/dev/null) || die "openssl could not make the local CA"
    chmod 644 "$LOCAL_CA"
    rm -f "$TLS_DIR"/*.csr "$TLS_DIR"/relay-*.pem
  fi
  # A certificate is kept while the CA vouches for it and it has a week left.
  if [ -f "$TLS_DIR/relay-$name.pem" ] && [ -f "$TLS_DIR/relay-$name.key" ] \
    && openssl verify -CAfile "$LOCAL_CA" "$TLS_DIR/relay-$name.pem" >/dev/null 2>&1 \
    && openssl x509 -in "$TLS_DIR/relay-$name.pem" -noout -checkend 604800 >/dev/null; then
    return
  fi
  local extensions
  extensions=$(mktemp)
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$extensions"
  (umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=relay $name" -keyout "$TLS_DIR/relay-$name.key" -out "$TLS_DIR/relay-$name.csr" 2>/dev/null \
    && openssl x509 -req -in "$TLS_DIR/relay-$name.csr" -CA "$LOCAL_CA" -CAkey "$TLS_DIR/ca.key" \
      -CAcreateserial -days 365 -extfile "$extensions" -out "$TLS_DIR/relay-$name.leaf.pem" 2>/dev/null) \
    || { rm -f "$extensions"; die "openssl could not certify relay $name"; }
  rm -f "$extensions" "$TLS_DIR/relay-$name.csr"
  cat "$TLS_DIR/relay-$name.leaf.pem" "$LOCAL_CA" >"$TLS_DIR/relay-$name.pem"
  rm -f "$TLS_DIR/relay-$name.leaf.pem"
}
