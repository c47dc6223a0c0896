#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two hosts, one volume: a replica-2 GlusterFS volume (gluster_lib.sh) set
# up for -o shared (group db-workload: no write-behind or client caches; no
# eager lock), mounted by two GlusterFS clients with no entry cache, and a
# cmkfs -o shared mount over each, as two hosts would have. Checked across
# the two: a file written on one reads byte-exact on the other at its next
# open; 300 creates from each at once into one directory; an append; both
# writing alternate 4 KiB blocks, and alternate pieces of one unit, with
# fsync; renames and unlinks; a new CMK version and a revocation reaching
# both within recheck_interval; an online rewrap from one while the other
# reads every file in a loop; a host killed with kill -9 mid-write; and the
# model test (cmkfs's fsx) on a shared mount. Skipped (77) only where
# GlusterFS cannot start.
. "$(dirname "$0")/../fs/fs_lib.sh"
. "$(dirname "$0")/gluster_lib.sh"
trap 't_teardown; gl_cleanup; t_cleanup' EXIT
helper=$(dirname "$0")/shared_helper.py
T_START=$(date +%s)
section() { echo "[$(($(date +%s) - T_START)) s] $*" >&2; }

gl_start cmkfs-shared
rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
# As docs/DEPLOYMENT.md says for -o shared: no write-behind or client
# caches (group db-workload), and no eager lock, which otherwise makes a
# write after another client's wait about a second for the lock.
for set in "group db-workload" "cluster.eager-lock off"; do
  # shellcheck disable=SC2086
  if ! gl_cli volume set "$GL_VOLUME" $set >"$GL_DIR/set.log" 2>&1; then
    t_fail "gluster volume set $set: $(cat "$GL_DIR/set.log")"
    fs_done
  fi
done
c1=$T_DIR/client1
c2=$T_DIR/client2
gl_mount "$c1" entry-timeout=0 || fs_abort "GlusterFS client 1 does not mount"
gl_mount "$c2" entry-timeout=0 || fs_abort "GlusterFS client 2 does not mount"

conf=$T_DIR/cmkfs.conf
t_conf "$conf" "$T_DIR/keystore.json" "recheck_interval = 2"
"$CMKFS" key create -c "$conf" >/dev/null || fs_abort "key create"
"$CMKFS" init -c "$conf" "$c1/faces" >/dev/null || fs_abort "init on GlusterFS"
FS_CONF_OF[$c1/faces]=$conf
h1=$T_DIR/host1
h2=$T_DIR/host2
fs_mount "$conf" "$c1/faces" "$h1" -o shared || fs_abort "host 1 does not mount"
fs_mount "$conf" "$c2/faces" "$h2" -o shared || fs_abort "host 2 does not mount"

# --- seen on the other host at its next open ---
section "seen on the other host at its next open"
head -c 1000000 /dev/urandom >"$T_DIR/one.ref"
mkdir "$h1/dir"
t_expect 0 "host 2 lists a directory host 1 made" -- test -d "$h2/dir"
cp "$T_DIR/one.ref" "$h1/dir/one"
t_expect 0 "a file written on host 1 reads byte-exact on host 2 at once" -- cmp "$T_DIR/one.ref" "$h2/dir/one"
head -c 70000 /dev/urandom >"$T_DIR/two.ref"
cp "$T_DIR/two.ref" "$h2/dir/one"
t_expect 0 "and host 2's rewrite of it reads on host 1 at once" -- cmp "$T_DIR/two.ref" "$h1/dir/one"

# --- 300 creates from each host at once into one directory ---
section "300 creates from each host at once into one directory"
mkdir "$h1/many"
"$PY" "$helper" creates "$h1/many" a 300 >"$T_DIR/creates1.out" 2>&1 &
p1=$!
"$PY" "$helper" creates "$h2/many" b 300 >"$T_DIR/creates2.out" 2>&1 &
p2=$!
wait "$p1" && t_pass || t_fail "host 1's creates: $(cat "$T_DIR/creates1.out")"
wait "$p2" && t_pass || t_fail "host 2's creates: $(cat "$T_DIR/creates2.out")"
for h in "$h1" "$h2"; do
  n=$(find "$h/many" -mindepth 1 -maxdepth 1 | wc -l)
  [ "$n" = 600 ] && t_pass || t_fail "$h lists $n entries in many/, not 600"
  bad=$(cd "$h/many" && for f in *; do [ "$(cat "$f")" = "$f" ] || echo "$f"; done)
  [ -z "$bad" ] && t_pass || t_fail "$h: entries that do not read back: $(echo "$bad" | head -5)"
