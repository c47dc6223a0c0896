#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# How the frozen example volumes in this directory were made; kept for the
# record, not run by the tests. A released version adds its own directory
# (VERSION/) and never touches the others: they are what that version wrote,
# and every later version must read them byte for byte
# (tests/test_example_volumes.sh, docs/FORMAT.md "Compatibility").
#
# usage (as root, with /dev/fuse): make.sh CMKFS VERSION
set -euo pipefail
cmkfs=$1
out=$(cd "$(dirname "$0")" && pwd)/$2
[ ! -e "$out" ] || { echo "$out exists: example volumes are never remade" >&2; exit 1; }
work=$(mktemp -d)
trap 'fusermount3 -uz "$work/mnt" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$out" "$work/mnt"

for kind in encrypted plaintext; do
  conf=$work/$kind.conf
  printf '[kms]\nprovider = file\nkeystore = %s\nkey_name = example\n' \
    "$work/$kind.keystore.json" > "$conf"
  chmod 600 "$conf"
  "$cmkfs" key create -c "$conf" >/dev/null
  opt=(); [ "$kind" = plaintext ] && opt=(--plaintext-names)
  "$cmkfs" init "${opt[@]}" -c "$conf" "$work/$kind" >/dev/null
  "$cmkfs" mount -c "$conf" -o logfile="$work/log" "$work/$kind" "$work/mnt"
  (
    cd "$work/mnt"
    mkdir -p photos/2024 "deep/a/b/c/d" "names"
    : > empty.bin
    printf 'x' > one-byte.txt
    printf '%015d' 7 > fifteen.txt
    printf '%016d' 7 > sixteen.txt
    head -c 4095 /dev/urandom > unit-minus-one.bin
    head -c 4096 /dev/urandom > unit.bin
    head -c 4111 /dev/urandom > unit-plus-15.bin
    head -c 70001 /dev/urandom > photos/anna.jpg
    head -c 250000 /dev/urandom > photos/2024/bob.jpg
    echo "deep" > deep/a/b/c/d/file.txt
    truncate -s 300K holes.bin
    printf 'middle' | dd of=holes.bin bs=1 seek=150000 conv=notrunc status=none
    echo "a name of 200 bytes" > "names/$(printf 'n%.0s' $(seq 200))"
    echo "spaces and ünïcödé" > "names/with spaces ünïcödé.txt"
    ln -s photos/anna.jpg link-to-anna
    ln -s "$(printf '../%.0s' $(seq 300))etc/hostname" long-link
  )
  fusermount3 -u "$work/mnt"
  # A second key version: files written from now on use it.
  "$cmkfs" key rotate -c "$conf" >/dev/null
  "$cmkfs" mount -c "$conf" -o logfile="$work/log" "$work/$kind" "$work/mnt"
  echo "written with version 2" > "$work/mnt/after-rotation.txt"
  (cd "$work/mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$out/$kind.sha256"
  (cd "$work/mnt" && find . -type l -printf '%p -> %l\n' | sort) > "$out/$kind.symlinks"
  fusermount3 -u "$work/mnt"
  for _ in $(seq 100); do pgrep -f "mount -c $conf" >/dev/null || break; sleep 0.1; done
  cp -a "$work/$kind" "$out/$kind"
  cp "$work/$kind.keystore.json" "$out/$kind.keystore.json"
done
"$cmkfs" --version | head -1 > "$out/MADE-BY"
echo "made $out"
