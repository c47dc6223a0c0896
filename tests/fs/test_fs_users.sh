#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Shared mounts: a volume mounted by root (allow_other, default_permissions)
# behaves for every user like a local file system. Unprivileged users (by
# number, through setpriv) create, read, change and remove things on the
# mount and, in the same way, in a plain reference directory with the same
# layout, modes and owners; the results (exit status, errno names, stat
# fields) must be the same. Covered: ownership of new objects, setgid
# directories, umask and exact modes, permission denials, set-id bits
# cleared by writes and chown, sticky directories, paths up to PATH_MAX,
# 255-byte names, long symlink targets, link counts, FIFOs and unix sockets,
# symlink timestamps.
. "$(dirname "$0")/fs_lib.sh"

command -v setpriv >/dev/null || fs_abort "setpriv (util-linux) is missing"
umask 022

# The users, by number only: A is nobody/nogroup, B and O are made up; G is
# a group that A joins with --groups in some cases.
A=65534 B=4242 O=4444 G=4343

# The users must reach the mount and the reference: the temp dir (0700 from
# lib.sh) becomes traversable; the keystore and the backing directory stay
# in a private subdirectory.
chmod 755 "$T_DIR"
priv=$T_DIR/priv
# The mount point beside the reference, which stays off the store under
# test (T_REF_DIR); the volume is in $priv.
chmod 755 "$T_REF_DIR"
w=$T_REF_DIR/w
mkdir -m 700 "$priv"
mkdir -m 755 "$w" "$T_DIR/bin"
UH=$T_DIR/bin/users_helper.py
install -m 644 "$FS_DIR/users_helper.py" "$UH"
conf=$priv/cmkfs.conf
cipher=$priv/cipher
m=$w/mnt     # the same length as $ref: absolute paths below both are alike
ref=$w/ref
mkdir -m 755 "$ref"
cd "$T_DIR" || fs_abort "cannot cd to $T_DIR"   # the users' cwd; nothing lands elsewhere

fs_volume "$conf" "$priv/keystore.json" "$cipher"
fs_mount "$conf" "$cipher" "$m" || fs_abort "no mount, nothing to test"
opts=$(awk -v d="$m" '$2 == d { print $4 }' /proc/self/mounts)
case ",$opts," in
  *,allow_other,*) t_pass ;;
  *) t_fail "a mount by root lacks allow_other: $opts" ;;
esac
case ",$opts," in
  *,default_permissions,*) t_pass ;;
  *) t_fail "a mount by root lacks default_permissions: $opts" ;;
esac

# The helper as root, as A, as A with G as a supplementary group, as B, as O.
ur()  { "$PY" -I "$UH" "$@"; }
ua()  { setpriv --reuid=$A --regid=$A --clear-groups "$PY" -I "$UH" "$@"; }
uag() { setpriv --reuid=$A --regid=$A --groups=$G "$PY" -I "$UH" "$@"; }
ub()  { setpriv --reuid=$B --regid=$B --clear-groups "$PY" -I "$UH" "$@"; }
uo()  { setpriv --reuid=$O --regid=$O --clear-groups "$PY" -I "$UH" "$@"; }

t_expect 0 "user $A runs the helper" -- ua stat "$m"
case "$T_OUT" in
  "stat dir "*) t_pass ;;
  *) fs_abort "user $A cannot reach the mount: $T_OUT" ;;
esac

# Scripts chain helper operations with "+"; a line ending in "+" goes on
# on the next line.
joined() { printf '%s' "${1//$'+\n'/+ }"; }

