#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# POSIX behaviour through a cmkfs mount, each operation compared with the
# same operation on a plain reference directory: reads and writes at unit
# edges, O_APPEND/O_TRUNC/O_EXCL, holes, truncate, fsync, fallocate, stat,
# readdir, directories, renames (with renameat2 flags), unlinked open files,
# hard links, symlinks, chmod/chown/utimens, statfs, access, xattrs, FIFOs;
# no plaintext in the backing files; everything again after a remount.
. "$(dirname "$0")/fs_lib.sh"

conf=$T_DIR/cmkfs.conf
cipher=$T_DIR/cipher
m=$T_DIR/mnt
ref=$T_REF_DIR/ref
src=$T_DIR/src
mkdir -p "$ref"
head -c 1200000 /dev/urandom > "$src"

fs_volume "$conf" "$T_DIR/keystore.json" "$cipher"
fs_mount "$conf" "$cipher" "$m" || fs_abort "no mount, nothing to test"

# same NAME: the file reads the same through the mount as in the reference
# directory, stat shows its size, and its backing file is 4096 bytes longer.
same() {
  local what=$1 out ps rs bs
  ps=$(stat -c %s "$m/$what" 2>&1); rs=$(stat -c %s "$ref/$what")
  if [ "$ps" != "$rs" ]; then
    t_fail "$what: size $ps through the mount, $rs in the reference"; return 1
  fi
  if ! out=$(cmp "$m/$what" "$ref/$what" 2>&1); then
    t_fail "$what ($rs bytes): content differs: $out"; return 1
  fi
  bs=$(stat -c %s "$(fs_bpath "$cipher" "$what")" 2>&1)
  if [ "$bs" != $((rs + 4096)) ]; then
    t_fail "$what: backing file is $bs bytes for $rs bytes of plaintext"; return 1
  fi
  t_pass
}

# put NAME OFF LEN: writes LEN bytes of $src (from offset LEN*7) at OFF in
# both trees, without truncating.
put() {
  local d
  for d in "$m" "$ref"; do
    dd if="$src" of="$d/$1" bs=65536 iflag=skip_bytes,count_bytes \
      oflag=seek_bytes conv=notrunc skip=$(($3 * 7 % 65536)) seek="$2" \
      count="$3" status=none || t_fail "write of $3 bytes at $2 to $d/$1"
  done
}

# both SCRIPT: runs SCRIPT with D set to the mount, then to the reference;
# the two must succeed or fail alike and print the same output.
# shellcheck disable=SC2034 # D is for the eval'd snippet
both() {
  local om or rm_ rr
  om=$(D=$m; eval "$1" 2>/dev/null); rm_=$?
  or=$(D=$ref; eval "$1" 2>/dev/null); rr=$?
  if [ "$rm_" != "$rr" ] || [ "$om" != "$or" ]; then
    t_fail "'$1': exit $rm_ through the mount, $rr in the reference; output '$om' vs '$or'"
    return 1
  fi
  t_pass
}

# py CMD ARGS: the helper must print ok.
py() {
  T_OUT=$("$PY" "$FS_HELPER" "$@" 2>&1)
  [ "$T_OUT" = ok ] && t_pass || t_fail "fs_helper $*: $T_OUT"
}

# --- Files of every size around the unit edges -------------------------
for n in 0 1 15 16 17 4095 4096 4097 4111 4112 8191 8192 8193 8205 65536 70000 1052673; do
  for d in "$m" "$ref"; do head -c "$n" "$src" > "$d/size-$n"; done
  same "size-$n"
done

