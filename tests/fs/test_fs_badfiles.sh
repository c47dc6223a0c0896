#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bad backing files in a mounted volume, put there before the mount and
# while it runs: foreign content, a header-less short file, a truncated
# backing file, a tampered key slot, a backing file of another volume.
# Reading each fails with EIO, nothing is written to it, the log names it
# and says why, and the rest of the mount goes on working. Then mounts that
# must be refused: the wrong key (exit 5), not a volume (exit 6), a damaged
# descriptor (exit 6), a missing config (exit 3).
. "$(dirname "$0")/fs_lib.sh"

conf=$T_DIR/cmkfs.conf
cipher=$T_DIR/cipher
m=$T_DIR/mnt
log=$T_DIR/daemon.log
other_conf=$T_DIR/other.conf
other_cipher=$T_DIR/other-cipher

fs_volume "$conf" "$T_DIR/keystore.json" "$cipher"
# Another keystore with a key of the same (default) name: another key.
fs_volume "$other_conf" "$T_DIR/other-keystore.json" "$other_cipher"

# A valid backing file of the other volume.
fs_mount "$other_conf" "$other_cipher" "$T_DIR/other-mnt" || fs_abort "cannot mount the other volume"
head -c 9000 /dev/urandom > "$T_DIR/theirs.plain"
cp "$T_DIR/theirs.plain" "$T_DIR/other-mnt/theirs"
fs_umount "$T_DIR/other-mnt"

# Good files, made through a first mount.
head -c 20000 /dev/urandom > "$T_DIR/good.plain"
fs_mount "$conf" "$cipher" "$m" || fs_abort "cannot mount the volume"
cp "$T_DIR/good.plain" "$m/good"
printf 'tiny' > "$m/good-tiny"
fs_umount "$m"
bgood=$(fs_bpath "$cipher" good)
[ "$(stat -c %s "$bgood")" = $((20000 + 4096)) ] || fs_abort "good backing file has the wrong size"
good_sum=$(sha256sum < "$bgood")

# flip FILE OFFSET: inverts one byte in place.
flip() {
  local b
  b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
  # shellcheck disable=SC2059 # the format is the one octal escape built here
  printf "$(printf '\\%03o' $((b ^ 0xff)))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

KINDS="foreign short truncated tampered othervol"

# make_bad NAME KIND: a bad backing file, written straight into CIPHERDIR.
make_bad() {
  local f
  f=$(fs_bpath "$cipher" "$1")
  case $2 in
    foreign) head -c 10000 /dev/urandom > "$f" ;;
    short) head -c 100 /dev/urandom > "$f" ;;
    truncated) cp "$bgood" "$f"; truncate -s 2000 "$f" ;;
    tampered) cp "$bgood" "$f"; flip "$f" 100
              [ "$(cmp -l "$bgood" "$f" | wc -l)" = 1 ] || fs_abort "flip did not flip one byte" ;;
    othervol) cp "$(fs_bpath "$other_cipher" theirs)" "$f" ;;
  esac
}

for k in $KINDS; do make_bad "pre-$k" "$k"; done
# The control: an untouched copy of a good backing file is a good file.
cp "$bgood" "$(fs_bpath "$cipher" copy-of-good)"

fs_mount_fg "$conf" "$cipher" "$m" "$log" || fs_abort "foreground mount failed"
for k in $KINDS; do make_bad "live-$k" "$k"; done

t_expect 0 "ls of a directory with bad files" -- ls -A "$m"
for k in $KINDS; do t_contains "ls lists pre-$k" "pre-$k"; t_contains "ls lists live-$k" "live-$k"; done
t_expect 0 "the untouched copy of a good file reads" -- cmp "$m/copy-of-good" "$T_DIR/good.plain"

