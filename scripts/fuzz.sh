#!/usr/bin/env bash
# Fuzzes the parsers that read hostile bytes (cargo-fuzz, libFuzzer, AddressSanitizer):
# the envelope header reader, the envelope chunk reader and the P2P signed-header
# parser; the targets and what each must hold are in fuzz/fuzz_targets/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 300)
#
# Installs the nightly toolchain and cargo-fuzz when missing, builds the targets, runs
# each for SECONDS_PER_TARGET on a working corpus under the build cache, seeded from the
# committed fuzz/corpus/<target>/ (so a run leaves the checkout alone, and later runs on
# this machine start from what earlier ones found), and prints one summary line per
# target. A crash leaves its input in fuzz/artifacts/<target>/, is reported with its
# path, and makes the script exit non-zero (after the other targets have run).
# FUZZ_TARGETS="a b" picks targets; FUZZ_SAVE=1 merges what the run found into the
# committed corpus, minimized (keeping the seed-* files).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SECONDS_PER_TARGET=${1:-300}
[[ $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [SECONDS_PER_TARGET]"
read -r -a TARGETS <<<"${FUZZ_TARGETS:-envelope_header envelope_chunks p2p_headers}"
SAVE=${FUZZ_SAVE:-0}
# Longest input per target: a few stanzas; a few dozen chunks or chunk descriptions;
# four header values and a small request.
declare -A MAX_LEN=([envelope_header]=4096 [envelope_chunks]=8192 [p2p_headers]=1024)
# The fuzz crate is a workspace of its own, built by nightly with sanitizer flags: its
# own target directory, so the project's stable builds are left alone.
export CARGO_TARGET_DIR=$CACHE_DIR/fuzz-target
LOG_DIR=$CACHE_DIR/fuzz-logs
WORK_CORPUS=$CACHE_DIR/fuzz-corpus

install_nightly() {
  rustup toolchain list | grep -q '^nightly-' && return
  log "installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
}

install_cargo_fuzz() {
  local version
  version=$(cfg tools.cargo_fuzz)
  [ "$(cargo fuzz --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+')" = "$version" ] && return
  log "building cargo-fuzz $version from crates.io (a few minutes on 2 cores)"
  CARGO_TARGET_DIR="$CACHE_DIR/install-target-stable" \
    cargo install cargo-fuzz --version "$version" --locked
}

# save TARGET: merges the working corpus into the committed one as a minimal set
# covering the same code, keeping the seeds (the seed-* files) whatever their coverage.
save() {
  local target=$1 corpus="fuzz/corpus/$1" merged
  merged=$(mktemp -d)
  if ! cargo +nightly fuzz run "$target" "$merged" "$corpus" "$WORK_CORPUS/$target" -- -merge=1 \
    -max_len="${MAX_LEN[$target]}" >"$LOG_DIR/$target.merge.log" 2>&1; then
    rm -rf "$merged"
    log "$target: corpus minimization failed (see $LOG_DIR/$target.merge.log); corpus kept"
    return
  fi
  # Merged inputs are named by their SHA-1; drop those that are a seed's bytes.
  local seed
  for seed in "$corpus"/seed-*; do
    [ -e "$seed" ] && rm -f "$merged/$(sha1sum "$seed" | cut -d' ' -f1)"
  done
  find "$corpus" -maxdepth 1 -type f ! -name 'seed-*' -delete
  cp "$merged"/* "$corpus"/ 2>/dev/null || true
  rm -rf "$merged"
}

install_nightly
install_cargo_fuzz
claim_build_cache
cd "$ROOT" || exit
mkdir -p "$LOG_DIR"

log "building the fuzz targets (the first build takes a while)"
build_start=$SECONDS
cargo +nightly fuzz build
log "built in $((SECONDS - build_start)) s"

summaries=()
failed=0
for target in "${TARGETS[@]}"; do
  [ -n "${MAX_LEN[$target]:-}" ] || die "unknown fuzz target: $target"
  corpus="$WORK_CORPUS/$target"
  mkdir -p "$corpus"
  cp -n fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  before=$(find "$corpus" -type f | wc -l)
  log "fuzzing $target for $SECONDS_PER_TARGET s (corpus: $before inputs)"
  status=0
  start=$SECONDS
  cargo +nightly fuzz run "$target" "$corpus" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="${MAX_LEN[$target]}" \
    -timeout=60 -print_final_stats=1 2>&1 | tee "$LOG_DIR/$target.log" || status=$?
  elapsed=$((SECONDS - start))
  # libFuzzer's last words: "Done N runs in M second(s)", or where it wrote the input
  # that crashed it.
  done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$LOG_DIR/$target.log" | tail -1 || true)
  if [ "$status" -eq 0 ] && [ -n "$done_line" ]; then
    runs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) .*/\1/' <<<"$done_line")
    secs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) .*/\2/' <<<"$done_line")
    found=$(($(find "$corpus" -type f | wc -l) - before))
    if [ "$SAVE" = 1 ]; then
      save "$target"
    fi
    after=$(find "$corpus" -type f | wc -l)
    summaries+=("$target: $runs executions in $secs s, 0 crashes; corpus $before + $found new -> $after inputs")
  else
    failed=1
    runs=$(grep -oE '^#[0-9]+' "$LOG_DIR/$target.log" | tail -1 | tr -d '#' || true)
    artifact=$(grep -oE 'Test unit written to [^ ]+' "$LOG_DIR/$target.log" | tail -1 \
      | sed 's/^Test unit written to //' || true)
    panic=$(grep -m1 -A1 'panicked at' "$LOG_DIR/$target.log" | tr '\n' ' ' || true)
    summaries+=("$target: CRASH (exit $status) after ${runs:-?} executions in $elapsed s; ${panic:+$panic; }input: ${artifact:-none written}; log: $LOG_DIR/$target.log")
  fi
done

log "summary ($SECONDS_PER_TARGET s per target; logs in $LOG_DIR)"
printf '%s\n' "${summaries[@]}"
[ "$failed" -eq 0 ] || die "a fuzz target crashed; reproduce with: cargo +nightly fuzz run TARGET INPUT"
