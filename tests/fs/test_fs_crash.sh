#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Crash safety: the daemon is killed (SIGKILL, by the fault-injection hook)
# between the steps of every multi-step operation: a create (long name:
# side file, header, link), a truncate down that re-encodes the new last
# unit (cut, record, tail), a write that re-encodes the old tail, a mkdir
# (temporary directory, its id, the rename), a rename of a long name (new
# side file, the rename), a re-seal of the descriptor copies. After each,
# a new mount must read every byte that was fsync'd and not being changed
# exactly, never garbage; the file being changed has its old or its new
# state; fsck finds at most leftovers that --repair removes. Needs root and
# /dev/fuse.
. "$(dirname "$0")/fs_lib.sh"

conf=$T_DIR/c.conf
cipher=$T_DIR/cipher
mnt=$T_DIR/mnt
fs_volume "$conf" "$T_DIR/ks.json" "$cipher"
mkdir -p "$mnt"
long=$(printf 'L%.0s' $(seq 200))
export LONG=$long

# The files every round checks: written and fsync'd before the kill.
fs_mount "$conf" "$cipher" "$mnt"
"$PY" - "$mnt" > "$T_DIR/baseline" <<'EOF'
import hashlib, os, random, sys
root = sys.argv[1]
rng = random.Random(7)
os.mkdir(os.path.join(root, "keep"))
for i, size in enumerate([0, 1, 15, 16, 17, 4095, 4096, 4097, 4111, 9000, 70001]):
    data = rng.randbytes(size)
    p = os.path.join(root, "keep", "k%d" % i)
    with open(p, "wb") as f:
        f.write(data)
        f.flush(); os.fsync(f.fileno())
    print(p[len(root) + 1:], hashlib.sha256(data).hexdigest())
EOF
fs_umount "$mnt"

# crash POINT WHAT: mounts with the daemon set to die at POINT, runs WHAT
# (a Python snippet on the mount; it must hit the point), then unmounts
# what is left of the dead mount.
crash() {
  local point=$1 what=$2 pid
  T_RUNS=$((T_RUNS + 1))
  CMKFS_FAULT=$point:1 "$CMKFS" mount -c "$conf" "$cipher" "$mnt" > "$T_DIR/run.$T_RUNS.out" 2>&1 ||
    { t_fail "$point: mount: $(cat "$T_DIR/run.$T_RUNS.out")"; return 1; }
  FS_MOUNTS+=("$mnt")
  pid=$(fs_daemon_pid "$mnt")
  "$PY" - "$mnt" "$what" > "$T_DIR/op.out" 2>&1 <<'EOF'
import os, sys
root, what = sys.argv[1], sys.argv[2]
try:
    exec(what)
except OSError as e:               # the daemon died under it
    print("op:", e)
EOF
  if [ -n "$pid" ] && ! fs_wait_gone "$pid" 120; then
    t_fail "$point: the daemon was not killed there ($(cat "$T_DIR/op.out"))"
    kill -9 "$pid" 2>/dev/null
  else
    t_pass
  fi
  fusermount3 -uz "$mnt" 2>/dev/null
  FS_MOUNTS=()
}

# check POINT CHECK: mounts again; every baseline file is exact, CHECK (a
# Python snippet) holds for the file being changed, and fsck leaves
# nothing after --repair.
check() {
  local point=$1 what=$2
  fs_mount "$conf" "$cipher" "$mnt" || return 1
  if out=$("$PY" - "$mnt" "$T_DIR/baseline" "$what" 2>&1 <<'EOF'
import hashlib, os, sys
root, baseline, what = sys.argv[1:4]
for line in open(baseline):
    rel, digest = line.split()
    with open(os.path.join(root, rel), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest, rel
for name in os.listdir(root):           # every entry lists and stats
    os.lstat(os.path.join(root, name))
exec(what)
EOF
  ); then t_pass; else t_fail "$point: after the crash: $out"; fi
  fs_umount "$mnt"
  T_RUNS=$((T_RUNS + 1))
  "$CMKFS" fsck --repair -c "$conf" "$cipher" > "$T_DIR/run.$T_RUNS.out" 2>&1
  rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 1 ] && t_pass || t_fail "$point: fsck --repair: exit $rc: $(cat "$T_DIR/run.$T_RUNS.out")"
  t_expect 0 "$point: clean after the repair" -- "$CMKFS" fsck -c "$conf" "$cipher"
}

