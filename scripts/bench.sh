#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A benchmark (not a test; ctest does not run it). Compares, in one run and
# on this machine:
#   plain           a plain directory on the backing disk (no FUSE)
#   passthrough_ll  libfuse's example, built from libfuse3-dev's examples:
#                   FUSE without encryption, the ceiling
#   passthrough_ll_perm  the same with -o allow_other,default_permissions,
#                   the mount policy cmkfs has when root mounts it: the
#                   ceiling for a shared, permission-checked mount (not in
#                   the default SYSTEMS)
#   gocryptfs       the Debian package
#   cmkfs           this tree (built Release in build-bench/, or $CMKFS)
#   cmkfs_plainnames  the same on a volume made with --plaintext-names:
#                   what name encryption costs
#   cmkfs_xattr     cmkfs mounted with -o xattr (encrypted extended
#                   attributes): what supporting them costs (not in the
#                   default SYSTEMS)
#   cmkfs_shared    cmkfs mounted with -o shared (several hosts on one
#                   volume): no kernel caches, byte-range locks (not in the
#                   default SYSTEMS; meant for GLUSTER=1)
# on these workloads, interleaving the systems at every step (for each
# round, for each workload, every system in turn, the order rotated each
# round) and reporting medians:
#   seq      write SEQ_MB MiB in 1 MiB writes + fsync; unmount, remount,
#            drop caches, read it back in 1 MiB reads (checked)
#   corpus   CORPUS_FILES files of 20-500 KiB (seeded) in 20 directories,
#            then one syncfs; remount, drop caches, read back (sha256 checked)
#   fio      4 KiB random reads, then random writes: 2 jobs, psync, buffered,
#            FIO_RUNTIME s each, on a FIO_MB MiB file laid out first
#   tree     untar a tree of ~3,000 files + syncfs; remount, drop caches,
#            ls -lR; rm -rf + syncfs
#   mount    time from starting the mount command until the root answers
#
# Run as root (FUSE mounts, /proc/sys/vm/drop_caches). Installs gocryptfs,
# fio and the build packages when missing. Everything lives in a temp dir
# on the real disk (BENCH_DIR, default /var/tmp unless it is tmpfs), removed
# on exit with every mount, even on Ctrl-C.
#
# Environment:
#   QUICK=1            small sizes, 2 rounds (about 2-3 minutes)
#   ROUNDS=(number of systems) SEQ_MB=512 CORPUS_FILES=2000 FIO_MB=256 FIO_RUNTIME=10
#   SYSTEMS="plain passthrough_ll gocryptfs cmkfs cmkfs_plainnames"
#                      (a subset is fine; passthrough_ll_perm and
#                      cmkfs_xattr may be added)
#   WORKLOADS="seq corpus fio tree"   (a subset is fine)
#   CMKFS=path         a cmkfs binary instead of building build-bench/
#   CMKFS_MOUNT_OPTS=a,b  extra cmkfs mount options (given as -o a,b)
#   TREE=dir           the tree to untar (default /usr/share/cmake-*)
#   OUT=file           the Markdown report (default ./bench-results.md)
#   BENCH_DIR=dir      where the temp dir goes
#   GLUSTER=1          the backing directories on a GlusterFS volume instead
#                      (replica 2 on two bricks in the temp dir, one FUSE
#                      client, started here as tests/gluster/ does): plain is
#                      then the GlusterFS mount itself, the ceiling, and
#                      gocryptfs runs with -sharedstorage. The volume and
#                      client are set up as docs/DEPLOYMENT.md says for
#                      -o shared (group db-workload, cluster.eager-lock off;
#                      the client with entry-timeout=0)
set -euo pipefail
export LC_ALL=C

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helper=$top/scripts/bench_workloads.py
BENCH_NAME=bench
# shellcheck source=scripts/bench_lib.sh
. "$top/scripts/bench_lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-2} SEQ_MB=${SEQ_MB:-32} CORPUS_FILES=${CORPUS_FILES:-100}
  FIO_MB=${FIO_MB:-32} FIO_RUNTIME=${FIO_RUNTIME:-2}
