# SPDX-License-Identifier: MIT
# What scripts/bench.sh and scripts/bench-scale.sh share; sourced by both
# right after they set top (the repository) and BENCH_NAME (their name in
# messages).
# shellcheck shell=bash

: "${top:?bench_lib.sh needs top}" "${BENCH_NAME:?bench_lib.sh needs BENCH_NAME}"
bench_start_time=$EPOCHREALTIME

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() {
  local t=${EPOCHREALTIME%.*}
  t=$((t - ${bench_start_time%.*}))
  printf '%s [%d:%02d]: %s\n' "$BENCH_NAME" $((t / 60)) $((t % 60)) "$*" >&2
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }

settle() { # nothing dirty anywhere, every cache cold
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

# The daemons serving mount point $1: processes of one of the three daemon
# programs with $1 as a whole argument.
daemon_pids() {
  local re p comm
  re=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g')
  for p in $(pgrep -f -- " $re( |\$)" || true); do
    comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
    case $comm in passthrough_ll | gocryptfs | cmkfs) echo "$p" ;; esac
  done
}

wait_gone() { # PID SECONDS
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
  done
  return 1
}

# bench_build_cmkfs WORKDIR: sets CMKFS (a given $CMKFS, or a Release build
# in build-bench/, its log in WORKDIR) and cmkfs_origin (which of the two).
bench_build_cmkfs() {
  if [ -n "${CMKFS:-}" ]; then
    CMKFS=$(realpath -- "$CMKFS")
    [ -x "$CMKFS" ] || die "CMKFS=$CMKFS is not executable"
    cmkfs_origin="given as CMKFS"
    return
  fi
  log "building cmkfs (Release) in build-bench/"
  if ! { cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$top/build-bench" -j "$(nproc)"; } >"$1/build.log" 2>&1; then
    tail -30 "$1/build.log" >&2
    die "the cmkfs build failed"
  fi
  CMKFS=$top/build-bench/cmkfs
  # shellcheck disable=SC2034 # for the sourcing script's report
  cmkfs_origin="built here, CMAKE_BUILD_TYPE=Release"
}

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
