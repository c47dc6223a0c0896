#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A long fuzzing run of one target of tests/fuzz/, for developers (not a
# test): builds the libFuzzer targets with clang in build-fuzz/, then runs
# TARGET for SECONDS (default 600) on the committed corpus plus a working
# corpus in build-fuzz/corpus/TARGET/ that grows from run to run. New
# inputs never go into the committed corpus: copy the few that matter (a
# crash's reproducer after its fix, say) into tests/fuzz/corpus/TARGET/
# by hand, or minimise first with -merge=1. A crash, leak or hang leaves
# its input in build-fuzz/artifacts/TARGET/; replay it with
#   build-fuzz/tests/fuzz/fuzz_TARGET FILE
# Extra arguments after SECONDS go to libFuzzer (-jobs=2, -dict=...).
#
# usage: scripts/fuzz.sh TARGET [SECONDS [LIBFUZZER-OPTION...]]
#        scripts/fuzz.sh --list
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

# Every target has a corpus directory of its name.
targets=$(cd tests/fuzz/corpus && echo *)
usage() {
  echo "usage: scripts/fuzz.sh TARGET [SECONDS [LIBFUZZER-OPTION...]]" >&2
  echo "targets: $targets" >&2
  exit 2
}
[ $# -ge 1 ] || usage
if [ "$1" = --list ]; then
  # shellcheck disable=SC2086 # one target per word
  printf '%s\n' $targets
  exit 0
fi
target=$1
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
case " $targets " in *" $target "*) ;; *) usage ;; esac
[[ $seconds =~ ^[0-9]+$ ]] || usage

command -v clang >/dev/null || {
  echo "fuzz.sh: clang is missing (scripts/deps.sh: CMKFS_TEST_PACKAGES)" >&2
  exit 1
}
# Several runs may start at once (one per core): one builds at a time.
mkdir -p build-fuzz
(
  flock 9
  CC=clang cmake -S . -B build-fuzz -DCMKFS_FUZZ=ON >/dev/null
  cmake --build build-fuzz --target "fuzz_$target" -j "$(nproc)"
) 9>build-fuzz/.fuzz.lock

work=build-fuzz/corpus/$target
artifacts=build-fuzz/artifacts/$target
mkdir -p "$work" "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "build-fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" \
  -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@" "$work" "tests/fuzz/corpus/$target"
