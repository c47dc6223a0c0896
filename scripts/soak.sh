#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A soak (not a test; ctest does not run it): kill -9 the mount's daemon at
# random moments while a workload writes, appends and truncates with
# fsync, for DURATION seconds, and after every kill check that every byte
# fsync'd and not being changed reads back exactly and that nothing reads
# back as garbage (scripts/soak_workload.py). Prints the figures.
#
#   scripts/soak.sh [DURATION]      default 600 seconds
#
# Environment: CMKFS (a cmkfs binary; default: build/cmkfs, built when
# missing), SOAK_DIR (where the temp dir goes, default /var/tmp),
# MOUNT_OPTS (extra cmkfs mount options, e.g. no_writeback), SEED.
# Run as root (FUSE mounts). Everything is removed at the end.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
duration=${1:-600}
seed=${SEED:-$$}
cmkfs=${CMKFS:-$top/build/cmkfs}
if [ ! -x "$cmkfs" ]; then
  cmake -S "$top" -B "$top/build" >/dev/null && cmake --build "$top/build" -j "$(nproc)"
fi
work=$(mktemp -d "${SOAK_DIR:-/var/tmp}/cmkfs-soak.XXXXXX")
mnt=$work/mnt
cleanup() {
  fusermount3 -uz "$mnt" 2>/dev/null || true
  pkill -9 -f "soak_workload.py run $mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

conf=$work/c.conf
printf '[kms]\nprovider = file\nkeystore = %s\n' "$work/ks.json" > "$conf"
chmod 600 "$conf"
"$cmkfs" key create -c "$conf" >/dev/null
"$cmkfs" init -c "$conf" "$work/cipher" >/dev/null
mkdir -p "$mnt"
opts=(-o "logfile=$work/daemon.log")
[ -n "${MOUNT_OPTS:-}" ] && opts+=(-o "$MOUNT_OPTS")

RANDOM=$seed
end=$(($(date +%s) + duration))
rounds=0 bad=0
echo "soak: $duration s, seed $seed, $cmkfs ${MOUNT_OPTS:-}"
while [ "$(date +%s)" -lt "$end" ]; do
  rounds=$((rounds + 1))
  "$cmkfs" mount -c "$conf" "${opts[@]}" "$work/cipher" "$mnt"
  pid=$(pgrep -f "mount -c $conf .*$work/cipher $mnt" | head -1)
  # What the last crash left, through a fresh mount.
  if ! out=$(python3 "$top/scripts/soak_workload.py" check "$mnt" "$work/journal"); then
    bad=$((bad + 1))
    echo "round $rounds: $out"
  fi
  python3 "$top/scripts/soak_workload.py" run "$mnt" "$work/journal" $((seed + rounds)) \
    >/dev/null 2>&1 &
  wpid=$!
  # 0.05 to 2 s of work, then the daemon dies.
  sleep "$((RANDOM % 2)).$(printf '%02d' $((5 + RANDOM % 95)))"
  kill -9 "$pid"
  wait "$wpid" 2>/dev/null || true
  fusermount3 -uz "$mnt" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
done
"$cmkfs" mount -c "$conf" "${opts[@]}" "$work/cipher" "$mnt"
if ! out=$(python3 "$top/scripts/soak_workload.py" check "$mnt" "$work/journal"); then
  bad=$((bad + 1))
  echo "final: $out"
fi
fusermount3 -u "$mnt"
fsck=0
"$cmkfs" fsck -c "$conf" "$work/cipher" > "$work/fsck.out" || fsck=$?
echo "soak: $rounds kill -9 rounds in $duration s, $bad with a bad file; fsck exit $fsck"
[ "$fsck" -le 1 ] || cat "$work/fsck.out"
[ "$bad" = 0 ] && [ "$fsck" -le 1 ]
