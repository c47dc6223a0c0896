#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A benchmark (not a test; ctest does not run it): how the cost per file
# grows with the number of files. For each N given (default 20000 200000)
# and each system (cmkfs, gocryptfs, libfuse's passthrough_ll as the
# no-crypto ceiling, built as scripts/bench.sh builds it), on a fresh
# backing directory and mount:
#   create   N files of SIZE bytes through the mount (one process), syncfs
#   ls_lR    unmount, remount, drop caches: ls -lR
#   stat     unmount, remount, drop caches: find -type f | xargs stat
#   rename   every file f -> f.r (warm), syncfs
#   rewrap   cmkfs only: key rotate, drop caches, cmkfs rewrap (online)
#   status   cmkfs only: drop caches, cmkfs status
#   rm_rf    rm -rf, syncfs
# and the daemon's descriptors (ls /proc/PID/fd, sampled every 0.5 s: the
# peak, and right after ls -lR) and peak resident memory (VmHWM, after
# ls -lR and at the end). Prints a table of microseconds per file with the
# growth from the smallest to the largest N, and writes it with a CSV and
# a PNG plot (microseconds per file against N, both log scale, a panel per
# operation, a line per system; matplotlib from python3-matplotlib, installed
# when missing). Without a plot the table says why in one line.
#
# Descriptor limits, set per system before its daemon starts and printed:
#   cmkfs, gocryptfs  soft 1,024, hard 4,096 (a systemd service's soft
#                     limit; both daemons may raise their soft limit to the
#                     hard one themselves)
#   passthrough_ll    soft = hard = N + 4,096: it holds a descriptor per
#                     inode the kernel knows. Where that cannot be had
#                     (fs.nr_open, or a hard limit this shell cannot raise
#                     without CAP_SYS_RESOURCE) it gets the most it can,
#                     and its operations fail past it: FAIL lines, never
#                     figures.
# The limits the daemon really ran under (/proc/PID/limits) are printed
# under the table.
# A failed operation (an error from the command, or a wrong count of
# files) is reported as FAIL with the reason; the later operations of that
# system and N are skipped.
#
# Run as root (FUSE mounts, drop_caches, limits). Everything lives in a
# temp dir on the real disk (BENCH_DIR, default /var/tmp), removed on exit.
#
# Usage: scripts/bench-scale.sh [N...]
# Environment:
#   SYSTEMS="cmkfs gocryptfs passthrough_ll"   (a subset is fine)
#   SIZE=1             bytes per file
#   LAYOUT=flat        flat: one directory; tree: PER_DIR files per directory
#   PER_DIR=1000
#   CMKFS=path         a cmkfs binary instead of building build-bench/
#   OUT=bench-scale.txt CSV=bench-scale.csv
#   PNG=the CSV's name ending in .png instead of .csv
#   BENCH_DIR=dir
set -euo pipefail
export LC_ALL=C

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helper=$top/scripts/bench_scale.py
BENCH_NAME=bench-scale
# shellcheck source=scripts/bench_lib.sh
. "$top/scripts/bench_lib.sh"

read -r -a counts <<<"${*:-20000 200000}"
SYSTEMS=${SYSTEMS:-"cmkfs gocryptfs passthrough_ll"}
SIZE=${SIZE:-1}
LAYOUT=${LAYOUT:-flat}
PER_DIR=${PER_DIR:-1000}
OUT=$(realpath -m -- "${OUT:-bench-scale.txt}")
CSV=$(realpath -m -- "${CSV:-bench-scale.csv}")
PNG=$(realpath -m -- "${PNG:-${CSV%.csv}.png}")
read -r -a systems <<<"$SYSTEMS"
for s in "${systems[@]}"; do
  case $s in cmkfs | gocryptfs | passthrough_ll) ;;
  *) die "unknown system '$s' in SYSTEMS" ;;
  esac
done
for n in "${counts[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$n'"
done
mapfile -t counts < <(printf '%s\n' "${counts[@]}" | sort -n)
[[ $SIZE =~ ^[0-9]+$ ]] || die "SIZE must be a number of bytes"
[[ $PER_DIR =~ ^[1-9][0-9]*$ ]] || die "PER_DIR must be a positive integer"
case $LAYOUT in flat | tree) ;; *) die "LAYOUT is flat or tree" ;; esac
[ "$(id -u)" -eq 0 ] || die "run as root (FUSE mounts, drop_caches, limits)"
[ -c /dev/fuse ] || die "no /dev/fuse"

