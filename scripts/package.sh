#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian package of cmkfs and checks it.
#
#   scripts/package.sh            build build/package/cmkfs_VERSION_ARCH.deb
#   scripts/package.sh --check [DEB]
#                                 check a built package (default: the one in
#                                 build/package/)
#
# The build installs what is missing (scripts/deps.sh: CMKFS_BUILD_PACKAGES
# and CMKFS_PACKAGE_PACKAGES), copies the source tree (the files git knows
# of, committed or not, minus ignored ones; without git, the tree without
# build*/, demo/ and .git/) into a temporary directory, adds debian/ from
# scripts/debian/, runs dpkg-buildpackage -us -uc -b, then lintian, which
# must report no error and no warning (an override would go, with its
# reason, in scripts/debian/cmkfs.lintian-overrides). The .deb (and the
# cmkfs-dbgsym .deb), .changes and .buildinfo, and the build log, are left
# in build/package/.
#
# --check extracts the .deb with dpkg -x into an empty temporary directory,
# runs its usr/bin/cmkfs --version, looks for the files the package must
# hold, and checks that its Depends names fuse3 and the run-time packages of
# the libraries cmkfs links: libfuse3, libssl3, libcurl4, libjansson4,
# libinih1. Exits non-zero, saying why, on any failure.
set -euo pipefail
export LC_ALL=C

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=$top/build/package

die() {
  echo "package: $*" >&2
  exit 1
}

tmp=
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT

# The source tree, as it would be committed, into $1.
copy_tree() {
  local dest=$1
  mkdir -p "$dest"
  if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and untracked files, not ignored ones; not files deleted in
    # the work tree but still in the index.
    git -C "$top" ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do
        [ -e "$top/$f" ] || [ -L "$top/$f" ] || continue
        case $f in build*/* | debian/*) continue ;; esac
        printf '%s\0' "$f"
      done |
      tar -C "$top" --null --no-recursion -T - -cf - | tar -C "$dest" -xf -
  else
    tar -C "$top" --exclude='./build*' --exclude=./demo --exclude=./.git \
      --exclude=./debian -cf - . | tar -C "$dest" -xf -
  fi
}

build() {
  . "$top/scripts/deps.sh"
  cmkfs_install_packages "${CMKFS_BUILD_PACKAGES[@]}" \
    "${CMKFS_PACKAGE_PACKAGES[@]}"

  local version arch src log changes deb
  version=$(dpkg-parsechangelog -l "$top/scripts/debian/changelog" -S Version)
  arch=$(dpkg --print-architecture)
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/cmkfs-package.XXXXXX")
  src=$tmp/cmkfs-$version
  copy_tree "$src"
  cp -r "$top/scripts/debian" "$src/debian"

  mkdir -p "$outdir"
  log=$outdir/build.log
  echo "package: building cmkfs $version in $src (log: $log)"
  if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "dpkg-buildpackage failed; the whole log is $log"
  fi
  changes=$tmp/cmkfs_${version}_${arch}.changes
  deb=$tmp/cmkfs_${version}_${arch}.deb
  [ -f "$changes" ] && [ -f "$deb" ] || die "dpkg-buildpackage made no $deb"

  echo "package: lintian"
  if ! lintian --fail-on error,warning "$changes"; then
    die "lintian reports errors or warnings (above)"
  fi

  # Also the debug symbols (cmkfs-dbgsym), which the .changes lists.
  rm -f "$outdir"/cmkfs*_*.deb "$outdir"/cmkfs*_*.changes \
    "$outdir"/cmkfs*_*.buildinfo
  cp "$tmp"/cmkfs*_"${version}"_*.deb "$changes" \
    "$tmp/cmkfs_${version}_${arch}.buildinfo" "$outdir/"
  echo "package: built $outdir/$(basename "$deb")"
  echo "package: check it with: scripts/package.sh --check"
}

check() {
  local deb=${1:-} root depends failed=0 name f
  if [ -z "$deb" ]; then
    # shellcheck disable=SC2012 # the newest; the names are our own cmkfs_VERSION_ARCH.deb
    deb=$(ls -t "$outdir"/cmkfs_*.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] || die "no package in $outdir: run scripts/package.sh first"
  fi
  [ -f "$deb" ] || die "$deb: no such file"
  echo "package: checking $deb"

  tmp=$(mktemp -d "${TMPDIR:-/tmp}/cmkfs-check.XXXXXX")
  root=$tmp/root
  mkdir "$root"
  dpkg -x "$deb" "$root"

  if "$root/usr/bin/cmkfs" --version; then
    echo "package: ok: usr/bin/cmkfs --version"
  else
    echo "package: FAIL: usr/bin/cmkfs --version exits $?" >&2
    failed=1
  fi

  for f in usr/bin/cmkfs usr/share/man/man8/cmkfs.8.gz \
    usr/share/man/man5/cmkfs.conf.5.gz \
    usr/share/bash-completion/completions/cmkfs \
    usr/share/doc/cmkfs/examples/cmkfs.conf.example \
    usr/share/doc/cmkfs/examples/srv-faces.mount \
    usr/share/doc/cmkfs/copyright; do
    # dh_compress gzips larger documentation files.
    if [ ! -e "$root/$f" ] && [ ! -e "$root/$f.gz" ]; then
      echo "package: FAIL: the package has no $f" >&2
      failed=1
    fi
  done
  for f in cmkfs-rewrap@.service cmkfs-rewrap@.timer cmkfs-status@.service \
    cmkfs-status@.timer; do
    if [ ! -e "$root/lib/systemd/system/$f" ] &&
      [ ! -e "$root/usr/lib/systemd/system/$f" ]; then
      echo "package: FAIL: the package has no systemd unit $f" >&2
      failed=1
    fi
  done

  # Depends, as package names: "a (>= 1), b | c" -> a b c.
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "package: Depends: $depends"
  local names
  # shellcheck disable=SC2020 # two characters, each to a newline
  names=" $(printf '%s\n' "$depends" | tr ',|' '\n\n' |
    sed -e 's/([^)]*)//g' -e 's/\[[^]]*\]//g' -e 's/:[a-z0-9]*//' |
    awk 'NF { print $1 }' | tr '\n' ' ')"
  # libfuse3 is the library; Debian 12's package is libfuse3-3.
  for name in fuse3 libfuse3 libssl3 libcurl4 libjansson4 libinih1; do
    if [[ $names == *" $name "* || $names == *" $name-"[0-9]* ]]; then
      echo "package: ok: Depends names $name"
    elif [ "$name" = libcurl4 ]; then
      echo "package: FAIL: Depends does not name libcurl4. cmkfs must link" \
        "libcurl (libcurl.so.4) as a normal shared library so that" \
        "dpkg-shlibdeps sees it; loaded with dlopen, it is invisible to" \
        "\${shlibs:Depends} and the HTTPS key services (azure, vault," \
        "barbican) would fail on a machine without libcurl4" >&2
      failed=1
    else
      echo "package: FAIL: Depends does not name $name" >&2
      failed=1
    fi
  done

  if [ "$failed" -ne 0 ]; then
    echo "package: $deb FAILED its check" >&2
    return 1
  fi
  echo "package: $deb passed its check"
}

case ${1:-} in
  '') build ;;
  --check) shift; check "$@" ;;
  -h | --help) sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac
