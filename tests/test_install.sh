#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmake --install into a staging directory puts everything a system needs
# where it belongs: the binary (where mount.fuse3 finds it), the man pages
# (which render without warnings), the bash completion, the example
# configuration and mount unit, and the systemd units.
. "$(dirname "$0")/lib.sh"
: "${CMKFS_BINARY_DIR:?}"

stage=$T_DIR/stage
t_expect 0 "cmake --install" -- env DESTDIR="$stage" cmake --install "$CMKFS_BINARY_DIR" --prefix /usr
for f in usr/bin/cmkfs usr/share/man/man8/cmkfs.8 usr/share/man/man5/cmkfs.conf.5 \
         usr/share/bash-completion/completions/cmkfs \
         usr/share/doc/cmkfs/examples/cmkfs.conf.example \
         usr/share/doc/cmkfs/examples/srv-faces.mount; do
  [ -f "$stage/$f" ] && t_pass || t_fail "not installed: $f"
done
units=$(find "$stage" -name 'cmkfs-*@.*' -path '*systemd/system*' | wc -l)
[ "$units" = 4 ] && t_pass || t_fail "systemd units installed: $units of 4"
t_expect 0 "the installed cmkfs runs" -- "$stage/usr/bin/cmkfs" --version
for page in man8/cmkfs.8 man5/cmkfs.conf.5; do
  out=$(MANWIDTH=80 man --warnings -l "$stage/usr/share/man/$page" 2>&1 >/dev/null)
  [ -z "$out" ] && t_pass || t_fail "$page: $out"
done
# The completion knows the commands.
out=$(bash -c '. "$1"; COMP_WORDS=(cmkfs st); COMP_CWORD=1; _cmkfs; printf "%s\n" "${COMPREPLY[@]}"' \
      _ "$stage/usr/share/bash-completion/completions/cmkfs" 2>&1)
[ "$out" = status ] && t_pass || t_fail "completion of 'cmkfs st': $out"

t_done