# Reads at offsets and lengths around the edges of a 20000-byte file.
for d in "$m" "$ref"; do head -c 20000 "$src" > "$d/reads"; done
for r in 0:1 0:4095 0:4096 0:4097 1:4095 4095:1 4095:2 4096:1 4096:4096 \
         4097:8190 4080:32 8191:2 8192:4097 12287:7713 19999:1 19999:100 \
         20000:1 25000:10; do
  off=${r%:*} len=${r#*:}
  a=$(dd if="$m/reads" bs=65536 iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | sha256sum)
  b=$(dd if="$ref/reads" bs=65536 iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | sha256sum)
  [ "$a" = "$b" ] && t_pass || t_fail "read of $len bytes at $off differs"
done

# --- Writes at offsets, growing through the short-tail cases ----------
for d in "$m" "$ref"; do : > "$d/grow"; done
for w in 0:1 1:14 15:1 16:1 17:4078 4095:1 4096:1 4097:14 4111:1 3:3 \
         8000:205 4090:20 0:4096 4096:4096 100:8000 8190:15 8205:1 \
         12000:5 4110:3 0:1; do
  put grow "${w%:*}" "${w#*:}"
  same grow || { echo "  after writing ${w#*:} bytes at ${w%:*}" >&2; cp "$ref/grow" "$m/grow"; }
done
# Small files rewritten in place, and across the tiny/normal boundary.
for d in "$m" "$ref"; do head -c 5 "$src" > "$d/tiny"; done
for w in 3:10 0:1 12:5 14:2 0:16 1:1; do
  put tiny "${w%:*}" "${w#*:}"
  same tiny || { echo "  after writing ${w#*:} bytes at ${w%:*}" >&2; cp "$ref/tiny" "$m/tiny"; }
done

# --- Holes: writes past the end read as zeros -------------------------
for d in "$m" "$ref"; do head -c 10 "$src" > "$d/holes"; done
put holes 50000 3
same holes
t_expect 0 "the hole reads as zeros" -- cmp -i 10:0 -n 49990 "$m/holes" /dev/zero
put holes 9000 10
put holes 70001 4
same holes
t_expect 0 "the second hole reads as zeros" -- cmp -i 50003:0 -n 19998 "$m/holes" /dev/zero

# --- O_APPEND, O_TRUNC, O_EXCL ----------------------------------------
for d in "$m" "$ref"; do
  : > "$d/append"
  for n in 1 14 1 4080 1 4096 4097 3; do head -c "$n" "$src" >> "$d/append"; done
done
same append
for d in "$m" "$ref"; do head -c 4100 "$src" > "$d/append2"; done
py append "$m/append2" 1 15 4000 96 4096 4097 1
py append "$ref/append2" 1 15 4000 96 4096 4097 1
same append2

for d in "$m" "$ref"; do head -c 9000 "$src" > "$d/otrunc"; echo "short" > "$d/otrunc"; done
same otrunc
for d in "$m" "$ref"; do head -c 5000 "$src" > "$d/otrunc2"; done
py open_trunc "$m/otrunc2" 17
py open_trunc "$ref/otrunc2" 17
same otrunc2

t_expect 0 "O_EXCL create of a new file" -- "$PY" "$FS_HELPER" excl "$m/excl"
t_contains "O_EXCL create of a new file works" ok
t_expect 0 "O_EXCL create of an existing file" -- "$PY" "$FS_HELPER" excl "$m/excl"
[ "$T_OUT" = EEXIST ] && t_pass || t_fail "O_EXCL create of an existing file: $T_OUT, expected EEXIST"
[ "$(cat "$m/excl")" = excl ] && t_pass || t_fail "O_EXCL failure changed the file"
"$PY" "$FS_HELPER" excl "$ref/excl" >/dev/null
same excl

# --- truncate up and down through the short-tail cases ----------------
for d in "$m" "$ref"; do head -c 8205 "$src" > "$d/trunc"; done
sizes=(0 1 15 16 17 4095 4096 4097 4111 4112 8205)
down=$(printf '%s\n' "${sizes[@]}" | sort -rn | tr '\n' ' ')
for s in "${sizes[@]}" $down "${sizes[@]}"; do
  for d in "$m" "$ref"; do truncate -s "$s" "$d/trunc"; done
  # (after a failure, copy the reference over, so that each step is a
  # finding of its own)
  same trunc || { echo "  after truncate -s $s" >&2; cp "$ref/trunc" "$m/trunc"; }
  # Data at the new end, so that the next cut goes through written bytes.
  if [ "$s" -ge 3 ]; then put trunc $((s - 3)) 3; same trunc; fi
done
py truncate_matrix "$m/tmatrix"
py truncate_matrix "$ref/tmatrix"

# --- fsync, fdatasync --------------------------------------------------
t_expect 0 "dd conv=fsync" -- dd if="$src" of="$m/sync" bs=4096 count=3 conv=fsync status=none
t_expect 0 "dd conv=fdatasync" -- dd if="$src" of="$m/sync" bs=1000 count=5 seek=20 conv=fdatasync,notrunc status=none
dd if="$src" of="$ref/sync" bs=4096 count=3 status=none
dd if="$src" of="$ref/sync" bs=1000 count=5 seek=20 conv=notrunc status=none
same sync
py fsync "$m/sync2"
py fsync "$ref/sync2"
same sync2

# --- fallocate: works, or EOPNOTSUPP ----------------------------------
for d in "$m" "$ref"; do head -c 100 "$src" > "$d/falloc"; done
T_OUT=$("$PY" "$FS_HELPER" fallocate "$m/falloc" 0 0 10000 2>&1)
case "$T_OUT" in
  ok)
    "$PY" "$FS_HELPER" fallocate "$ref/falloc" 0 0 10000 >/dev/null
    same falloc
    put falloc 5000 10
    same falloc ;;
  EOPNOTSUPP)
    same falloc ;;
  *) t_fail "fallocate mode 0: $T_OUT (expected ok or EOPNOTSUPP)" ;;
