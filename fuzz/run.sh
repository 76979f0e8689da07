#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for MINUTES minutes each.
#   bash fuzz/run.sh 5                  # all targets, 5 minutes each
#   bash fuzz/run.sh 1 frame_decode     # one target
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz asks for nightly
# compiler flags; on a stable toolchain RUSTC_BOOTSTRAP=1 allows them.
set -euo pipefail
cd "$(dirname "$0")"
minutes=${1:-5}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(frame_decode control_frames webhook_verify config_resolve)
fi
python3 seed.py
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
  echo "::: fuzzing $target for $minutes min"
  cargo fuzz run "$target" "corpus/$target" -- \
    -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -print_final_stats=1
done