# both WHAT SCRIPT [EXPECTED]: runs SCRIPT with D set to the mount, then to
# the reference directory; the outputs (paths replaced by <D>) and exit
# statuses must be the same, and the reference's output must be EXPECTED
# when given (that checks the test and the host, not cmkfs).
# CMKFS_TEST_VERBOSE=1 prints every output.
both() {
  local what=$1 script om or rcm rcr
  script=$(joined "$2")
  om=$(D=$m; eval "$script" 2>&1); rcm=$?
  or=$(D=$ref; eval "$script" 2>&1); rcr=$?
  om=${om//"$m"/<D>}
  or=${or//"$ref"/<D>}
  [ -n "${CMKFS_TEST_VERBOSE:-}" ] && printf '== %s\n%s\n' "$what" "$or"
  if [ "$rcm" != "$rcr" ] || [ "$om" != "$or" ]; then
    t_fail "$what: the mount and the plain directory differ (exit $rcm vs $rcr), line: mount | plain
$(diff --old-line-format='    %dn: mount %L' --new-line-format='    %dn: plain %L' \
      --unchanged-line-format='' <(echo "$om") <(echo "$or"))"
    return 1
  fi
  if [ $# -ge 3 ] && [ "$(dirlinks "$or")" != "$(dirlinks "$3")" ]; then
    t_fail "$what: the plain directory (and the mount) gave
$or
  expected
$3"
    return 1
  fi
  t_pass
}

# Directories' link counts in expectations are those of file systems that
# count subdirectories (ext4, xfs, tmpfs); where the host's does not
# (btrfs: always 1), expectations leave them out.
mkdir -p "$ref/.probe/sub"
if [ "$(stat -c %h "$ref/.probe")" = 3 ]; then
  dirlinks() { printf '%s' "$1"; }
else
  dirlinks() { printf '%s' "$1" | sed 's/\(stat dir [0-7]* [0-9:]*\) n[0-9]*/\1 n?/'; }
fi
rm -r "$ref/.probe"

# on_both SCRIPT: setup as root in both trees.
on_both() {
  local D
  for D in "$m" "$ref"; do eval "$(joined "$1")" || fs_abort "setup in $D failed: $1"; done
}

# The layout: the root, a home for A and one for B, a sticky world-writable
# directory owned by O, a plain world-writable one, and two setgid
# directories of group G (only members can write in sg, anyone in sgw).
on_both 'chmod 755 "$D" && chown 0:0 "$D" &&
  install -d -m 755 -o $A -g $A "$D/a" && install -d -m 755 -o $B -g $B "$D/b" &&
  install -d -m 1777 -o $O -g $O "$D/st" && install -d -m 777 "$D/pub" &&
  install -d -m 2775 -g $G "$D/sg" && install -d -m 2777 -g $G "$D/sgw" &&
  chmod 2775 "$D/sg" && chmod 2777 "$D/sgw" && chmod 1777 "$D/st"'
both "the layout" 'for n in a b st pub sg sgw; do ur stat "$D/$n"; done' \
"stat dir 0755 $A:$A n2
stat dir 0755 $B:$B n2
stat dir 1777 $O:$O n2
stat dir 0777 0:0 n2
stat dir 2775 0:$G n2
stat dir 2777 0:$G n2"

# --- Ownership of what each user creates --------------------------------
# make_all DIR: every kind of object, then the stat of each.
make_all='creat "$1/f" 0644 + mknod "$1/r" reg 0600 + mkdir "$1/d" 0755 +
  symlink f "$1/l" + mkfifo "$1/p" 0640 + mknod "$1/q" fifo 0600 + sock "$1/s" +
  stat "$1/f" + stat "$1/r" + stat "$1/d" + stat "$1/l" + stat "$1/p" +
  stat "$1/q" + stat "$1/s"'
mk_a()  { eval "$(joined "ua $make_all")"; }
mk_b()  { eval "$(joined "ub $make_all")"; }
mk_r()  { eval "$(joined "ur $make_all")"; }
mk_ag() { eval "$(joined "uag $make_all")"; }
made() { # UID GID: the expected output of make_all
  printf '%s\n' "creat ok" "mknod ok" "mkdir ok" "symlink ok" "mkfifo ok" \
    "mknod ok" "sock ok" "stat reg 0644 $1:$2 n1 s0" "stat reg 0600 $1:$2 n1 s0" \
    "stat dir 0755 $1:$2 n2" "stat lnk 0777 $1:$2 n1 s1" "stat fifo 0640 $1:$2 n1" \
    "stat fifo 0600 $1:$2 n1" "stat sock 0755 $1:$2 n1"
}
both "user A creates every kind of object in its directory" 'mk_a "$D/a"' "$(made $A $A)"
both "user B creates every kind of object in its directory" 'mk_b "$D/b"' "$(made $B $B)"
on_both 'mkdir -m 777 "$D/pub/a" "$D/pub/b" "$D/pub/r" "$D/pub/ag"'
both "user A creates in a directory of root's" 'mk_a "$D/pub/a"' "$(made $A $A)"
both "user B creates in a directory of root's" 'mk_b "$D/pub/b"' "$(made $B $B)"
both "root creates in a directory of root's" 'mk_r "$D/pub/r"' "$(made 0 0)"
both "user A with a supplementary group creates with its own gid" 'mk_ag "$D/pub/ag"' "$(made $A $A)"
both "O_CREAT of another user's existing file keeps its owner" \
  'ua umask 000 + creat "$D/pub/x" 0666 + stat "$D/pub/x"; ub opencreat "$D/pub/x" 0600 + stat "$D/pub/x"' \
"umask ok
creat ok
stat reg 0666 $A:$A n1 s0
opencreat ok
stat reg 0666 $A:$A n1 s0"
# Hard links keep the target's owner (protected_hardlinks decides what B
# may link; it is the same kernel on both sides).
both "hard links keep the owner of the target" \
  'ua umask 000 + creat "$D/pub/h666" 0666 + creat "$D/pub/h644" 0644 &&
   ub link "$D/pub/h666" "$D/b/h666" + link "$D/pub/h644" "$D/b/h644" + stat "$D/b/h666" &&
   ur link "$D/a/f" "$D/b/rootlink" + stat "$D/b/rootlink" + stat "$D/a/f" &&
   ua link "$D/b/h666" "$D/pub/h666-2" + stat "$D/pub/h666-2"'
both "renames keep the owner" \
  'ub creat "$D/pub/mv" 0640 + rename "$D/pub/mv" "$D/b/mv" + stat "$D/b/mv"' \
"creat ok
rename ok
stat reg 0640 $B:$B n1 s0"

# --- Setgid directories -------------------------------------------------
setgid_expect="creat ok
mkdir ok
mkfifo ok
symlink ok
mkdir ok
stat reg 0644 \$1:$G n1 s0
stat dir 2755 \$1:$G n3
stat fifo 0644 \$1:$G n1
stat lnk 0777 \$1:$G n1 s1
stat dir 2700 \$1:$G n2"
sg_ops='creat "$1/f" 0644 + mkdir "$1/d" 0755 + mkfifo "$1/p" 0644 + symlink f "$1/l" +
  mkdir "$1/d/e" 0700 + stat "$1/f" + stat "$1/d" + stat "$1/p" + stat "$1/l" + stat "$1/d/e"'
sg_a() { eval "$(joined "uag $sg_ops")"; }
sg_b() { eval "$(joined "ub $sg_ops")"; }
sg_r() { eval "$(joined "ur $sg_ops")"; }
on_both 'install -d -m 2777 -g $G "$D/sgw/r" && chmod 2777 "$D/sgw/r"'
both "a member of the group creates in a setgid directory" 'sg_a "$D/sg"' "$(set -- $A; eval "echo \"$setgid_expect\"")"
both "a user outside the group creates in a writable setgid directory" 'sg_b "$D/sgw"' "$(set -- $B; eval "echo \"$setgid_expect\"")"
both "root creates in a setgid directory" 'sg_r "$D/sgw/r"' "$(set -- 0; eval "echo \"$setgid_expect\"")"
both "a user outside the group cannot write in a 2775 setgid directory" \
  'ub creat "$D/sg/nb" 0644 + mkdir "$D/sg/nbd" 0755' $'creat EACCES\nmkdir EACCES'