esac
T_OUT=$("$PY" "$FS_HELPER" fallocate "$m/falloc" keep 0 50000 2>&1)
case "$T_OUT" in
  ok|EOPNOTSUPP) same falloc ;;
  *) t_fail "fallocate --keep-size: $T_OUT (expected ok or EOPNOTSUPP)" ;;
esac
T_OUT=$("$PY" "$FS_HELPER" fallocate "$m/falloc" 0 0 50 2>&1)
case "$T_OUT" in
  ok|EOPNOTSUPP) same falloc ;;
  *) t_fail "fallocate inside the file: $T_OUT (expected ok or EOPNOTSUPP)" ;;
esac

# --- Directories, readdir ---------------------------------------------
both 'mkdir "$D/dir" && mkdir -p "$D/dir/a/b/c" && cd "$D/dir" &&
      for i in $(seq 1 300); do echo $i > "file with space $i"; done &&
      ln -s target "link" && ls -A | sort'
both 'ls -lA --time-style=+ "$D/dir" | grep -v ^total | awk "{print \$1, (\$1 ~ /^d/ ? \"-\" : \$5), \$NF}" | sort'
both 'rmdir "$D/dir/a"'
both 'rmdir "$D/dir/a/b/c" && rmdir "$D/dir/a/b" && ls "$D/dir/a"'
both 'test -d "$D/dir/a" && rmdir "$D/dir/a" && ! test -e "$D/dir/a"'
both 'mkdir "$D/dir"'
[ -d "$(fs_bpath "$cipher" dir)" ] && [ ! -e "$(fs_bpath "$cipher" dir/a)" ] && t_pass || t_fail "directories are not stored as themselves"
both 'cat "$D/dir/file with space 123"'

# --- Renames -----------------------------------------------------------
both 'head -c 5000 "$src" > "$D/r1" && mv "$D/r1" "$D/r2" && test ! -e "$D/r1" && sha256sum < "$D/r2"'
both 'mv "$D/r2" "$D/dir/r3" && sha256sum < "$D/dir/r3"'
both 'echo old > "$D/r4" && mv "$D/dir/r3" "$D/r4" && sha256sum < "$D/r4" && ls "$D/dir" | grep -c r3'
[ ! -e "$(fs_bpath "$cipher" r1)" ] && [ ! -e "$(fs_bpath "$cipher" dir/r3)" ] && [ -f "$(fs_bpath "$cipher" r4)" ] && t_pass ||
  t_fail "backing files not renamed"
