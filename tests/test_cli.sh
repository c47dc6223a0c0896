#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
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
t_contains "--help lists the commands" "fsck"
t_expect 0 "a command's --help" -- "$CMKFS" init --help
t_contains "init --help gives its synopsis" "usage: cmkfs init [--plaintext-names] [-c CONF] CIPHERDIR"
t_expect 0 "help COMMAND" -- "$CMKFS" help status
t_contains "help status gives status's synopsis" "usage: cmkfs status"
t_expect 0 "mount --help" -- "$CMKFS" mount --help
t_contains "mount --help lists its options" "nonempty"
t_expect 2 "no command" -- "$CMKFS"
t_expect 2 "unknown command" -- "$CMKFS" frobnicate
t_contains "says which" "unknown command 'frobnicate'"
# A usage error is one line and a hint, never the whole help.
t_expect 2 "missing operand" -- "$CMKFS" init -c "$conf"
[ "$(printf '%s\n' "$T_OUT" | wc -l)" = 2 ] && t_pass || t_fail "usage error is not two lines: $T_OUT"
t_contains "names what is missing" "missing operand: init CIPHERDIR"
t_contains "gives a hint" "Try 'cmkfs init --help'."
t_expect 2 "an option another command has" -- "$CMKFS" init --json -c "$conf" "$T_DIR/x"
t_contains "says so" "--json is not an option of init"
t_expect 2 "-j out of range" -- "$CMKFS" status -j 99 -c "$conf" "$T_DIR/x"
# Command names win over paths: a directory named like a command.
mkdir -p "$T_DIR/cwd/status" "$T_DIR/cwd/key"
(cd "$T_DIR/cwd" && "$CMKFS" status -c "$conf" > "$T_DIR/o" 2>&1); rc=$?
[ "$rc" = 2 ] && grep -q "status: missing operand" "$T_DIR/o" && t_pass ||
  t_fail "a directory named status hijacked the command: exit $rc: $(cat "$T_DIR/o")"
(cd "$T_DIR/cwd" && "$CMKFS" key list -c "$conf" > "$T_DIR/o" 2>&1); rc=$?
[ "$rc" = 4 ] && grep -q "no such keystore" "$T_DIR/o" && t_pass ||
  t_fail "a directory named key hijacked the command: exit $rc: $(cat "$T_DIR/o")"

# Keystore.
t_expect 0 "key create" -- "$CMKFS" key create -c "$conf"
t_contains "key create says version 1" "version 1"
[ "$(stat -c %a "$T_DIR/keystore.json")" = 600 ] && t_pass || t_fail "keystore mode is not 0600"
t_expect 4 "key create twice" -- "$CMKFS" key create -c "$conf"
t_contains "key create twice says exists" "exists"
t_expect 0 "key list" -- "$CMKFS" key list -c "$conf"
t_contains "key list shows version 1" "1 "
t_contains "key list shows enabled" "enabled"
# Options after operands, --config=FILE.
t_expect 0 "key list --json --config=FILE" -- "$CMKFS" key list --json "--config=$conf"
printf '%s' "$T_OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["version"] == 1 and d["key"] == "cmk", d
assert d["versions"][0]["id"] == "1" and d["versions"][0]["enabled"] is True, d
assert isinstance(d["versions"][0]["created"], int), d
' && t_pass || t_fail "key list --json: $T_OUT"

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
t_expect 0 "operands before options" -- "$CMKFS" key disable 1 --config "$conf"
t_expect 0 "and enabled again" -- "$CMKFS" key enable -c "$conf" 1

