#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs a libFuzzer target as a test: its corpus, then RUNS new inputs from
# seed 1, with new finds written to SCRATCH (emptied first) and never into
# the committed corpus. A fixed count, not a time, so that the result does
# not depend on the machine's speed.
# Usage: run_target.sh TARGET CORPUS SCRATCH RUNS
set -euo pipefail
target=$1 corpus=$2 scratch=$3 runs=$4
rm -rf "$scratch"
mkdir -p "$scratch"
# Leaks count as failures; a crash leaves its input in SCRATCH.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$target" -seed=1 -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
  -max_len=8192 -print_final_stats=1 -artifact_prefix="$scratch/" \
  "$scratch" "$corpus"
