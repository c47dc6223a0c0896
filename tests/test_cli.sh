#!/usr/bin/env bash
# The cmkfs command line with the local keystore: key management, init,
# info, wrong keys, bad configs, bad backing files, exit codes.
. "$(dirname "$0")/lib.sh"

conf=$T_DIR/cmkfs.conf
t_conf "$conf" "$T_DIR/keystore.json"

t_expect 0 "--version" -- "$CMKFS" --version
t_contains "--version names libfuse" "libfuse 3."
t_contains "--version names OpenSSL" "OpenSSL 3."
t_contains "--version names libcurl" "libcurl"
t_expect 0 "--help" -- "$CMKFS" --help
t_contains "--help lists init" "init [--plaintext-names] -c CONF CIPHERDIR"
t_expect 2 "no command" -- "$CMKFS"
t_expect 2 "unknown command" -- "$CMKFS" frobnicate

# Keystore.
t_expect 0 "key create" -- "$CMKFS" key create -c "$conf"
t_contains "key create says version 1" "version 1"
[ "$(stat -c %a "$T_DIR/keystore.json")" = 600 ] && t_pass || t_fail "keystore mode is not 0600"
t_expect 4 "key create twice" -- "$CMKFS" key create -c "$conf"
t_contains "key create twice says exists" "exists"
t_expect 0 "key list" -- "$CMKFS" key list -c "$conf"
t_contains "key list shows version 1" "1 "
t_contains "key list shows enabled" "enabled"

# A volume.
t_expect 0 "init" -- "$CMKFS" init -c "$conf" "$T_DIR/cipher"
t_contains "init names the version" "version 1"
[ -f "$T_DIR/cipher/cmkfs.volume" ] && t_pass || t_fail "no descriptor after init"
[ "$(stat -c %s "$T_DIR/cipher/cmkfs.volume")" = 4096 ] && t_pass || t_fail "descriptor is not 4096 bytes"
t_expect 6 "init of a non-empty directory" -- "$CMKFS" init -c "$conf" "$T_DIR/cipher"
t_contains "init refusal says why" "not empty"
mkdir "$T_DIR/full" && echo x > "$T_DIR/full/file"
t_expect 6 "init refuses a directory with a file" -- "$CMKFS" init -c "$conf" "$T_DIR/full"
[ "$(cat "$T_DIR/full/file")" = x ] && t_pass || t_fail "init touched a non-empty directory"

# Rotation, disable, enable.
t_expect 0 "key rotate" -- "$CMKFS" key rotate -c "$conf"
t_contains "rotate gives version 2" "version 2"
t_expect 0 "key disable 1" -- "$CMKFS" key disable 1 -c "$conf"
t_expect 0 "key list after disable" -- "$CMKFS" key list -c "$conf"
t_contains "version 1 shows disabled" "disabled"
t_expect 4 "disable unknown version" -- "$CMKFS" key disable 9 -c "$conf"
t_expect 2 "disable without version" -- "$CMKFS" key disable -c "$conf"

t_expect 0 "key enable 1" -- "$CMKFS" key enable 1 -c "$conf"

# A different keystore (another key under the same name) is the wrong key.
other=$T_DIR/other.conf
t_conf "$other" "$T_DIR/other-keystore.json"
t_expect 0 "second keystore" -- "$CMKFS" key create -c "$other"

# Bad configs: exit 3 with the file and line.
printf '[kms]\nprovider = file\nkeystore = %s\nbogus = 1\n' "$T_DIR/keystore.json" > "$T_DIR/bad.conf"
chmod 600 "$T_DIR/bad.conf"
t_expect 3 "unknown key" -- "$CMKFS" key list -c "$T_DIR/bad.conf"
t_contains "error names file and line" "bad.conf:4"
chmod 644 "$conf"
t_expect 3 "world-readable config naming a secret" -- "$CMKFS" key list -c "$conf"
t_contains "says readable by others" "readable by others"
chmod 600 "$conf"
t_expect 3 "missing config" -- "$CMKFS" key list -c "$T_DIR/nope.conf"

# A keystore that others can read is refused.
chmod 644 "$T_DIR/keystore.json"
t_expect 4 "readable keystore" -- "$CMKFS" key list -c "$conf"
t_contains "keystore refusal says why" "readable by others"
chmod 600 "$T_DIR/keystore.json"

# Backing files: info on a good header needs a file; make one by hand is
# the job of the filesystem, so check the bad cases here, and that they
# are never written.
head -c 100 /dev/urandom > "$T_DIR/short"
sum_before=$(sha256sum "$T_DIR/short")
t_expect 6 "info on a short file" -- "$CMKFS" info -c "$conf" "$T_DIR/short"
t_contains "short file is named as such" "shorter than a cmkfs header"
head -c 8192 /dev/urandom > "$T_DIR/foreign"
t_expect 6 "info on a foreign file" -- "$CMKFS" info -c "$conf" "$T_DIR/foreign"
t_contains "foreign file is named as such" "foreign magic"
[ "$(sha256sum "$T_DIR/short")" = "$sum_before" ] && t_pass || t_fail "info changed a file"

# No key material in any output: the keystore's base64 keys never appear.
keys=$(grep -o '"key": *"[^"]*"' "$T_DIR/keystore.json" | sed 's/.*"\([^"]*\)"$/\1/')
all_out=$("$CMKFS" key list -c "$conf" 2>&1; "$CMKFS" info -c "$conf" "$T_DIR/short" 2>&1)
leak=0
for k in $keys; do case "$all_out" in *"$k"*) leak=1 ;; esac; done
[ "$leak" = 0 ] && t_pass || t_fail "a key appeared in the output"

t_done