done
# The same names made on both hosts at once: each directory and each
# O_EXCL create succeeds on exactly one host, the other gets EEXIST.
mkdir "$h1/race"
"$PY" "$helper" race "$h1/race" 40 one >"$T_DIR/race1.out" 2>&1 &
p1=$!
"$PY" "$helper" race "$h2/race" 40 two >"$T_DIR/race2.out" 2>&1 &
p2=$!
wait "$p1" && wait "$p2" && t_pass || t_fail "the race: $(cat "$T_DIR/race1.out" "$T_DIR/race2.out")"
read -r d1 f1 <"$T_DIR/race1.out"
read -r d2 f2 <"$T_DIR/race2.out"
echo "same names at once: directories made $d1 + $d2, files $f1 + $f2 (of 40 each)" >&2
[ $((d1 + d2)) = 40 ] && t_pass || t_fail "40 directory names made on both hosts at once: $d1 + $d2 mkdirs succeeded"
[ $((f1 + f2)) = 40 ] && t_pass || t_fail "40 file names O_EXCL-created on both hosts at once: $f1 + $f2 succeeded"
t_expect 0 "each raced name is one whole entry on both hosts" -- sh -c "
  for h in '$h1' '$h2'; do
    [ \$(ls \$h/race | wc -l) = 80 ] || exit 1
    for i in \$(seq 0 39); do
      [ -d \$h/race/d-\$i ] && grep -qxE 'one|two' \$h/race/f-\$i || exit 1
    done
  done"

# --- an append on one host, read whole by the other's next open ---
section "an append on one host, read whole by the other's next open"
printf 'first line\n' >"$h1/dir/log"
t_expect 0 "host 2 reads the log" -- grep -qx 'first line' "$h2/dir/log"
head -c 5000 /dev/urandom | base64 -w 100 >"$T_DIR/append.ref"
cat "$T_DIR/append.ref" >>"$h1/dir/log"
{ printf 'first line\n'; cat "$T_DIR/append.ref"; } >"$T_DIR/log.ref"
t_expect 0 "an append on host 1 is read whole by host 2's next open" -- cmp "$T_DIR/log.ref" "$h2/dir/log"
printf 'from two\n' >>"$h2/dir/log"
printf 'from two\n' >>"$T_DIR/log.ref"
t_expect 0 "and host 2's append after it by host 1" -- cmp "$T_DIR/log.ref" "$h1/dir/log"

# --- both hosts writing one file: alternate blocks, alternate pieces ---
section "both hosts writing one file: alternate blocks, alternate pieces"
# Each piece written and fsync'd in turn with the other host's. Pieces
# smaller than a unit make each host read-modify-write units the other
# just wrote, and grow the file past the other's end.
for shape in "blocks 24 4096" "pieces 64 64" "tiny 14 1"; do
  read -r what count size <<<"$shape"
  set -- "$what" "$count" "$size"
  : >"$h1/dir/$1"
  "$PY" "$helper" pieces "$h1/dir/$1" 0 "$2" "$3" >"$T_DIR/$1.1.out" 2>&1 &
  p1=$!
  "$PY" "$helper" pieces "$h2/dir/$1" 1 "$2" "$3" >"$T_DIR/$1.2.out" 2>&1 &
  p2=$!
  wait "$p1" && t_pass || t_fail "host 1 writing $1: $(cat "$T_DIR/$1.1.out")"
  wait "$p2" && t_pass || t_fail "host 2 writing $1: $(cat "$T_DIR/$1.2.out")"
  t_expect 0 "$1 ($2 x $3 bytes, alternate hosts): host 1 reads every piece" -- "$PY" "$helper" expect-pieces "$h1/dir/$1" "$2" "$3"
  t_expect 0 "$1: host 2 reads the same bytes" -- cmp "$h1/dir/$1" "$h2/dir/$1"
done

# --- renames and unlinks ---
section "renames and unlinks"
mv "$h1/dir/one" "$h1/dir/renamed"
t_expect 1 "a rename on host 1: the old name is gone on host 2" -- test -e "$h2/dir/one"
t_expect 0 "and the new name reads on host 2" -- cmp "$T_DIR/two.ref" "$h2/dir/renamed"
echo over >"$h2/dir/target"
mv "$h2/dir/renamed" "$h2/dir/target"
t_expect 0 "a rename over an existing name on host 2 reads on host 1" -- cmp "$T_DIR/two.ref" "$h1/dir/target"
mv "$h1/dir" "$h1/dir2"
t_expect 0 "a directory renamed on host 1 is listed under its new name on host 2" -- test -f "$h2/dir2/log"
rm "$h2/dir2/target"
t_expect 1 "an unlink on host 2 is gone on host 1" -- test -e "$h1/dir2/target"
t_expect 0 "host 1 lists the directory without it" -- sh -c "! ls '$h1/dir2' | grep -qx target"

# --- keys across hosts ---
section "keys across hosts"
mkdir -p "$T_DIR/ref"
for i in $(seq 1 100); do
  head -c $((20000 + i * 97)) /dev/urandom >"$T_DIR/ref/f$i"
