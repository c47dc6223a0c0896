#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Key rotation with the local keystore, through real mounts: the admin's
# story (tests/rotation_lib.sh), then rewrap killed with SIGKILL at random
# moments (every file stays readable throughout, a rerun completes the
# job) and rewrap while writers write. Needs root and /dev/fuse.
. "$(dirname "$0")/fs/fs_lib.sh"
. "$(dirname "$0")/rotation_lib.sh"

ks=$T_DIR/keystore.json
ROT_CONF=$T_DIR/c.conf
ROT_CIPHER=$T_DIR/cipher
ROT_MNT=$T_DIR/mnt
ROT_WAIT=8
fs_volume "$ROT_CONF" "$ks" "$ROT_CIPHER"
t_conf "$ROT_CONF" "$ks" "recheck_interval = 2"

kms_rotate() {
  "$CMKFS" key rotate -c "$ROT_CONF" | sed -n 's/.* version \([0-9]*\) created.*/\1/p'
}
kms_disable() { "$CMKFS" key disable "$1" -c "$ROT_CONF" >/dev/null; }
kms_enable() { "$CMKFS" key enable "$1" -c "$ROT_CONF" >/dev/null; }
kms_break() { mv "$ks" "$ks.away"; }
kms_unbreak() { mv "$ks.away" "$ks"; }

rot_scenario
fs_umount "$ROT_MNT"

# --- rewrap killed at random moments -------------------------------------------
# A volume of many small files; each round adds a CMK version and kills a
# rewrap somewhere in its run. The volume stays mounted: after every kill
# every file must read back, whichever slot its header now uses (the newest
# versions are fetched on demand by the mount).
kv=$T_DIR/kill
fs_volume "$T_DIR/k.conf" "$T_DIR/k.json" "$kv"
fs_mount "$T_DIR/k.conf" "$kv" "$ROT_MNT"
"$PY" - "$ROT_MNT" <<'EOF'
import os, sys
root = sys.argv[1]
for d in range(30):
    os.mkdir(os.path.join(root, "d%d" % d))
    for f in range(100):
        with open(os.path.join(root, "d%d" % d, "f%d" % f), "wb") as out:
            out.write(os.urandom(f * 37 % 5000))