# --- truncate down, re-encoding the new last unit ---------------------------------
setup_big='
import random
data = random.Random(9).randbytes(18028)
with open(os.path.join(root, "big"), "wb") as f:
    f.write(data); f.flush(); os.fsync(f.fileno())
'
truncate_check='
import random
data = random.Random(9).randbytes(18028)
got = open(os.path.join(root, "big"), "rb").read()
assert len(got) in (18028, 8192, 4489), len(got)
assert got == data[:len(got)], "bytes that were not being changed changed"
os.unlink(os.path.join(root, "big"))
'
for point in truncate.shortened truncate.recorded truncate.cut truncate.tail; do
  fs_mount "$conf" "$cipher" "$mnt" && "$PY" - "$mnt" <<<"import os,sys; root=sys.argv[1]
$setup_big" && fs_umount "$mnt"
  crash "$point" 'os.truncate(os.path.join(root, "big"), 4489)'
  check "$point" "$truncate_check"
done

# --- a write past the end that re-encodes the old tail first ------------------------
# shellcheck disable=SC2043 # one point now; the loop is shaped like the others
for point in write.tail; do
  fs_mount "$conf" "$cipher" "$mnt" && "$PY" - "$mnt" <<<"import os,sys; root=sys.argv[1]
$setup_big" && fs_umount "$mnt"
  crash "$point" '
fd = os.open(os.path.join(root, "big"), os.O_WRONLY)
os.pwrite(fd, b"x" * 100, 30000)
'
  check "$point" '
import random
data = random.Random(9).randbytes(18028)
got = open(os.path.join(root, "big"), "rb").read()
assert got[:18028] == data, "the old bytes changed"
assert got[18028:30000].count(0) == len(got[18028:30000]), "garbage past the old end"
os.unlink(os.path.join(root, "big"))
'
done

# --- creates of a long name ----------------------------------------------------------
for point in create.side create.header create.linked; do
  crash "$point" '
with open(os.path.join(root, os.environ["LONG"]), "wb") as f:
    f.write(b"new")
'
  check "$point" '
p = os.path.join(root, os.environ["LONG"])
if os.path.exists(p):
    assert open(p, "rb").read() in (b"", b"new"), "a new file reads garbage"
    os.unlink(p)
'
done

# --- a symlink whose target needs a side file --------------------------------------------
for point in symlink.side symlink.made; do
  crash "$point" 'os.symlink("t/" * 2000, os.path.join(root, "longlink"))'
  check "$point" '
p = os.path.join(root, "longlink")
if os.path.lexists(p):
    assert os.readlink(p) == "t/" * 2000, "a long target reads wrong"
    assert os.lstat(p).st_size == 4000
    os.unlink(p)
'
done

# --- mkdir ---------------------------------------------------------------------------------
for point in mkdir.tmp mkdir.dirid mkdir.made; do
  crash "$point" 'os.mkdir(os.path.join(root, "newdir"))'
  check "$point" '
p = os.path.join(root, "newdir")
if os.path.exists(p):
    assert os.listdir(p) == [], os.listdir(p)
    open(os.path.join(p, "works"), "w").close()
    os.unlink(os.path.join(p, "works"))
    os.rmdir(p)
'
done

# --- rename to a long name -------------------------------------------------------------
for point in rename.side rename.renamed; do
  fs_mount "$conf" "$cipher" "$mnt" && echo moving > "$mnt/short" && fs_umount "$mnt"
  crash "$point" 'os.rename(os.path.join(root, "short"), os.path.join(root, os.environ["LONG"]))'
  check "$point" '
a, b = os.path.join(root, "short"), os.path.join(root, os.environ["LONG"])
there = [p for p in (a, b) if os.path.exists(p)]
assert len(there) == 1, there
assert open(there[0], "rb").read() == b"moving\n"
os.unlink(there[0])
'
done

# --- the descriptor's two copies (a rewrap's re-seal) ----------------------------------
"$CMKFS" key rotate -c "$conf" >/dev/null
CMKFS_FAULT=descriptor.primary:1 "$CMKFS" rewrap -c "$conf" "$cipher" >/dev/null 2>&1
[ $? = 137 ] && t_pass || t_fail "rewrap was not killed between the descriptor copies"
check descriptor.primary 'pass'

fs_done
