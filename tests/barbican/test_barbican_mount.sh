#!/usr/bin/env bash
# cmkfs with provider = barbican against a REAL Barbican server (Debian's
# barbican-api, started by barbican_lib.sh on loopback with an sqlite
# database and the simple_crypto plugin; X-Project-Id without Keystone),
# and through the Keystone emulator's authenticating proxy for auth =
# keystone: init, mount, write, read; a newer secret of the same name used
# for new files after a remount; rewrap; a deleted secret refusing access
# with a clear message (the rotation story of tests/rotation_lib.sh);
# expired secrets; Keystone tokens renewed and re-requested after a 401;
# every failure with its exit code and message; no secret in any output.
# Needs root and /dev/fuse, openssl, curl, python3 and barbican-api (which
# barbican_lib.sh installs when missing).
. "$(dirname "$0")/../fs/fs_lib.sh"
. "$(dirname "$0")/barbican_lib.sh"
. "$(dirname "$0")/../rotation_lib.sh"
trap 't_cleanup; bb_cleanup' EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

NAME=cmkfs-cmk
K1=$(openssl rand -base64 32)
KTEXT=$(openssl rand -base64 32)
KSHORT=$(openssl rand -base64 16)
CRED=0f1e2d3c4b5a69788796a5b4c3d2e1f0
CRED_SECRET='cmkfs-AppCred.Secret_5150'
ALL=$T_DIR/outputs

bb_setup || { t_fail "barbican-api and a test CA"; t_done; exit 1; }
bb_start_with_keystone || { t_fail "Barbican and the Keystone emulator start"; t_done; exit 1; }
printf '%s\n' "$CRED_SECRET" > "$T_DIR/cred-secret"
chmod 600 "$T_DIR/cred-secret"
ks_admin POST credentials "{\"id\": \"$CRED\", \"secret\": \"$CRED_SECRET\", \"project_id\": \"$BB_PROJECT\"}" >/dev/null

