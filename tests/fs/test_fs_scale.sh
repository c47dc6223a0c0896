#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Many files with few descriptors: a mount started with a soft limit of
# 256 (hard 4096) raises it, takes 5,000 files through create, ls -l, read
# and unlink without an error, and holds a bounded number of descriptors;
# FORGET frees its nodes once the kernel drops them; running out of
# descriptors anyway gives EMFILE and one log line, never a wrong answer;
# a create that fails after its link leaves nothing behind; renames and
# hard links, through the mount and behind its back, keep every answer
# right. Needs root and /dev/fuse.
. "$(dirname "$0")/fs_lib.sh"

conf=$T_DIR/c.conf
cipher=$T_DIR/cipher
mnt=$T_DIR/mnt
log=$T_DIR/daemon.log
fs_volume "$conf" "$T_DIR/ks.json" "$cipher"
mkdir -p "$mnt"

# shellcheck disable=SC2012 # descriptor numbers: only digits
fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# stats PID: the daemon's counts line (SIGUSR1), once it is in the log.
stats() {
  local before
  before=$(grep -c "\[limits\]" "$log")
  kill -USR1 "$1"
  for _ in $(seq 600); do
    [ "$(grep -c "\[limits\]" "$log")" -gt "$before" ] && break
    sleep 0.1
  done
  grep "nodes [0-9]" "$log" | tail -1
}
nodes() { stats "$1" | sed -n 's/.*nodes \([0-9]*\),.*/\1/p'; }

# --- 5,000 files under a soft limit of 256 -------------------------------------
(ulimit -Sn 256 && ulimit -Hn 4096 && exec "$CMKFS" mount -c "$conf" -o "logfile=$log" "$cipher" "$mnt") ||
  fs_abort "mount under ulimit -Sn 256"
FS_MOUNTS+=("$mnt")
pid=$(fs_daemon_pid "$mnt") || fs_abort "no daemon for $mnt"
grep -q "descriptor limit 4096 (soft 256 raised to the hard limit 4096)" "$log" && t_pass ||
  t_fail "the daemon did not raise its limit: $(grep limit "$log")"
"$PY" - "$mnt" "$pid" > "$T_DIR/many.out" 2>&1 <<'EOF'
import hashlib, os, sys
root, pid = sys.argv[1], sys.argv[2]
peak = 0
def sample():
    global peak
    peak = max(peak, len(os.listdir("/proc/%s/fd" % pid)))
for d in range(10):
    os.mkdir(os.path.join(root, "d%d" % d))
for i in range(5000):
    with open(os.path.join(root, "d%d" % (i % 10), "f%d" % i), "wb") as f:
        f.write(hashlib.sha256(b"%d" % i).digest() * (i % 7 + 1))
    if i % 250 == 0:
        sample()
names = []
for d in range(10):                       # ls -l: a listing and a stat each
    for e in os.scandir(os.path.join(root, "d%d" % d)):
        e.stat(follow_symlinks=False)
        names.append(e.path)
    sample()
assert len(names) == 5000, len(names)
for p in names:
    i = int(os.path.basename(p)[1:])
    with open(p, "rb") as f:
        assert f.read() == hashlib.sha256(b"%d" % i).digest() * (i % 7 + 1), p
sample()
for p in names:
    os.unlink(p)
sample()
print("peak descriptors", peak)
EOF
rc=$?
out=$(cat "$T_DIR/many.out")
[ "$rc" = 0 ] && t_pass || t_fail "5,000 files under a soft limit of 256: $out"
peak=$(sed -n 's/peak descriptors //p' "$T_DIR/many.out")
echo "daemon: at most ${peak:-?} descriptors for 5,000 files"
[ -n "$peak" ] && [ "$peak" -le 64 ] && t_pass || t_fail "the daemon held ${peak:-?} descriptors"

# --- FORGET frees the nodes ----------------------------------------------------------
"$PY" - "$mnt" <<'EOF'
import os, sys
root = sys.argv[1]
os.mkdir(os.path.join(root, "keep"))
for i in range(2000):
    open(os.path.join(root, "keep", "k%d" % i), "wb").close()