same r4
both 'mkdir -p "$D/rd/sub" && echo x > "$D/rd/sub/f" && mv "$D/rd" "$D/rd2" && cat "$D/rd2/sub/f"'
for d in "$m" "$ref"; do echo one > "$d/x1"; head -c 7000 "$src" > "$d/x2"; done
T_OUT=$("$PY" "$FS_HELPER" rename2 "$m/x1" "$m/x2" noreplace)
[ "$T_OUT" = EEXIST ] && t_pass || t_fail "RENAME_NOREPLACE over an existing file: $T_OUT, expected EEXIST"
same x1; same x2
py rename2 "$m/x1" "$m/x3" noreplace
"$PY" "$FS_HELPER" rename2 "$ref/x1" "$ref/x3" noreplace >/dev/null
same x3
[ ! -e "$m/x1" ] && t_pass || t_fail "RENAME_NOREPLACE left the old name"
if fs_store_lacks exchange; then
  # Then cmkfs says so, as the store's own client does, and swaps nothing.
  T_OUT=$("$PY" "$FS_HELPER" rename2 "$m/x2" "$m/x3" exchange)
  [ "$T_OUT" = EINVAL ] && t_pass || t_fail "RENAME_EXCHANGE on a store without it: $T_OUT, expected EINVAL"
  same x2; same x3
else
  py rename2 "$m/x2" "$m/x3" exchange
  "$PY" "$FS_HELPER" rename2 "$ref/x2" "$ref/x3" exchange >/dev/null
  same x2; same x3
  echo one | cmp -s - "$m/x2" && t_pass || t_fail "RENAME_EXCHANGE did not swap"
  py rename2 "$m/x2" "$m/dir" exchange   # a file and a directory
  "$PY" "$FS_HELPER" rename2 "$ref/x2" "$ref/dir" exchange >/dev/null
  [ -d "$m/x2" ] && [ -f "$m/dir" ] && t_pass || t_fail "RENAME_EXCHANGE of a file and a directory"
  same dir
  "$PY" "$FS_HELPER" rename2 "$m/x2" "$m/dir" exchange >/dev/null
  "$PY" "$FS_HELPER" rename2 "$ref/x2" "$ref/dir" exchange >/dev/null
fi

# --- Unlink of an open file -------------------------------------------
fs_store_lacks unlinked || py unlinked "$m/unlinked"
both 'ls -A "$D" | grep -c fuse_hidden'
[ -z "$(find "$cipher" -name '*unlinked*' -o -name '.fuse_hidden*')" ] && t_pass ||
  t_fail "backing files left after closing an unlinked file: $(find "$cipher" -name '*unlinked*' -o -name '.fuse_hidden*')"

# --- Hard links --------------------------------------------------------
for d in "$m" "$ref"; do head -c 6000 "$src" > "$d/h1"; ln "$d/h1" "$d/h2"; done
both 'stat -c %h "$D/h1" "$D/h2"'
[ "$(stat -c %h "$(fs_bpath "$cipher" h1)")" = 2 ] && t_pass || t_fail "backing link count is $(stat -c %h "$(fs_bpath "$cipher" h1)")"
py links "$m/h1" "$m/h2"
"$PY" "$FS_HELPER" links "$ref/h1" "$ref/h2" >/dev/null
same h1; same h2
put h2 100 4000
same h1
both 'rm "$D/h1" && stat -c %h "$D/h2" && sha256sum < "$D/h2"'