# conf FILE AUTH [KEY=VALUE...]
conf() {
  local file=$1 auth=$2 kv k
  shift 2
  declare -A v=([url]=$BB_URL [secret_name]=$NAME [project_id]=$BB_PROJECT
                [auth]=$auth [ca_file]=$BB_CA)
  local order=(url secret_name project_id auth auth_url application_credential_id
               application_credential_secret_file ca_file timeout retries recheck_interval)
  if [ "$auth" = keystone ]; then
    v[url]=$KS_BARBICAN_URL v[auth_url]=$KS_URL v[application_credential_id]=$CRED
    v[application_credential_secret_file]=$T_DIR/cred-secret
  fi
  for kv in "$@"; do v[${kv%%=*}]=${kv#*=}; done
  { echo "[kms]"; echo "provider = barbican"
    for k in "${order[@]}"; do [ -n "${v[$k]:-}" ] && echo "$k = ${v[$k]}"; done; } > "$file"
  chmod 600 "$file"
}
run() { t_expect "$@"; printf '%s\n' "$T_OUT" >> "$ALL"; }
check() { local d=$1; shift; if "$@"; then t_pass; else t_fail "$d"; fi; }
ks_count() {
  ks_admin GET requests | "$BB_PY" -c 'import json, sys
e_all = json.load(sys.stdin)
print(sum(1 for e in e_all if eval(sys.argv[1])))' "$1"
}

none=$T_DIR/none.conf
ks=$T_DIR/ks.conf
conf "$none" none
conf "$ks" keystone
mnt=$T_DIR/mnt

# --- no secret yet; then the first one ------------------------------------------
run 4 "no secret of that name" -- "$CMKFS" init -c "$none" "$T_DIR/a"
t_contains "says which" "no secret named '$NAME' in project $BB_PROJECT"
U1=$(bb_store "$NAME" "$K1") || fs_abort "store a secret"
bb_store other-name "$(openssl rand -base64 32)" >/dev/null
run 0 "init with X-Project-Id (auth = none)" -- "$CMKFS" init -c "$none" "$T_DIR/a"
t_contains "the secret's UUID is the version" "key version $U1"
fs_mount "$none" "$T_DIR/a" "$mnt"
echo "hello through barbican" > "$mnt/hello"
head -c 300000 /dev/urandom > "$mnt/blob"
sum=$(sha256sum < "$mnt/blob")
fs_remount "$none" "$T_DIR/a" "$mnt"
check "read back after remount" test "$(cat "$mnt/hello")" = "hello through barbican"
check "blob intact" test "$(sha256sum < "$mnt/blob")" = "$sum"
fs_umount "$mnt"
run 0 "key list" -- "$CMKFS" key list -c "$none"
t_contains "the volume's key name" "$BB_URL/v1/secrets?project=$BB_PROJECT&name=$NAME"
t_not_contains "only secrets of that name" "other-name"

# --- Keystone: application credential, token through the proxy ----------------------
ks_admin DELETE requests >/dev/null
run 0 "key list with Keystone" -- "$CMKFS" key list -c "$ks"
t_contains "the same secret through the proxy" "$U1"
check "one token for the whole command" test "$(ks_count 'e["port"] == "identity" and e["status"] == 201')" = 1
check "every proxied request carried a valid token" \
  test "$(ks_count 'e["port"] == "proxy" and e["token"] != "valid"')" = 0
run 0 "init with Keystone" -- "$CMKFS" init -c "$ks" "$T_DIR/k"
fs_mount "$ks" "$T_DIR/k" "$mnt"
echo keystone > "$mnt/f" && check "write and read with Keystone" test "$(cat "$mnt/f")" = keystone
fs_umount "$mnt"
# Short-lived tokens, four threads: tokens are renewed, never used expired.
ks_admin POST token-lifetime '{"seconds": 2}' >/dev/null
ks_admin DELETE requests >/dev/null
printf '%s\n' "$CRED_SECRET" "$K1" > "$T_DIR/secrets"
run 0 "four threads share one handle for 6 s while tokens last 2 s" -- \
  "$CMKFS_AZURE_KMS_PROG" "$ks" 4 6 "$T_DIR/secrets"
tokens=$(ks_count 'e["port"] == "identity" and e["status"] == 201')
expired=$(ks_count 'e["port"] == "proxy" and e["token"] == "expired"')
check "tokens renewed before they expire ($tokens tokens)" test "$tokens" -ge 3
check "no request with an expired token ($expired)" test "$expired" = 0
ks_admin POST token-lifetime '{"seconds": 3600}' >/dev/null
# A token revoked behind our back: the 401 gets one new token.
ks_admin POST expire-tokens >/dev/null
conf "$T_DIR/ks-agent.conf" keystone recheck_interval=1
fs_mount "$T_DIR/ks-agent.conf" "$T_DIR/k" "$mnt"
ks_admin POST expire-tokens >/dev/null
ks_admin DELETE requests >/dev/null
sleep 3
check "after a 401 a new token, then success" \
  test "$(ks_count 'e["port"] == "proxy" and e["status"] == 200')" -ge 1
check "the mount still reads" test "$(cat "$mnt/f")" = keystone
fs_umount "$mnt"

# --- the rotation story: newer secret, rewrap, deleted secret ----------------------------
ROT_CONF=$T_DIR/rot.conf
ROT_CIPHER=$T_DIR/r
ROT_MNT=$mnt
ROT_WAIT=12
conf "$ROT_CONF" none secret_name=cmkfs-rot recheck_interval=2
bb_store cmkfs-rot "$(openssl rand -base64 32)" >/dev/null
t_expect 0 "init for rotation" -- "$CMKFS" init -c "$ROT_CONF" "$ROT_CIPHER"
kms_rotate() { sleep 1.1; bb_store cmkfs-rot "$(openssl rand -base64 32)"; }
kms_disable() { [ "$(bb_delete "$1")" = 204 ]; }
kms_enable() { return 1; } # a deleted Barbican secret stays deleted
kms_break() { :; }
kms_unbreak() { :; }
rot_scenario
T_OUT=$(cat "$ROT_MNT/a-size-1" 2>&1)
t_contains "a deleted secret: permission denied" "Permission denied"
fs_umount "$mnt"
run 4 "mount when every secret is deleted" -- "$CMKFS" mount -c "$ROT_CONF" "$ROT_CIPHER" "$mnt"
t_contains "a clear message" "no secret named 'cmkfs-rot'"

# --- expired secrets ---------------------------------------------------------------------
soon=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%S)
UX=$(bb_store_expiring cmkfs-exp "$(openssl rand -base64 32)" "$soon") || t_fail "store an expiring secret"
conf "$T_DIR/exp.conf" none secret_name=cmkfs-exp
run 0 "init with a secret that expires in 4 s" -- "$CMKFS" init -c "$T_DIR/exp.conf" "$T_DIR/x"
sleep 6
run 4 "after it expired" -- "$CMKFS" mount -c "$T_DIR/exp.conf" "$T_DIR/x" "$mnt"
t_contains "nothing usable" "no secret named 'cmkfs-exp'"