EOF
ls -lR "$mnt" > /dev/null
n1=$(nodes "$pid")
[ "${n1:-0}" -ge 2000 ] && t_pass || t_fail "after ls -lR of 2,000 files the daemon holds ${n1:-?} nodes"
# The kernel forgets what it drops from its caches (BATCH_FORGET)...
if [ -w /proc/sys/vm/drop_caches ]; then
  dropped() { sync; echo 2 > /proc/sys/vm/drop_caches; [ "$(nodes "$pid")" -le 50 ]; }
  t_wait_until 120 "FORGET freed the nodes the kernel dropped" -- dropped
  ls -lR "$mnt" > /dev/null
else
  echo "/proc/sys/vm/drop_caches is read-only here: only unlinks make the kernel forget"
fi
# ... and what is unlinked.
rm -rf "$mnt/keep"
removed() { [ "$(nodes "$pid")" -le 50 ]; }
t_wait_until 120 "FORGET freed the nodes of unlinked files" -- removed
mkdir "$mnt/keep" && for i in $(seq 0 79); do : > "$mnt/keep/k$i"; done
fs_umount "$mnt"

# --- out of descriptors: EMFILE and one log line, never a wrong answer ------------
(ulimit -Sn 48 && ulimit -Hn 48 && exec "$CMKFS" mount -c "$conf" -o "logfile=$log" "$cipher" "$mnt") ||
  fs_abort "mount under ulimit -n 48"
FS_MOUNTS+=("$mnt")
"$PY" - "$mnt" > "$T_DIR/emfile.out" 2>&1 <<'EOF'
import errno, os, sys
root = sys.argv[1]
files, refused = [], 0
for i in range(80):
    p = os.path.join(root, "keep", "k%d" % i)
    try:
        files.append((p, open(p, "rb")))
    except OSError as e:
        assert e.errno == errno.EMFILE, e
        refused += 1
assert refused > 0, "no open was refused"
for p, f in files:                        # what opened reads right
    assert f.read() == b"", p
    f.close()
with open(os.path.join(root, "keep", "k1"), "rb") as f:   # and works again
    f.read()
print("refused", refused, "of 80")
EOF
rc=$?
[ "$rc" = 0 ] && t_pass || t_fail "holding 80 files open under a limit of 48: $(cat "$T_DIR/emfile.out")"
[ "$(grep -c "out of file descriptors" "$log")" = 1 ] && t_pass ||
  t_fail "expected one log line about running out: $(grep -c "out of file descriptors" "$log")"
rm -rf "$mnt/keep"
fs_umount "$mnt"

# --- a create that fails after its link leaves nothing ----------------------------
before=$(find "$cipher" | sort)
CMKFS_FAULT=create.linked:1:EIO,mkdir.made:1:EIO fs_mount "$conf" "$cipher" "$mnt"
T_OUT=$( (echo data > "$mnt/fails") 2>&1)
t_contains "the create's error reaches the application" "Input/output error"
T_OUT=$(mkdir "$mnt/fails-too" 2>&1)
t_contains "the mkdir's error too" "Input/output error"
[ "$(find "$cipher" | sort)" = "$before" ] && t_pass || t_fail "a failed create left an entry behind"
echo data > "$mnt/works" && t_pass || t_fail "the next create"
fs_umount "$mnt"

# --- renames and hard links -----------------------------------------------------------
fs_mount "$conf" "$cipher" "$mnt"
mkdir -p "$mnt/a/b"
echo one > "$mnt/a/b/f"
exec 8<"$mnt/a/b/f"
mv "$mnt/a" "$mnt/z"
[ "$(cat "$mnt/z/b/f")" = one ] && t_pass || t_fail "a file after its directory was renamed"
ln "$mnt/z/b/f" "$mnt/h"
rm "$mnt/z/b/f"
[ "$(cat "$mnt/h")" = one ] && t_pass || t_fail "a hard link after the first name went"
chmod 600 "$mnt/h" && [ "$(stat -c %a "$mnt/h")" = 600 ] && t_pass || t_fail "chmod through the other link"
[ "$(cat <&8)" = one ] && t_pass || t_fail "a file open while its names changed"
exec 8<&-
# Behind the mount's back: the backing entry renamed directly.
echo two > "$mnt/z/b/g"
src=$(fs_bpath "$cipher" z/b/g) dst=$(fs_bpath "$cipher" z/b/moved)
mv "$src" "$dst"
got() { [ "$(cat "$mnt/z/b/moved" 2>/dev/null)" = two ]; }
t_wait_until 60 "the new name of a file renamed behind the mount's back" -- got
old() { ! cat "$mnt/z/b/g" >/dev/null 2>&1; }
t_wait_until 60 "its old name is gone" -- old
fs_umount "$mnt"

fs_done
