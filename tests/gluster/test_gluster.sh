#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmkfs over a real GlusterFS volume (Debian's glusterfs-server, started by
# gluster_lib.sh: a replica-2 volume on two bricks of this machine, mounted
# by GlusterFS's FUSE client). That client lacks renameat2's flags and
# O_TMPFILE, which cmkfs used for every mkdir and create: each operation is
# checked on encrypted and plaintext names, then everything is read back
# after a remount, fsck finds the volume clean (no temporary leftovers),
# a file that a GlusterFS client wrote through a second cmkfs mount is
# read through the first, and test_fs_model and test_fs_parallel pass with
# their volumes on GlusterFS. Skipped (77) only where GlusterFS cannot
# start. Not covered there (the store's own limits): RENAME_EXCHANGE
# (EINVAL), and extended attributes of an unlinked file still open
# (GlusterFS says ESTALE). scripts/gluster_suite.sh runs the whole
# filesystem suite there.
. "$(dirname "$0")/../fs/fs_lib.sh"
. "$(dirname "$0")/gluster_lib.sh"
trap 'fs_done_quiet; gl_cleanup; t_cleanup' EXIT

# Unmount cmkfs before the GlusterFS clients under it go.
fs_done_quiet() { t_teardown; }

gl_start cmkfs-test
rc=$?
if [ "$rc" -ne 0 ]; then
  exit "$rc"
fi
c1=$T_DIR/client1
c2=$T_DIR/client2
gl_mount "$c1" || fs_abort "GlusterFS client 1 does not mount"
gl_mount "$c2" || fs_abort "GlusterFS client 2 does not mount"

# What the store lacks, seen directly: the reason for the fallbacks.
mkdir "$c1/probe"
if "$PY" -c 'import os, sys
os.rename(sys.argv[1] + "/probe", sys.argv[1] + "/probe2")' "$c1" 2>/dev/null; then
  t_pass
else
  t_fail "a plain rename on the GlusterFS client"
fi
tmpfile_ok=$("$PY" -c 'import os, sys
try:
    os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o600)); print("yes")
except OSError as e:
    print(e.strerror)' "$c1")
echo "GlusterFS client: O_TMPFILE: $tmpfile_ok" >&2
rmdir "$c1/probe2"

# exercise MOUNT CIPHER LABEL: every kind of entry through the mount.
exercise() {
  local m=$1 cipher=$2 label=$3 long
  long=$(printf 'n%.0s' $(seq 1 200))
  t_expect 0 "$label: mkdir" -- mkdir "$m/dir"
  t_expect 0 "$label: mkdir -p of a nested tree" -- mkdir -p "$m/dir/a/b/c"
  t_expect 0 "$label: create and write" -- sh -c "head -c 100000 /dev/urandom > '$m/dir/a/file'"
  cp "$m/dir/a/file" "$T_DIR/$label.ref"
  t_expect 0 "$label: a long name" -- sh -c "echo long > '$m/dir/$long'"
  t_expect 0 "$label: a directory with a long name" -- mkdir "$m/dir/d$long"
  t_expect 0 "$label: symlink" -- ln -s a/file "$m/dir/link"
  t_expect 0 "$label: hard link" -- ln "$m/dir/a/file" "$m/dir/hard"
  t_expect 0 "$label: rename of a file" -- mv "$m/dir/hard" "$m/dir/b-hard"
  t_expect 0 "$label: rename of a directory" -- mv "$m/dir/a/b" "$m/dir/b"
  t_expect 0 "$label: rename over an existing file" -- sh -c "echo x > '$m/dir/x' && mv '$m/dir/x' '$m/dir/b-hard'"
  t_expect 1 "$label: mkdir of an existing name fails" -- mkdir "$m/dir/b"
  t_contains "$label: mkdir of an existing name says so" "File exists"
  t_expect 0 "$label: O_EXCL create of a new name" -- "$PY" -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))' "$m/dir/excl"
  t_expect 1 "$label: O_EXCL create of an existing name fails" -- "$PY" -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))' "$m/dir/excl"
  t_expect 0 "$label: many files" -- sh -c "for i in \$(seq 1 200); do echo \$i > '$m/dir/b/f'\$i; done"
  t_expect 0 "$label: unlink" -- rm "$m/dir/b/f1"
  t_expect 0 "$label: rmdir" -- rmdir "$m/dir/b/c"
  t_expect 0 "$label: ls -lR" -- ls -lR "$m"
  [ "$(find "$m/dir/b" -type f | wc -l)" = 199 ] && t_pass ||
    t_fail "$label: 199 files listed in dir/b, found $(find "$m/dir/b" -type f | wc -l)"
  t_expect 0 "$label: the data reads back" -- cmp "$m/dir/a/file" "$T_DIR/$label.ref"
  # Nothing of the fallbacks' temporary names is left in the backing store.
  if find "$cipher" -name 'cmkfs.tmp.*' | grep -q .; then
    t_fail "$label: temporary entries left: $(find "$cipher" -name 'cmkfs.tmp.*')"
  else
    t_pass
  fi
}

for names in encrypted plaintext; do
  cipher=$c1/$names
  m=$T_DIR/mnt-$names
  mkdir -p "$m"
  FS_NAMES=$([ "$names" = plaintext ] && echo plain || echo encrypted)
  fs_volume "$T_DIR/$names.conf" "$T_DIR/$names-keystore.json" "$cipher"
  conf=$T_DIR/$names.conf
  fs_mount "$conf" "$cipher" "$m" || fs_abort "$names: no mount over GlusterFS"
  exercise "$m" "$cipher" "$names"
  fs_remount "$conf" "$cipher" "$m"
  t_expect 0 "$names: the data reads back after a remount" -- cmp "$m/dir/a/file" "$T_DIR/$names.ref"
  fs_umount "$m"
  t_expect 0 "$names: fsck finds the volume on GlusterFS clean" -- "$CMKFS" fsck -c "$conf" "$cipher"
done

# A second client sees what the first wrote: the same volume mounted over
# each GlusterFS client, one after the other.
m2=$T_DIR/mnt-c2
mkdir -p "$m2"
conf=$T_DIR/encrypted.conf
fs_mount "$conf" "$c2/encrypted" "$m2" || fs_abort "no mount over client 2"
t_expect 0 "client 2 reads what client 1 wrote" -- cmp "$m2/dir/a/file" "$T_DIR/encrypted.ref"
t_expect 0 "client 2 writes" -- sh -c "echo from-2 > '$m2/dir/from2'"
fs_umount "$m2"
m1=$T_DIR/mnt-encrypted
fs_mount "$conf" "$c1/encrypted" "$m1" || fs_abort "no remount over client 1"
t_expect 0 "client 1 reads what client 2 wrote" -- grep -qx from-2 "$m1/dir/from2"
fs_umount "$m1"

# Two of the filesystem tests again, with their volumes on GlusterFS: the
# model (random operations checked against a reference) and the parallel
# writers and renamers (the model with 3,000 operations instead of 10,000:
# each is a network round trip here).
for t in test_fs_model:"$CMKFS_FS_MODEL_PROG" test_fs_parallel:"$CMKFS_FS_PARALLEL_PROG"; do
  name=${t%%:*}
  t_expect 0 "$name with its volume on GlusterFS" -- env \
    CMKFS_TEST_TMPDIR="$c1" CMKFS_FS_PROG="${t#*:}" CMKFS_MODEL_OPS=3000 \
    bash "$(dirname "$0")/../fs/$name.sh"
done
fs_done