# S_ISGID asked for by a non-member in a setgid directory is dropped (the
# file would be setgid to a group its owner is not in); a member keeps it.
both "set-id bits of new files in a setgid directory" \
  'ub creat "$D/sgw/s1" 2755 + creat "$D/sgw/s2" 6755 + creat "$D/sgw/s3" 2745 + mkdir "$D/sgw/s4" 2755 +
   mknod "$D/sgw/s5" reg 2755 + mkfifo "$D/sgw/s6" 2755 +
   stat "$D/sgw/s1" + stat "$D/sgw/s2" + stat "$D/sgw/s3" + stat "$D/sgw/s4" + stat "$D/sgw/s5" + stat "$D/sgw/s6" &&
   uag creat "$D/sg/s1" 2755 + creat "$D/sg/s2" 6755 + stat "$D/sg/s1" + stat "$D/sg/s2"'
both "mkdir with S_ISGID outside a setgid directory" \
  'ua mkdir "$D/a/g1" 2755 + mkdir "$D/a/g2" 3777 + stat "$D/a/g1" + stat "$D/a/g2"' \
"mkdir ok
mkdir ok
stat dir 0755 $A:$A n2
stat dir 1755 $A:$A n2"
both "a new entry in a setgid subdirectory of another owner" \
  'ua mkdir "$D/sgw/d/x" 0755; ub mkdir "$D/sgw/d/y" 0755 + stat "$D/sgw/d/y"' \
"mkdir EACCES
mkdir ok
stat dir 2755 $B:$G n2"

# --- umask and exact modes ----------------------------------------------
modes_ops='umask $2 + mkdir "$1/d151" 0151 + creat "$1/f640" 0640 + creat "$1/f777" 0777 +
  mknod "$1/r640" reg 0640 + mkfifo "$1/p640" 0640 + mknod "$1/q666" fifo 0666 +
  mkdir "$1/d1777" 1777 + mkdir "$1/d2755" 2755 + mkdir "$1/d777" 0777 +
  creat "$1/s4755" 4755 + creat "$1/s6777" 6777 + creat "$1/s1777" 1777 +
  sock "$1/sock" + symlink x "$1/l" +
  stat "$1/d151" + stat "$1/f640" + stat "$1/f777" + stat "$1/r640" +
  stat "$1/p640" + stat "$1/q666" + stat "$1/d1777" + stat "$1/d2755" +
  stat "$1/d777" + stat "$1/s4755" + stat "$1/s6777" + stat "$1/s1777" +
  stat "$1/sock" + stat "$1/l"'
modes_a() { eval "$(joined "ua $modes_ops")"; }
modes_r() { eval "$(joined "ur $modes_ops")"; }
for mask in 022 077 000 027 777; do
  on_both "install -d -m 755 -o $A -g $A \"\$D/a/m$mask\" && install -d -m 755 \"\$D/r$mask\""
  both "modes of new objects under umask $mask (user A)" "modes_a \"\$D/a/m$mask\" $mask"
  both "modes of new objects under umask $mask (root)" "modes_r \"\$D/r$mask\" $mask"
done
both "umask 022: mkdir 0151, open 0640" \
  'ua umask 022 + mkdir "$D/a/x151" 0151 + creat "$D/a/x640" 0640 + stat "$D/a/x151" + stat "$D/a/x640"' \
"umask ok
mkdir ok
creat ok
stat dir 0151 $A:$A n2
stat reg 0640 $A:$A n1 s0"
both "umask 077: mkdir 0151 gives 0100" \
  'ua umask 077 + mkdir "$D/a/y151" 0151 + stat "$D/a/y151"' \
"umask ok
mkdir ok
stat dir 0100 $A:$A n2"
both "mkdir 01777 and 02755 by a user" \
  'ua umask 000 + mkdir "$D/a/z1777" 1777 + mkdir "$D/a/z2755" 2755 + stat "$D/a/z1777" + stat "$D/a/z2755"' \
"umask ok
mkdir ok
mkdir ok
stat dir 1777 $A:$A n2
stat dir 0755 $A:$A n2"

# --- Permission denials ----------------------------------------------------
on_both 'D=$D; ua umask 000 + creat "$D/a/p600" 0600 + creat "$D/a/p644" 0644 + creat "$D/a/p666" 0666 +
  mkdir "$D/a/priv" 0700 + creat "$D/a/priv/x" 0644 + write "$D/a/p600" secret +
  write "$D/a/p644" public >/dev/null'
