#!/usr/bin/env bash
# The main job: installs what is missing, starts the devnet, deploys the contract and
# walks through the sharing rules on chain (share, pay, release, refuse, revoke, audit
# trail). The devnet keeps running afterwards; `scripts/devnet.sh down` stops it.
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/devnet.sh" up
"$ROOT/scripts/deploy.sh"
cd "$ROOT"
DATAMGMT_DEPLOY_STATE=$DEPLOY_STATE cargo run --quiet --locked -p datamgmt-client --example walkthrough
log "the devnet is still running on $RPC_URL; stop it with scripts/devnet.sh down"