# --- Symlinks ----------------------------------------------------------
both 'ln -s size-4097 "$D/sl" && readlink "$D/sl" && sha256sum < "$D/sl"'
both 'ln -s "../no/such" "$D/dangling" && readlink "$D/dangling" && ! cat "$D/dangling"'
# The backing symlink holds the target itself, or its encryption.
bsl=$(readlink "$(fs_bpath "$cipher" sl)")
if [ "$FS_NAMES" = plain ]; then
  [ "$bsl" = size-4097 ] && t_pass || t_fail "backing symlink target: $bsl"
else
  [ "$bsl" != size-4097 ] && [ "${#bsl}" -ge 44 ] && t_pass || t_fail "backing symlink target not encrypted: $bsl"
fi
both 'stat -c "%F %s" "$D/sl"'

# --- chmod, chown, utimens, access --------------------------------------
for d in "$m" "$ref"; do head -c 300 "$src" > "$d/attrs"; done
both 'chmod 640 "$D/attrs" && stat -c %a "$D/attrs"'
both 'chmod 755 "$D/dir" && stat -c %a "$D/dir"'
both 'chown 65534:65534 "$D/attrs" && stat -c "%u %g" "$D/attrs"'
both 'chown 0:0 "$D/attrs" && stat -c "%u %g" "$D/attrs"'
both 'touch -d "2001-02-03 04:05:06.5 UTC" "$D/attrs" && stat -c "%Y %X" "$D/attrs"'
both 'touch -m -d "2002-02-03 04:05:06 UTC" "$D/attrs" && stat -c "%Y" "$D/attrs"'
a=$(stat -c %X "$m/attrs"); b=$(stat -c %X "$ref/attrs")
[ "$a" = "$b" ] && t_pass ||
  t_fail "touch -m (an open for writing and a utimensat that omits atime) changed atime: $a through the mount, $b in the reference"
both 'touch -h -d "2003-02-03 04:05:06 UTC" "$D/sl" && stat -c %Y "$D/sl"'
both 'touch -d "2004-02-03 04:05:06 UTC" "$D/dir" && stat -c %Y "$D/dir"'
sha_attrs=$(sha256sum < "$m/attrs")
[ "$sha_attrs" = "$(sha256sum < "$ref/attrs")" ] && t_pass || t_fail "attribute changes changed the content"
before=$(stat -c %Y "$m/attrs")
put attrs 10 10
[ "$(stat -c %Y "$m/attrs")" -gt "$before" ] && t_pass || t_fail "a write did not update mtime"
both 'test -r "$D/attrs" && test -w "$D/attrs" && ! test -x "$D/attrs"; echo $?'
both 'chmod 700 "$D/attrs" && test -x "$D/attrs"'
both 'chmod 000 "$D/attrs" && test -r "$D/attrs" && sha256sum < "$D/attrs"'   # root
T_OUT=$(stat -f -c '%S %b %a %c' "$m" 2>&1)
case "$T_OUT" in
  [1-9]*" "[1-9]*" "*" "*) t_pass ;;
  *) t_fail "statfs of the mount: $T_OUT" ;;
esac
t_expect 0 "stat -f of a file in the mount" -- stat -f "$m/attrs"

# --- mknod of a regular file, FIFOs, xattrs ------------------------------
py mknod_reg "$m/mknod"
py mknod_reg "$ref/mknod"
[ "$(stat -c %s "$(fs_bpath "$cipher" mknod)")" = $((5000 + 4096)) ] && t_pass ||
  t_fail "backing file of a mknod file is $(stat -c %s "$(fs_bpath "$cipher" mknod)") bytes"
