#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A hostile or damaged backing store cannot hang or fool cmkfs, and every
# command says what it found, with the same exit code for the same fault:
# FIFOs in place of a long name's side file, a directory id or the
# descriptor answer within a second and the mount keeps serving; chmod 755
# on the mount's root leaves the cipher directory 0700; another volume's
# descriptor is refused (6); a damaged descriptor copy is told from a
# wrong key; a missing or oversized keystore gives 4 from key list, status
# and mount alike; control bytes from a config are escaped. Needs root and
# /dev/fuse.
. "$(dirname "$0")/fs_lib.sh"

conf=$T_DIR/c.conf
cipher=$T_DIR/cipher
mnt=$T_DIR/mnt
fs_volume "$conf" "$T_DIR/ks.json" "$cipher"
long=$(printf 'L%.0s' $(seq 200))

# quick DESC -- CMD...: CMD must end within 10 s (a second is the target;
# the bound is for a loaded machine, a hang would last forever).
quick() {
  local what=$1
  shift 2
  T_OUT=$(timeout 10 "$@" 2>&1); local rc=$?
  [ "$rc" != 124 ] && t_pass || t_fail "$what: still waiting after 10 s"
  return $rc
}

fs_mount "$conf" "$cipher" "$mnt"
mkdir "$mnt/d" "$mnt/e"
echo ok > "$mnt/d/$long"
echo ok > "$mnt/e/f"
echo ok > "$mnt/top"
side=$(fs_bpath "$cipher" "d/$long").name
idfile=$(fs_bpath "$cipher" e)/cmkfs.dirid
fs_umount "$mnt"

# --- FIFOs where regular files of cmkfs's should be ----------------------------------
rm "$side"; mkfifo "$side"
chmod 600 "$idfile"; rm "$idfile"; mkfifo "$idfile"
fs_mount "$conf" "$cipher" "$mnt" -o "logfile=$T_DIR/daemon.log"
quick "ls of a directory with a FIFO for a side file" -- ls "$mnt/d"
[ -z "$T_OUT" ] && t_pass || t_fail "the entry with a FIFO side file was listed: $T_OUT"
grep -q "side file is damaged" "$T_DIR/daemon.log" && t_pass || t_fail "no log line for the side file: $(cat "$T_DIR/daemon.log")"
quick "ls of a directory whose id is a FIFO" -- ls "$mnt/e"
quick "a file in it" -- cat "$mnt/e/f"
t_contains "gives EIO" "Input/output error"
[ "$(cat "$mnt/top")" = ok ] && t_pass || t_fail "the mount stopped serving"
fs_umount "$mnt"
rm "$side" "$idfile"

# --- the mount's root and the cipher directory ---------------------------------------
fs_mount "$conf" "$cipher" "$mnt"
chmod 755 "$mnt"
[ "$(stat -c %a "$mnt")" = 755 ] && t_pass || t_fail "chmod of the mount root: $(stat -c %a "$mnt")"
[ "$(stat -c %a "$cipher")" = 700 ] && t_pass || t_fail "the cipher directory became $(stat -c %a "$cipher")"
fs_remount "$conf" "$cipher" "$mnt"
[ "$(stat -c %a "$mnt")" = 755 ] && t_pass || t_fail "the root's mode after a remount: $(stat -c %a "$mnt")"
fs_umount "$mnt"
chmod 755 "$cipher"   # done behind cmkfs's back: the next mount undoes it
fs_mount "$conf" "$cipher" "$mnt"
[ "$(stat -c %a "$cipher")" = 700 ] && t_pass || t_fail "a mount left the cipher directory $(stat -c %a "$cipher")"
fs_umount "$mnt"