both "another user's 0600 file cannot be read" \
  'ub read "$D/a/p600" + read "$D/a/p644" + access "$D/a/p600" r + access "$D/a/p644" r + access "$D/a/p644" w +
   readnoatime "$D/a/p644"' \
$'read EACCES\nread public\naccess no\naccess yes\naccess no\nreadnoatime EPERM'
both "root reads any file, but executes only what has an x bit" \
  'ur read "$D/a/p600" + access "$D/a/p600" rw + access "$D/a/p600" x + access "$D/a" x' \
$'read secret\naccess yes\naccess no\naccess yes'
both "the owner sets UTIME_NOW on a read-only file, others cannot" \
  'ua creat "$D/a/ro" 0444 + utimenow "$D/a/ro" + utime "$D/a/ro" 5 5 + times "$D/a/ro" && ub utimenow "$D/a/ro"' \
$'creat ok\nutimenow ok\nutime ok\ntimes 5 5\nutimenow EACCES'
both "moving another user's directory to a new parent needs write access to it" \
  'ua mkdir "$D/pub/ad" 0755 + mkdir "$D/pub/ad2" 0777 && ub rename "$D/pub/ad" "$D/b/ad" + rename "$D/pub/ad" "$D/pub/ad-renamed" +
   rename "$D/pub/ad2" "$D/b/ad2" + stat "$D/b/ad2"' \
"mkdir ok
mkdir ok
rename EACCES
rename ok
rename EACCES
stat ENOENT"
both "no writing into another user's 0755 directory" \
  'ub creat "$D/a/new" 0644 + mkdir "$D/a/newd" 0755 + symlink x "$D/a/newl" + mkfifo "$D/a/newp" 0644 +
   mknod "$D/a/newr" reg 0644 + link "$D/b/f" "$D/a/newh" + sock "$D/a/news"' \
$'creat EACCES\nmkdir EACCES\nsymlink EACCES\nmkfifo EACCES\nmknod EACCES\nlink EACCES\nsock EACCES'
both "no unlinking, renaming or rmdir in another user's directory" \
  'ub unlink "$D/a/p666" + rename "$D/a/p666" "$D/a/q" + rename "$D/a/p666" "$D/b/q" + rmdir "$D/a/d" +
   rename "$D/b/f" "$D/a/bf"' \
$'unlink EACCES\nrename EACCES\nrename EACCES\nrmdir EACCES\nrename EACCES'
both "no listing or traversal of another user's 0700 directory" \
  'ub ls "$D/a/priv" + stat "$D/a/priv/x" + read "$D/a/priv/x"' \
$'ls EACCES\nstat EACCES\nread EACCES'
both "no writing or truncating another user's 0644 file" \
  'ub write "$D/a/p644" x + append "$D/a/p644" x + trunc "$D/a/p644" 0 + otrunc "$D/a/p644" + read "$D/a/p644"' \
$'write EACCES\nappend EACCES\ntrunc EACCES\notrunc EACCES\nread public'
both "writing and truncating another user's 0666 file" \
  'ub write "$D/a/p666" hello + trunc "$D/a/p666" 3 + read "$D/a/p666" + stat "$D/a/p666"' \
"write ok
trunc ok
read hel
stat reg 0666 $A:$A n1 s3"
both "chmod of another user's file: EPERM" \
  'ub chmod "$D/a/p666" 0777 + chmod "$D/a" 0777 + stat "$D/a/p666"' \
"chmod EPERM
chmod EPERM
stat reg 0666 $A:$A n1 s3"
both "chown to another uid by a user: EPERM" \
  'ua chown "$D/a/p644" $B -1 + chown "$D/a/p644" 0 -1 + lchown "$D/a/l" $B -1 + chown "$D/a/p644" $A -1 + stat "$D/a/p644"' \
"chown EPERM
chown EPERM
lchown EPERM
chown ok
stat reg 0644 $A:$A n1 s6"
both "chown of another user's file: EPERM" \
  'ub chown "$D/a/p666" $B $B + chown "$D/a/p666" -1 $B + chown "$D/a/p666" -1 -1' \
