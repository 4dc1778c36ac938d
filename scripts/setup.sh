#!/usr/bin/env bash
# Installs what the project needs to build, deploy and test, and nothing twice:
# the contract toolchain (1.81.0 + wasm32 target, rust-src, clippy),
# `substrate-contracts-node`, `cargo-contract`, `garage` (the S3 server) and `cargo-deny`
# (the dependency policy check, deny.toml) at the versions in substrate-dev.toml,
# Debian's PostgreSQL server (the index's server engine) and nginx (the replicas' load
# balancer in tests), and
# Python's `cryptography` (the envelope's interoperability peer), the web console's npm
# packages (web/package-lock.json) and Debian's Chromium, which the browser tests drive.
# A tool already installed at the right version is kept; otherwise a verified prebuilt
# copy is used when `tools.prebuilt_dir` has one, else it is built from crates.io.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TOOLCHAIN=$(cfg tools.contract_toolchain)
PREBUILT_DIR=${DATAMGMT_PREBUILT_DIR:-$(abspath "$(cfg tools.prebuilt_dir)")}

install_toolchain() {
  if ! rustup toolchain list | grep -q "^$TOOLCHAIN-"; then
    log "installing Rust $TOOLCHAIN"
    rustup toolchain install "$TOOLCHAIN" --profile minimal
  fi
  if ! rustup target list --installed --toolchain "$TOOLCHAIN" | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown --toolchain "$TOOLCHAIN"
  fi
  local have
  have=$(rustup component list --installed --toolchain "$TOOLCHAIN")
  for component in rust-src clippy; do
    grep -q "^$component" <<<"$have" || rustup component add "$component" --toolchain "$TOOLCHAIN"
  done
}

# install_packages PACKAGE...: the Debian packages among these that are missing.
install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  local sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# The system packages a from-source build of the node needs.
install_build_packages() {
  install_packages clang libclang-dev protobuf-compiler cmake pkg-config libssl-dev
}

# installed_version BINARY: the x.y.z its --version prints, or nothing.
installed_version() {
  command -v "$1" >/dev/null 2>&1 || return 0
  "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1
}

# install_prebuilt BINARY VERSION: unpacks and verifies BINARY-VERSION.xz; fails if absent.
install_prebuilt() {
  local bin=$1 version=$2 archive="$PREBUILT_DIR/$1-$2.xz"
  [ -f "$archive" ] && [ -f "$PREBUILT_DIR/SHA256SUMS" ] || return 1
  local expected tmp
  expected=$(awk -v b="$bin" '$2 == b { print $1 }' "$PREBUILT_DIR/SHA256SUMS")
  [ -n "$expected" ] || return 1
  tmp=$(mktemp "$CARGO_HOME/bin/.$bin.XXXXXX")
  xz -dc "$archive" >"$tmp"
  if [ "$(sha256sum "$tmp" | cut -d' ' -f1)" != "$expected" ]; then
    rm -f "$tmp"
    die "$archive does not match its SHA256SUMS entry"
  fi
  chmod +x "$tmp"
  mv "$tmp" "$CARGO_HOME/bin/$bin"
  log "installed $bin $version from $archive"
}

# install_tool BINARY VERSION BUILD...: keeps BINARY if it is installed at VERSION, else
# installs the verified prebuilt copy, else runs BUILD (which builds from crates.io).
install_tool() {
  local bin=$1 version=$2
  shift 2
  [ "$(installed_version "$bin")" = "$version" ] && return
  install_prebuilt "$bin" "$version" && return
  "$@" "$version"
}

build_node() {
  log "building contracts-node $1 from crates.io (about an hour on 2 cores)"
  install_build_packages
  # The runtime's wasm build resolves its dependencies afresh unless pointed at the
  # crate's own lock file; a fresh resolve picks crates that cargo 1.81 cannot parse.
  # The path exists once cargo has unpacked the crate, before the wasm build reads it.
  WASM_BUILD_WORKSPACE_HINT="$CARGO_HOME/registry/src/index.crates.io-6f17d22bba15001f/contracts-node-$1" \
    CARGO_TARGET_DIR="$CACHE_DIR/install-target" \
    cargo "+$TOOLCHAIN" install contracts-node --version "$1" --locked
}

build_cargo_contract() {
  log "building cargo-contract $1 from crates.io (about 15 minutes on 2 cores)"
  install_build_packages
  CARGO_TARGET_DIR="$CACHE_DIR/install-target" \
    cargo "+$TOOLCHAIN" install cargo-contract --version "$1" --locked
}

build_cargo_machete() {
  log "building cargo-machete $1 from crates.io (about a minute on 2 cores)"
  CARGO_TARGET_DIR="$CACHE_DIR/install-target-stable" \
    cargo +stable install cargo-machete --version "$1" --locked
}

build_garage() {
  log "building garage $1 from crates.io (about 12 minutes on 2 cores)"
  CARGO_TARGET_DIR="$CACHE_DIR/install-target-stable" cargo install garage --version "$1" --locked
}

build_cargo_deny() {
  log "building cargo-deny $1 from crates.io (a few minutes on 2 cores)"
  CARGO_TARGET_DIR="$CACHE_DIR/install-target-stable" \
    cargo +stable install cargo-deny --version "$1" --locked
}

# Python's `cryptography` is the interoperability peer of the envelope tests and the
# benchmarks' reference Fernet.
install_python_cryptography() {
  python3 -c 'import cryptography.fernet' 2>/dev/null && return
  log "installing Python cryptography"
  python3 -m pip install --quiet cryptography
}

# The web console is built with the machine's Node.js and npm (Vite needs Node 20.19 or
# newer); its packages come from the lock file, and no package downloads a browser.
install_web() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    die "the web console needs Node.js 20.19+ and npm: install them (nodejs.org or your distribution)"
  fi
  # Vite 7 runs on Node.js ^20.19 or >=22.12.
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? 0 : 1)' \
    || die "the web console needs Node.js 20.19+ (or 22.12+), not $(node --version)"
  if [ ! -f "$ROOT/web/node_modules/.package-lock.json" ] \
    || [ "$ROOT/web/package-lock.json" -nt "$ROOT/web/node_modules/.package-lock.json" ]; then
    log "installing the web console's packages (npm ci)"
    # No package's install script runs (none is needed: esbuild's binary is a package).
    (cd "$ROOT/web" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}

install_toolchain
# Lints of the scripts (shellcheck), and the load generator of scripts/bench-p2p.sh (wrk).
install_packages shellcheck wrk
# The browser the web tests drive (playwright-core with its executablePath).
install_packages chromium
# The index's server engine (scripts/postgres.sh runs a cluster of its own with it).
install_packages "postgresql-$(cfg postgres.version)"
# The load balancer in front of a node's replicas in the replica tests.
install_packages nginx-light
install_web
install_tool substrate-contracts-node "$(cfg tools.contracts_node)" build_node
install_tool cargo-contract "$(cfg tools.cargo_contract)" build_cargo_contract
install_tool garage "$(cfg s3.garage)" build_garage
install_tool cargo-deny "$(cfg tools.cargo_deny)" build_cargo_deny
install_tool cargo-machete "$(cfg tools.cargo_machete)" build_cargo_machete
install_python_cryptography
log "ready: $(substrate-contracts-node --version), $(cargo-contract --version), $(garage --version | head -1), $(cargo-deny --version), node $(node --version), $(chromium --version)"
