#!/usr/bin/env bash
# Builds the `access` contract (release, pinned toolchain), uploads and instantiates it on
# the running devnet, and writes the deploy state file (`<state_dir>/deploy.json`: node
# URL, contract address, code hash, metadata and wasm paths) that the other tools read.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/devnet.sh" status >/dev/null || die "the devnet is not running: scripts/devnet.sh up"

claim_build_cache
TOOLCHAIN=$(cfg tools.contract_toolchain)
NAME=$(cfg contract.name)
MANIFEST=$(abspath "$(cfg contract.manifest)")
ARTIFACTS=$CONTRACT_TARGET_DIR/ink

log "building contract $NAME (toolchain $TOOLCHAIN)"
CARGO_TARGET_DIR=$CONTRACT_TARGET_DIR cargo "+$TOOLCHAIN" contract build --release --quiet \
  --manifest-path "$MANIFEST" >&2

log "instantiating on $RPC_URL"
out=$(cargo contract instantiate "$ARTIFACTS/$NAME.contract" --constructor new \
  --suri "$(cfg contract.deployer)" --url "$RPC_URL" \
  --salt "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
  --execute --skip-confirm --output-json)

python3 - "$out" "$DEPLOY_STATE" "$RPC_URL" "$ARTIFACTS/$NAME.json" "$ARTIFACTS/$NAME.wasm" <<'PY'
import json, os, sys
out, state, url, metadata, wasm = sys.argv[1:]
result = json.loads(out)
deploy = {
    "url": url,
    "contract": result["contract"],
    # Reported only when this instantiation uploaded the code; the metadata always has it.
    "code_hash": result.get("code_hash") or json.load(open(metadata))["source"]["hash"],
    "metadata": metadata,
    "wasm": wasm,
}
tmp = state + ".tmp"
with open(tmp, "w") as f:
    json.dump(deploy, f, indent=2)
os.replace(tmp, state)
print(f"contract {deploy['contract']} deployed; state in {state}")
PY
