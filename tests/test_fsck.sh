#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmkfs fsck on a volume damaged in each way it checks: descriptor copies
# (missing, damaged, stale), key slots (a damaged spare, no valid slot),
# encrypted names against their directory id, long-name side files
# (missing, orphaned), directory ids (missing, damaged), symlink targets,
# leftovers of interrupted operations. What --repair may fix is fixed and
# the files read back exactly; what it may not is reported by plaintext
# path and left, and no data is deleted. Exit codes as e2fsck's. Needs
# root and /dev/fuse (files are written through a mount).
. "$(dirname "$0")/fs/fs_lib.sh"

conf=$T_DIR/c.conf
cipher=$T_DIR/cipher
mnt=$T_DIR/mnt
fs_volume "$conf" "$T_DIR/ks.json" "$cipher"
long=$(printf 'L%.0s' $(seq 200))   # a name stored under a long name

bp() { "$CMKFS" path -c "$conf" "$cipher" "$1"; }
fsck() { t_expect "$1" "$2" -- "$CMKFS" fsck -c "$conf" "$cipher" "${@:3}"; }
sums() { (cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
backing_count() { find "$cipher" | wc -l; }

# --- a volume with a bit of everything --------------------------------------------
fs_mount "$conf" "$cipher" "$mnt"
mkdir -p "$mnt/photos/2024" "$mnt/empty" "$mnt/names"
head -c 70000 /dev/urandom > "$mnt/photos/anna.jpg"
head -c 3000 /dev/urandom > "$mnt/photos/2024/bob.jpg"
echo "a long one" > "$mnt/names/$long"
echo "orphan-to-be" > "$mnt/names/${long}2"
echo small > "$mnt/notes.txt"
ln -s photos/anna.jpg "$mnt/link"
sums > "$T_DIR/sums"
fs_umount "$mnt"

fsck 0 "a fresh volume is clean"
t_contains "fsck says what it checked" "0 problems"

# --- damage that --repair fixes ---------------------------------------------------
rm "$cipher/cmkfs.volume.backup"
anna=$(bp photos/anna.jpg)
# The spare key slot (slot 1 of a new file is empty) gets torn bytes.
printf 'torn rewrap' | dd of="$anna" bs=1 seek=400 conv=notrunc status=none
# A side file whose long name is gone (the entry removed behind our back).
side_of_long2=$(bp "names/${long}2").name
rm "$(bp "names/${long}2")"
[ -f "$side_of_long2" ] && t_pass || t_fail "test setup: no side file $side_of_long2"
# The id of an empty directory lost.
rm -f "$(bp empty)/cmkfs.dirid"
# What an interrupted mkdir and descriptor update leave.
mkdir "$cipher/cmkfs.tmp.0011223344556677" && head -c 16 /dev/urandom > "$cipher/cmkfs.tmp.0011223344556677/cmkfs.dirid"
cp "$cipher/cmkfs.volume" "$cipher/cmkfs.volume.tmp.4242"
# What an interrupted create on a store without O_TMPFILE leaves.
head -c 4200 /dev/urandom > "$cipher/cmkfs.tmp.8899aabbccddeeff"

fsck 4 "fixable damage is found"
t_contains "missing descriptor copy" "descriptor copy cmkfs.volume.backup is missing"
t_contains "damaged spare slot, by plaintext path" "photos/anna.jpg (backing"
t_contains "says which slot" "spare key slot 1 is damaged"
t_contains "orphaned side file" "orphaned long-name side file"
t_contains "missing id of an empty directory" "directory id missing in a directory without entries"
t_contains "mkdir leftover" "interrupted mkdir"
t_contains "create leftover" "a file left by an interrupted create"
t_contains "descriptor temporary" "interrupted descriptor update"
fsck 1 "--repair fixes it" --repair
t_contains "says fixed" "FIXED"
fsck 0 "clean after the repair"
[ -f "$cipher/cmkfs.volume.backup" ] && t_pass || t_fail "the descriptor copy was not rewritten"
cmp -s "$cipher/cmkfs.volume" "$cipher/cmkfs.volume.backup" && t_pass || t_fail "the copies differ"
[ -f "$side_of_long2" ] && t_fail "the orphaned side file is still there" || t_pass
[ -e "$cipher/cmkfs.tmp.8899aabbccddeeff" ] && t_fail "the create leftover is still there" || t_pass
fs_mount "$conf" "$cipher" "$mnt"
grep -v "${long}2" "$T_DIR/sums" > "$T_DIR/sums.left"
if out=$(cd "$mnt" && sha256sum --quiet -c "$T_DIR/sums.left" 2>&1); then t_pass; else
  t_fail "files changed by the repair: $out"
fi
touch "$mnt/empty/now-usable" && t_pass || t_fail "the directory with a new id takes files"
fs_umount "$mnt"

# A damaged primary descriptor: the mount uses the copy; --repair restores it.
fs_flip_byte "$cipher/cmkfs.volume" 40
fs_mount "$conf" "$cipher" "$mnt"
[ "$(cat "$mnt/notes.txt")" = small ] && t_pass || t_fail "mount with a damaged primary descriptor"
t_expect 8 "--repair refused while mounted" -- "$CMKFS" fsck --repair -c "$conf" "$cipher"
t_contains "says why" "is mounted on this host"
fs_umount "$mnt"
fsck 4 "a damaged primary descriptor is found"
t_contains "names it" "descriptor copy cmkfs.volume "
fsck 1 "and rewritten from the copy" --repair
fsck 0 "clean again"

# A stale copy: an update (re-seal after a rotation) that stopped between
# the two copies.
cp "$cipher/cmkfs.volume" "$T_DIR/old-descriptor"
"$CMKFS" key rotate -c "$conf" >/dev/null
"$CMKFS" rewrap -c "$conf" "$cipher" >/dev/null || t_fail "rewrap"
cp "$T_DIR/old-descriptor" "$cipher/cmkfs.volume.backup"
fsck 4 "a stale descriptor copy is found"
t_contains "says stale" "is stale"
fsck 1 "and brought up to date" --repair

# --- damage that must be left -------------------------------------------------------
bob=$(bp photos/2024/bob.jpg)
cp "$bob" "$T_DIR/bob.saved"
# No valid key slot: both torn.
printf 'xx' | dd of="$bob" bs=1 seek=100 conv=notrunc status=none
printf 'xx' | dd of="$bob" bs=1 seek=400 conv=notrunc status=none
# A name that is not this directory's (moved in the backing store).
mv "$(bp notes.txt)" "$(bp photos)/"
# A long name without its side file.
rm "$(bp "names/$long").name"
# A symlink whose target was changed.
ln -sfn AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "$(bp link)"
find "$cipher" | sort > "$T_DIR/before.list"
before=$(backing_count)
fsck 4 "damage that cannot be repaired is found"
t_contains "no valid key slot, by plaintext path" "photos/2024/bob.jpg (backing"
t_contains "says the header is unreadable" "header unreadable"
t_contains "a name from another directory" "not a name of this volume"
t_contains "a long name without its side file" "side file is missing"
t_contains "a tampered symlink" "symlink's target is not one of this volume's"
fsck 4 "--repair leaves it" --repair
t_contains "says left" "left as it is"
[ "$(backing_count)" = "$before" ] && t_pass ||
  t_fail "--repair deleted something: $(find "$cipher" | sort | diff "$T_DIR/before.list" - | grep '^[<>]')"
cmp -s "$bob" "$T_DIR/bob.saved" && t_fail "--repair changed the unreadable file" || t_pass

# A directory with entries whose id is damaged.
cp "$T_DIR/bob.saved" "$bob"
rm -f "$(bp link)"
mv "$(bp photos)/$(basename "$(bp notes.txt)")" "$(bp notes.txt)" 2>/dev/null || true
id_file=$(bp photos/2024)/cmkfs.dirid
chmod 600 "$id_file"; printf 'short' > "$id_file"
fsck 4 "a damaged directory id"
t_contains "says the names cannot be decrypted" "cannot be decrypted"

# --- refusals ----------------------------------------------------------------------
t_expect 16 "usage error" -- "$CMKFS" fsck -c "$conf"
t_expect 16 "unknown option" -- "$CMKFS" fsck --bogus -c "$conf" "$cipher"
t_expect 8 "not a volume" -- "$CMKFS" fsck -c "$conf" "$T_DIR"
t_conf "$T_DIR/other.conf" "$T_DIR/other.json"
"$CMKFS" key create -c "$T_DIR/other.conf" >/dev/null
"$CMKFS" key rotate -c "$T_DIR/other.conf" >/dev/null
t_expect 8 "another key" -- "$CMKFS" fsck -c "$T_DIR/other.conf" "$cipher"
t_contains "says it is another key" "different key"

fs_done