# --- payload forms -----------------------------------------------------------------------
bb_post_secret "$("$BB_PY" -c 'import json, sys; print(json.dumps({"name": "cmkfs-text",
  "payload": sys.argv[1], "payload_content_type": "text/plain", "secret_type": "opaque"}))' "$KTEXT")" >/dev/null ||
  t_fail "store a text/plain secret"
conf "$T_DIR/text.conf" none secret_name=cmkfs-text
run 0 "a text/plain secret holding the base64 of the key" -- "$CMKFS" init -c "$T_DIR/text.conf" "$T_DIR/t"
bb_store cmkfs-short "$KSHORT" >/dev/null
conf "$T_DIR/short.conf" none secret_name=cmkfs-short
run 4 "a 16-byte payload" -- "$CMKFS" init -c "$T_DIR/short.conf" "$T_DIR/e"
t_contains "says what is wrong" "the payload must be a 32-byte key (it is 16 bytes)"

# --- failures -------------------------------------------------------------------------------
printf '%s\n' wrong-secret > "$T_DIR/bad-secret"
chmod 600 "$T_DIR/bad-secret"
conf "$T_DIR/badcred.conf" keystone application_credential_secret_file="$T_DIR/bad-secret"
run 4 "a wrong application credential secret" -- "$CMKFS" init -c "$T_DIR/badcred.conf" "$T_DIR/e"
t_contains "Keystone refused it" "refused application credential $CRED: HTTP 401"
conf "$T_DIR/proj.conf" keystone project_id=00000000000000000000000000000000
run 4 "a credential scoped to another project" -- "$CMKFS" init -c "$T_DIR/proj.conf" "$T_DIR/e"
t_contains "says so" "is scoped to $BB_PROJECT, but the config names project_id 00000000000000000000000000000000"
conf "$T_DIR/other.conf" none project_id=11111111111111111111111111111111
run 4 "another project sees no secret" -- "$CMKFS" init -c "$T_DIR/other.conf" "$T_DIR/e"
t_contains "says so" "no secret named '$NAME' in project 11111111111111111111111111111111"
conf "$T_DIR/otherca.conf" none ca_file="$BB_CERTS/other-ca.pem"
run 4 "a certificate from another CA" -- "$CMKFS" init -c "$T_DIR/otherca.conf" "$T_DIR/e"
t_contains "a certificate error" "certificate"
closed=$("$BB_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conf "$T_DIR/closed.conf" none url="https://127.0.0.1:$closed" retries=1
run 4 "an unreachable Barbican" -- "$CMKFS" init -c "$T_DIR/closed.conf" "$T_DIR/e"
t_contains "names the URL" "GET https://127.0.0.1:$closed/v1/secrets:"
t_contains "and the cause" "Couldn't connect to server (2 tries"
conf "$T_DIR/open.conf" keystone
chmod 644 "$T_DIR/open.conf"
run 3 "a readable config that names a credential secret" -- "$CMKFS" init -c "$T_DIR/open.conf" "$T_DIR/e"
t_contains "says why" "names a secret (application_credential_secret_file)"

# --- nothing secret anywhere ----------------------------------------------------------------
for s in "$K1" "$KTEXT" "$KSHORT" "$CRED_SECRET"; do
  for f in "$ALL" "$KS_LOG" "$BB_OUT"; do
    [ -e "$f" ] || continue
    if grep -qF -- "$s" "$f"; then t_fail "a secret appears in $f"; else t_pass; fi
  done
done

fs_done