fi
# As many rounds as systems by default: with the order rotated each round,
# every system then runs once in every position (on a disk whose inode
# allocator slows down with recent deletions, position matters).
ROUNDS=${ROUNDS:-$(wc -w <<<"${SYSTEMS:-plain passthrough_ll gocryptfs cmkfs cmkfs_plainnames}")}
SEQ_MB=${SEQ_MB:-512}
CORPUS_FILES=${CORPUS_FILES:-2000}
FIO_MB=${FIO_MB:-256}
FIO_RUNTIME=${FIO_RUNTIME:-10}
SYSTEMS=${SYSTEMS:-"plain passthrough_ll gocryptfs cmkfs cmkfs_plainnames"}
CMKFS_MOUNT_OPTS=${CMKFS_MOUNT_OPTS:-}
CMKFS_MOUNT_OPTS=${CMKFS_MOUNT_OPTS#-o}
CMKFS_MOUNT_OPTS=${CMKFS_MOUNT_OPTS# }
OUT=$(realpath -m -- "${OUT:-bench-results.md}")
POOL_MB=64
SEED=20240601
read -r -a systems <<<"$SYSTEMS"
for s in "${systems[@]}"; do
  case $s in plain | passthrough_ll | passthrough_ll_perm | gocryptfs | cmkfs | cmkfs_plainnames | cmkfs_xattr | cmkfs_shared) ;;
  *) die "unknown system '$s' in SYSTEMS" ;;
  esac
done
for w in ${WORKLOADS:-}; do
  case $w in seq | corpus | fio | tree) ;;
  *) die "unknown workload '$w' in WORKLOADS" ;;
  esac
done
for v in ROUNDS SEQ_MB CORPUS_FILES FIO_MB FIO_RUNTIME; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
[ "$(id -u)" -eq 0 ] || die "run as root (FUSE mounts and drop_caches)"
[ -c /dev/fuse ] || die "no /dev/fuse"

# --- packages ---------------------------------------------------------------
# shellcheck source=scripts/deps.sh
. "$top/scripts/deps.sh"
set -euo pipefail
need=(gocryptfs fio python3 tar coreutils util-linux
      build-essential pkg-config libfuse3-dev fuse3)
[ -n "${CMKFS:-}" ] || need+=("${CMKFS_BUILD_PACKAGES[@]}")
cmkfs_install_packages "${need[@]}"

# --- helpers ----------------------------------------------------------------

# --- the work directory and its cleanup ------------------------------------
parent=${BENCH_DIR:-/var/tmp}
case $(findmnt -n -o FSTYPE --target "$parent") in
  tmpfs | ramfs)
    [ -z "${BENCH_DIR:-}" ] || die "BENCH_DIR $parent is on tmpfs"
    parent=$(dirname "$top")
    log "/var/tmp is tmpfs; using $parent" ;;
