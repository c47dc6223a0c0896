#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Encrypted file names through a real mount: no plaintext name anywhere in
# the backing tree; every name length from 1 to 255; names with every byte
# value but '/' and NUL; long names (stored under a hash with a side file)
# created, renamed, linked and removed without leftovers; tampered, foreign
# and swapped backing names left out of listings with one log line each;
# symlink targets encrypted; directory ids; cmkfs path and cmkfs info with
# plaintext paths. (Every other filesystem test runs on both kinds of
# volume; this one is about the names themselves.)
. "$(dirname "$0")/fs_lib.sh"
FS_NAMES=encrypted

conf=$T_DIR/cmkfs.conf
cipher=$T_DIR/cipher
m=$T_DIR/mnt
log=$T_DIR/daemon.log
fs_volume "$conf" "$T_DIR/keystore.json" "$cipher"
fs_mount_fg "$conf" "$cipher" "$m" "$log" || fs_abort "no mount"

py() { "$PY" - "$@"; }

# --- names of every length and every byte ------------------------------------
py "$m" <<'EOF' || t_fail "names of every length and byte value"
import os, sys
m = sys.argv[1]
os.mkdir(os.path.join(m, "lengths"))
os.mkdir(os.path.join(m, "bytes"))
bad = []
for n in range(1, 256):
    name = ("PLAINMARK" + "x" * 300)[:n] if n >= 9 else "q" * n
    p = os.path.join(m, "lengths", name)
    with open(p, "wb") as f:
        f.write(b"%d" % n)
names = set(os.listdir(os.path.join(m, "lengths")))
for n in range(1, 256):
    name = ("PLAINMARK" + "x" * 300)[:n] if n >= 9 else "q" * n
    if name not in names:
        bad.append("length %d missing from the listing" % n)
    elif open(os.path.join(m, "lengths", name), "rb").read() != b"%d" % n:
        bad.append("length %d reads back wrong" % n)
if len(names) != 255:
    bad.append("listing has %d names" % len(names))
# every byte value but '/' and NUL, in a name ("." and ".." are not names)
want = set()
for b in range(1, 256):
    if b == ord("/"):
        continue
    name = b"b" + bytes([b]) + b"-PLAINMARK"
    with open(os.path.join(m.encode(), b"bytes", name), "wb") as f:
        f.write(bytes([b]))
    want.add(name)
got = set(os.listdir(os.path.join(m.encode(), b"bytes")))
if got != want:
    bad.append("byte names differ: %d listed, %d written" % (len(got), len(want)))
for name in want:
    if open(os.path.join(m.encode(), b"bytes", name), "rb").read() != name[1:2]:
        bad.append("byte name %r reads back wrong" % name)
try:
    open(os.path.join(m, "lengths", "y" * 256), "w")
    bad.append("a 256-byte name was accepted")
except OSError as e:
    if e.errno != 36:
        bad.append("a 256-byte name: errno %d" % e.errno)
print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
t_pass

