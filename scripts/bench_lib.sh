# SPDX-License-Identifier: MIT
# What scripts/bench.sh and scripts/bench-scale.sh share; sourced by both.
# shellcheck shell=bash

# bench_build_passthrough OUT: libfuse's passthrough_ll (the no-crypto
# ceiling), built from the example sources libfuse3-dev ships, into OUT.
# Calls die (the sourcing script's) when they are missing.
bench_build_passthrough() {
  local out=$1 ex=/usr/share/doc/libfuse3-dev/examples f dir
  dir=$(dirname -- "$out")
  mkdir -p "$dir"
  for f in passthrough_ll.c passthrough_helpers.h; do
    if [ -f "$ex/$f" ]; then cp "$ex/$f" "$dir/"
    elif [ -f "$ex/$f.gz" ]; then gzip -dc "$ex/$f.gz" >"$dir/$f"
    else die "no $ex/$f (libfuse3-dev)"; fi
  done
  # shellcheck disable=SC2046 # pkg-config's flags are words to split
  gcc -O2 -o "$out" "$dir/passthrough_ll.c" $(pkg-config --cflags --libs fuse3) -lpthread
}
