# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared setup for the filesystem tests (real FUSE mounts): volumes,
# mounts, unmounts, and a teardown that never leaves a mount behind.
# Each test sources this file (it sources ../lib.sh) and ends with fs_done.
FS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$FS_DIR/../lib.sh"

# A signal must not skip the unmount: exit, so that the EXIT trap runs.
trap 'exit 1' INT TERM HUP PIPE

PY=/usr/bin/python3
# shellcheck disable=SC2034 # for the tests that source this file
FS_HELPER=$FS_DIR/fs_helper.py
FS_MOUNTS=()           # every mount point this test mounted
declare -A FS_FG_PID   # mount point -> pid of a daemon run with -f

# The daemon's stderr is /dev/null once it is in the background, so its
# sanitizer reports (the ASan run) go to files that fs_check_sanitizer reads.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T_DIR/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T_DIR/sanitizer"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$T_DIR/sanitizer"

if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
  echo "FAIL: the filesystem tests need root and /dev/fuse" >&2
  exit 1
fi
for tool in fusermount3 mountpoint "$PY"; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing" >&2; exit 1; }
done

# fs_abort MESSAGE: a failure that makes going on pointless; the EXIT trap
# unmounts.
fs_abort() {
  t_fail "$*"
  fs_check_sanitizer
  echo "$((T_COUNT - T_FAILED)) passed, $T_FAILED failed (aborted)"
  exit 1
}

# fs_is_mounted DIR: DIR is in the mount table (without touching it, so a
# dead FUSE mount counts too).
fs_is_mounted() {
  awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# Which kind of volume fs_volume makes: FS_NAMES=encrypted (the default
# of cmkfs init) or plain (--plaintext-names). ctest runs each filesystem
# test on both.
FS_NAMES=${FS_NAMES:-encrypted}
declare -A FS_CONF_OF  # cipher directory -> its config

# fs_volume CONF KEYSTORE CIPHERDIR: a new keystore and a volume in it.
fs_volume() {
  local out opt=()
  [ "$FS_NAMES" = plain ] && opt=(--plaintext-names)
  t_conf "$1" "$2"
  out=$("$CMKFS" key create -c "$1" 2>&1) || fs_abort "key create -c $1: $out"
  out=$("$CMKFS" init "${opt[@]}" -c "$1" "$3" 2>&1) || fs_abort "init $3: $out"
  FS_CONF_OF[$3]=$1
}

# fs_flip_byte FILE OFFSET: damages FILE by inverting the byte at OFFSET
# (writing a fixed value would change nothing in 1 run of 256 where the
# byte is random), making the file writable by its owner first if need be.
fs_flip_byte() {
  "$PY" -c 'import os, stat, sys
p, off = sys.argv[1], int(sys.argv[2])
if not os.access(p, os.W_OK):
    os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1)
    f.seek(off); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2" ||
    fs_abort "could not damage $1 at $2"
}

# fs_bpath CIPHERDIR PLAINPATH: the backing path of a path in the volume
# (cmkfs path; the last part need not exist yet).
fs_bpath() {
  "$CMKFS" path -c "${FS_CONF_OF[$1]}" "$1" "$2" ||
    fs_abort "cmkfs path $1 $2 failed"
}

# fs_daemon_pid MOUNTPOINT: the pid of the cmkfs process serving it (the
# daemon keeps its command line, which names the mount point).
fs_daemon_pid() {
  local p args comm
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    # Only cmkfs processes (read without a fork: this runs for every one).
    { read -r comm < "$p/comm"; } 2>/dev/null || continue
    case "$comm" in cmkfs*|mount.cmkfs*) ;; *) continue ;; esac
    args=$(tr '\0' '\n' 2>/dev/null < "$p/cmdline") || continue
    args=$'\n'"$args"$'\n'
    case "$args" in
      *$'\n'mount$'\n'*$'\n'"$1"$'\n'*) echo "${p#/proc/}"; return 0 ;;
    esac
  done
  return 1
}