$'chown EPERM\nchown EPERM\nchown ok'
both "chown to a group the owner is not in: EPERM; in it: allowed" \
  'ua chown "$D/a/p644" -1 $G + stat "$D/a/p644" && uag chown "$D/a/p644" -1 $G + stat "$D/a/p644" +
   chown "$D/a/p644" -1 $A + lchown "$D/a/l" -1 $G + stat "$D/a/l"' \
"chown EPERM
stat reg 0644 $A:$A n1 s6
chown ok
stat reg 0644 $A:$G n1 s6
chown ok
lchown ok
stat lnk 0777 $A:$G n1 s1"
# chmod g+s of a file whose group the owner is not in drops S_ISGID.
both "chmod 2755 of an own file in a foreign group" \
  'ur chown "$D/a/p644" -1 $G && ua chmod "$D/a/p644" 2755 + stat "$D/a/p644" &&
   uag chmod "$D/a/p644" 2755 + stat "$D/a/p644" && ur chown "$D/a/p644" -1 $A + chmod "$D/a/p644" 0644' \
"chown ok
chmod ok
stat reg 0755 $A:$G n1 s6
chmod ok
stat reg 2755 $A:$G n1 s6
chown ok
chmod ok"
both "utimensat: explicit times need the owner, UTIME_NOW write access" \
  'ub utime "$D/a/p666" 1000000000000000000 1000000000000000000 + utime "$D/a/p666" 0 0 +
   utimenow "$D/a/p644" + utimenow "$D/a/p666" && ua utime "$D/a/p666" 1000000000000000000 1000000000500000000 +
   times "$D/a/p666" && ur utime "$D/a/p644" 1100000000000000001 1100000000000000002 + times "$D/a/p644"' \
"utime EPERM
utime EPERM
utimenow EACCES
utimenow ok
utime ok
times 1000000000000000000 1000000000500000000
utime ok
times 1100000000000000001 1100000000000000002"
on_both 'ur utime "$D/a/p666" 1 1 >/dev/null && ub utimenow "$D/a/p666" >/dev/null'
for D in "$m" "$ref"; do
  t=$(ur mtime "$D/a/p666"); t=${t#mtime }
  [ "${t:-0}" -gt 1000000000000000000 ] && t_pass || t_fail "UTIME_NOW by another user on $D left mtime at $t"
done
both "the mount root: only root writes" \
  'ub creat "$D/nope" 0644 + mkdir "$D/nope" 0755 + chmod "$D" 0777 && ur creat "$D/rootfile" 0600 + stat "$D/rootfile"' \
$'creat EACCES\nmkdir EACCES\nchmod EPERM\ncreat ok\nstat reg 0600 0:0 n1 s0'

# --- Set-id bits cleared by writes, truncation and chown -----------------
suid_setup='for n in w1 w2 w3 w4 t1 t2 o1 rw c1 c2 c3 c4 bw bt bo ro uc; do ur creat "$D/a/$n" 0600 + write "$D/a/$n" data + chown "$D/a/$n" $A $A >/dev/null; done &&
  ur chmod "$D/a/w1" 6755 + chmod "$D/a/w2" 4755 + chmod "$D/a/w3" 2755 + chmod "$D/a/w4" 2745 +
     chmod "$D/a/t1" 6755 + chmod "$D/a/t2" 6755 + chmod "$D/a/o1" 6755 + chmod "$D/a/rw" 6755 +
     chmod "$D/a/c1" 6755 + chmod "$D/a/c2" 6755 + chmod "$D/a/c3" 6755 + chmod "$D/a/c4" 2745 +
     chmod "$D/a/bw" 6777 + chmod "$D/a/bt" 6777 + chmod "$D/a/bo" 6777 + chmod "$D/a/ro" 6755 +
     chmod "$D/a/uc" 6755 >/dev/null &&
  ur mkdir "$D/a/sgd" 0755 + chown "$D/a/sgd" $A $A + chmod "$D/a/sgd" 2755 >/dev/null'
on_both "$suid_setup"
both "the set-id files before" 'ur stat "$D/a/w1" + stat "$D/a/w4" + stat "$D/a/bw"' \
"stat reg 6755 $A:$A n1 s4
stat reg 2745 $A:$A n1 s4
stat reg 6777 $A:$A n1 s4"
both "a write by the owner clears S_ISUID, and S_ISGID with group exec" \
  'ua write "$D/a/w1" x + write "$D/a/w2" x + write "$D/a/w3" x + write "$D/a/w4" x +
   stat "$D/a/w1" + stat "$D/a/w2" + stat "$D/a/w3" + stat "$D/a/w4"' \
"write ok
write ok
write ok
write ok
stat reg 0755 $A:$A n1 s4
stat reg 0755 $A:$A n1 s4
stat reg 0755 $A:$A n1 s4
stat reg 2745 $A:$A n1 s4"
both "a write, truncate or O_TRUNC by another user clears them too" \
  'ub append "$D/a/bw" x + ftrunc "$D/a/bt" 9 + otrunc "$D/a/bo" + stat "$D/a/bw" + stat "$D/a/bt" + stat "$D/a/bo"' \
"append ok
ftrunc ok
otrunc ok
stat reg 0777 $A:$A n1 s5
stat reg 0777 $A:$A n1 s9
stat reg 0777 $A:$A n1 s0"
both "O_TRUNC by root keeps them" 'ur otrunc "$D/a/ro" + stat "$D/a/ro"' \
"otrunc ok
stat reg 6755 $A:$A n1 s0"
both "chown by the owner to its own group clears them" \
  'uag chown "$D/a/uc" -1 $G + stat "$D/a/uc"' \
"chown ok
stat reg 0755 $A:$G n1 s4"
both "truncate and O_TRUNC by the owner clear them" \
  'ua trunc "$D/a/t1" 2 + ftrunc "$D/a/t2" 1 + otrunc "$D/a/o1" + stat "$D/a/t1" + stat "$D/a/t2" + stat "$D/a/o1"' \
"trunc ok
ftrunc ok
otrunc ok
stat reg 0755 $A:$A n1 s2
stat reg 0755 $A:$A n1 s1
stat reg 0755 $A:$A n1 s0"
both "a write by root keeps them" 'ur write "$D/a/rw" x + stat "$D/a/rw"' \
"write ok
stat reg 6755 $A:$A n1 s4"
both "chown by root clears them (not on a directory)" \
  'ur chown "$D/a/c1" $B -1 + chown "$D/a/c2" $A $A + chown "$D/a/c3" -1 $G + chown "$D/a/c4" -1 $G + chown "$D/a/sgd" $B $B +
   stat "$D/a/c1" + stat "$D/a/c2" + stat "$D/a/c3" + stat "$D/a/c4" + stat "$D/a/sgd"' \
"chown ok
chown ok
chown ok
chown ok
chown ok
stat reg 0755 $B:$A n1 s4
stat reg 0755 $A:$A n1 s4
stat reg 0755 $A:$G n1 s4
stat reg 2745 $A:$G n1 s4
stat dir 2755 $B:$B n2"
both "the content survives" 'ur read "$D/a/w1" + read "$D/a/bw" + read "$D/a/t1"' \
$'read xata\nread datax\nread da'

# --- Write-only access: partial writes need the old data, which the writer
# may not read (the daemon, or the kernel's writeback cache, must still get it).
on_both 'ua umask 000 + creat "$D/a/wo" 0622 + creat "$D/a/wo2" 0600 >/dev/null &&
  head -c 9000 /dev/zero | tr "\\0" a | ur pwrite "$D/a/wo" 0 - >/dev/null &&
  head -c 9000 /dev/zero | tr "\\0" b | ur pwrite "$D/a/wo2" 0 - >/dev/null &&
  ur chmod "$D/a/wo2" 0200 >/dev/null'
both "another user with write but not read permission writes into the middle" \
  'ub pwrite "$D/a/wo" 100 XYZ + pwrite "$D/a/wo" 8190 0123456789 + pwrite "$D/a/wo" 9000 end + read "$D/a/wo" +
   append "$D/a/wo" +app && ur sha "$D/a/wo" + stat "$D/a/wo"'
both "the owner of a 0200 file writes into the middle" \
  'ua pwrite "$D/a/wo2" 4095 XY + pwrite "$D/a/wo2" 1 Z + append "$D/a/wo2" tail + read "$D/a/wo2" && ur sha "$D/a/wo2" + stat "$D/a/wo2"'

# --- Sticky directories -----------------------------------------------------
on_both 'D=$D; ua umask 000 + creat "$D/st/fa" 0666 + creat "$D/st/fa2" 0644 + mkdir "$D/st/da" 0777 + mkdir "$D/st/da2" 0755 +
  creat "$D/st/fa3" 0644 + mkdir "$D/st/da3" 0755 >/dev/null && ub creat "$D/st/fb" 0644 >/dev/null'
both "in a sticky directory others cannot remove or rename A's entries" \
  'ub unlink "$D/st/fa" + rename "$D/st/fa" "$D/st/x" + rename "$D/st/fa" "$D/b/x" + rmdir "$D/st/da" +
   rename "$D/st/da" "$D/st/db" + rename "$D/st/fb" "$D/st/fa" + rename "$D/st/fa" "$D/st/fb" + ls "$D/st"' \
"unlink EPERM
rename EPERM
rename EPERM
rmdir EPERM
rename EPERM
rename EPERM
rename EPERM
ls da da2 da3 fa fa2 fa3 fb"
both "others may still write A's 0666 file and create in A's 0777 directory" \
  'ub write "$D/st/fa" x + creat "$D/st/da/b" 0644 + stat "$D/st/da/b" + unlink "$D/st/da/b"' \
"write ok
creat ok
stat reg 0644 $B:$B n1 s0
unlink ok"
both "the owner of an entry removes it" \
  'ua unlink "$D/st/fa2" + rename "$D/st/da2" "$D/st/da2r" + rmdir "$D/st/da2r"' \
$'unlink ok\nrename ok\nrmdir ok'
both "the owner of the sticky directory removes anything in it" \
  'uo unlink "$D/st/fa" + rename "$D/st/da" "$D/st/dao" + rmdir "$D/st/dao"' \
$'unlink ok\nrename ok\nrmdir ok'
both "root removes anything in it" 'ur unlink "$D/st/fa3" + rmdir "$D/st/da3" + unlink "$D/st/fb" + ls "$D/st"' \
$'unlink ok\nrmdir ok\nunlink ok\nls (empty)'
both "O_CREAT of another user's file in a sticky directory (protected_regular)" \
  'ua umask 000 + creat "$D/st/pr" 0666 >/dev/null && ub opencreat "$D/st/pr" 0644 + write "$D/st/pr" b'

# --- Paths up to PATH_MAX from the mount point -----------------------------
# With plaintext names the backing path is as long as the mount's plus the
# volume's place in the store: a store that limits whole paths cannot.
if [ "$FS_NAMES" != plain ] || ! fs_store_lacks long-paths; then
  both "a 4095-byte path of 255-byte names from the mount point" 'ua deep "$D" a 255'
  both "a 4095-byte path of mixed names (with two-byte UTF-8)" 'ub deep "$D" b mixed'
  both "a 4095-byte path created by root" 'ur deep "$D" pub 255'
fi

# --- Name lengths -------------------------------------------------------
# shellcheck disable=SC2034 # used in the scripts that both evals
{
  n255=$(printf '%0255d' 0 | tr 0 n)
  n256=${n255}n
  u255=$(printf 'é%.0s' $(seq 127))x    # 127 two-byte characters and one more
  u256=$(printf 'é%.0s' $(seq 128))
}
both "255-byte names work" \
  'ua creat "$D/a/$n255" 0644 + write "$D/a/$n255" long + stat "$D/a/$n255" + read "$D/a/$n255" +
   mkdir "$D/a/d$u255" 0755 + mkdir "$D/a/$u255" 0755 + symlink "$n255" "$D/a/$u255/$n255" +
   read "$D/a/$u255/$n255" + link "$D/a/$n255" "$D/b/$n255" + rename "$D/a/$n255" "$D/a/$u255/${n255%n}m" +
   stat "$D/a/$u255/${n255%n}m" + ls "$D/a/$u255"' \
"creat ok
write ok
stat reg 0644 $A:$A n1 s4
read long
mkdir ENAMETOOLONG
mkdir ok
symlink ok
read ELOOP
link EACCES
rename ok
stat reg 0644 $A:$A n1 s4
ls ${n255%n}m $n255"
both "256-byte names: ENAMETOOLONG" \
  'ua creat "$D/a/$n256" 0644 + opencreat "$D/a/$u256" 0644 + mkdir "$D/a/$n256" 0755 + mknod "$D/a/$n256" reg 0644 +
   mkfifo "$D/a/$n256" 0644 + symlink x "$D/a/$n256" + link "$D/a/p644" "$D/a/$n256" +
   rename "$D/a/p644" "$D/a/$n256" + stat "$D/a/$n256" + stat "$D/a/$u256" + unlink "$D/a/$n256" + rmdir "$D/a/$n256" +
   stat "$D/a/p644"' \
"creat ENAMETOOLONG
opencreat ENAMETOOLONG
mkdir ENAMETOOLONG
mknod ENAMETOOLONG
mkfifo ENAMETOOLONG
symlink ENAMETOOLONG
link ENAMETOOLONG
rename ENAMETOOLONG
stat ENAMETOOLONG
stat ENAMETOOLONG
unlink ENAMETOOLONG
rmdir ENAMETOOLONG
stat reg 0644 $A:$A n1 s6"
both "statfs: the longest name" 'stat -f -c %l "$D"' 255

# --- Symlink targets ----------------------------------------------------------
on_both 'printf target > "$D/pub/f"'
# Linux takes symlink targets up to 4095 bytes; so does the mount, with
# encrypted names too (long encryptions go to a side file, docs/FORMAT.md).
lens="1 3 4 254 255 256 1023 1024 3039 3040 4094 4095"
both "symlink targets up to 4095 bytes" \
  'for n in '"$lens"'; do
     ua longlink "$D/pub/sl$n" $n + checklink "$D/pub/sl$n" $n + stat "$D/pub/sl$n" + read "$D/pub/sl$n"; done' \
"$(for n in $lens; do
     printf '%s\n' "longlink ok" "checklink same" "stat lnk 0777 $A:$A n1 s$n" "read target"; done)"
