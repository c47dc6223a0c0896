#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Keys only in locked memory: a mounted daemon (local keystore, encrypted
# names) with files written, read, renamed and one held open is searched by
# key_scan for every key it derives from the CMK (the CMK, the volume's MAC
# and name keys, the AES-SIV keys, each file's wrapping key, DEK and XTS
# keys, with their expanded key schedules and HMAC's padded forms). No copy
# may be outside a mapping that is both mlock'ed and excluded from dumps;
# the CMK and the open file's XTS keys must be found (locked: the scan
# works); a closed file's keys must be found nowhere. Then again with the
# keystore sealed by a passphrase (searched for too) and the daemon in the
# foreground. Last, RLIMIT_MEMLOCK without CAP_IPC_LOCK: a clear failure
# naming the limit, never unlocked memory.
# CMKFS_KEY_SCAN names the helper (set by ctest).
. "$(dirname "$0")/fs_lib.sh"
FS_NAMES=encrypted
scan=${CMKFS_KEY_SCAN:?CMKFS_KEY_SCAN must name key_scan}

conf=$T_DIR/cmkfs.conf
ks=$T_DIR/keystore.json
cipher=$T_DIR/cipher
m=$T_DIR/mnt
fs_volume "$conf" "$ks" "$cipher"
fs_mount "$conf" "$cipher" "$m" || fs_abort "no mount, nothing to test"
pid=$(fs_daemon_pid "$m") || fs_abort "no daemon for $m"

# The CMK, from the unsealed keystore the test made.
cmk=$("$PY" -c '
import base64, json, sys
doc = json.load(open(sys.argv[1]))
print(base64.b64decode(doc["versions"][-1]["key"]).hex())' "$ks") ||
  fs_abort "cannot read the CMK from $ks"

# Files: some written and closed, one read again, one renamed, a directory
# of them, and one held open (written and read through its descriptor).
mkdir "$m/dir"
for i in 1 2 3; do head -c $((70000 * i)) /dev/urandom > "$m/dir/closed$i"; done
head -c 5000 /dev/urandom > "$m/renamed.tmp"
mv "$m/renamed.tmp" "$m/renamed"
cat "$m/dir/closed2" > /dev/null
exec 7<>"$m/held"
head -c 300000 /dev/urandom >&7
cat "$m/held" > /dev/null
ls -lR "$m" > /dev/null

files=("held=$(fs_bpath "$cipher" /held)" "renamed=$(fs_bpath "$cipher" /renamed)")
for i in 1 2 3; do files+=("closed$i=$(fs_bpath "$cipher" "/dir/closed$i")"); done

# fs_bpath ran the cmkfs command next to the daemon; the daemon has been
# idle since. Its stats line (SIGUSR1) names the locked heap's size.
kill -USR1 "$pid"

out=$("$scan" "$pid" "$cmk" "$cipher" "${files[@]}" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 0 ] || fs_abort "key_scan exited with $rc: $out"

# field LABEL NAME: the number after NAME on LABEL's line.
field() {
  awk -v k="$1" -v f="$2" '$1 == "key" && $2 == k {
    for (i = 3; i < NF; i++) if ($i == f) { print $(i + 1); exit } }' <<<"$out"
}

while read -r _ label _ copies _ _ _ unlocked rest; do
  [ "$unlocked" = 0 ] && t_pass ||
    t_fail "$label: $unlocked of $copies copies outside locked memory:$rest"
done < <(grep '^key ' <<<"$out")

[ "$(field cmk locked)" -ge 1 ] && t_pass ||
  t_fail "the CMK was not found in locked memory (is the scan blind?)"
[ "$(field name-siv-keys locked)" -ge 1 ] && t_pass ||
  t_fail "the name keys' schedules were not found in locked memory"
[ "$(field held-xts-keys locked)" -ge 1 ] && t_pass ||
  t_fail "the open file's XTS key schedules were not found in locked memory"
for f in closed1 closed2 closed3 renamed; do
  for k in dek xts-keys; do
    [ "$(field "$f-$k" copies)" = 0 ] && t_pass ||
      t_fail "$f-$k: $(field "$f-$k" copies) copies left after close"
  done
done

exec 7>&-
# After close the held file's keys are gone too.
sleep 0.5
out=$("$scan" "$pid" "$cmk" "$cipher" "${files[0]}" 2>&1) || fs_abort "key_scan: $out"
for k in dek xts-keys; do
  [ "$(field "held-$k" copies)" = 0 ] && t_pass ||
    t_fail "held-$k: $(field "held-$k" copies) copies left after close"
done
echo "$out" | grep -E '^key held'
fs_umount "$m"

