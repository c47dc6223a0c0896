#!/usr/bin/env bash
# How cmkfs mounts and unmounts: the exit code of `cmkfs mount` means the
# mount is up; the fstab form through mount(8) and mount.fuse3; -f in the
# foreground unmounts cleanly on SIGTERM and SIGINT; errors before
# mounting leave nothing mounted.
. "$(dirname "$0")/fs/fs_lib.sh"

conf=$T_DIR/cmkfs.conf
cipher=$T_DIR/cipher
mnt=$T_DIR/mnt
fs_volume "$conf" "$T_DIR/keystore.json" "$cipher"
mkdir -p "$mnt"

# `cmkfs mount` returns with the mount up, and a file written survives an
# unmount and a second mount.
fs_mount "$conf" "$cipher" "$mnt" && t_pass
echo "first mount" > "$mnt/a" && t_pass || t_fail "write through the mount"
fs_umount "$mnt"
fs_is_mounted "$mnt" && t_fail "still mounted after fusermount3 -u" || t_pass

# The fstab form, as mount.fuse3 calls it: cmkfs CIPHERDIR MOUNTPOINT -o ...
t_expect 0 "fstab form" -- "$CMKFS" "$cipher" "$mnt" -o "config=$conf,rw,noatime"
FS_MOUNTS+=("$mnt")
mountpoint -q "$mnt" && t_pass || t_fail "fstab form: nothing mounted"
[ "$(cat "$mnt/a" 2>&1)" = "first mount" ] && t_pass || t_fail "fstab form: content"
fs_umount "$mnt"

# Through mount(8) and mount.fuse3 ("PROGRAM#SOURCE" names the binary, as
# fuse.cmkfs does once cmkfs is installed in PATH).
t_expect 0 "mount -t fuse" -- mount -t fuse -o "config=$conf" "$CMKFS#$cipher" "$mnt"
FS_MOUNTS+=("$mnt")
[ "$(cat "$mnt/a" 2>&1)" = "first mount" ] && t_pass || t_fail "mount(8): content"
grep -q " $mnt fuse.cmkfs " /proc/self/mounts && t_pass || t_fail "mount type is not fuse.cmkfs"
# As root, other users may enter and the kernel checks permissions.
grep " $mnt " /proc/self/mounts | grep -q "default_permissions" && t_pass ||
  t_fail "root mount lacks default_permissions"
grep " $mnt " /proc/self/mounts | grep -q "allow_other" && t_pass ||
  t_fail "root mount lacks allow_other"
fs_umount "$mnt"
fs_mount "$conf" "$cipher" "$mnt" -o no_allow_other
grep " $mnt " /proc/self/mounts | grep -q "allow_other" &&
  t_fail "no_allow_other still allows others" || t_pass
fs_umount "$mnt"

# Readahead: 1 MiB by default (set once the kernel has our INIT answer,
# which resets it), as asked with -o readahead=KB, refused when malformed.
ra_of() { stat "$1/." >/dev/null && cat "/sys/class/bdi/$(mountpoint -d "$1")/read_ahead_kb"; }
fs_mount "$conf" "$cipher" "$mnt"
[ "$(ra_of "$mnt")" = 1024 ] && t_pass || t_fail "default readahead: $(ra_of "$mnt") KiB"
fs_umount "$mnt"
fs_mount "$conf" "$cipher" "$mnt" -o readahead=256
[ "$(ra_of "$mnt")" = 256 ] && t_pass || t_fail "readahead=256: $(ra_of "$mnt") KiB"
fs_umount "$mnt"
T_OUT=$("$CMKFS" mount -o readahead=lots -c "$conf" "$cipher" "$mnt" 2>&1)
t_contains "a malformed readahead is refused" "readahead takes a size in KiB"
fs_is_mounted "$mnt" && { t_fail "mounted with a malformed readahead"; fs_umount "$mnt"; } || t_pass

# Foreground: SIGTERM and SIGINT unmount cleanly and exit 0.
for sig in TERM INT; do
  "$CMKFS" mount -f -c "$conf" "$cipher" "$mnt" 2>"$T_DIR/fg.log" &
  pid=$!
  for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
  mountpoint -q "$mnt" && t_pass || t_fail "foreground mount did not come up"
  kill -"$sig" "$pid"
  wait "$pid"; rc=$?
  [ "$rc" -eq 0 ] && t_pass || t_fail "SIG$sig: exit $rc: $(cat "$T_DIR/fg.log")"
  fs_is_mounted "$mnt" && { t_fail "SIG$sig left the mount behind"; fusermount3 -uz "$mnt"; } || t_pass
  T_OUT=$(cat "$T_DIR/fg.log"); t_contains "foreground logs to stderr" "mounted"
done

# Large writes reach cmkfs as 1 MiB FUSE requests, not 4 KiB pieces.
"$CMKFS" mount -d -c "$conf" "$cipher" "$mnt" 2>"$T_DIR/debug.log" &
pid=$!
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
dd if=/dev/zero of="$mnt/big" bs=1M count=4 conv=fsync status=none
kill -TERM "$pid"; wait "$pid"
big=$(grep -c "WRITE (16).*insize: 1048656" "$T_DIR/debug.log")
[ "$big" -ge 4 ] && t_pass || t_fail "expected 1 MiB WRITE requests, saw $big"
fs_is_mounted "$mnt" && fusermount3 -uz "$mnt"

# Errors before mounting: nothing is mounted, and the exit code says why.
t_expect 2 "unknown option" -- "$CMKFS" mount -c "$conf" --bogus "$cipher" "$mnt"
t_expect 2 "missing mount point" -- "$CMKFS" mount -c "$conf" "$cipher"
t_expect 3 "missing config" -- "$CMKFS" mount -c "$T_DIR/none.conf" "$cipher" "$mnt"
mkdir -p "$T_DIR/empty"
t_expect 6 "not a volume" -- "$CMKFS" mount -c "$conf" "$T_DIR/empty" "$mnt"
t_contains "not a volume says so" "not a cmkfs volume"
fs_is_mounted "$mnt" && t_fail "a failed mount left something mounted" || t_pass

fs_done