EOF
(cd "$ROT_MNT" && find . -type f -print0 | xargs -0 sha256sum) > "$T_DIR/ksums"
n=$(wc -l < "$T_DIR/ksums")
kills=0
partial=0
seed=${CMKFS_TEST_SEED:-$$}
RANDOM=$seed
echo "kill points drawn with seed $seed (CMKFS_TEST_SEED=$seed repeats them)"
for round in $(seq 24); do
  "$CMKFS" key rotate -c "$T_DIR/k.conf" >/dev/null || t_fail "rotate in round $round"
  # Killed (SIGKILL, by the fault-injection hook) right after the Kth key
  # slot is written while other threads are mid-file, or once the walk is
  # over, before the sync and the descriptor's re-seal: wherever the
  # machine's speed would have put a kill -9.
  if [ $((round % 6)) = 0 ]; then at=rewrap.walked:1
  else at=rewrap.file:$((1 + RANDOM % n)); fi
  CMKFS_FAULT=$at "$CMKFS" rewrap -j 4 -c "$T_DIR/k.conf" "$kv" >/dev/null 2>&1
  [ $? -eq 137 ] && kills=$((kills + 1)) || t_fail "round $round: rewrap not killed at $at"
  # Some files moved, some not, one maybe mid-write: all readable.
  st=$("$CMKFS" status --json -c "$T_DIR/k.conf" "$kv" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
print(s["unreadable"], sum(1 for v in s["versions"] if v["files"]))')
  # shellcheck disable=SC2086 # split into its two numbers on purpose
  set -- $st
  [ "$1" = 0 ] || t_fail "round $round: $1 headers unreadable after SIGKILL"
  [ "$2" -gt 1 ] && partial=$((partial + 1))
  if out=$(cd "$ROT_MNT" && sha256sum --quiet -c "$T_DIR/ksums" 2>&1); then t_pass; else
    t_fail "round $round: files unreadable after a killed rewrap: $(echo "$out" | head -3)"
  fi
done
echo "killed $kills rewraps; $partial left files on more than one version"
t_expect 0 "every rewrap was killed where asked ($kills)" -- test "$kills" -eq 24
t_expect 0 "some kills landed mid-run ($partial)" -- test "$partial" -ge 1
t_expect 0 "a rerun completes the job" -- "$CMKFS" rewrap -c "$T_DIR/k.conf" "$kv"
t_contains "every file accounted for" ", 0 failed"
t_expect 0 "status: all on the newest" -- "$CMKFS" status -c "$T_DIR/k.conf" "$kv"
t_contains "nothing left to re-wrap" "older versions may be disabled"
fs_remount "$T_DIR/k.conf" "$kv" "$ROT_MNT"
if out=$(cd "$ROT_MNT" && sha256sum --quiet -c "$T_DIR/ksums" 2>&1); then t_pass; else
  t_fail "after the final rewrap and a remount: $(echo "$out" | head -3)"
fi

# --- rewrap --progress-json: JSON lines, the last one the summary ---------------------
"$CMKFS" key rotate -c "$T_DIR/k.conf" >/dev/null
t_expect 0 "rewrap --progress-json" -- "$CMKFS" rewrap --progress-json -j 2 -c "$T_DIR/k.conf" "$kv"
printf '%s\n' "$T_OUT" | "$PY" -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
assert all(l["version"] == 1 for l in lines), lines
assert all(l["event"] == "progress" for l in lines[:-1]), lines
done = lines[-1]
assert done["event"] == "done" and done["failed"] == 0 and done["failures"] == [], done
assert done["rewrapped"] == int(sys.argv[1]) and done["exit_code"] == 0, done
' "$n" && t_pass || t_fail "rewrap --progress-json: $T_OUT"

# --- rewrap while writers write ------------------------------------------------------
"$CMKFS" key rotate -c "$T_DIR/k.conf" >/dev/null
"$PY" - "$ROT_MNT/busy" 6 > "$T_DIR/writer.out" 2>&1 <<'EOF' &
import hashlib, os, sys, time
root, secs = sys.argv[1], float(sys.argv[2])
os.mkdir(root)
end = time.time() + secs
sums = {}
i = 0
while time.time() < end:
    name = os.path.join(root, "w%d" % (i % 200))
    data = os.urandom(1 + (i * 7919) % 70000)
    mode = "ab" if i % 3 else "wb"
    with open(name, mode) as f:
        f.write(data)
    old = sums.get(name, b"") if mode == "ab" else b""
    sums[name] = old + data
    i += 1
bad = [n for n, d in sums.items() if open(n, "rb").read() != d]
print("writes", i, "bad", len(bad))
sys.exit(1 if bad else 0)
EOF
wpid=$!
t_wait_until 120 "the writer writes" -- test -e "$ROT_MNT/busy/w20"
t_expect 0 "rewrap while a writer writes" -- "$CMKFS" rewrap -j 8 -c "$T_DIR/k.conf" "$kv"
t_contains "no failures" ", 0 failed"
wait "$wpid" && t_pass || t_fail "the writer's files: $(cat "$T_DIR/writer.out")"
fs_remount "$T_DIR/k.conf" "$kv" "$ROT_MNT"
if out=$(cd "$ROT_MNT" && sha256sum --quiet -c "$T_DIR/ksums" 2>&1); then t_pass; else
  t_fail "after rewrap with writers: $(echo "$out" | head -3)"
fi
t_expect 0 "a second rewrap moves the writer's new files too" -- "$CMKFS" rewrap -c "$T_DIR/k.conf" "$kv"
t_expect 0 "status: all current" -- "$CMKFS" status -c "$T_DIR/k.conf" "$kv"
t_contains "nothing left" "older versions may be disabled"

# --- rewrap's refusals ----------------------------------------------------------------------
t_expect 2 "rewrap without a volume" -- "$CMKFS" rewrap -c "$T_DIR/k.conf"
t_expect 2 "-j out of range" -- "$CMKFS" rewrap -j 0 -c "$T_DIR/k.conf" "$kv"
exec 8<"$kv"   # rewrap and fsck --repair lock the cipher directory
flock -x 8
t_expect 1 "a second rewrap at the same time" -- "$CMKFS" rewrap -c "$T_DIR/k.conf" "$kv"
t_contains "says why" "another rewrap or fsck --repair is running"
exec 8<&-
t_expect 6 "rewrap of a directory that is no volume" -- "$CMKFS" rewrap -c "$T_DIR/k.conf" "$T_DIR"

# --- a new version without a remount ------------------------------------------
# The mount's re-check finds the new version and makes new files with it:
# every host of a fleet moves on within recheck_interval.
nv=$T_DIR/newv
fs_volume "$T_DIR/n.conf" "$T_DIR/n.json" "$nv"
t_conf "$T_DIR/n.conf" "$T_DIR/n.json" "recheck_interval = 1"
fs_umount "$ROT_MNT"
fs_mount "$T_DIR/n.conf" "$nv" "$ROT_MNT"
echo before > "$ROT_MNT/before"
t_expect 0 "a file made before the rotation has version 1" -- \
  test "$(ROT_CONF=$T_DIR/n.conf rot_version "$nv/before")" = 1
"$CMKFS" key rotate -c "$T_DIR/n.conf" > /dev/null
new_on_2() {
  local f="after-$RANDOM"
  echo after > "$ROT_MNT/$f" && [ "$(ROT_CONF=$T_DIR/n.conf rot_version "$nv/$f")" = 2 ]
}
t_wait_until 60 "new files use version 2 within recheck_interval, no remount" -- new_on_2
t_expect 0 "the old file still reads" -- grep -qx before "$ROT_MNT/before"
fs_umount "$ROT_MNT"

fs_done
