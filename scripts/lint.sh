#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Static analysis, which must find nothing: clang-tidy (.clang-tidy) on every
# C file of the build, tests included, shellcheck (.shellcheckrc) on every
# shell file, and clang-format (.clang-format) on every C source and header.
# Installs what is missing and configures build-lint/ for the compile
# database. Exits non-zero on any finding. Run by scripts/test.sh.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
. scripts/deps.sh
cmkfs_install_packages "${CMKFS_BUILD_PACKAGES[@]}" "${CMKFS_LINT_PACKAGES[@]}"

jobs=$(nproc)
status=0

# The files, from git when this is a checkout (not build trees, not
# node_modules); from find otherwise.
list() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -- "$@"
  else
    local pat=() p
    for p in "$@"; do pat+=(-o -path "./$p"); done
    find . \( -path './build*' -o -name node_modules -o -name .git \) -prune \
      -o -type f \( -false "${pat[@]}" \) -print | sed 's|^\./||' | sort
  fi
}

echo "== clang-tidy =="
# Configure only: the compile database is all clang-tidy needs (the one
# generated header, version.h, is written at configure time).
cmake -S . -B build-lint -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Every C file the build compiles, under this tree (not build-lint/).
mapfile -t c_files < <(python3 - "$top" <<'PY'
import json, os, sys
top = sys.argv[1]
seen = set()
for e in json.load(open(os.path.join(top, "build-lint", "compile_commands.json"))):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(f, top)
    if f.endswith(".c") and not rel.startswith(("..", "build")) and rel not in seen:
        seen.add(rel)
        print(rel)
PY
)
echo "${#c_files[@]} files, $jobs at a time"
# One file per clang-tidy: in one process, clang-analyzer-valist carries
# state from a file into the next and reports a false va_list finding. A
# file's findings come out together; "N warnings generated" counts what the
# configuration leaves out (system headers, disabled checks).
if ! printf '%s\0' "${c_files[@]}" |
    xargs -0 -n 1 -P "$jobs" clang-tidy -p build-lint --quiet \
      2> >(grep -Ev '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' >&2); then
  echo "clang-tidy: FINDINGS (fix them, or see HACKING.md on suppressions)" >&2
  status=1
fi

echo "== layering =="
# Dependencies point one way: fs -> kms, conf, crypto; kms -> conf, crypto
# (its locked memory and primitives, not the volume format); conf, crypto
# and common depend on no module above them. Only fs/fuse_ops.c includes
# FUSE, and only fs/ asks on a terminal.
layering() {  # layering PATTERN WHY PATHSPEC...: a finding per include
  local pattern=$1 why=$2 hits
  shift 2
  if hits=$(git grep --untracked -nE "$pattern" -- "$@" 2>/dev/null); then
    printf '%s\n' "$hits" >&2
    echo "layering: $why" >&2
    status=1
  fi
}
layering '#include "(fs|crypto/format)' "kms/ includes fs/ or the volume format" 'kms/*.[ch]'
layering '#include "(fs|kms|crypto)/' "conf/ includes a module above it" 'conf/*.[ch]'
layering '#include "(fs|kms|conf)/' "crypto/ includes a module above it" 'crypto/*.[ch]'
layering '#include "(fs|kms|conf|crypto)/' "common/ includes a module above it" 'common/*.[ch]'
layering '#include <fuse' "only fs/fuse_ops.c includes FUSE" \
  '*.[ch]' ':(exclude)fs/fuse_ops.c' ':(exclude)tests/*'
layering '#include <termios.h>' "only fs/ asks on a terminal" \
  '*.[ch]' ':(exclude)fs/*' ':(exclude)tests/*'

echo "== shellcheck =="
mapfile -t sh_files < <(list '*.sh' .ci/run conf/bash-completion/cmkfs)
echo "${#sh_files[@]} files"
if ! shellcheck "${sh_files[@]}"; then
  echo "shellcheck: FINDINGS" >&2
  status=1
fi

echo "== clang-format =="
mapfile -t fmt_files < <(list '*.c' '*.h')
echo "${#fmt_files[@]} files"
if ! clang-format --dry-run --Werror "${fmt_files[@]}"; then
  echo "clang-format: these differ from .clang-format (clang-format -i FILE, or git clang-format for the changed lines only)" >&2
  status=1
fi

if [ "$status" -ne 0 ]; then
  echo "cmkfs: lint FAILED" >&2
fi
exit "$status"