both "a 4096-byte target: ENAMETOOLONG" 'ua longlink "$D/pub/sl4096" 4096 + stat "$D/pub/sl4096"' \
$'longlink ENAMETOOLONG\nstat ENOENT'
# --- Link counts ----------------------------------------------------------
both "link raises st_nlink on every name, unlink lowers it" \
  'ua creat "$D/a/h1" 0644 + stat "$D/a/h1" + link "$D/a/h1" "$D/a/h2" + stat "$D/a/h1" + stat "$D/a/h2" +
   link "$D/a/h2" "$D/pub/h3" + stat "$D/a/h1" + stat "$D/a/h2" + stat "$D/pub/h3" +
   unlink "$D/a/h1" + stat "$D/a/h2" + stat "$D/pub/h3" + rename "$D/pub/h3" "$D/a/h2" + stat "$D/a/h2" +
   link "$D/a/h2" "$D/a/h4" + unlink "$D/a/h2" + stat "$D/a/h4"' \
"creat ok
stat reg 0644 $A:$A n1 s0
link ok
stat reg 0644 $A:$A n2 s0
stat reg 0644 $A:$A n2 s0
link ok
stat reg 0644 $A:$A n3 s0
stat reg 0644 $A:$A n3 s0
stat reg 0644 $A:$A n3 s0
unlink ok
stat reg 0644 $A:$A n2 s0
stat reg 0644 $A:$A n2 s0
rename ok
stat reg 0644 $A:$A n2 s0
link ok
unlink ok
stat reg 0644 $A:$A n2 s0"
both "link counts after another user's link and root's unlink" \
  'ua umask 000 + creat "$D/pub/hl" 0666 && ub link "$D/pub/hl" "$D/b/hl" + stat "$D/pub/hl" && ur unlink "$D/b/hl" + stat "$D/pub/hl"' \
