# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The key-rotation story of an admin, against any key service: sourced
# after fs/fs_lib.sh by a test that defines these hooks:
#   kms_rotate            add a CMK version in the key service; print its id
#   kms_disable VERSION   disable (or delete) a version
#   kms_enable VERSION    enable it again; return 1 where the service cannot
#                         (a deleted Barbican secret stays deleted)
#   kms_break / kms_unbreak   make the key service unreachable and back
# and sets ROT_CONF (a config with a short recheck_interval), ROT_CIPHER (a
# volume made with it) and ROT_MNT.
#
#   rot_scenario   write files, rotate, remount, write more, status, rewrap
#                  (only key slots change), disable the old version,
#                  remount, verify every file byte for byte; then
#                  revocation while mounted, within the interval, and an
#                  unreachable service revoking nothing.
ROT_WAIT=${ROT_WAIT:-12} # seconds allowed for a re-check to act

# rot_write DIR PREFIX: files of many sizes, and many small ones in
# subdirectories, under DIR; their sums go to $T_DIR/sums.
rot_write() {
  local dir=$1 p=$2 s i
  mkdir -p "$dir/$p-d1/deep/er" "$dir/$p-d2"
  for s in 0 1 15 16 17 4095 4096 4097 100000 1048576 3000001; do
    head -c "$s" /dev/urandom > "$dir/$p-size-$s"
  done
  for i in $(seq 60); do
    head -c $((RANDOM % 9000)) /dev/urandom > "$dir/$p-d1/deep/er/f$i"
    head -c $((RANDOM % 300)) /dev/urandom > "$dir/$p-d2/g$i"
  done
  (cd "$dir" && find "$p"-* -type f -print0 | xargs -0 sha256sum) >> "$T_DIR/sums"
}

# rot_verify DESC: every file written so far reads back byte for byte.
rot_verify() {
  local out
  if out=$(cd "$ROT_MNT" && sha256sum --quiet -c "$T_DIR/sums" 2>&1); then
    t_pass
  else
    t_fail "$1: $(printf '%s\n' "$out" | head -5)"
  fi
}

# rot_version BACKINGFILE: the CMK version its header names (cmkfs info).
rot_version() {
  "$CMKFS" info -c "$ROT_CONF" "$1" 2>/dev/null |
    awk '/active/ && /version/ { for (i = 1; i <= NF; i++) if ($i == "version") { v = $(i + 1) } } END { gsub(/[^0-9A-Za-z._-]/, "", v); print v }'
}

# rot_wait_for DESC SECONDS COMMAND...: until COMMAND succeeds.
rot_wait_for() {
  local desc=$1 secs=$2 i
  shift 2
  for i in $(seq $((secs * 5))); do
    if "$@" 2>/dev/null; then t_pass; return 0; fi
    sleep 0.2
  done
  t_fail "$desc (not within $secs s)"
  return 1
}

rot_read_fails() { ! cat "$1" >/dev/null 2>&1; }
rot_read_works() { cat "$1" >/dev/null 2>&1; }