esac
WORK=""
cleanup() {
  local rc=$? m p
  trap - EXIT INT TERM HUP
  set +e
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    for s in passthrough_ll passthrough_ll_perm gocryptfs cmkfs cmkfs_plainnames cmkfs_xattr cmkfs_shared; do
      m=$WORK/$s/mnt
      [ -d "$m" ] || continue
      if mountpoint -q "$m"; then
        fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"
      fi
      for p in $(daemon_pids "$m"); do
        wait_gone "$p" 5 || kill -9 "$p" 2>/dev/null
      done
    done
    [ "${GLUSTER:-0}" != 1 ] || gl_cleanup
    # Anything else still mounted under the work dir (should be nothing).
    while read -r m; do
      umount -l "$m" 2>/dev/null
    done < <(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts)
    rm -rf --one-file-system "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
WORK=$(mktemp -d "$parent/cmkfs-bench.XXXXXX")
TSV=$WORK/results.tsv
META=$WORK/meta.tsv
: >"$TSV"
: >"$META"
data=$WORK/data
mkdir -p "$data"

# Where the backing directories go: the temp dir, or a GlusterFS client.
BACKROOT=$WORK
gocryptfs_shared=()
if [ "${GLUSTER:-0}" = 1 ]; then
  T_DIR=$WORK
  # shellcheck source=tests/gluster/gluster_lib.sh
  . "$top/tests/gluster/gluster_lib.sh"
  gl_start cmkfs-bench || die "GlusterFS cannot run here (see above)"
  for set in "group db-workload" "cluster.eager-lock off"; do
    # shellcheck disable=SC2086
    gl_cli volume set "$GL_VOLUME" $set >/dev/null || die "gluster volume set $set"
  done
  BACKROOT=$WORK/gl-client
  gl_mount "$BACKROOT" entry-timeout=0 ||
    die "the GlusterFS client does not mount"
  gocryptfs_shared=(-sharedstorage)
fi

round=0
record() { # SYSTEM METRIC VALUE
  printf '%s\t%s\t%s\t%s\n' "$round" "$1" "$2" "$3" >>"$TSV"
  log "round $round  $1  $2 = $3"
}
meta() { local IFS=$'\t'; printf '%s\n' "$*" >>"$META"; }

# --- the systems ------------------------------------------------------------
pt_bin=$WORK/tools/passthrough_ll
build_passthrough() { bench_build_passthrough "$pt_bin"; }

build_cmkfs() { bench_build_cmkfs "$WORK"; }

cmkfs_conf=$WORK/cmkfs/cmkfs.conf
setup_cmkfs_key() {
  mkdir -p "$WORK/cmkfs"
  chmod 700 "$WORK/cmkfs"
  (umask 077 && printf '[kms]\nprovider = file\nkeystore = %s\n' \
    "$WORK/cmkfs/keystore.json" >"$cmkfs_conf")
  chmod 600 "$cmkfs_conf"
  "$CMKFS" key create -c "$cmkfs_conf" >/dev/null
}

# sys_vars SYSTEM: MNT (where the workloads run), BACK (the backing dir on
# disk), SYNCDIRS (syncfs these, in order, to make writes durable: the
# mount, then the disk under it)
sys_vars() {
  SYS=$1
  case $SYS in
    plain)
      BACK=$BACKROOT/plain/dir MNT=$BACK SYNCDIRS=("$BACK") ;;
    passthrough_ll | passthrough_ll_perm)
      BACK=$BACKROOT/$SYS/backing MNT=$WORK/$SYS/mnt SYNCDIRS=("$MNT" "$BACK") ;;
    gocryptfs | cmkfs | cmkfs_plainnames | cmkfs_xattr | cmkfs_shared)
      BACK=$BACKROOT/$SYS/cipher MNT=$WORK/$SYS/mnt SYNCDIRS=("$MNT" "$BACK") ;;
  esac
}

# A fresh, empty backing directory (and a fresh volume) for the round.
prepare_sys() {
  sys_vars "$1"
  force_unmount
  rm -rf --one-file-system "$BACK"
  mkdir -p "$(dirname "$BACK")"
  [ "$SYS" = plain ] || mkdir -p "$MNT"
  case $SYS in
    plain | passthrough_ll | passthrough_ll_perm) mkdir -p "$BACK" ;;
    gocryptfs)
      mkdir -p "$BACK"
      gocryptfs -q -init -extpass 'echo pw' -scryptn 10 "$BACK" >/dev/null ;;
    cmkfs | cmkfs_xattr | cmkfs_shared)
      "$CMKFS" init -c "$cmkfs_conf" "$BACK" >/dev/null ;;
    cmkfs_plainnames)
      "$CMKFS" init --plaintext-names -c "$cmkfs_conf" "$BACK" >/dev/null ;;
  esac
}

cmkfs_o=()
[ -z "$CMKFS_MOUNT_OPTS" ] || cmkfs_o=(-o "$CMKFS_MOUNT_OPTS")

mount_sys() {
  local t0 i
  [ "$SYS" != plain ] || return 0
  if mountpoint -q "$MNT"; then
    echo "bench: $MNT is mounted already" >&2
    return 1
  fi
  t0=$EPOCHREALTIME
  case $SYS in
    passthrough_ll) "$pt_bin" -o source="$BACK" "$MNT" || return 1 ;;
    passthrough_ll_perm)
      "$pt_bin" -o source="$BACK",allow_other,default_permissions "$MNT" ||
        return 1 ;;
    gocryptfs) gocryptfs -q -nosyslog "${gocryptfs_shared[@]}" -extpass 'echo pw' "$BACK" "$MNT" ||
        return 1 ;;
    cmkfs | cmkfs_plainnames)
      "$CMKFS" mount "${cmkfs_o[@]}" -c "$cmkfs_conf" "$BACK" "$MNT" ||
        return 1 ;;
    cmkfs_xattr | cmkfs_shared)
      "$CMKFS" mount -o "${SYS#cmkfs_}${CMKFS_MOUNT_OPTS:+,$CMKFS_MOUNT_OPTS}" \
        -c "$cmkfs_conf" "$BACK" "$MNT" || return 1 ;;
  esac
  for ((i = 0; ; i++)); do
    mountpoint -q "$MNT" && stat "$MNT/." >/dev/null 2>&1 && break
    [ "$i" -lt 6000 ] || { echo "bench: $SYS did not mount" >&2; return 1; }
    sleep 0.005
  done
  record "$SYS" mount "$(elapsed "$t0" "$EPOCHREALTIME")"
}