# --- the descriptor ------------------------------------------------------------------------
cp -a "$cipher/cmkfs.volume" "$T_DIR/desc.saved"
restore() { cp -a "$T_DIR/desc.saved" "$cipher/cmkfs.volume"; cp -a "$T_DIR/desc.saved" "$cipher/cmkfs.volume.backup"; }
# One copy damaged (a flipped byte in the volume id): the other serves.
fs_flip_byte "$cipher/cmkfs.volume" 33
t_expect 0 "one damaged copy: status works" -- "$CMKFS" status -c "$conf" "$cipher"
t_contains "and says which copy it uses" "using its copy"
fs_flip_byte "$cipher/cmkfs.volume.backup" 33
t_expect 5 "both copies damaged" -- "$CMKFS" status -c "$conf" "$cipher"
t_contains "says both may be damaged" "both descriptor copies are damaged"
restore
# A FIFO, a directory, 1 MiB where the descriptor should be.
rm "$cipher/cmkfs.volume" "$cipher/cmkfs.volume.backup"
mkfifo "$cipher/cmkfs.volume" "$cipher/cmkfs.volume.backup"
quick "mount with FIFOs for the descriptor" -- "$CMKFS" mount -c "$conf" "$cipher" "$mnt"
t_expect 6 "... is refused as the volume's fault" -- timeout 10 "$CMKFS" mount -c "$conf" "$cipher" "$mnt"
t_contains "names a FIFO" "a FIFO, where a regular file should be"
rm "$cipher/cmkfs.volume" "$cipher/cmkfs.volume.backup"
mkdir "$cipher/cmkfs.volume" "$cipher/cmkfs.volume.backup"
for cmd in status info; do
  t_expect 6 "$cmd with a directory for the descriptor" -- "$CMKFS" "$cmd" -c "$conf" "$cipher/cmkfs.volume/x"
done
t_expect 6 "mount with a directory for the descriptor" -- "$CMKFS" mount -c "$conf" "$cipher" "$mnt"
t_contains "names a directory" "a directory, where a regular file should be"
rmdir "$cipher/cmkfs.volume" "$cipher/cmkfs.volume.backup"
head -c 1048576 /dev/zero > "$cipher/cmkfs.volume"; cp "$cipher/cmkfs.volume" "$cipher/cmkfs.volume.backup"
t_expect 6 "a 1 MiB descriptor" -- "$CMKFS" status -c "$conf" "$cipher"
t_contains "says how big" "1048576 bytes long"
restore
fs_is_mounted "$mnt" && t_fail "something got mounted" || t_pass

# Another volume's descriptor (the same key) is refused.
"$CMKFS" init -c "$conf" "$T_DIR/other" >/dev/null
cp "$T_DIR/other/cmkfs.volume" "$cipher/cmkfs.volume"
cp "$T_DIR/other/cmkfs.volume" "$cipher/cmkfs.volume.backup"
t_expect 6 "another volume's descriptor" -- "$CMKFS" mount -c "$conf" "$cipher" "$mnt"
t_contains "says so" "belongs to another volume"
fs_is_mounted "$mnt" && { t_fail "mounted with another volume's descriptor"; fs_umount "$mnt"; } || t_pass
restore

# --- the keystore: the same code from every command ----------------------------------
mv "$T_DIR/ks.json" "$T_DIR/ks.away"
for cmd in "key list" "status" "mount" "rewrap" "info"; do
  args=("$cipher"); [ "$cmd" = "key list" ] && args=()
  [ "$cmd" = mount ] && args=("$cipher" "$mnt")
  [ "$cmd" = info ] && args=("$cipher/cmkfs.volume")
  # shellcheck disable=SC2086 # "key list" is two words
  t_expect 4 "$cmd without the keystore" -- "$CMKFS" $cmd -c "$conf" "${args[@]}"
done
head -c 300000 /dev/zero | tr '\0' ' ' > "$T_DIR/ks.json"; chmod 600 "$T_DIR/ks.json"
for cmd in "key list" "status" "mount"; do
  args=("$cipher"); [ "$cmd" = "key list" ] && args=()
  [ "$cmd" = mount ] && args=("$cipher" "$mnt")
  # shellcheck disable=SC2086 # "key list" is two words
  t_expect 4 "$cmd with an oversized keystore" -- "$CMKFS" $cmd -c "$conf" "${args[@]}"
done
mv "$T_DIR/ks.away" "$T_DIR/ks.json"
fs_is_mounted "$mnt" && { t_fail "mounted without a usable keystore"; fs_umount "$mnt"; } || t_pass

# --- bytes from a configuration are escaped ---------------------------------------------
printf '[kms]\nprovider = \033[31mred\007\n' > "$T_DIR/esc.conf"; chmod 600 "$T_DIR/esc.conf"
t_expect 3 "a config with control bytes" -- "$CMKFS" key list -c "$T_DIR/esc.conf"
case "$T_OUT" in
  *$'\033'* | *$'\007'*) t_fail "control bytes reached the terminal: $(printf '%q' "$T_OUT")" ;;
  *'\x1b'*) t_pass ;;
  *) t_fail "the message does not show the bytes escaped: $T_OUT" ;;
esac

fs_done
