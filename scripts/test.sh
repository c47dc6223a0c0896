#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, runs the static analysis of scripts/lint.sh
# (clang-tidy, shellcheck, clang-format: no findings), builds with -Wall
# -Wextra -Werror, runs every test with ctest, then builds and runs the
# suite once more under AddressSanitizer and UndefinedBehaviorSanitizer
# (all but the four runs named below), the multithreaded
# filesystem tests under ThreadSanitizer, the fuzz targets with clang (a
# short bounded run of each), then builds the Debian
# package (lintian clean) and runs cmkfs from it, unpacked into an empty
# directory. Exits non-zero on any failure.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
. scripts/deps.sh
cmkfs_install_packages "${CMKFS_BUILD_PACKAGES[@]}" "${CMKFS_TEST_PACKAGES[@]}" \
  "${CMKFS_PACKAGE_PACKAGES[@]}" "${CMKFS_LINT_PACKAGES[@]}"

jobs=$(nproc)
status=0

# run_suite BUILDDIR [CMAKE ARGS...] [-- CTEST ARGS...]; CTEST_JOBS: tests
# at once (default: one per core).
run_suite() {
  local dir=$1 cmake_args=() ctest_args=() ctest_jobs=${CTEST_JOBS:-$jobs}
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do cmake_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  ctest_args=("$@")
  cmake -S . -B "$dir" "${cmake_args[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  # Under the descriptor limit a service gets from systemd (1,024 soft):
  # the mounts the tests start inherit it.
  (cd "$dir" && ulimit -Sn 1024 &&
    ctest --output-on-failure -j "$ctest_jobs" --timeout 900 "${ctest_args[@]}") || status=1
}

echo "== lint =="
./scripts/lint.sh || status=1

echo "== build and test (release) =="
# One test more than there are cores: many release tests spend their time
# waiting for services (Barbican, GlusterFS, the emulators) and mounts.
CTEST_JOBS=$((jobs + 1)) run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== build and test (ASan+UBSan) =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Left to the release suite, to keep test.sh within its 20 minutes: the
# GlusterFS tests (minutes of network round trips; their code paths run
# under ASan in test_fs_posix_bare and the *_shared tests on a local store)
# and the plaintext-name runs of the two longest shell suites (plaintext
# names run under ASan in the model, parallel, badfiles, xattr and mmap
# tests).
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCMKFS_SANITIZE=ON -- \
  -E '^(test_gluster|test_gluster_shared|test_fs_posix_plain|test_fs_users_plain)$'

echo "== build and test (ThreadSanitizer) =="
# The daemon is multithreaded: the tests that drive it from many threads
# and processes at once, and the request layer's own unit tests.
unset ASAN_OPTIONS UBSAN_OPTIONS
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
run_suite build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMKFS_TSAN=ON -- \
  -R '^(test_fsops|test_name_cache|test_fs_parallel|test_fs_parallel_shared|test_fs_mmap|test_fs_posix|test_fs_badfiles)$'
unset TSAN_OPTIONS

# The fuzz targets (tests/fuzz/): built with clang and libFuzzer under
# ASan and UBSan, each run on its corpus and a fixed number of new inputs.
echo "== fuzz targets (clang, libFuzzer) =="
fuzz_start=$SECONDS
(CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
   -DCMKFS_FUZZ=ON >/dev/null &&
  cmake --build build-fuzz --target fuzz -j "$jobs" &&
  cd build-fuzz && ctest -L '^fuzz$' --output-on-failure -j "$jobs") ||
  status=1
echo "fuzz targets: $((SECONDS - fuzz_start)) s"

echo "== Debian package =="
(./scripts/package.sh && ./scripts/package.sh --check) || status=1

if [ "$status" -ne 0 ]; then
  echo "cmkfs: tests FAILED" >&2
fi
exit "$status"