done
mkdir "$h1/keys"
cp "$T_DIR"/ref/* "$h1/keys/"
newest() { "$CMKFS" key list -c "$conf" | awk '/enabled/ { print $1; exit }'; }
v1=$(newest)
"$CMKFS" key rotate -c "$conf" >/dev/null || t_fail "key rotate"
v2=$(newest)
[ -n "$v1" ] && [ "$v1" != "$v2" ] && t_pass || t_fail "key rotate made no new version ($v1, $v2)"
version_of() { "$CMKFS" info -c "$conf" "$c1/faces/$1" 2>/dev/null |
  awk '/active/ && /version/ { for (i = 1; i <= NF; i++) if ($i == "version") v = $(i + 1) } END { gsub(/[^0-9A-Za-z._-]/, "", v); print v }'; }
new_on() { rm -f "$1/keys/new"; echo new >"$1/keys/new" && [ "$(version_of keys/new)" = "$v2" ]; }
t_wait_until 60 "host 1 writes new files with the new CMK version" -- new_on "$h1"
t_wait_until 60 "host 2 writes new files with the new CMK version" -- new_on "$h2"
rm -f "$h1/keys/new"

stop=$T_DIR/stop-reading
"$PY" "$helper" readloop "$h2/keys" "$T_DIR/ref" "$stop" >"$T_DIR/readloop.out" 2>&1 &
reader=$!
t_wait_until 120 "host 2 reads in a loop" -- grep -q '^pass' "$T_DIR/readloop.out"
t_expect 0 "an online rewrap from host 1 while host 2 reads every file in a loop" -- "$CMKFS" rewrap -c "$conf" "$c1/faces"
touch "$stop"
wait "$reader" && t_pass || t_fail "host 2's reads during the rewrap: $(cat "$T_DIR/readloop.out")"
echo "host 2 during the rewrap: $(tail -1 "$T_DIR/readloop.out")" >&2
t_expect 0 "cmkfs status" -- "$CMKFS" status -c "$conf" "$c1/faces" --json
t_expect 0 "every file is on the new version after the rewrap" -- "$PY" -c 'import json, sys; s = json.loads(sys.argv[1]); assert s["files_not_newest"] == 0 and s["files"] > 100, s' "$T_OUT"

"$CMKFS" key disable "$v2" -c "$conf" >/dev/null || t_fail "key disable $v2"
cut_on() { ! cat "$1/keys/f1" >/dev/null 2>&1; }
t_wait_until 60 "revoking the CMK version cuts host 1" -- cut_on "$h1"
t_wait_until 60 "and host 2" -- cut_on "$h2"
"$CMKFS" key enable "$v2" -c "$conf" >/dev/null || t_fail "key enable $v2"
back_on() { cmp -s "$T_DIR/ref/f1" "$1/keys/f1"; }
t_wait_until 60 "enabled again, host 1 reads" -- back_on "$h1"
t_wait_until 60 "and host 2" -- back_on "$h2"

# --- a host killed with kill -9 mid-write ---
section "a host killed with kill -9 mid-write"
"$PY" "$helper" writeloop "$h1/keys/being-written" >"$T_DIR/writeloop.out" 2>&1 &
writer=$!
t_wait_until 120 "host 1 is writing" -- grep -q writing "$T_DIR/writeloop.out"
pid=$(fs_daemon_pid "$h1")
kill -9 "$pid"
wait "$writer" 2>/dev/null
fusermount3 -uz "$h1" 2>/dev/null
t_expect 0 "host 2 reads every file after host 1 was killed" -- diff -r "$T_DIR/ref" "$h2/keys" -x being-written
t_expect 0 "host 2 writes the file host 1 was writing" -- sh -c "head -c 300000 /dev/urandom >'$h2/keys/being-written'"
t_expect 0 "host 2 creates" -- cp "$T_DIR/ref/f1" "$h2/keys/after-kill"
fs_mount "$conf" "$c1/faces" "$h1" -o shared || fs_abort "host 1 does not mount again"
t_expect 0 "host 1, mounted again, reads every other file intact" -- diff -r "$T_DIR/ref" "$h1/keys" -x being-written -x after-kill
t_expect 0 "and what host 2 wrote meanwhile" -- cmp "$h1/keys/after-kill" "$T_DIR/ref/f1"
fs_umount "$h1"
fs_umount "$h2"
t_expect 0 "fsck finds the shared volume clean" -- "$CMKFS" fsck -c "$conf" "$c1/faces"

# --- the model test (cmkfs's fsx) on a shared mount ---
section "the model test (cmkfs's fsx) on a shared mount"
t_expect 0 "test_fs_model on a -o shared mount over GlusterFS" -- env \
  CMKFS_TEST_TMPDIR="$c1" CMKFS_FS_PROG="$CMKFS_FS_MODEL_PROG" CMKFS_MODEL_OPS=1500 \
  CMKFS_MOUNT_OPTIONS=shared bash "$(dirname "$0")/../fs/test_fs_model.sh"
fs_done