umount_sys() {
  local pids p i hwm
  [ "$SYS" != plain ] || return 0
  pids=$(daemon_pids "$MNT")
  [ -n "$pids" ] || { echo "bench: no daemon for $MNT" >&2; return 1; }
  if [ "${SYS%_plainnames}" = cmkfs ]; then
    for p in $pids; do
      hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status")
      record cmkfs cmkfs_vmhwm_kb "$hwm"
    done
  fi
  for ((i = 0; ; i++)); do
    fusermount3 -u "$MNT" 2>/dev/null && break
    [ "$i" -lt 100 ] || { echo "bench: cannot unmount $MNT" >&2; return 1; }
    sleep 0.1
  done
  for p in $pids; do
    wait_gone "$p" 60 || { echo "bench: $SYS daemon $p still running" >&2; return 1; }
  done
}

remount_sys() {
  umount_sys || return 1
  mount_sys
}

# After a failure: no mount and no daemon left for this system.
force_unmount() {
  local p
  [ "$SYS" != plain ] || return 0
  [ -d "$MNT" ] || return 0
  if mountpoint -q "$MNT"; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" || true
  fi
  for p in $(daemon_pids "$MNT"); do
    wait_gone "$p" 10 || kill -9 "$p" 2>/dev/null || true
  done
}

# --- the workloads (run in a subshell with set -e) --------------------------
py() { python3 "$helper" "$@"; }

wl_seq() {
  mount_sys
  settle
  v=$(py seqwrite "$data/pool.bin" "$MNT/big" "$SEQ_MB" "${SYNCDIRS[@]}")
  record "$SYS" seq_write "$v"
  remount_sys
  settle
  v=$(py seqread "$data/pool.bin" "$MNT/big" "$SEQ_MB")
  record "$SYS" seq_read "$v"
  rm -f "$MNT/big"
  umount_sys
}

wl_corpus() {
  mount_sys
  mkdir "$MNT/corpus"
  settle
  v=$(py corpuswrite "$data/corpus.json" "$data/pool.bin" "$MNT/corpus" "${SYNCDIRS[@]}")
  record "$SYS" corpus_write "$v"
  remount_sys
  settle
  v=$(py corpusread "$data/corpus.json" "$data/pool.bin" "$MNT/corpus")
  record "$SYS" corpus_read "$v"
  rm -rf "$MNT/corpus"
  umount_sys
}

run_fio() { # RW [ARGS...]
  local rw=$1
  shift
  fio --name="$rw" --filename="$MNT/fio.dat" --size="${FIO_MB}M" --bs=4k \
    --rw="$rw" --ioengine=psync --direct=0 --numjobs=2 --group_reporting \
    --runtime="$FIO_RUNTIME" --time_based --randrepeat=1 \
    --output-format=json "$@" >"$WORK/fio.json" || return 1
  py fioiops "$WORK/fio.json" "${rw#rand}"
}

wl_fio() {
  mount_sys
  py seqwrite "$data/pool.bin" "$MNT/fio.dat" "$FIO_MB" "${SYNCDIRS[@]}" >/dev/null
  remount_sys
  settle
  # Warm: cold random reads would mostly measure the disk and readahead
  # (fio's default POSIX_FADV_RANDOM turns readahead off on a plain file,
  # not in a FUSE daemon's backing file); seq and corpus read cold.
  cat "$MNT/fio.dat" >/dev/null
  v=$(run_fio randread --invalidate=0)
  record "$SYS" fio_randread "$v"
  sync
  v=$(run_fio randwrite --invalidate=0 --end_fsync=1)
  record "$SYS" fio_randwrite "$v"
  rm -f "$MNT/fio.dat"
  umount_sys
}

