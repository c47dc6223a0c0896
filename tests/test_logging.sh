#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Where a mount's daemon logs, so that its messages never vanish: the
# journal (native protocol, with PRIORITY and a stable MESSAGE_ID), else
# syslog, else the stderr it was started with; -o logfile=PATH overrides;
# -d adds debug lines. Each case runs in a private mount namespace whose
# /run or /dev holds a stand-in for journald or syslog (log_listener.py),
# or neither. The message checked is the one a damaged file gives. Needs
# root, /dev/fuse and unshare(1).
. "$(dirname "$0")/fs/fs_lib.sh"

command -v unshare >/dev/null || fs_abort "unshare (util-linux) is missing"
export CMKFS conf=$T_DIR/c.conf cipher=$T_DIR/cipher mnt=$T_DIR/mnt
export LISTENER=$FS_DIR/log_listener.py PY T_DIR
fs_volume "$conf" "$T_DIR/ks.json" "$cipher"
fs_mount "$conf" "$cipher" "$mnt"
echo "to be damaged" > "$mnt/bad.txt"
fs_umount "$mnt"
bad=$(fs_bpath "$cipher" bad.txt)
printf 'XXXX' | dd of="$bad" bs=1 seek=0 conv=notrunc status=none  # foreign magic
FILE_UNREADABLE_ID=e9a4c7b1d3f24e58a0c6b9d2f5e1a7c3

# ns CASE SCRIPT: runs SCRIPT (bash) in a private mount namespace, where
# a mount made is gone with it: SCRIPT unmounts, and any daemon left is
# killed here.
ns() {
  local case=$1 rc
  unshare -m --propagation private bash -euc "
    hide() { for p in /run/systemd/journal/socket /dev/log; do
               if [ -e \$p ]; then mount --bind /dev/null \$p; fi; done; }
    wait_file() { for _ in \$(seq 600); do [ -e \$1 ] && return 0; sleep 0.1; done; return 1; }
    read_bad() { if cat \"\$mnt/bad.txt\" >/dev/null 2>\"\$T_DIR/$case.cat\"; then
                   echo 'the damaged file read' >&2; exit 1; fi; }
    $2" > "$T_DIR/$case.out" 2>&1
  rc=$?
  pkill -f -- "mount -c $conf $cipher $mnt" 2>/dev/null
  [ "$rc" = 0 ] && t_pass || t_fail "$case: exit $rc: $(cat "$T_DIR/$case.out")"
}

# waits until FILE has a line matching REGEX (the daemon writes it before
# it answers, but "unmounted" comes after fusermount3 returns).
wait_line() {
  for _ in $(seq 600); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# --- no journal, no syslog: the stderr it was started with -----------------------
ns stderr '
  hide
  "$CMKFS" mount -c "$conf" "$cipher" "$mnt" 2>"$T_DIR/stderr.log"
  read_bad
  fusermount3 -u "$mnt"'
grep -q "Input/output error" "$T_DIR/stderr.cat" && t_pass || t_fail "reading the damaged file: $(cat "$T_DIR/stderr.cat")"
wait_line "$T_DIR/stderr.log" "unmounted" && t_pass || t_fail "no unmount line on stderr: $(cat "$T_DIR/stderr.log")"
line=$(grep "file-unreadable" "$T_DIR/stderr.log")
case "$line" in
  *"cmkfs["*"]: error: "*"foreign magic"*"[file-unreadable]") t_pass ;;
  *) t_fail "stderr lacks the damaged file's line with priority and id: $(cat "$T_DIR/stderr.log")" ;;
esac
grep -q "mounted .* logging to stderr" "$T_DIR/stderr.log" && t_pass || t_fail "the mount line does not say where it logs"

# --- -o logfile=PATH -------------------------------------------------------------
ns logfile '
  hide
  "$CMKFS" mount -c "$conf" -o "logfile=$T_DIR/daemon.log" "$cipher" "$mnt" 2>"$T_DIR/logfile.err"
  read_bad
  fusermount3 -u "$mnt"'
wait_line "$T_DIR/daemon.log" "unmounted" && t_pass || t_fail "no unmount line in the log file"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z cmkfs\[[0-9]+\]: error: .*foreign magic.*\[file-unreadable\]$' "$T_DIR/daemon.log" &&
  t_pass || t_fail "the log file lacks a dated line for the damaged file: $(cat "$T_DIR/daemon.log")"
