#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# On-disk compatibility (docs/FORMAT.md "Compatibility"): every frozen
# example volume in tests/example_volumes/ (each VERSION/ made by that
# version, with its keystore) mounts with this version, every file reads
# back byte for byte, every symlink points where it did, fsck finds it
# clean and status finds every header readable. Each runs on a copy: the
# frozen bytes are never written.
. "$(dirname "$0")/fs/fs_lib.sh"

examples=$CMKFS_SOURCE_DIR/tests/example_volumes
found=0
for dir in "$examples"/*/; do
  version=$(basename "$dir")
  for kind in encrypted plaintext; do
    [ -d "$dir/$kind" ] || continue
    found=$((found + 1))
    what="example $version/$kind"
    copy=$T_DIR/$version-$kind
    cp -a "$dir/$kind" "$copy"
    cp "$dir/$kind.keystore.json" "$copy.keystore.json"
    chmod 600 "$copy.keystore.json"   # git keeps no modes
    conf=$T_DIR/$version-$kind.conf
    t_conf "$conf" "$copy.keystore.json" "key_name = example"
    t_expect 0 "$what: fsck finds it clean" -- "$CMKFS" fsck -c "$conf" "$copy"
    t_expect 0 "$what: status reads every header" -- "$CMKFS" status -c "$conf" "$copy"
    mnt=$T_DIR/mnt-$version-$kind
    fs_mount "$conf" "$copy" "$mnt" || continue
    if out=$(cd "$mnt" && sha256sum --strict --quiet -c "$dir/$kind.sha256" 2>&1); then t_pass; else
      t_fail "$what: files differ: $out"
    fi
    want=$(wc -l < "$dir/$kind.sha256")
    have=$(cd "$mnt" && find . -type f | wc -l)
    [ "$have" = "$want" ] && t_pass || t_fail "$what: $have files, expected $want"
    links=$(cd "$mnt" && find . -type l -printf '%p -> %l\n' | sort)
    [ "$links" = "$(cat "$dir/$kind.symlinks")" ] && t_pass || t_fail "$what: symlinks differ: $links"
    fs_umount "$mnt"
  done
done
[ "$found" -ge 2 ] && t_pass || t_fail "only $found example volumes found in $examples"
fs_done