wl_tree() {
  local t0
  mount_sys
  settle
  cat "$data/tree.tar" >/dev/null # the input is in memory, not timed
  t0=$EPOCHREALTIME
  tar -xf "$data/tree.tar" -C "$MNT"
  sync -f "${SYNCDIRS[@]}"
  record "$SYS" untar "$(elapsed "$t0" "$EPOCHREALTIME")"
  remount_sys
  settle
  ls --version >/dev/null
  t0=$EPOCHREALTIME
  ls -lR "$MNT/tree" >/dev/null
  record "$SYS" ls_lR "$(elapsed "$t0" "$EPOCHREALTIME")"
  t0=$EPOCHREALTIME
  rm -rf "$MNT/tree"
  sync -f "${SYNCDIRS[@]}"
  record "$SYS" rm_rf "$(elapsed "$t0" "$EPOCHREALTIME")"
  umount_sys
}

# step SYSTEM WHAT: runs prepare or a workload; a failure is recorded, the
# system unmounted, and the run goes on.
step() {
  local rc st_sys=$1 st_what=$2
  set +e
  (
    set -eE
    trap 'echo "bench: round $round, $st_sys, $st_what failed (line $LINENO: $BASH_COMMAND)" >&2' ERR
    sys_vars "$st_sys"
    if [ "$st_what" = prepare ]; then prepare_sys "$st_sys"; else "wl_$st_what"; fi
  )
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    printf '%s\t%s\tFAIL\t%s\n' "$round" "$1" "$2" >>"$TSV"
    sys_vars "$1"
    force_unmount
  fi
}

# --- setup ------------------------------------------------------------------
log "work dir $WORK"
build_passthrough
build_cmkfs
setup_cmkfs_key
log "making the data (pool, corpus plan, tarball)"
py pool "$data/pool.bin" "$POOL_MB" "$SEED"
py manifest "$data/pool.bin" "$data/corpus.json" "$CORPUS_FILES" "$((SEED + 1))"
corpus_mib=$(python3 -c 'import json,sys; print(round(sum(e["size"] for e in json.load(open(sys.argv[1]))) / 1048576))' "$data/corpus.json")
if [ -z "${TREE:-}" ]; then
  for TREE in /usr/share/cmake-* /usr/include; do [ -d "$TREE" ] && break; done
fi
[ -d "$TREE" ] || die "no tree to untar (TREE=$TREE)"
TREE=$(realpath -- "$TREE")
tar -cf "$data/tree.tar" -C "$(dirname "$TREE")" \
  --transform "s,^$(basename "$TREE"),tree," "$(basename "$TREE")"
tree_files=$(find "$TREE" -type f | wc -l)
tree_dirs=$(find "$TREE" -type d | wc -l)
tree_links=$(find "$TREE" -type l | wc -l)
tree_mib=$(du -sm --apparent-size "$TREE" | cut -f1)

# --- the header -------------------------------------------------------------
git_rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
[ "$git_dirty" -eq 0 ] || git_rev="$git_rev (+ uncommitted changes in $git_dirty tracked file(s))"
case $parent in
  /var/tmp) where=/var/tmp ;;
  *) where="a temp dir next to the repository" ;;
esac
backfs=$(findmnt -n -o FSTYPE,SOURCE,OPTIONS --target "$BACKROOT" | awk '{ print $1 " on " $2 " (" $3 ")" }')
[ "${GLUSTER:-0}" != 1 ] || backfs="a GlusterFS volume (replica 2, two bricks in the temp dir on this machine, $(gluster --version | head -1); group db-workload, cluster.eager-lock off) through its FUSE client (entry-timeout=0): $backfs"
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
ram=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)

