# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared helpers for the shell tests. Each test sources this file.
set -u
: "${CMKFS:?CMKFS must name the cmkfs binary}"
T_FAILED=0
T_COUNT=0
# CMKFS_TEST_TMPDIR: where the test's directory goes (tests/gluster/ puts
# it on a GlusterFS mount to run the filesystem suite there).
T_DIR=$(mktemp -d "${CMKFS_TEST_TMPDIR:-/tmp}/cmkfs-test.XXXXXX")
chmod 700 "$T_DIR"
# T_REF_DIR: for what the tests compare against (reference trees), never on
# the store under test: a store that lacks a feature must not fail the
# reference too.
if [ -n "${CMKFS_TEST_TMPDIR:-}" ]; then
  T_REF_DIR=$(mktemp -d /tmp/cmkfs-ref.XXXXXX)
  chmod 700 "$T_REF_DIR"
else
  T_REF_DIR=$T_DIR
fi
trap 't_cleanup' EXIT

t_cleanup() {
  if declare -F t_teardown >/dev/null; then t_teardown; fi
  rm -rf "$T_DIR"
  [ "$T_REF_DIR" = "$T_DIR" ] || rm -rf "$T_REF_DIR"
}

t_pass() { T_COUNT=$((T_COUNT + 1)); }
t_fail() {
  T_COUNT=$((T_COUNT + 1)); T_FAILED=$((T_FAILED + 1))
  echo "FAIL: $*" >&2
}

# t_expect CODE DESCRIPTION -- COMMAND...: runs COMMAND, checks its exit
# code, keeps its stdout+stderr in $T_OUT. The output goes through a file
# of its own, not a pipe: a mount daemon without syslog keeps the stderr it
# was given, and a pipe would then never end.
T_RUNS=0
t_expect() {
  local want=$1 what=$2; shift 3
  T_RUNS=$((T_RUNS + 1))
  "$@" > "$T_DIR/run.$T_RUNS.out" 2>&1; local got=$?
  T_OUT=$(cat "$T_DIR/run.$T_RUNS.out")
  if [ "$got" -eq "$want" ]; then t_pass; else
    t_fail "$what: exit $got, expected $want; output: $T_OUT"
  fi
}

# t_wait_until SECONDS DESCRIPTION -- COMMAND...: waits until COMMAND
# succeeds, polling; a failure after SECONDS. Tests wait for conditions,
# never for fixed times: SECONDS is only a bound for a hung system, so make
# it generous.
t_wait_until() {
  local secs=$1 what=$2 end
  shift 3
  end=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      t_fail "$what (not within $secs s)"
      return 1
    fi
    sleep 0.1
  done
  t_pass
}

# t_contains DESCRIPTION NEEDLE: $T_OUT contains NEEDLE.
t_contains() {
  case "$T_OUT" in
    *"$2"*) t_pass ;;
    *) t_fail "$1: output lacks '$2': $T_OUT" ;;
  esac
}

t_not_contains() {
  case "$T_OUT" in
    *"$2"*) t_fail "$1: output contains '$2': $T_OUT" ;;
    *) t_pass ;;
  esac
}

# t_conf FILE KEYSTORE [EXTRA...]: a config for the local keystore.
t_conf() {
  local file=$1 keystore=$2; shift 2
  { echo "[kms]"; echo "provider = file"; echo "keystore = $keystore"
    for line in "$@"; do echo "$line"; done; } > "$file"
  chmod 600 "$file"
}

# t_projected FILE DIR: lays FILE out in DIR as the kubelet projects a
# token (DIR/token -> ..data/token, ..data -> a timestamped directory,
# mode 0644) and prints the path an application is given, DIR/token.
t_projected() {
  local file=$1 dir=$2 stamp=..2026_12_03_00_00_00.1
  mkdir -p "$dir/$stamp"
  cp "$file" "$dir/$stamp/token"
  chmod 644 "$dir/$stamp/token"
  ln -sfn "$stamp" "$dir/..data"
  ln -sfn ..data/token "$dir/token"
  echo "$dir/token"
}

t_done() {
  echo "$((T_COUNT - T_FAILED)) passed, $T_FAILED failed"
  [ "$T_COUNT" -gt 0 ] && [ "$T_FAILED" -eq 0 ]
}
