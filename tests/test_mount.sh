#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
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

# --- safe mounts ---------------------------------------------------------------------
# Whatever the form, the source is the cipher directory, the type is
# fuse.cmkfs, and set-id bits and device files count for nothing unless
# asked for: mount.fuse3 appends "dev,suid" on its own (the fstab form
# below passes them as it does), which must not open the door.
field() { awk -v m="$mnt" -v f="$1" '$2 == m { print $f }' /proc/self/mounts; }
check_safe() {
  local form=$1 opts
  opts=$(field 4)
  [ "$(field 1)" = "$cipher" ] && t_pass || t_fail "$form: the source is '$(field 1)', not $cipher"
  [ "$(field 3)" = fuse.cmkfs ] && t_pass || t_fail "$form: type $(field 3)"
  case ",$opts," in *,nosuid,*) t_pass ;; *) t_fail "$form: set-uid bits honoured ($opts)" ;; esac
  case ",$opts," in *,nodev,*) t_pass ;; *) t_fail "$form: devices honoured ($opts)" ;; esac
}
fs_mount "$conf" "$cipher" "$mnt" && check_safe "cmkfs mount"
fs_umount "$mnt"
t_expect 0 "fstab form with mount.fuse3's dev,suid" -- "$CMKFS" "$cipher" "$mnt" -o "config=$conf,dev,suid"
FS_MOUNTS+=("$mnt"); check_safe "fstab form"; fs_umount "$mnt"
t_expect 0 "mount(8)" -- mount -t fuse -o "config=$conf" "$CMKFS#$cipher" "$mnt"
FS_MOUNTS+=("$mnt"); check_safe "mount(8)"; fs_umount "$mnt"

# A set-uid-root program planted in the volume runs as its caller; with
# allow_suid (fstab's name: mount(8) keeps "suid" to itself) as root.
pub=$(mktemp -d /tmp/cmkfs-suid.XXXXXX)
chmod 755 "$pub"
trap 't_cleanup; rm -rf "$pub"' EXIT
mkdir "$pub/mnt"
suid_run() { setpriv --reuid=65534 --regid=65534 --clear-groups "$pub/mnt/id" -u 2>&1; }
if command -v setpriv >/dev/null; then
  t_expect 0 "mount(8) for the set-uid check" -- mount -t fuse -o "config=$conf" "$CMKFS#$cipher" "$pub/mnt"
  FS_MOUNTS+=("$pub/mnt")
  cp /usr/bin/id "$pub/mnt/id" && chown root:root "$pub/mnt/id" && chmod 4755 "$pub/mnt/id"
  [ "$(suid_run)" = 65534 ] && t_pass || t_fail "a set-uid-root file ran as $(suid_run) through the default mount"
  fs_umount "$pub/mnt"
  t_expect 0 "mount(8) with allow_suid" -- mount -t fuse -o "config=$conf,allow_suid" "$CMKFS#$cipher" "$pub/mnt"
  FS_MOUNTS+=("$pub/mnt")
  [ "$(suid_run)" = 0 ] && t_pass || t_fail "allow_suid: the set-uid file ran as $(suid_run), not root"
  fs_umount "$pub/mnt"
  fs_mount "$conf" "$cipher" "$pub/mnt" -o suid
  [ "$(suid_run)" = 0 ] && t_pass || t_fail "cmkfs mount -o suid: the set-uid file ran as $(suid_run), not root"
  rm -f "$pub/mnt/id"
  fs_umount "$pub/mnt"
else
  t_fail "setpriv (util-linux) is missing: the set-uid check did not run"
fi

# The mount point: refused when it is mounted already, not empty, or not a
# directory (exit 7), and nothing gets mounted.
fs_mount "$conf" "$cipher" "$mnt"
t_expect 7 "a second mount on the same directory" -- "$CMKFS" mount -c "$conf" "$cipher" "$mnt"
t_contains "says it is mounted" "is mounted already"
[ "$(awk -v m="$mnt" '$2 == m' /proc/self/mounts | wc -l)" = 1 ] && t_pass || t_fail "two mounts stacked"
fs_umount "$mnt"
touch "$mnt/left-behind"
t_expect 7 "a non-empty mount point" -- "$CMKFS" mount -c "$conf" "$cipher" "$mnt"
t_contains "says how to force it" "-o nonempty"
fs_is_mounted "$mnt" && t_fail "mounted over a non-empty directory" || t_pass
fs_mount "$conf" "$cipher" "$mnt" -o nonempty && t_pass
fs_umount "$mnt"
rm "$mnt/left-behind"
t_expect 7 "a file as the mount point" -- "$CMKFS" mount -c "$conf" "$cipher" "$T_DIR/keystore.json"

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
  for _ in $(seq 1200); do mountpoint -q "$mnt" && break; sleep 0.1; done
  mountpoint -q "$mnt" && t_pass || t_fail "foreground mount did not come up"
  # A file still open: its handle is freed (and its key wiped) on the way
  # out, which the sanitizer build checks.
  exec 8>"$mnt/held-$sig"
  kill -"$sig" "$pid"
  wait "$pid"; rc=$?
  exec 8>&-
  [ "$rc" -eq 0 ] && t_pass || t_fail "SIG$sig: exit $rc: $(cat "$T_DIR/fg.log")"
  fs_is_mounted "$mnt" && { t_fail "SIG$sig left the mount behind"; fusermount3 -uz "$mnt"; } || t_pass
  # shellcheck disable=SC2034 # t_contains reads T_OUT
  T_OUT=$(cat "$T_DIR/fg.log"); t_contains "foreground logs to stderr" "mounted"
done

# Large writes reach cmkfs as 1 MiB FUSE requests, not 4 KiB pieces.
"$CMKFS" mount -d -c "$conf" "$cipher" "$mnt" 2>"$T_DIR/debug.log" &
pid=$!
for _ in $(seq 1200); do mountpoint -q "$mnt" && break; sleep 0.1; done
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