# key passwd: seal, change, unseal; the current passphrase must open it.
pconf=$T_DIR/p.conf
t_conf "$pconf" "$T_DIR/p.json"
t_expect 0 "a keystore to seal" -- "$CMKFS" key create -c "$pconf"
ksum() { python3 -c 'import json,sys; print(sorted(v["key"] for v in json.load(open(sys.argv[1]))["versions"]))' "$T_DIR/p.json"; }
printf 'first passphrase\n' > "$T_DIR/pass1"; printf 'second one\n' > "$T_DIR/pass2"
chmod 600 "$T_DIR/pass1" "$T_DIR/pass2"
plain_keys=$(ksum)
t_expect 0 "key passwd seals it" -- "$CMKFS" key passwd --new-passphrase-file "$T_DIR/pass1" -c "$pconf"
t_contains "says what to change in the config" "passphrase_file"
grep -q '"kdf": "scrypt"' "$T_DIR/p.json" && t_pass || t_fail "not sealed: $(cat "$T_DIR/p.json")"
t_expect 4 "the config must say it is sealed" -- "$CMKFS" key list -c "$pconf"
t_conf "$pconf" "$T_DIR/p.json" "passphrase_file = $T_DIR/pass1"
t_expect 0 "sealed keystore opens with the passphrase" -- "$CMKFS" key list -c "$pconf"
t_expect 0 "key passwd changes it" -- "$CMKFS" key passwd -c "$pconf" --new-passphrase-file "$T_DIR/pass2"
t_expect 5 "the old passphrase no longer opens it" -- "$CMKFS" key rotate -c "$pconf"
t_conf "$pconf" "$T_DIR/p.json" "passphrase_file = $T_DIR/pass2"
before=$(sha256sum "$T_DIR/p.json")
t_conf "$T_DIR/wrong.conf" "$T_DIR/p.json" "passphrase_file = $T_DIR/pass1"
t_expect 5 "passwd with a wrong current passphrase" -- "$CMKFS" key passwd --unseal -c "$T_DIR/wrong.conf"
[ "$(sha256sum "$T_DIR/p.json")" = "$before" ] && t_pass || t_fail "a refused passwd wrote the keystore"
t_expect 0 "key passwd --unseal" -- "$CMKFS" key passwd --unseal -c "$pconf"
t_conf "$pconf" "$T_DIR/p.json"
t_expect 0 "unsealed again" -- "$CMKFS" key list -c "$pconf"
[ "$(ksum)" = "$plain_keys" ] && t_pass || t_fail "seal and unseal changed the keys"
t_expect 2 "--unseal and a new passphrase" -- "$CMKFS" key passwd --unseal --new-passphrase-file "$T_DIR/pass1" -c "$pconf"
t_expect 2 "--json is not for passwd" -- "$CMKFS" key passwd --json -c "$pconf"

# A different keystore (another key under the same name) is the wrong key.
other=$T_DIR/other.conf
t_conf "$other" "$T_DIR/other-keystore.json"
t_expect 0 "second keystore" -- "$CMKFS" key create -c "$other"
"$CMKFS" key rotate -c "$other" >/dev/null
# Every command that uses a volume checks that the key is the volume's.
t_expect 5 "status with another key" -- "$CMKFS" status -c "$other" "$T_DIR/cipher"
t_contains "status says so" "different key"
t_expect 5 "info with another key" -- "$CMKFS" info -c "$other" "$T_DIR/cipher/cmkfs.volume"
t_expect 5 "path with another key" -- "$CMKFS" path -c "$other" "$T_DIR/cipher" a
t_expect 5 "rewrap with another key" -- "$CMKFS" rewrap -c "$other" "$T_DIR/cipher"
t_expect 2 "rewrap --volume-key on a secret's volume" -- \
  "$CMKFS" rewrap --volume-key -c "$conf" "$T_DIR/cipher"
t_contains "says it has no volume key" "has no volume key"
t_expect 0 "status with the right key" -- "$CMKFS" status -c "$conf" "$T_DIR/cipher"
t_contains "says it verified" "verified with the configured key"
t_expect 0 "status --json" -- "$CMKFS" status --json -c "$conf" "$T_DIR/cipher"
printf '%s' "$T_OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["version"] == 1 and d["key_checked"] is True and d["unreadable_files"] == [], d
' && t_pass || t_fail "status --json: $T_OUT"

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
# passphrase_prompt: the CLI asks on the controlling terminal, echo off,
# twice at create; without a terminal it says so (exit 4).
PTY=$CMKFS_SOURCE_DIR/tests/pty_answer.py
tconf=$T_DIR/prompt.conf
t_conf "$tconf" "$T_DIR/prompt-keystore.json" "passphrase_prompt = yes"
t_expect 0 "key create asks twice on the terminal" -- \
  python3 "$PTY" "correct horse" "correct horse" -- "$CMKFS" key create -c "$tconf"
t_contains "asks once" "Passphrase for keystore"
t_contains "then again" "Repeat the passphrase for keystore"
t_not_contains "echo is off" "correct horse"
t_expect 0 "init with the passphrase typed" -- \
  python3 "$PTY" "correct horse" -- "$CMKFS" init -c "$tconf" "$T_DIR/prompted"
t_expect 5 "a wrong passphrase typed is the wrong key" -- \
  python3 "$PTY" "wrong horse" -- "$CMKFS" init -c "$tconf" "$T_DIR/prompted2"
t_expect 4 "no terminal: refused" -- \
  setsid -w "$CMKFS" init -c "$tconf" "$T_DIR/prompted3"
t_contains "says it needs a terminal" "passphrase_prompt needs a terminal"

leak=0
for k in $keys; do case "$all_out" in *"$k"*) leak=1 ;; esac; done
[ "$leak" = 0 ] && t_pass || t_fail "a key appeared in the output"

t_done
