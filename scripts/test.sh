#!/usr/bin/env bash
# Runs every test: formatting and lints (clippy, shellcheck, the dependency policy in
# deny.toml), unit and in-process tests, the contract's own tests, a short fuzzing run,
# then the end-to-end suites, the storage suite on a three-node Garage cluster (with a
# node killed mid-transfer), the relay suites again on a PostgreSQL server of their own
# (with two replicas of one node behind nginx, the chain writer killed under load),
# schemathesis and the browser story (Chromium driving the
# web console and the dApp page across two relays) against a devnet and a Garage S3
# server of their own (own state dir and ports, so the ones you keep running are left
# alone), stopped afterwards even on failure.
# `.ci/run` calls exactly this.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TOOLCHAIN=$(cfg tools.contract_toolchain)
CONTRACT_MANIFEST=$(abspath "$(cfg contract.manifest)")
# contract_cargo SUBCOMMAND ARGS…: cargo on the contract, with its toolchain and target dir.
contract_cargo() {
  local subcommand=$1; shift
  CARGO_TARGET_DIR=$CONTRACT_TARGET_DIR cargo "+$TOOLCHAIN" "$subcommand" --manifest-path "$CONTRACT_MANIFEST" "$@"
}

claim_build_cache
"$ROOT/scripts/setup.sh"
cd "$ROOT" || exit 1

log "format"
cargo fmt --all --check
cargo fmt --manifest-path "$CONTRACT_MANIFEST" --check

log "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
contract_cargo clippy --all-targets --locked -- -D warnings
shellcheck -x "$ROOT"/scripts/*.sh "$ROOT/.ci/run"
cargo deny --locked check bans licenses sources
cargo machete

log "unit and in-process tests"
# One package selection for every test build (unit and end-to-end), so each crate is
# built once with one feature set; the end-to-end suites run later.
cargo nextest run --workspace --locked -E 'not package(datamgmt-tests)'
cargo test --workspace --doc --locked
contract_cargo nextest run --locked

log "fuzzing the parsers of hostile bytes (scripts/fuzz.sh runs longer)"
"$ROOT/scripts/fuzz.sh" "${DATAMGMT_FUZZ_SECONDS:-15}"

log "end-to-end suites against a devnet and Garage"
export DATAMGMT_STATE_DIR=${DATAMGMT_STATE_DIR:-$ROOT/.devnet-test}
export DATAMGMT_RPC_PORT=${DATAMGMT_RPC_PORT:-9954}
export DATAMGMT_P2P_PORT=${DATAMGMT_P2P_PORT:-30454}
export DATAMGMT_S3_PORT=${DATAMGMT_S3_PORT:-3910}
export DATAMGMT_S3_RPC_PORT=${DATAMGMT_S3_RPC_PORT:-3911}
export DATAMGMT_S3_ADMIN_PORT=${DATAMGMT_S3_ADMIN_PORT:-3913}
export DATAMGMT_DEPLOY_STATE=$DATAMGMT_STATE_DIR/deploy.json
export DATAMGMT_S3_STATE=$DATAMGMT_STATE_DIR/s3.json
# garage_cluster up|down: a three-node Garage cluster of its own (replication factor 3,
# S3 on ports 3920, 4020 and 4120) for the storage stage.
garage_cluster() {
  mkdir -p "$DATAMGMT_STATE_DIR/garage-cluster"
  DATAMGMT_STATE_DIR=$DATAMGMT_STATE_DIR/garage-cluster DATAMGMT_S3_NODES=3 \
    DATAMGMT_S3_PORT=3920 DATAMGMT_S3_RPC_PORT=3921 DATAMGMT_S3_ADMIN_PORT=3923 \
    "$ROOT/scripts/garage.sh" "$1"
}
# The PostgreSQL stage's server, on a port of its own.
export DATAMGMT_PG_PORT=${DATAMGMT_PG_PORT:-5450}
trap 'garage_cluster down || true; "$ROOT/scripts/postgres.sh" down || true; "$ROOT/scripts/garage.sh" down || true; "$ROOT/scripts/devnet.sh" down || true' EXIT
"$ROOT/scripts/devnet.sh" up
"$ROOT/scripts/garage.sh" up
"$ROOT/scripts/deploy.sh"
log "web: generated types current (OpenAPI, contract metadata)"
(cd "$ROOT/web" && DATAMGMT_CONTRACT_METADATA=$CONTRACT_TARGET_DIR/ink/access.json npm run --silent check-generated)
# Suites that run the relay and the CLI as a user does need their binaries.
# shellcheck disable=SC2119 # no extra cargo arguments: a build with its output
build_binaries
cargo nextest run --workspace --locked -E 'package(datamgmt-tests)'

log "storage on a three-node Garage cluster, and a node killed mid-transfer"
garage_cluster up
DATAMGMT_S3_STATE=$DATAMGMT_STATE_DIR/garage-cluster/s3.json \
  cargo nextest run --workspace --locked -E 'package(datamgmt-tests) & binary(storage)' --run-ignored all
garage_cluster down

log "the relay suites on PostgreSQL, and a node's replicas behind nginx with the chain writer killed"
"$ROOT/scripts/postgres.sh" up
# The tests make a database of their own each on this server (its `postgres` database
# is where they connect to do so).
DATAMGMT_TEST_POSTGRES=$(sed 's#/datamgmt$#/postgres#' "$DATAMGMT_STATE_DIR/postgres.url") \
  cargo nextest run --workspace --locked --run-ignored all \
  -E 'package(datamgmt-relay) | (package(datamgmt-tests) & (binary(relay) | binary(p2p) | binary(attacks) | binary(replicas)))'
"$ROOT/scripts/postgres.sh" down

log "schemathesis against a relay's /openapi.json"
"$ROOT/scripts/schemathesis.sh" "${DATAMGMT_SCHEMATHESIS_SECONDS:-60}"

log "the web console and the dApp page in Chromium"
"$ROOT/scripts/browser.sh"
