# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# A real GlusterFS for the tests, from Debian's glusterfs-server: glusterd
# with its state in the test's own directory, a replica-2 volume on two
# brick directories of this machine (`force`: both bricks on one host), and
# GlusterFS FUSE clients mounting it, the way several hosts would. Bricks
# and clients use this machine's host name, which must resolve to a
# loopback address: test traffic never leaves the machine.
#
# gl_start VOLUME: glusterd and the volume, started; returns 77 (skip) with
# a message on stderr when GlusterFS cannot run here. gl_mount DIR
# [OPTIONS]: one more client of the volume on DIR (OPTIONS: mount.glusterfs's
# -o, comma-separated). gl_cleanup: clients unmounted, volume
# stopped and deleted, glusterd and the bricks stopped, state removed.

GL_DIR=$T_DIR/gluster
GL_HOST=$(hostname)
GL_VOLUME=""
GL_CLIENTS=()
GL_STARTED=0

gl_log() { echo "gluster: $*" >&2; }

gl_cli() { gluster --mode=script "$@"; }

# gl_wait SECONDS COMMAND...: polls until COMMAND succeeds.
gl_wait() {
  local end=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}

gl_start() {
  local addr vol=$1
  if ! command -v glusterd >/dev/null || ! command -v mount.glusterfs >/dev/null; then
    gl_log "installing glusterfs-server and glusterfs-client"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q glusterfs-server \
      glusterfs-client >"$T_DIR/gluster-install.log" 2>&1 || {
      gl_log "SKIP: glusterfs-server cannot be installed: $(tail -2 "$T_DIR/gluster-install.log")"
      return 77
    }
  fi
  addr=$(getent ahostsv4 "$GL_HOST" | awk 'NR == 1 { print $1 }')
  case $addr in
    127.*) ;;
    *) gl_log "SKIP: host name $GL_HOST resolves to '${addr:-nothing}', not a loopback address"
      return 77 ;;
  esac
  if pgrep -x glusterd >/dev/null || ss -ltn 2>/dev/null | grep -q ':24007 '; then
    gl_log "SKIP: a glusterd runs on this machine already; the test will not touch it"
    return 77
  fi
  mkdir -p "$GL_DIR/state" "$GL_DIR/b1" "$GL_DIR/b2"
  sed "s|option working-directory .*|option working-directory $GL_DIR/state|" \
    /etc/glusterfs/glusterd.vol >"$GL_DIR/glusterd.vol"
  GL_STARTED=1
  if ! glusterd -f "$GL_DIR/glusterd.vol" -p "$GL_DIR/glusterd.pid" \
    -l "$GL_DIR/glusterd.log"; then
    gl_log "SKIP: glusterd does not start: $(tail -3 "$GL_DIR/glusterd.log")"
    return 77
  fi
  if ! gl_wait 60 gl_cli volume list; then
    gl_log "SKIP: glusterd does not answer: $(tail -3 "$GL_DIR/glusterd.log")"
    return 77
  fi
  GL_VOLUME=$vol
  if ! gl_cli volume create "$vol" replica 2 "$GL_HOST:$GL_DIR/b1" \
    "$GL_HOST:$GL_DIR/b2" force >"$GL_DIR/create.log" 2>&1 ||
    ! gl_cli volume start "$vol" >>"$GL_DIR/create.log" 2>&1; then
    gl_log "SKIP: the volume cannot be made: $(cat "$GL_DIR/create.log")"
    return 77
  fi
  # Both bricks online before a client mounts.
  if ! gl_wait 60 gl_bricks_online 2; then
    gl_log "SKIP: the bricks do not come online: $(gl_cli volume status "$vol" 2>&1)"
    return 77
  fi
}

gl_bricks_online() {
  [ "$(gl_cli volume status "$GL_VOLUME" detail 2>/dev/null |
    grep -c '^Online.*: Y')" -ge "$1" ]
}

gl_mount() {
  local dir=$1 opts=${2:+,$2}
  mkdir -p "$dir"
  mount -t glusterfs -o log-file="$GL_DIR/client-${#GL_CLIENTS[@]}.log$opts" \
    "$GL_HOST:/$GL_VOLUME" "$dir" || return 1
  GL_CLIENTS+=("$dir")
  gl_wait 30 mountpoint -q "$dir"
}

gl_cleanup() {
  local c pid
  for c in "${GL_CLIENTS[@]+"${GL_CLIENTS[@]}"}"; do
    mountpoint -q "$c" && { umount "$c" 2>/dev/null || umount -l "$c"; }
  done
  GL_CLIENTS=()
  [ "$GL_STARTED" = 1 ] || return 0
  if [ -n "$GL_VOLUME" ]; then
    gl_cli volume stop "$GL_VOLUME" force >/dev/null 2>&1
    gl_cli volume delete "$GL_VOLUME" >/dev/null 2>&1
  fi
  # The brick and self-heal processes name the state directory.
  for pid in $(pgrep -f -- "$GL_DIR" 2>/dev/null); do
    kill "$pid" 2>/dev/null
  done
  if [ -s "$GL_DIR/glusterd.pid" ]; then
    kill "$(cat "$GL_DIR/glusterd.pid")" 2>/dev/null
  fi
  pkill -f -- "glusterd -f $GL_DIR/glusterd.vol" 2>/dev/null
  gl_wait 20 sh -c "! pgrep -f -- '$GL_DIR' >/dev/null"
  GL_STARTED=0
}