# fs_mount CONF CIPHERDIR MOUNTPOINT [ARGS...]: `cmkfs mount`, which must
# return 0 with the mount up.
fs_mount() {
  local conf=$1 cipher=$2 mnt=$3 out rc type
  shift 3
  mkdir -p "$mnt"
  FS_MOUNTS+=("$mnt")
  # To a file, not a pipe: see t_expect.
  T_RUNS=$((T_RUNS + 1))
  # CMKFS_MOUNT_OPTIONS: options for every mount of a test (-o shared).
  "$CMKFS" mount -c "$conf" "$cipher" "$mnt" ${CMKFS_MOUNT_OPTIONS:+-o "$CMKFS_MOUNT_OPTIONS"} "$@" > "$T_DIR/run.$T_RUNS.out" 2>&1; rc=$?
  out=$(cat "$T_DIR/run.$T_RUNS.out")
  if [ "$rc" -ne 0 ]; then
    t_fail "mount $cipher on $mnt: exit $rc: $out"; return 1
  fi
  if ! mountpoint -q "$mnt"; then
    t_fail "mount $cipher on $mnt returned 0 but nothing is mounted"; return 1
  fi
  type=$(awk -v m="$mnt" '$2 == m { t = $3 } END { print t }' /proc/self/mounts)
  case "$type" in
    fuse|fuse.*) t_pass ;;
    *) t_fail "$mnt is mounted as '$type', not as a FUSE file system"; return 1 ;;
  esac
}

# fs_mount_fg CONF CIPHERDIR MOUNTPOINT LOG [ARGS...]: `cmkfs mount -f` in
# the background of this shell, its stderr in LOG; waits for the mount.
fs_mount_fg() {
  local conf=$1 cipher=$2 mnt=$3 log=$4 pid i
  shift 4
  mkdir -p "$mnt"
  FS_MOUNTS+=("$mnt")
  "$CMKFS" mount -f -c "$conf" "$cipher" "$mnt" "$@" >>"$log" 2>&1 &
  pid=$!
  FS_FG_PID[$mnt]=$pid
  for i in $(seq 1200); do
    if mountpoint -q "$mnt"; then t_pass; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  t_fail "foreground mount of $cipher on $mnt did not come up; log: $(cat "$log")"
  return 1
}

# fs_alive PID: the process runs. A daemon that has exited stays a zombie
# until init reaps it (its parent, cmkfs mount, is gone), which some inits
# do only every few seconds: a zombie counts as gone.
fs_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ -n "$stat" ] && [ "${stat%% *}" != Z ]
}

# fs_wait_gone PID SECONDS: waits for a process to end.
fs_wait_gone() {
  local i
  for i in $(seq $(($2 * 20))); do
    fs_alive "$1" || return 0
    sleep 0.05
  done
  return 1
}

# fs_umount MOUNTPOINT: unmounts (retrying while busy), waits for the daemon
# to end and checks that it ended well: exit 0 for a foreground daemon, no
# sanitizer report.
fs_umount() {
  local mnt=$1 pid fg rc i out keep=()
  fg=${FS_FG_PID[$mnt]:-}
  pid=${fg:-$(fs_daemon_pid "$mnt")}
  if fs_is_mounted "$mnt"; then
    for i in $(seq 600); do   # "busy" while a last reader lets go
      out=$(fusermount3 -u "$mnt" 2>&1) && break
      sleep 0.2
    done
    if fs_is_mounted "$mnt"; then
      t_fail "cannot unmount $mnt: $out"
      fusermount3 -uz "$mnt" 2>/dev/null
    fi
  fi
  for i in "${FS_MOUNTS[@]}"; do [ "$i" = "$mnt" ] || keep+=("$i"); done
  FS_MOUNTS=("${keep[@]+"${keep[@]}"}")
  unset "FS_FG_PID[$mnt]"
  if [ -n "$pid" ] && ! fs_wait_gone "$pid" 120; then
    t_fail "the daemon for $mnt (pid $pid) is still running after the unmount"
    kill "$pid" 2>/dev/null
  fi
  if [ -n "$fg" ]; then
    wait "$fg"; rc=$?
    [ "$rc" -eq 0 ] && t_pass || t_fail "the foreground daemon for $mnt exited with $rc"
  fi
  fs_check_sanitizer
}

# fs_remount CONF CIPHERDIR MOUNTPOINT: unmount, then mount again.
fs_remount() {
  fs_umount "$3"
  fs_mount "$1" "$2" "$3"
}

fs_check_sanitizer() {
  local f
  for f in "$T_DIR"/sanitizer.*; do
    [ -e "$f" ] || continue
    t_fail "sanitizer report from $f: $(cat "$f")"
    mv "$f" "$T_DIR/seen-${f##*/}"
  done
}

