#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole filesystem suite (every test_fs_* test of ctest) with its
# volumes on a GlusterFS volume: a long run, not a test (ctest runs the
# GlusterFS tests of tests/gluster/, which take seconds). Starts glusterd
# and a replica-2 volume on this machine's loopback address as
# tests/gluster/gluster_lib.sh does, mounts one client, and runs ctest in
# BUILD (default build/) with CMKFS_TEST_TMPDIR on it.
#
# usage: scripts/gluster_suite.sh [--shared] [BUILD]
#   --shared   every mount of the suite with -o shared (CMKFS_MOUNT_OPTIONS),
#              on a volume and client set up as docs/DEPLOYMENT.md says
#              for it
# Environment: SUITE='^test_fs_' (a ctest -R regex).
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=0
if [ "${1:-}" = --shared ]; then
  shared=1
  shift
fi
build=$(realpath -m -- "${1:-$top/build}")
[ -f "$build/CTestTestfile.cmake" ] || {
  echo "gluster_suite: no ctest tree in $build (run ./scripts/test.sh or cmake first)" >&2
  exit 2
}
[ "$(id -u)" -eq 0 ] || { echo "gluster_suite: run as root" >&2; exit 2; }

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cmkfs-gluster-suite.XXXXXX")
# test_fs_users runs helpers as other users from the tests' directories.
chmod 755 "$T_DIR"
# shellcheck source=tests/gluster/gluster_lib.sh
. "$top/tests/gluster/gluster_lib.sh"
trap 'gl_cleanup; rm -rf "$T_DIR"' EXIT

gl_start cmkfs-suite || exit 1
client_opts=()
if [ "$shared" = 1 ]; then
  for set in "group db-workload" "cluster.eager-lock off"; do
    # shellcheck disable=SC2086
    gl_cli volume set "$GL_VOLUME" $set >/dev/null || exit 1
  done
  client_opts=(entry-timeout=0)
fi
client=$T_DIR/client
gl_mount "$client" "${client_opts[@]}" || {
  echo "gluster_suite: the GlusterFS client does not mount" >&2
  exit 1
}
echo "gluster_suite: the suite's volumes on $(findmnt -n -o SOURCE,FSTYPE "$client")" >&2
opts=()
[ "$shared" = 0 ] || opts=(CMKFS_MOUNT_OPTIONS=shared)
start=$SECONDS
(cd "$build" && ulimit -Sn 1024 &&
  env CMKFS_TEST_TMPDIR="$client" "${opts[@]}" \
    ctest --output-on-failure -R "${SUITE:-^test_fs_}" --timeout 1800)
status=$?
echo "gluster_suite: exit $status after $((SECONDS - start)) s" >&2
exit "$status"