# shellcheck source=scripts/deps.sh
. "$top/scripts/deps.sh"
set -euo pipefail
need=(python3 coreutils findutils util-linux fuse3 build-essential
      pkg-config libfuse3-dev)
for s in "${systems[@]}"; do [ "$s" != gocryptfs ] || need+=(gocryptfs); done
[ -n "${CMKFS:-}" ] || need+=("${CMKFS_BUILD_PACKAGES[@]}")
cmkfs_install_packages "${need[@]}"
# The plot is a bonus: without matplotlib the table and CSV are still
# written, and say why there is no plot. Debian's package is for Debian's
# python3, which need not be the first on PATH (pyenv, a venv).
no_plot="matplotlib cannot be imported (python3-matplotlib)"
plot_python=""
cmkfs_install_packages python3-matplotlib >&2 || true
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import matplotlib' 2>/dev/null; then
    plot_python=$p no_plot=""
    break
  fi
done

# The daemon serving mount point $1.
daemon_pid() {
  local p
  for p in $(daemon_pids "$1"); do echo "$p"; return; done
}

parent=${BENCH_DIR:-/var/tmp}
WORK=""
MON=""
cleanup() {
  local rc=$? m p
  trap - EXIT INT TERM HUP
  set +e
  [ -z "$MON" ] || kill "$MON" 2>/dev/null
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    while read -r m; do
      p=$(daemon_pid "$m")
      fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"
      [ -z "$p" ] || wait_gone "$p" 10 || kill -9 "$p" 2>/dev/null
    done < <(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts)
    rm -rf --one-file-system "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
WORK=$(mktemp -d "$parent/cmkfs-bench-scale.XXXXXX")
TSV=$WORK/results.tsv
: >"$TSV"
record() { # SYSTEM N OP VALUE
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$TSV"
  log "$1 N=$2 $3 = $4"
}
note() { printf 'note\t%s\n' "$*" >>"$TSV"; }

# --- the systems (as scripts/bench.sh builds them) ------------------------
pt_bin=$WORK/tools/passthrough_ll
build_passthrough() { bench_build_passthrough "$pt_bin"; }

build_cmkfs() { bench_build_cmkfs "$WORK"; }

conf=$WORK/cmkfs.conf
setup_cmkfs_key() {
  (umask 077 && printf '[kms]\nprovider = file\nkeystore = %s\n' \
    "$WORK/keystore.json" >"$conf")
  "$CMKFS" key create -c "$conf" >/dev/null
}

nr_open=$(cat /proc/sys/fs/nr_open)
# limits SYSTEM N: "SOFT HARD" for the daemon.
limits() {
  case $1 in
    passthrough_ll)
      local want=$(($2 + 4096))
      [ "$want" -le "$nr_open" ] || want=$nr_open
      echo "$want $want" ;;
    *) echo "1024 4096" ;;
  esac
}

# Mounts $SYS on $MNT from $BACK under its descriptor limits.
mount_sys() {
  local soft hard i
  read -r soft hard < <(limits "$SYS" "$N")
  (
    # Soft down first: a hard limit below the soft one is refused. A hard
    # limit that cannot be raised stays where it is.
    ulimit -Sn 1024 || exit 1
    ulimit -Hn "$hard" 2>/dev/null || hard=$(ulimit -Hn)
    [ "$soft" -le "$hard" ] || soft=$hard
    ulimit -Sn "$soft" || exit 1
    case $SYS in
      passthrough_ll) exec "$pt_bin" -o source="$BACK" "$MNT" ;;
      gocryptfs) exec gocryptfs -q -nosyslog -extpass 'echo pw' "$BACK" "$MNT" ;;
      cmkfs) exec "$CMKFS" mount -c "$conf" "$BACK" "$MNT" ;;
    esac
  ) 2>>"$WORK/$SYS-$N.log" || return 1
  for ((i = 0; ; i++)); do
    mountpoint -q "$MNT" && stat "$MNT/." >/dev/null 2>&1 && break
    [ "$i" -lt 2000 ] || { echo "$SYS did not mount" >&2; return 1; }
    sleep 0.005
  done
  PID=$(daemon_pid "$MNT")
  [ -n "$PID" ] || { echo "no daemon for $MNT" >&2; return 1; }
  # The descriptor sampler: the peak over the daemon's life.
  (
    max=0
    while kill -0 "$PID" 2>/dev/null; do
      n=$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
      if [ "$n" -gt "$max" ]; then max=$n; echo "$max" >"$WORK/fds.$SYS"; fi
      sleep 0.5
    done
  ) &
  MON=$!
}

