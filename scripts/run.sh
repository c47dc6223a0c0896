#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, builds, and runs cmkfs on its built-in default:
# a local keystore with a fresh CMK in ./demo (outside the cipher
# directory), a volume in ./demo/cipher (file names encrypted), mounted at
# ./demo/plain (or the directory given as the first argument). Writes a
# sample file and shows it through the mount and as it is stored. Safe to
# run again; a failure never leaves the demo mounted.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
. scripts/deps.sh
cmkfs_install_packages "${CMKFS_BUILD_PACKAGES[@]}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
cmkfs=$top/build/cmkfs

demo=$top/demo
mkdir -p "$demo"
chmod 700 "$demo"
conf=$demo/cmkfs.conf
if [ ! -f "$conf" ]; then
  (umask 077 && cat > "$conf" <<CONF
; cmkfs demo configuration, written by scripts/run.sh
[kms]
provider = file
keystore = $demo/keystore.json
key_name = demo
CONF
  )
fi
[ -f "$demo/keystore.json" ] || "$cmkfs" key create -c "$conf"
[ -f "$demo/cipher/cmkfs.volume" ] || "$cmkfs" init -c "$conf" "$demo/cipher"

plain=${1:-$demo/plain}
mkdir -p "$plain"
plain=$(cd "$plain" && pwd)
if mountpoint -q "$plain"; then
  echo "cmkfs: $plain is mounted already; unmounting it first"
  fusermount3 -u "$plain"
fi
# The daemon's log goes to a file of the demo's: whatever runs this script
# (a pipe, a terminal) need not stay open for it.
"$cmkfs" mount -c "$conf" -o "logfile=$demo/cmkfs.log" "$demo/cipher" "$plain"
# From here on, a failure unmounts before it exits.
# shellcheck disable=SC2154 # status is assigned by the trap's first command
trap 'status=$?; if [ "$status" -ne 0 ] && mountpoint -q "$plain"; then
        echo "cmkfs: run.sh failed (exit $status); unmounting $plain" >&2
        fusermount3 -u "$plain" || fusermount3 -uz "$plain"
      fi' EXIT

sample=$plain/hello.txt
echo "Hello from cmkfs, written at $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$sample"
backing=$("$cmkfs" path -c "$conf" "$demo/cipher" hello.txt)
echo
echo "== through the mount: $sample"
cat "$sample"
echo
echo "== the same file in the cipher directory, under its encrypted name:"
echo "   $backing"
echo "   ($(stat -c %s "$backing") bytes: a 4096-byte header, then the encrypted data)"
od -A d -t x1 -j 4096 "$backing" | head -4
echo
echo "== the cipher directory's listing (names are encrypted):"
ls -1 "$demo/cipher"
echo
"$cmkfs" info -c "$conf" "$backing"
echo
echo "The volume is mounted at $plain; the daemon logs to $demo/cmkfs.log."
echo "Unmount it with:"
echo "  fusermount3 -u $plain"
