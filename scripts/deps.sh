#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages cmkfs needs to build and test, only those
# missing. Sourced by run.sh and test.sh; also runnable on its own.
set -euo pipefail

CMKFS_BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libfuse3-dev fuse3 libssl-dev openssl libcurl4-openssl-dev libinih-dev libjansson-dev
  libsystemd-dev scdoc
)

# Tests also use these (the key-service emulators are Python; their CA
# comes from the openssl command; curl drives HTTP self-tests), and a real
# OpenStack Barbican server (barbican-api, for Debian's /usr/bin/python3).
# The fuzz targets (tests/fuzz/, scripts/fuzz.sh) need clang and its
# libFuzzer runtime (libclang-rt-14-dev on Debian 12). tests/gluster/ starts
# a real GlusterFS volume (glusterfs-server, and the client's mount helper).
# shellcheck disable=SC2034 # for the scripts that source this file
CMKFS_TEST_PACKAGES=(python3 python3-cryptography curl openssl ca-certificates barbican-api
  clang libclang-rt-dev glusterfs-server glusterfs-client)

# scripts/package.sh builds the Debian package with these.
# shellcheck disable=SC2034 # for the scripts that source this file
CMKFS_PACKAGE_PACKAGES=(dpkg-dev debhelper lintian fakeroot)

# scripts/lint.sh: clang-tidy, clang-format, shellcheck, and python3 to read
# the compile database.
# shellcheck disable=SC2034 # for the scripts that source this file
CMKFS_LINT_PACKAGES=(clang-tidy clang-format shellcheck python3)

cmkfs_missing_packages() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s\n' "$pkg"
    fi
  done
}

# cmkfs_install_packages PKG...: apt-get install what is missing, running
# apt-get update first (a fresh machine has no package lists).
cmkfs_install_packages() {
  local missing
  mapfile -t missing < <(cmkfs_missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "cmkfs: installing missing packages: ${missing[*]}" >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "cmkfs: these packages are missing: ${missing[*]}" >&2
      echo "cmkfs: install them as root (apt-get install ${missing[*]}), or run this script as root" >&2
      return 1
    fi
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The tests run Barbican themselves, on loopback only: the packaged
  # service (0.0.0.0:9311) must not start on a machine running systemd.
  if printf '%s\n' "${missing[@]}" | grep -qx barbican-api &&
     command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    "${sudo[@]}" systemctl disable --now barbican-api >/dev/null 2>&1 || true
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cmkfs_install_packages "${CMKFS_BUILD_PACKAGES[@]}"
fi