both 'mkfifo "$D/fifo" && stat -c %F "$D/fifo"'
[ -p "$(fs_bpath "$cipher" fifo)" ] && t_pass || t_fail "the FIFO is not stored as a FIFO"
(timeout 10 sh -c "echo through-the-fifo > '$m/fifo'" &)
T_OUT=$(timeout 10 cat "$m/fifo" 2>&1)
[ "$T_OUT" = through-the-fifo ] && t_pass || t_fail "FIFO read: '$T_OUT'"
rm -f "$m/fifo" "$ref/fifo"
# Without -o xattr there are none (tests/fs/test_fs_xattr.sh has the rest).
T_OUT=$(setfattr -n user.x -v 1 "$m/attrs" 2>&1 || "$PY" -c '
import os, sys
try:
    os.setxattr(sys.argv[1], "user.x", b"1")
except OSError as e:
    print(os.strerror(e.errno))' "$m/attrs")
t_contains "no xattrs without -o xattr" "Operation not supported"
fs_umount "$m"
fs_mount "$conf" "$cipher" "$m" -o xattr || fs_abort "mount with -o xattr"
py xattr "$m/attrs"
py xattr "$m/dir"

# --- No plaintext in the cipher directory ------------------------------
marker=CMKFS-PLAINTEXT-MARKER
for d in "$m" "$ref"; do
  yes "$marker" | head -c 65536 > "$d/marker"
  printf '%s' "$marker" > "$d/marker-small"
  head -c 4090 "$src" > "$d/marker-edge"; printf '%s' "$marker" >> "$d/marker-edge"
  printf 'tiny-%s' "$marker" | head -c 15 > "$d/marker-tiny"
done
same marker; same marker-small; same marker-edge; same marker-tiny
found=$(grep -rlaF -D skip -e "$marker" -e "tiny-CMKFS-PLAI" "$cipher")
[ -z "$found" ] && t_pass || t_fail "plaintext found in backing files: $found"
grep -qaF "$marker" "$m/marker-edge" && t_pass || t_fail "the marker does not read back"

# --- The volume descriptor cannot be reached through the mount -----------
desc_sum=$(sha256sum < "$cipher/cmkfs.volume")
# shellcheck disable=SC2010 # the listing (readdir) is what is tested
ls -A "$m" | grep -qx cmkfs.volume && t_fail "the mount lists cmkfs.volume" || t_pass
echo x > "$m/cmkfs.volume" 2>/dev/null
echo x > "$m/victim"
mv "$m/victim" "$m/cmkfs.volume" 2>/dev/null
ln "$m/victim" "$m/cmkfs.volume" 2>/dev/null
ln -s victim "$m/cmkfs.volume" 2>/dev/null
rm -f "$m/cmkfs.volume" "$m/victim"
[ "$(sha256sum < "$cipher/cmkfs.volume")" = "$desc_sum" ] && [ -f "$cipher/cmkfs.volume" ] && t_pass ||
  t_fail "writes through the mount changed or removed the volume descriptor"

# --- syncfs after files went with times still cached ----------------------
# The writeback cache sends a file's times after its last name is gone; that
# late SETATTR must not fail a later syncfs.
mkdir "$m/gone"
for i in $(seq 1 40); do printf 'data %s' "$i" > "$m/gone/f$i"; touch -d @100000 "$m/gone/f$i"; done
rm -rf "$m/gone"
sync -f "$m" && t_pass || t_fail "syncfs after rm -rf of freshly written files failed"

# --- Everything again after a remount ----------------------------------
check_tree() {
  local rel
  a=$(cd "$m" && find . -mindepth 1 ! -name cmkfs.volume -printf '%p %y %m\n' | sort)
  b=$(cd "$ref" && find . -mindepth 1 -printf '%p %y %m\n' | sort)
  [ "$a" = "$b" ] && t_pass || t_fail "tree differs: $(diff <(echo "$a") <(echo "$b") | head -20)"
  while IFS= read -r -d '' rel; do
    cmp -s "$m/$rel" "$ref/$rel" || t_fail "$rel differs $1"
  done < <(cd "$ref" && find . -type f -print0)
  fs_backing_sizes "$m" "$cipher"
}
check_tree "before the remount"
fs_remount "$conf" "$cipher" "$m" || fs_abort "remount failed"
check_tree "after the remount"

fs_done