meta header Date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta header Machine "Linux $(uname -r), ${cpu:-unknown CPU}, $(nproc) CPUs, $ram RAM"
meta header "Backing directories" "fresh each round, in a temp dir under $where: $backfs"
meta header "Load average at start" "$(cut -d' ' -f1-3 /proc/loadavg)"
meta header cmkfs "$("$CMKFS" --version | head -1), $cmkfs_origin; git $git_rev"
meta header gocryptfs "$(gocryptfs -version | head -1)"
meta header libfuse "$(pkg-config --modversion fuse3) (passthrough_ll built from its examples with gcc -O2)"
meta header fio "$(fio --version)"
meta header "passthrough_ll options" "-o source=DIR only: its defaults, i.e. cache=auto (timeout=1.0 s), no writeback cache, no xattr, no flock, multithreaded; passthrough_ll_perm adds -o allow_other,default_permissions (cmkfs's policy as root)"
meta header "gocryptfs options" "init -scryptn 10; mount -q -nosyslog ${gocryptfs_shared[*]:+${gocryptfs_shared[*]} }-extpass 'echo pw', otherwise defaults (no syslog here: its background logger only complained)"
meta header "cmkfs options" "${CMKFS_MOUNT_OPTS:+-o $CMKFS_MOUNT_OPTS, otherwise }defaults (writeback cache on unless -o no_writeback; allow_other, default_permissions as root); local keystore (provider = file); encrypted names, and cmkfs_plainnames is the same on a volume made with init --plaintext-names; cmkfs_xattr is cmkfs mounted with -o xattr; cmkfs_shared with -o shared"
meta header Parameters "WORKLOADS=${WORKLOADS:-seq corpus fio tree} ROUNDS=$ROUNDS SEQ_MB=$SEQ_MB CORPUS_FILES=$CORPUS_FILES ($corpus_mib MiB) FIO_MB=$FIO_MB FIO_RUNTIME=$FIO_RUNTIME${QUICK:+ QUICK=$QUICK}"
meta header "Tree" "$TREE: $tree_files files, $tree_dirs directories, $tree_links symlinks, $tree_mib MiB (uncompressed tar, read from memory)"
meta param SEQ_MB "$SEQ_MB"
meta param CORPUS_FILES "$CORPUS_FILES"
meta param FIO_RUNTIME "$FIO_RUNTIME"
meta param TREE_FILES "$tree_files"
meta rounds "$ROUNDS"
for s in "${systems[@]}"; do meta system "$s"; done

# --- the run ----------------------------------------------------------------
read -r -a workloads <<<"${WORKLOADS:-seq corpus fio tree}"
for ((round = 1; round <= ROUNDS; round++)); do
  k=$(((round - 1) % ${#systems[@]}))
  order=("${systems[@]:k}" "${systems[@]:0:k}")
  log "round $round of $ROUNDS: ${order[*]}"
  for s in "${order[@]}"; do step "$s" prepare; done
  for w in "${workloads[@]}"; do
    for s in "${order[@]}"; do step "$s" "$w"; done
  done
done

total=$(elapsed "$bench_start_time" "$EPOCHREALTIME")
meta header "Load average at end" "$(cut -d' ' -f1-3 /proc/loadavg)"
meta header "Total runtime" "$(awk -v t="$total" 'BEGIN { printf "%d min %02d s", t / 60, t % 60 }') (setup and build included)"
meta note "Before every timed phase, sync and echo 3 > /proc/sys/vm/drop_caches. Write phases include their durability in the timed region: fsync of the file (seq), then syncfs of the mount and then of the disk under it (for FUSE, syncfs on the mount only pushes dirty pages to the daemon). The corpus uses one syncfs pair at the end, not an fsync per file; untar and rm -rf too."
meta note "Read phases come after an unmount, a remount and dropped caches; every system reads back the same bytes it was given, checked (seq: compared with the source, corpus: sha256)."
meta note "fio: --ioengine=psync --direct=0 --bs=4k --numjobs=2 --group_reporting --time_based --randrepeat=1 --invalidate=0, on one $FIO_MB MiB file laid out with random data (1 MiB writes, fsync), then remounted, caches dropped, and read once through the mount (cat): the random reads run warm, measuring each system's read path and cache policy rather than the disk (cold reads: seq and corpus). The write run follows, with --end_fsync=1: fio counts that final fsync in the runtime it divides by."
meta note "Mount time: from starting the mount command until mountpoint(1) sees the mount and stat of its root answers; each system is mounted 2 to 3 times per workload, every mount counts."
meta note "The machine may be shared: syncfs of the backing disk also flushes whatever else is dirty on it, and other load competes for the CPUs (see the load averages above); the per-round samples below show the spread."
meta note "Order: each round runs every workload on every system in turn, the system order rotated by one each round."

py report "$TSV" "$META" "$OUT"
log "report written to $OUT"