# --- long names: create, rename, link, unlink, rmdir ----------------------------
long1=$(printf 'L%.0s' $(seq 200))
long2=$(printf 'M%.0s' $(seq 255))
mkdir -p "$m/ld/a" "$m/ld/b"
echo one > "$m/ld/a/$long1"
t_expect 0 "a long name reads back" -- grep -qx one "$m/ld/a/$long1"
b=$(fs_bpath "$cipher" "ld/a/$long1")
case ${b##*/} in cmkfs.long.*) t_pass ;; *) t_fail "a 200-byte name is not stored as a long name: $b" ;; esac
[ -f "$b.name" ] && t_pass || t_fail "the long name has no side file"
mv "$m/ld/a/$long1" "$m/ld/b/$long2"
t_expect 0 "renamed long to long across directories" -- grep -qx one "$m/ld/b/$long2"
[ ! -e "$b" ] && [ ! -e "$b.name" ] && t_pass || t_fail "the old long name or its side file remained"
ln "$m/ld/b/$long2" "$m/ld/a/$long1"
t_expect 0 "a hard link under a long name" -- test "$(stat -c %h "$m/ld/a/$long1")" = 2
mv "$m/ld/a/$long1" "$m/ld/a/short"
t_expect 0 "renamed long to short" -- grep -qx one "$m/ld/a/short"
mv "$m/ld/a/short" "$m/ld/a/$long1"
t_expect 0 "renamed short to long" -- grep -qx one "$m/ld/a/$long1"
echo two > "$m/ld/a/other"
if ! fs_store_lacks exchange; then
  "$PY" -c 'import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2)
sys.exit(0 if r == 0 else 1)' "$m/ld/a/$long1" "$m/ld/a/other" &&
    t_pass || t_fail "RENAME_EXCHANGE of a long and a short name"
  t_expect 0 "after the exchange" -- sh -c "grep -qx two '$m/ld/a/$long1' && grep -qx one '$m/ld/a/other'"
fi
rm "$m/ld/a/$long1" "$m/ld/b/$long2" "$m/ld/a/other"
mkdir "$m/ld/b/$long1"
t_expect 0 "a directory with a long name" -- test -d "$m/ld/b/$long1"
rmdir "$m/ld/b/$long1" "$m/ld/a" "$m/ld/b"
t_expect 0 "rmdir of the emptied directories" -- test -z "$(ls -A "$m/ld")"
left=$(find "$(fs_bpath "$cipher" ld)" -mindepth 1 ! -name cmkfs.dirid)
t_expect 0 "no leftovers in the backing directory: $left" -- test -z "$left"
mkdir "$m/ld/full" && touch "$m/ld/full/x"
T_OUT=$(rmdir "$m/ld/full" 2>&1)
t_contains "rmdir of a non-empty directory" "not empty"
[ -f "$(fs_bpath "$cipher" ld/full)/cmkfs.dirid" ] && t_pass || t_fail "a failed rmdir lost the directory id"
# A directory renamed over an empty one (its id is no entry), as rename(2)
# allows; over one that is not empty it is refused, and that one keeps its
# id.
mkdir "$m/ld/empty" "$m/ld/moving" && echo in > "$m/ld/moving/f"
"$PY" -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$m/ld/moving" "$m/ld/empty" &&
  t_pass || t_fail "rename of a directory over an empty one"
t_expect 0 "its content came along" -- grep -qx in "$m/ld/empty/f"
T_OUT=$("$PY" -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$m/ld/empty" "$m/ld/full" 2>&1)
t_contains "over a directory that is not empty" "Directory not empty"
[ -f "$(fs_bpath "$cipher" ld/full)/cmkfs.dirid" ] && t_pass || t_fail "a refused rename lost the target's id"
t_expect 0 "the target still lists" -- test -f "$m/ld/full/x"

# --- symlinks -------------------------------------------------------------------------
ln -s "lengths/PLAINMARKxxx" "$m/link"
t_expect 0 "a symlink reads back" -- test "$(readlink "$m/link")" = lengths/PLAINMARKxxx
t_expect 0 "its size is the target's" -- test "$(stat -c %s "$m/link")" = 20
t_expect 0 "and it resolves" -- grep -qx 12 "$m/link"
mv "$m/link" "$m/lengths/link"
t_expect 0 "a moved symlink keeps its target" -- test "$(readlink "$m/lengths/link")" = lengths/PLAINMARKxxx

# Targets up to Linux's 4,095 bytes. Past 3,039 the encryption does not fit a
# backing symlink: it goes to a side file in the cipher directory, which
# follows the symlink's last name and nothing else.
long_target() { "$PY" -c 'import sys; n = int(sys.argv[1]); print(("PLAINMARK/" * 410)[:n], end="")' "$1"; }
sides() { find "$cipher" -maxdepth 1 -name 'cmkfs.lt.*' | wc -l; }
for len in 3039 3040 4000 4095; do
  "$PY" -c 'import os, sys; os.symlink(sys.argv[1], sys.argv[2])' "$(long_target $len)" "$m/ll$len" &&
    t_pass || t_fail "a symlink with a $len-byte target"
  [ "$(readlink "$m/ll$len")" = "$(long_target $len)" ] && t_pass || t_fail "the $len-byte target reads back"
  [ "$(stat -c %s "$m/ll$len")" = "$len" ] && t_pass || t_fail "lstat of the $len-byte one: $(stat -c %s "$m/ll$len")"
done
T_OUT=$("$PY" -c 'import os, sys; os.symlink("x" * 4096, sys.argv[1])' "$m/ll4096" 2>&1)
t_contains "4,096 bytes are too long, as on Linux" "File name too long"
t_expect 0 "three side files, for the three long ones" -- test "$(sides)" = 3
mkdir "$m/lld"
mv "$m/ll4095" "$m/lld/moved"
ln "$m/lld/moved" "$m/lld/hard"
t_expect 0 "moved and hard-linked, it reads back" -- test "$(readlink "$m/lld/hard")" = "$(long_target 4095)"
rm "$m/lld/moved"
t_expect 0 "with one name gone the side file stays" -- test "$(readlink "$m/lld/hard")" = "$(long_target 4095)"
rm "$m/lld/hard"
t_expect 0 "with the last one it goes" -- test "$(sides)" = 2
touch "$m/plainfile"
mv -T "$m/plainfile" "$m/ll4000"
t_expect 0 "a long symlink replaced by a rename takes its side file along" -- test "$(sides)" = 1
fs_umount "$m"; fs_mount_fg "$conf" "$cipher" "$m" "$log"
t_expect 0 "after a remount" -- test "$(readlink "$m/ll3040")" = "$(long_target 3040)"
t_expect 0 "fsck finds it clean" -- "$CMKFS" fsck -c "$conf" "$cipher"
lt=$(find "$cipher" -maxdepth 1 -name 'cmkfs.lt.*')
cp "$lt" "$T_DIR/lt.saved"
fs_flip_byte "$lt" 100
fs_umount "$m"; fs_mount_fg "$conf" "$cipher" "$m" "$log"
T_OUT=$(readlink -v "$m/ll3040" 2>&1)
t_contains "a damaged side file gives EIO" "Input/output error"
t_expect 4 "fsck reports it" -- "$CMKFS" fsck -c "$conf" "$cipher"
t_contains "as damaged" "long target is damaged"
rm -f "$lt"; cp "$T_DIR/lt.saved" "$lt"
fs_umount "$m"
cp "$lt" "$cipher/cmkfs.lt.3333.$(printf 'A%.0s' $(seq 43))"
t_expect 4 "an orphaned side file is reported" -- "$CMKFS" fsck -c "$conf" "$cipher"
t_contains "as orphaned" "orphaned side file of a long symlink target"
t_expect 1 "and removed by --repair" -- "$CMKFS" fsck --repair -c "$conf" "$cipher"
t_expect 0 "then all is clean" -- "$CMKFS" fsck -c "$conf" "$cipher"
fs_mount_fg "$conf" "$cipher" "$m" "$log"
t_expect 0 "the real one still reads" -- test "$(readlink "$m/ll3040")" = "$(long_target 3040)"

# --- nothing in plaintext ---------------------------------------------------------------
# A backing component equal to a name written, or containing one of the long
# markers, is a leak. Short names ("q", "qqq", "bytes") are matched whole only:
# as substrings they turn up by chance in random base64url.
found=$(cd "$cipher" && find . -mindepth 1 -printf '%f\n' | "$PY" -c '
import sys
names = {"lengths", "bytes", "ld", "link", "full", "x", "a", "b", "other", "short"}
names |= {"q" * n for n in range(1, 9)} | {"L" * 200, "M" * 255}
for line in sys.stdin:
    c = line.rstrip("\n")
    if c in names or "PLAINMARK" in c or "lengths" in c:
        print(c)')
t_expect 0 "no plaintext name in any backing path: $found" -- test -z "$found"
found=$(find "$cipher" -type l -exec readlink {} \; | grep -a PLAINMARK)
t_expect 0 "no plaintext symlink target" -- test -z "$found"
t_expect 0 "every backing directory has an id" -- \
  test "$(find "$cipher" -type d | wc -l)" = "$(find "$cipher" -name cmkfs.dirid | wc -l)"

# --- cmkfs path and cmkfs info with plaintext paths -------------------------------
t_expect 0 "cmkfs path" -- "$CMKFS" path -c "$conf" "$cipher" lengths/PLAINMARKx
bp=$T_OUT
[ -f "$bp" ] && t_pass || t_fail "cmkfs path gave $bp, which is not a file"
t_expect 0 "cmkfs info with a plaintext path" -- "$CMKFS" info -c "$conf" "$cipher/lengths/PLAINMARKx"
t_contains "names the backing file" "$bp"
t_contains "shows the header" "plaintext size: 2 bytes"
t_expect 6 "cmkfs path through a missing directory" -- "$CMKFS" path -c "$conf" "$cipher" no/such/file
t_expect 2 "cmkfs path with .." -- "$CMKFS" path -c "$conf" "$cipher" ../x

# --- tampered and foreign names ------------------------------------------------------
bdir=$(fs_bpath "$cipher" lengths)
victim=$(fs_bpath "$cipher" lengths/qqqq)
# a flipped character, an unrelated name, a name from another directory
ename=${victim##*/}
first=${ename:0:1}; [ "$first" = A ] && repl=B || repl=A
mv "$victim" "$bdir/$repl${ename:1}"
echo junk > "$bdir/not-base64-at-all"
cp "$(fs_bpath "$cipher" bytes/b1-PLAINMARK)" "$bdir/$(basename "$(fs_bpath "$cipher" bytes/b1-PLAINMARK)")"
# a long name whose side file was swapped for another's
echo one > "$m/lengths/$long1"; echo two > "$m/lengths/$long2"
l1=$(fs_bpath "$cipher" "lengths/$long1"); l2=$(fs_bpath "$cipher" "lengths/$long2")
cp "$l2.name" "$l1.name"
: > "$log.mark"
t_expect 0 "listing a directory with bad names" -- ls "$m/lengths"
printf '%s\n' "$T_OUT" | grep -qx qqqq && t_fail "the tampered name is listed" || t_pass
t_contains "the other names are listed" "PLAINMARKxxxxx"
t_contains "the intact long name is listed" "$long2"
t_not_contains "the swapped long name is left out" "$long1"
n=$(grep -c "skipping entry" "$log")
[ "$n" -ge 4 ] && t_pass || t_fail "$n log lines for 4 bad names: $(cat "$log")"
t_expect 0 "the mount still works" -- grep -qx 12 "$m/lengths/PLAINMARKxxx"

# --- an unfinished mkdir is invisible ----------------------------------------------------
mkdir "$(fs_bpath "$cipher" .)/cmkfs.tmp.0011223344556677"
t_not_contains "no cmkfs.* name is listed" "cmkfs."
T_OUT=$(ls -A "$m")
t_not_contains "no cmkfs.* name in the root either" "cmkfs."

fs_done