umount_sys() {
  local i hwm prev
  # The peak resident memory over every daemon of this system and N.
  hwm=$(hwm_mib)
  prev=$(cat "$WORK/hwm.$SYS" 2>/dev/null || echo 0)
  awk -v a="$hwm" -v b="$prev" 'BEGIN { print (a > b ? a : b) }' >"$WORK/hwm.$SYS"
  for ((i = 0; ; i++)); do
    fusermount3 -u "$MNT" 2>/dev/null && break
    [ "$i" -lt 100 ] || { echo "cannot unmount $MNT" >&2; return 1; }
    sleep 0.1
  done
  wait_gone "$PID" 120 || { echo "daemon $PID still running" >&2; return 1; }
  wait "$MON" 2>/dev/null || true
  MON=""
}

remount_sys() { umount_sys && mount_sys; }

hwm_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status"; }
fds_now() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
per_file() { awk -v t="$1" -v n="$N" 'BEGIN { printf "%.2f", t * 1e6 / n }'; }

# run_timed OP COMMAND...: runs it and sets T (seconds), or records FAIL.
run_timed() {
  local op=$1 t0 rc
  shift
  t0=$EPOCHREALTIME
  set +e
  "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    # The last line says why (a traceback ends with the error).
    record "$SYS" "$N" "$op" "FAIL: exit $rc: $(grep -v '^ *$' "$WORK/err" | tail -n 1 | cut -c1-200 | tr '\t' ' ')"
    return 1
  fi
  T=$(elapsed "$t0" "$EPOCHREALTIME")
}

# timed OP COMMAND...: the same, recording microseconds per file.
timed() {
  run_timed "$@" || return 1
  record "$SYS" "$N" "$1" "$(per_file "$T")"
}

# count: the files under the mount must be N.
check_count() {
  local got
  got=$(find "$MNT/d" -type f 2>/dev/null | wc -l)
  [ "$got" -eq "$N" ] && return 0
  record "$SYS" "$N" "$1" "FAIL: $got files seen instead of $N"
  return 1
}

py() { python3 "$helper" "$@"; }
ls_lR() { ls -lR "$MNT/d" >/dev/null; }
stat_all() { find "$MNT/d" -type f -print0 | xargs -0 stat >/dev/null; }
# rm -rf, then syncfs. A syncfs that reports an error the writeback of the
# removed files met (cmkfs: ESTALE, once) is said in a note and tried
# again: the figure stands, the error is not hidden.
rm_all() {
  rm -rf "$MNT/d" || return 1
  if ! sync -f "$MNT" 2>"$WORK/sync.err"; then
    note "$SYS N=$N: syncfs after rm -rf said: $(tr '\n' ' ' <"$WORK/sync.err")(tried again)"
    sync -f "$MNT" || return 1
  fi
  sync -f "$BACK"
}