[ "$(stat -c %a "$T_DIR/daemon.log")" = 600 ] && t_pass || t_fail "log file mode $(stat -c %a "$T_DIR/daemon.log")"
[ -s "$T_DIR/logfile.err" ] && t_fail "with a log file, stderr got: $(cat "$T_DIR/logfile.err")" || t_pass
t_expect 2 "logfile takes an absolute path" -- "$CMKFS" mount -c "$conf" -o logfile=rel.log "$cipher" "$mnt"

# --- syslog (/dev/log) ---------------------------------------------------------------
ns syslog '
  hide
  mount -t tmpfs -o mode=755 none /dev
  mknod -m 666 /dev/fuse c 10 229; mknod -m 666 /dev/null c 1 3
  mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/urandom c 1 9
  "$PY" "$LISTENER" syslog /dev/log "$T_DIR/syslog.jsonl" & lpid=$!
  wait_file /dev/log.ready
  "$CMKFS" mount -c "$conf" "$cipher" "$mnt" 2>"$T_DIR/syslog.err"
  read_bad
  fusermount3 -u "$mnt"
  for _ in $(seq 600); do grep -q unmounted "$T_DIR/syslog.jsonl" 2>/dev/null && break; sleep 0.1; done
  kill $lpid'
"$PY" - "$T_DIR/syslog.jsonl" <<'PYEOF' && t_pass || t_fail "syslog: $(cat "$T_DIR/syslog.jsonl")"
import json, re, sys
raw = [json.loads(l)["raw"] for l in open(sys.argv[1])]
# <27>: facility daemon (3), priority error (3); the id ends the text.
assert any(re.match(r"<27>.*cmkfs\[\d+\]: .*foreign magic.*\[file-unreadable\]$", r) for r in raw), raw
assert any(re.match(r"<30>.*cmkfs\[\d+\]: unmounted .*\[unmounted\]$", r) for r in raw), raw
PYEOF
[ -s "$T_DIR/syslog.err" ] && t_fail "with syslog, stderr got: $(cat "$T_DIR/syslog.err")" || t_pass

# --- the journal (native protocol) ---------------------------------------------------
ns journal '
  hide
  mount -t tmpfs -o mode=755 none /run
  mkdir -p /run/systemd/journal
  "$PY" "$LISTENER" journal /run/systemd/journal/socket "$T_DIR/journal.jsonl" & lpid=$!
  wait_file /run/systemd/journal/socket.ready
  "$CMKFS" mount -c "$conf" "$cipher" "$mnt" 2>"$T_DIR/journal.err"
  read_bad
  fusermount3 -u "$mnt"
  for _ in $(seq 600); do grep -q unmounted "$T_DIR/journal.jsonl" 2>/dev/null && break; sleep 0.1; done
  kill $lpid'
"$PY" - "$T_DIR/journal.jsonl" "$FILE_UNREADABLE_ID" <<'PYEOF' && t_pass || t_fail "journal: $(cat "$T_DIR/journal.jsonl")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
bad = [r for r in recs if r.get("CMKFS_MESSAGE") == "file-unreadable"]
assert bad, recs
r = bad[0]
assert r["MESSAGE_ID"] == sys.argv[2] and r["PRIORITY"] == "3", r
assert r["SYSLOG_IDENTIFIER"] == "cmkfs" and "foreign magic" in r["MESSAGE"], r
assert any(x.get("CMKFS_MESSAGE") == "unmounted" and x["PRIORITY"] == "6" for x in recs), recs
PYEOF
[ -s "$T_DIR/journal.err" ] && t_fail "with the journal, stderr got: $(cat "$T_DIR/journal.err")" || t_pass

# --- -d: debug lines, in the foreground ----------------------------------------------
fs_mount_fg "$conf" "$cipher" "$mnt" "$T_DIR/debug.log" -d
fs_umount "$mnt"
grep -q "cmkfs\[[0-9]*\]: debug: FUSE options: " "$T_DIR/debug.log" && t_pass ||
  t_fail "-d shows no debug lines: $(head -5 "$T_DIR/debug.log")"

fs_done