# The same keystore sealed with a passphrase, the daemon in the foreground:
# the passphrase, the CMK and the keys of a file read after the mount.
pass="a passphrase for the key scan $RANDOM$RANDOM"
printf '%s\n' "$pass" > "$T_DIR/pass"
chmod 600 "$T_DIR/pass"
out=$("$CMKFS" key passwd --new-passphrase-file "$T_DIR/pass" -c "$conf" 2>&1) ||
  fs_abort "key passwd: $out"
t_conf "$conf" "$ks" "passphrase_file = $T_DIR/pass"
fs_mount_fg "$conf" "$cipher" "$m" "$T_DIR/fg.log" || fs_abort "no foreground mount"
pid=${FS_FG_PID[$m]}
cat "$m/dir/closed1" > /dev/null
exec 7<"$m/renamed"
out=$("$scan" "$pid" "$cmk" "$cipher" "text:passphrase=$pass" \
  "closed1=${files[2]#*=}" "renamed=${files[1]#*=}" 2>&1) || fs_abort "key_scan: $out"
echo "$out"
while read -r _ label _ copies _ _ _ unlocked rest; do
  [ "$unlocked" = 0 ] && t_pass ||
    t_fail "sealed keystore: $label: $unlocked of $copies copies outside locked memory:$rest"
done < <(grep '^key ' <<<"$out")
[ "$(field cmk locked)" -ge 1 ] && t_pass ||
  t_fail "sealed keystore: the CMK was not found in locked memory"
[ "$(field renamed-xts-keys locked)" -ge 1 ] && t_pass ||
  t_fail "sealed keystore: the open file's XTS keys were not found"
[ "$(field closed1-xts-keys copies)" = 0 ] && t_pass ||
  t_fail "sealed keystore: a closed file's XTS keys are still in memory"
exec 7<&-
fs_umount "$m"

# RLIMIT_MEMLOCK without CAP_IPC_LOCK (a daemon not run as root): below the
# first 1 MiB the mount stops at start, naming the limit; at 2 MiB opens
# fail past what fits, one log line names the limit, and closing files
# makes room again. Never an unlocked fallback.
# (An unsealed keystore: unsealing runs scrypt, 32 MiB of locked memory.)
nolock() { prlimit --memlock="$1:$1" setpriv --bounding-set -ipc_lock "${@:2}"; }
if command -v prlimit >/dev/null && command -v setpriv >/dev/null; then
  conf=$T_DIR/lim.conf cipher=$T_DIR/lim-cipher
  fs_volume "$conf" "$T_DIR/lim-keystore.json" "$cipher"
  t_expect 1 "a mount under RLIMIT_MEMLOCK 512 KiB" -- \
    nolock 524288 "$CMKFS" mount -f -c "$conf" "$cipher" "$m"
  t_contains "names the limit" "RLIMIT_MEMLOCK is 512 KiB"
  fs_is_mounted "$m" && t_fail "mounted under a 512 KiB RLIMIT_MEMLOCK" || t_pass
  : > "$T_DIR/lim.log"
  FS_MOUNTS+=("$m")
  nolock 2097152 "$CMKFS" mount -f -c "$conf" "$cipher" "$m" >>"$T_DIR/lim.log" 2>&1 &
  FS_FG_PID[$m]=$!
  t_wait_until 60 "the mount under RLIMIT_MEMLOCK 2 MiB" -- mountpoint -q "$m"
  out=$("$PY" - "$m" <<'EOF_PY' 2>&1
import os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
m, fds, failed = sys.argv[1], [], 0
os.mkdir(os.path.join(m, "many"))
for i in range(2000):
    try:
        fds.append(os.open(os.path.join(m, "many", str(i)), os.O_CREAT | os.O_RDWR, 0o600))
    except OSError:
        failed += 1
for fd in fds:
    os.close(fd)
again = os.open(os.path.join(m, "many", "again"), os.O_CREAT | os.O_RDWR, 0o600)
os.close(again)
print("opened", len(fds), "failed", failed)
EOF_PY
)
  echo "$out"
  case "$out" in
    "opened "*" failed 0") t_fail "2,000 files open under a 2 MiB RLIMIT_MEMLOCK: $out" ;;
    "opened "*" failed "*) t_pass ;;
    *) t_fail "opening files under a 2 MiB RLIMIT_MEMLOCK: $out" ;;
  esac
  fs_umount "$m"
  n=$(grep -c "RLIMIT_MEMLOCK is 2048 KiB" "$T_DIR/lim.log")
  [ "$n" = 1 ] && t_pass ||
    t_fail "$n log lines name the 2 MiB limit (want 1): $(cat "$T_DIR/lim.log")"
else
  t_fail "prlimit or setpriv (util-linux) is missing: the RLIMIT_MEMLOCK checks did not run"
fi

fs_done
