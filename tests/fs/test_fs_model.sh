#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The seeded random model test (test_fs_model.c): a volume, a mount and a
# plain reference directory; the program remounts every 1000 steps.
# CMKFS_FS_PROG names the program (set by ctest); CMKFS_TEST_SEED reproduces
# a run.
. "$(dirname "$0")/fs_lib.sh"
prog=${CMKFS_FS_PROG:?CMKFS_FS_PROG must name test_fs_model}

conf=$T_DIR/cmkfs.conf
cipher=$T_DIR/cipher
m=$T_DIR/mnt
ref=$T_REF_DIR/ref
mkdir -p "$ref"
fs_volume "$conf" "$T_DIR/keystore.json" "$cipher"
fs_mount "$conf" "$cipher" "$m" || fs_abort "no mount, nothing to test"

"$prog" "$cipher" "$m" "$conf" "$ref"; rc=$?
[ "$rc" -eq 0 ] && t_pass || t_fail "test_fs_model exited with $rc (its seed is printed above)"
fs_is_mounted "$m" && mountpoint -q "$m" && t_pass || t_fail "the volume is not mounted after test_fs_model"

fs_done