rot_scenario() {
  local v1 v2 n_a n_all out pyread
  : > "$T_DIR/sums"
  fs_mount "$ROT_CONF" "$ROT_CIPHER" "$ROT_MNT" || fs_abort "mount"
  rot_write "$ROT_MNT" a
  n_a=$(wc -l < "$T_DIR/sums")
  v1=$(rot_version "$ROT_CIPHER/a-size-100000")
  [ -n "$v1" ] && t_pass || t_fail "cmkfs info names the version of a file"

  # Rotate, remount: new files take the new version, old files keep theirs.
  v2=$(kms_rotate) || fs_abort "rotate the key"
  fs_remount "$ROT_CONF" "$ROT_CIPHER" "$ROT_MNT"
  rot_write "$ROT_MNT" b
  n_all=$(wc -l < "$T_DIR/sums")
  rot_verify "after rotation and remount"
  t_expect 0 "new file's version" -- test "$(rot_version "$ROT_CIPHER/b-size-100000")" = "$v2"
  t_expect 0 "old file's version" -- test "$(rot_version "$ROT_CIPHER/a-size-100000")" = "$v1"

  # status: how many files each version wraps.
  t_expect 0 "status after rotation" -- "$CMKFS" status --json -c "$ROT_CONF" "$ROT_CIPHER"
  out=$(printf '%s' "$T_OUT" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
files = {v["id"]: v["files"] for v in s["versions"]}
print(files.get(sys.argv[1], 0), files.get(sys.argv[2], 0), s["files_not_newest"], s["newest_enabled"])' "$v1" "$v2")
  t_expect 0 "status counts files per version ($out)" -- test "$out" = "$n_a $((n_all - n_a)) $n_a $v2"

  # rewrap: only key slots change, no data unit is touched.
  cp -a "$ROT_CIPHER" "$T_DIR/before"
  t_expect 0 "rewrap" -- "$CMKFS" rewrap -c "$ROT_CONF" "$ROT_CIPHER"
  t_contains "rewrap summary" "$n_a re-wrapped to CMK version $v2, $((n_all - n_a)) already current, 0 failed"
  out=$(cd "$T_DIR/before" && find . -type f ! -name 'cmkfs.volume*' | while read -r f; do
          cmp -s -i 576 "$f" "$ROT_CIPHER/$f" || echo "$f"
          cmp -s -n 64 "$f" "$ROT_CIPHER/$f" || echo "$f"
        done)
  t_expect 0 "rewrap left every byte outside the key slots alone: ${out:-ok}" -- test -z "$out"
  rm -rf "$T_DIR/before"
  t_expect 0 "old file re-wrapped" -- test "$(rot_version "$ROT_CIPHER/a-size-100000")" = "$v2"
  t_expect 0 "rewrap again" -- "$CMKFS" rewrap -c "$ROT_CONF" "$ROT_CIPHER"
  t_contains "second rewrap skips everything" "0 re-wrapped to CMK version $v2, $n_all already current, 0 failed"
  t_expect 0 "status after rewrap" -- "$CMKFS" status -c "$ROT_CONF" "$ROT_CIPHER"
  t_contains "status says the old version may go" "older versions may be disabled"

  # Disable the old version, remount, verify everything.
  kms_disable "$v1" || fs_abort "disable $v1"
  fs_remount "$ROT_CONF" "$ROT_CIPHER" "$ROT_MNT"
  rot_verify "after rewrap, disabling $v1 and remount"

  # Revocation while mounted: an open file and new opens give EACCES
  # within the interval; creating fails too; the cached pages go.
  exec 7<"$ROT_MNT/a-size-4096"
  head -c 10 <&7 >/dev/null
  kms_disable "$v2" || fs_abort "disable $v2"
  rot_wait_for "a new open gives EACCES once $v2 is disabled" "$ROT_WAIT" rot_read_fails "$ROT_MNT/b-size-17"
  pyread="import os, errno, sys
try:
    os.pread(7, 10, 0); sys.exit(1)
except OSError as e:
    sys.exit(0 if e.errno == errno.EACCES else 2)"
  t_expect 0 "an open file's reads give EACCES" -- "$PY" -c "$pyread"
  T_OUT=$(cat "$ROT_MNT/a-size-1" 2>&1)
  t_contains "cat says permission denied" "Permission denied"
  T_OUT=$( (echo x > "$ROT_MNT/new-file") 2>&1)
  t_contains "create gives EACCES" "Permission denied"
  t_expect 4 "status with no enabled version" -- "$CMKFS" status -c "$ROT_CONF" "$ROT_CIPHER"
  t_contains "status says why" "no version of the key is enabled"
  if kms_enable "$v2"; then
    rot_wait_for "enabling $v2 again restores access without a remount" "$ROT_WAIT" rot_read_works "$ROT_MNT/b-size-17"
    rot_verify "after enabling $v2 again"
    exec 7<&-
    # An unreachable key service revokes nothing.
    kms_break
    sleep "$ROT_WAIT"
    rot_verify "while the key service is unreachable"
    echo y > "$ROT_MNT/while-unreachable" && t_pass || t_fail "create while the service is unreachable"
    kms_unbreak
  else
    exec 7<&-
  fi
}