"umask ok
creat ok
link ok
stat reg 0666 $A:$A n2 s0
unlink ok
stat reg 0666 $A:$A n1 s0"
both "a directory's st_nlink counts its subdirectories" \
  'ua mkdir "$D/a/nl" 0755 + stat "$D/a/nl" + mkdir "$D/a/nl/1" 0755 + mkdir "$D/a/nl/2" 0755 + stat "$D/a/nl" +
   rename "$D/a/nl/2" "$D/a/nl/1/2" + stat "$D/a/nl" + stat "$D/a/nl/1" + rmdir "$D/a/nl/1/2" + stat "$D/a/nl/1"' \
"mkdir ok
stat dir 0755 $A:$A n2
mkdir ok
mkdir ok
stat dir 0755 $A:$A n4
rename ok
stat dir 0755 $A:$A n3
stat dir 0755 $A:$A n3
rmdir ok
stat dir 0755 $A:$A n2"
both "hard links of symlinks and FIFOs" \
  'ua symlink x "$D/a/hs" + link "$D/a/hs" "$D/a/hs2" + stat "$D/a/hs" + mkfifo "$D/a/hp" 0600 + link "$D/a/hp" "$D/a/hp2" + stat "$D/a/hp2"' \
"symlink ok
link ok
stat lnk 0777 $A:$A n2 s1
mkfifo ok
link ok
stat fifo 0600 $A:$A n2"