n=0
for name in $(for k in $KINDS; do echo "pre-$k live-$k"; done); do
  n=$((n + 1))
  bname=$(fs_bpath "$cipher" "$name")
  sum=$(sha256sum < "$bname")
  t_expect 1 "cat of $name" -- sh -c 'cat "$1" > /dev/null' sh "$m/$name"
  t_contains "reading $name fails with EIO" "Input/output error"
  T_OUT=$( { echo more >> "$m/$name"; } 2>&1 ) &&
    t_fail "appending to $name succeeded" || t_pass
  T_OUT=$(dd if=/dev/zero of="$m/$name" bs=1 count=1 seek=5 conv=notrunc status=none 2>&1) &&
    t_fail "writing into $name succeeded" || t_pass
  [ "$(sha256sum < "$bname")" = "$sum" ] && t_pass ||
    t_fail "the backing file $name changed after reads and writes through the mount"
  # The log names the backing file (its name is encrypted or not).
  line=$(grep -F -m1 -- "${bname##*/}" "$log")
  rest=${line//"$bname"/}; rest=${rest//"${bname##*/}"/}
  if [ -z "$line" ]; then
    t_fail "the log has no line naming $name; log: $(cat "$log")"
  elif [ "${#rest}" -lt 12 ]; then
    t_fail "the log line for $name gives no reason: '$line'"
  else
    t_pass
  fi
  # The rest of the mount still works.
  t_expect 0 "a good file reads after $name" -- cmp "$m/good" "$T_DIR/good.plain"
  [ "$(cat "$m/good-tiny" 2>&1)" = tiny ] && t_pass || t_fail "the tiny good file after $name"
  head -c $((n * 1111)) /dev/urandom > "$T_DIR/new.plain"
  cp "$T_DIR/new.plain" "$m/new-$n" 2>/dev/null
  t_expect 0 "a new file written after $name reads back" -- cmp "$m/new-$n" "$T_DIR/new.plain"
  mountpoint -q "$m" && t_pass || fs_abort "the mount is gone after reading $name; log: $(cat "$log")"
done
kill -0 "${FS_FG_PID[$m]}" 2>/dev/null && t_pass || t_fail "the daemon died"
# A damaged file can still be removed through the mount.
t_expect 0 "rm of a bad file" -- rm "$m/pre-foreign"
[ ! -e "$(fs_bpath "$cipher" pre-foreign)" ] && t_pass || t_fail "rm left the bad backing file"
[ "$(sha256sum < "$bgood")" = "$good_sum" ] && t_pass || t_fail "the good backing file changed"
fs_umount "$m"

# --- Mounts that must be refused -----------------------------------------
# refused CODE DESCRIPTION CONF CIPHERDIR [-f]: cmkfs mount exits CODE with a
# message, and nothing gets mounted.
refused() {
  local code=$1 what=$2 c=$3 dir=$4 mnt=$T_DIR/refused
  shift 4
  mkdir -p "$mnt"
  FS_MOUNTS+=("$mnt")
  t_expect "$code" "$what" -- timeout 60 "$CMKFS" mount -c "$c" "$dir" "$mnt" "$@"
  [ -n "$T_OUT" ] && t_pass || t_fail "$what: no message"
  if fs_is_mounted "$mnt"; then
    t_fail "$what: something got mounted"; fs_umount "$mnt"
  else
    t_pass
  fi
}
desc_sum=$(sha256sum < "$cipher/cmkfs.volume")
refused 5 "mount with the wrong key" "$other_conf" "$cipher"
t_contains "the wrong key message names the key" "key"
refused 5 "mount -f with the wrong key" "$other_conf" "$cipher" -f
[ "$(sha256sum < "$cipher/cmkfs.volume")" = "$desc_sum" ] && t_pass ||
  t_fail "a refused mount changed the volume descriptor"
[ "$(sha256sum < "$bgood")" = "$good_sum" ] && t_pass ||
  t_fail "a refused mount changed a backing file"
mkdir -p "$T_DIR/empty" "$T_DIR/plain"
echo x > "$T_DIR/plain/file"
refused 6 "mount of an empty directory" "$conf" "$T_DIR/empty"
refused 6 "mount of a directory that is not a volume" "$conf" "$T_DIR/plain"
[ "$(cat "$T_DIR/plain/file")" = x ] && [ "$(ls -A "$T_DIR/plain")" = file ] && t_pass ||
  t_fail "a refused mount changed a directory that is not a volume"
mkdir -p "$T_DIR/damaged"
head -c 100 "$cipher/cmkfs.volume" > "$T_DIR/damaged/cmkfs.volume"
refused 6 "mount of a volume with a short descriptor" "$conf" "$T_DIR/damaged"
refused 3 "mount with a missing config" "$T_DIR/no-such.conf" "$cipher"

fs_done