run_one() {
  local soft hard
  SYS=$1 N=$2
  BACK=$WORK/$SYS-$N/backing MNT=$WORK/$SYS-$N/mnt
  mkdir -p "$BACK" "$MNT"
  case $SYS in
    gocryptfs) gocryptfs -q -init -extpass 'echo pw' -scryptn 10 "$BACK" >/dev/null ;;
    cmkfs) rmdir "$BACK" && "$CMKFS" init -c "$conf" "$BACK" >/dev/null ;;
  esac
  read -r soft hard < <(limits "$SYS" "$N")
  log "$SYS N=$N: descriptor limit soft $soft, hard $hard"
  rm -f "$WORK/fds.$SYS" "$WORK/hwm.$SYS"
  mount_sys || { record "$SYS" "$N" create "FAIL: cannot mount"; return; }
  note "$SYS N=$N: the daemon's descriptor limit: $(awk '/^Max open files/ { print "soft " $4 ", hard " $5 }' "/proc/$PID/limits")"
  settle
  timed create py create "$MNT/d" "$N" "$SIZE" "$LAYOUT" "$PER_DIR" "$MNT" "$BACK" &&
    check_count create || return 0
  remount_sys && settle
  timed ls_lR ls_lR || return 0
  record "$SYS" "$N" fds_after_ls "$(fds_now)"
  record "$SYS" "$N" rss_after_ls "$(hwm_mib)"
  remount_sys && settle
  timed stat stat_all || return 0
  timed rename py rename "$MNT/d" "$MNT" "$BACK" && check_count rename ||
    return 0
  if [ "$SYS" = cmkfs ]; then
    "$CMKFS" key rotate -c "$conf" >/dev/null
    settle
    if timed rewrap "$CMKFS" rewrap -c "$conf" "$BACK"; then
      record "$SYS" "$N" rewrap_rate "$(awk -v t="$T" -v n="$N" 'BEGIN { printf "%.0f", n / t }')"
      grep -q " $N files in .*, 0 failed" "$WORK/out" ||
        record "$SYS" "$N" rewrap "FAIL: $(head -c 200 "$WORK/out")"
    fi
    settle
    if run_timed status "$CMKFS" status -c "$conf" "$BACK"; then
      if grep -q "^files: *$N " "$WORK/out"; then
        record "$SYS" "$N" status "$T"
      else
        record "$SYS" "$N" status "FAIL: $(grep '^files:' "$WORK/out")"
      fi
    fi
  fi
  timed rm_rf rm_all || return 0
  umount_sys
  record "$SYS" "$N" rss_peak "$(cat "$WORK/hwm.$SYS")"
  record "$SYS" "$N" fds_peak "$(cat "$WORK/fds.$SYS" 2>/dev/null || echo 0)"
  rm -rf --one-file-system "$WORK/$SYS-$N"
}

# --- the run ---------------------------------------------------------------
log "work dir $WORK"
for s in "${systems[@]}"; do
  case $s in
    passthrough_ll) build_passthrough ;;
    cmkfs) build_cmkfs; setup_cmkfs_key ;;
  esac
done
git_rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
note "$(date -u '+%Y-%m-%d %H:%M UTC'); Linux $(uname -r), $(nproc) CPUs; load average at start $(cut -d' ' -f1-3 /proc/loadavg); backing store $(findmnt -n -o FSTYPE --target "$WORK") under $parent; cmkfs git $git_rev"
layout_text="all in one directory"
[ "$LAYOUT" = flat ] || layout_text="$PER_DIR per directory"
note "files of $SIZE bytes, $layout_text; N = ${counts[*]}; systems: ${systems[*]}"
for n in "${counts[@]}"; do
  for s in "${systems[@]}"; do
    # errexit holds inside only when the subshell is not tested by || or
    # if: run it alone and look at its status.
    set +e
    (
      set -eE
      trap 'echo "bench-scale: $s N=$n: line $LINENO: $BASH_COMMAND failed" >&2' ERR
      run_one "$s" "$n"
    )
    rc=$?
    set -e
    [ "$rc" -eq 0 ] ||
      record "$s" "$n" aborted "FAIL: the run stopped (exit $rc, see the log)"
    # Whatever a failure left mounted goes before the next system.
    while read -r m; do
      fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true
    done < <(awk -v w="$WORK/$s-$n/" 'index($2, w) == 1 { print $2 }' /proc/mounts)
    rm -rf --one-file-system "$WORK/$s-$n"
  done
done
note "load average at end $(cut -d' ' -f1-3 /proc/loadavg); total $(elapsed "$bench_start_time" "$EPOCHREALTIME") s"
py report "$TSV" "$OUT" "$CSV"
rm -f "$PNG"
if [ -z "$no_plot" ] &&
   ! "$plot_python" "$helper" plot "$CSV" "$PNG" 2>"$WORK/plot.err"; then
  no_plot="the plot failed: $(grep -v '^ *$' "$WORK/plot.err" | tail -n 1 | cut -c1-200)"
fi
[ -z "$no_plot" ] || echo "no plot: $no_plot" >>"$OUT"
cat "$OUT"
if [ -z "$no_plot" ]; then log "written: $OUT, $CSV and $PNG"
else log "written: $OUT and $CSV (no plot: $no_plot)"; fi