# The safety net (lib.sh calls it on exit): unmount whatever is left.
t_teardown() {
  local mnt pid
  for mnt in "${FS_MOUNTS[@]+"${FS_MOUNTS[@]}"}"; do
    fs_is_mounted "$mnt" || continue
    pid=${FS_FG_PID[$mnt]:-$(fs_daemon_pid "$mnt")}
    fusermount3 -u "$mnt" 2>/dev/null || { sleep 1; fusermount3 -u "$mnt" 2>/dev/null; } ||
      fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
    if [ -n "$pid" ] && ! fs_wait_gone "$pid" 10; then kill "$pid" 2>/dev/null; fi
  done
  for pid in "${FS_FG_PID[@]+"${FS_FG_PID[@]}"}"; do
    fs_alive "$pid" && kill "$pid" 2>/dev/null
  done
  FS_MOUNTS=()
}

# fs_done: unmounts everything (checking each daemon), then t_done.
fs_done() {
  local mnt
  for mnt in "${FS_MOUNTS[@]+"${FS_MOUNTS[@]}"}"; do fs_umount "$mnt"; done
  fs_check_sanitizer
  t_done
}

# fs_backing_sizes MOUNTDIR CIPHERDIR: every regular file under the mount
# has a backing file of its size + 4096.
fs_backing_sizes() {
  local m=$1 c=$2 i bs bad=0
  local -a rels=() sizes=() backing=()
  while IFS= read -r -d '' rel; do
    rels+=("${rel#"$m"/}")
    sizes+=("$(stat -c %s "$rel")")
  done < <(find "$m" -type f ! -path "$m/cmkfs.volume" -print0)
  [ "${#rels[@]}" -gt 0 ] || { t_pass; return; }
  # One cmkfs path for them all.
  mapfile -d '' -t backing < <("$CMKFS" path -z -c "${FS_CONF_OF[$c]}" "$c" "${rels[@]}")
  for i in "${!rels[@]}"; do
    bs=$(stat -c %s "${backing[$i]:-/nonexistent}" 2>/dev/null)
    if [ "$bs" != $((sizes[i] + 4096)) ]; then
      t_fail "backing file of ${rels[$i]} is ${bs:-missing} bytes for ${sizes[$i]} bytes of plaintext"
      bad=1
    fi
  done
  [ "$bad" = 0 ] && t_pass
}

# fs_store_lacks FEATURE: true, with a line saying so, when the store under
# $T_DIR (where the test's backing directories are) lacks FEATURE; the
# checks that need it are then skipped. exchange: renameat2's
# RENAME_EXCHANGE; unlinked: I/O through a descriptor of an unlinked file;
# unlinked-xattr: extended attributes through one; long-paths: paths longer
# than PATH_MAX below it. GlusterFS's FUSE client lacks exchange,
# unlinked-xattr and long-paths (scripts/gluster_suite.sh).
fs_store_lacks() {
  local why
  why=$("$PY" - "$1" "$T_DIR" <<'PYEOF'
import ctypes, os, sys
feature, d = sys.argv[1], sys.argv[2]
a, b = os.path.join(d, ".probe-a"), os.path.join(d, ".probe-b")
for p in (a, b):
    open(p, "w").close()
try:
    if feature == "exchange":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:
            print(os.strerror(ctypes.get_errno()))
    elif feature == "long-paths":
        # Directories nested past PATH_MAX below the test's directory,
        # made with *at calls (stores that build whole paths refuse).
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        made = []
        try:
            for i in range(18):
                name = "%s%d" % ("p" * 250, i)
                os.mkdir(name, dir_fd=fd)
                made.append((fd, name))
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        except OSError as e:
            print(e.strerror)
        for parent, name in reversed(made):
            os.rmdir(name, dir_fd=parent)
            os.close(parent)
        if not made:
            os.close(fd)
    elif feature in ("unlinked", "unlinked-xattr"):
        fd = os.open(a, os.O_RDWR)
        os.unlink(a)
        try:
            if feature == "unlinked":
                os.pwrite(fd, b"x", 0)
                os.fstat(fd)
                os.pread(fd, 1, 0)
            else:
                os.setxattr(fd, "user.probe", b"x")
        except OSError as e:
            print(e.strerror)
        os.close(fd)
finally:
    for p in (a, b):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
PYEOF
)
  [ -n "$why" ] || return 1
  echo "SKIP: the backing store lacks $1 ($why): the checks that need it are skipped" >&2
  return 0
}
