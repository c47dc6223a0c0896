#!/usr/bin/env bash
# Installs what is missing, builds, and runs cmkfs on its built-in default:
# a local keystore with a fresh CMK in ./demo (outside the cipher
# directory), a volume in ./demo/cipher, mounted at ./demo/plain (or the
# directory given as the first argument). Safe to run again.
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
  umask 077
  cat > "$conf" <<CONF
; cmkfs demo configuration, written by scripts/run.sh
[kms]
provider = file
keystore = $demo/keystore.json
key_name = demo
CONF
fi
[ -f "$demo/keystore.json" ] || "$cmkfs" key create -c "$conf"
[ -f "$demo/cipher/cmkfs.volume" ] || "$cmkfs" init -c "$conf" "$demo/cipher"

plain=${1:-$demo/plain}
mkdir -p "$plain"
if mountpoint -q "$plain"; then
  echo "cmkfs: $plain is mounted already; unmounting it first"
  fusermount3 -u "$plain"
fi
"$cmkfs" mount -c "$conf" "$demo/cipher" "$plain"

sample=$plain/hello.txt
echo "Hello from cmkfs, written at $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$sample"
echo
echo "== through the mount: $sample"
cat "$sample"
echo
echo "== the same file in the cipher directory: $demo/cipher/hello.txt"
echo "   ($(stat -c %s "$demo/cipher/hello.txt") bytes: a 4096-byte header, then the encrypted data)"
od -A d -t x1 -j 4096 "$demo/cipher/hello.txt" | head -4
echo
"$cmkfs" info -c "$conf" "$demo/cipher/hello.txt"
echo
echo "The volume is mounted at $plain. Unmount it with:"
echo "  fusermount3 -u $plain"