# --- FIFOs and unix sockets --------------------------------------------------
both "FIFOs by mkfifo and by mknod carry data" \
  'ua umask 000 + mkfifo "$D/a/fifo1" 0600 + mknod "$D/a/fifo2" fifo 0622 + fifoio "$D/a/fifo1" + fifoio "$D/a/fifo2" +
   stat "$D/a/fifo1" + stat "$D/a/fifo2" && ub fifoio "$D/a/fifo2"' \
"umask ok
mkfifo ok
mknod ok
fifoio through-the-fifo
fifoio through-the-fifo
stat fifo 0600 $A:$A n1
stat fifo 0622 $A:$A n1
fifoio EACCES"
both "owners change modes and times of their FIFOs and sockets; others cannot" \
  'ua chmod "$D/a/fifo1" 0604 + utime "$D/a/fifo1" 7 8 + times "$D/a/fifo1" + sock "$D/a/sock0" + chmod "$D/a/sock0" 0701 +
   utime "$D/a/sock0" 9 10 + times "$D/a/sock0" + stat "$D/a/fifo1" + stat "$D/a/sock0" &&
   ub chmod "$D/a/fifo1" 0666 + utime "$D/a/sock0" 1 1 + chown "$D/a/fifo1" $B -1 && ur chown "$D/a/sock0" $B $G + stat "$D/a/sock0"' \
"chmod ok
utime ok
times 7 8
sock ok
chmod ok
utime ok
times 9 10
stat fifo 0604 $A:$A n1
stat sock 0701 $A:$A n1
chmod EPERM
utime EPERM
chown EPERM
chown ok
stat sock 0701 $B:$G n1"
both "a unix socket bound in the directory and connected to" \
  'ua umask 000 + sock "$D/a/sock1" + stat "$D/a/sock1" + connect "$D/a/sock1" && ub connect "$D/a/sock1" &&
   ua umask 022 + sock "$D/a/sock2" && ub connect "$D/a/sock2" && ur connect "$D/a/sock2"' \
"umask ok
sock ok
stat sock 0777 $A:$A n1
connect ECONNREFUSED
connect ECONNREFUSED
umask ok
sock ok
connect EACCES
connect ECONNREFUSED"
both "device nodes: root only" \
  'ua mknod "$D/a/null" chr 0666 1 3 && ur mknod "$D/pub/null" chr 0666 1 3 + stat "$D/pub/null"'
both "the kinds, listed" 'ls -l "$D/a" | grep -E "fifo|sock" | cut -c1'

# --- Symlink timestamps ---------------------------------------------------
t1=1000000000123456789 t2=1100000000987654321 t3=1200000000000000042 t4=1300000000000000007
both "utimensat(AT_SYMLINK_NOFOLLOW) sets the link's times, not the target's" \
  "ua creat \"\$D/a/tt\" 0644 + utime \"\$D/a/tt\" $t1 $t1 + symlink tt \"\$D/a/tl\" +
   lutime \"\$D/a/tl\" $t2 $t3 + times \"\$D/a/tl\" + times \"\$D/a/tt\" &&
   ua utime \"\$D/a/tl\" $t4 $t4 + times \"\$D/a/tt\" + mtime \"\$D/a/tl\" &&
   ub lutime \"\$D/a/tl\" $t1 $t1 + utime \"\$D/a/tl\" $t1 $t1 + mtime \"\$D/a/tl\" &&
   ur lutime \"\$D/a/tl\" $t1 $t2 + times \"\$D/a/tl\" + times \"\$D/a/tt\"" \
"creat ok
utime ok
symlink ok
lutime ok
times $t2 $t3
times $t1 $t1
utime ok
times $t4 $t4
mtime $t3
lutime EPERM
utime EPERM
mtime $t3
lutime ok
times $t1 $t2
times $t4 $t4"

# --- Everything again after a remount ---------------------------------------
# Owners, modes and link counts come from the backing files.
tree() {
  (cd "$1" && { find . -mindepth 1 ! -name cmkfs.volume -printf '%p %y %m %U:%G %n\n'
                find . -type f ! -name cmkfs.volume -printf '%p size %s\n'; } | sort)
}
before=$(tree "$m")
[ "$before" = "$(tree "$ref")" ] && t_pass ||
  t_fail "the trees differ (< mount, > plain): $(diff <(echo "$before") <(tree "$ref") | head -20)"
fs_remount "$conf" "$cipher" "$m" || fs_abort "remount failed"
after=$(tree "$m")
[ "$before" = "$after" ] && t_pass ||
  t_fail "the tree changed across the remount: $(diff <(echo "$before") <(echo "$after") | head -20)"
T_OUT=$(ur times "$m/a/tl")
[ "$T_OUT" = "times $t1 $t2" ] && t_pass || t_fail "symlink times after the remount: $T_OUT, want $t1 $t2"

fs_done
