#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmkfs with provider = barbican against a REAL Barbican server (Debian's
# barbican-api, started by barbican_lib.sh on loopback with an sqlite
# database and the simple_crypto plugin; X-Project-Id without Keystone),
# and through the Keystone emulator's authenticating proxy for auth =
# keystone: init, mount, write, read; a CMK generated inside Barbican by a
# key order (POST /v1/orders, as `openstack secret order create ... key`),
# a second order as the next version, rewrap; a newer secret of the same
# name used for new files after a remount; rewrap; a deleted secret
# refusing access with a clear message (the rotation story of
# tests/rotation_lib.sh);
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
# The mount re-checks every second: wait for its next success.
proxied_ok() { [ "$(ks_count 'e["port"] == "proxy" and e["status"] == 200')" -ge 1 ]; }
t_wait_until 120 "after a 401 a new token, then success" -- proxied_ok
check "the mount still reads" test "$(cat "$mnt/f")" = keystone
fs_umount "$mnt"

# --- a CMK generated inside Barbican by an order --------------------------------------------
# What the README tells admins to run, with no key material on any command
# line: openstack secret order create --name N --algorithm aes --bit-length
# 256 --mode ctr --payload-content-type application/octet-stream key.
# bb_order posts that order's body to POST /v1/orders; bb_order_wait polls
# the order (bounded) until ACTIVE and names the secret it made. A second
# order of the same name is the next version (rotation), then rewrap.
ORD=cmkfs-ordered
OCONF=$T_DIR/order.conf
conf "$OCONF" none secret_name=$ORD
# ostatus: "FILES_PER_VERSION... NEWEST" from cmkfs status --json.
ostatus() {
  "$CMKFS" status --json -c "$OCONF" "$T_DIR/o" 2>/dev/null | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
files = {v["id"]: v["files"] for v in s["versions"]}
print(" ".join(str(files.get(a, 0)) for a in sys.argv[1:]), s["newest_enabled"])' "$@"
}
O1=$(bb_order "$ORD") || fs_abort "POST /v1/orders (a key order)"
UO1=$(bb_order_wait "$O1" 60) || fs_abort "the key order becomes ACTIVE"
t_pass
check "the order's secret is listed under its name: an AES-256 key, octet-stream" \
  test "$(bb_list "$ORD" | "$BB_PY" -c 'import json, sys
l = json.load(sys.stdin)["secrets"]
print(len(l), *[(s["secret_ref"].rsplit("/", 1)[1], s["status"], s["secret_type"], s["algorithm"],
      s["bit_length"], s["mode"], s["content_types"]["default"]) for s in l])')" = \
  "1 ('$UO1', 'ACTIVE', 'symmetric', 'aes', 256, 'ctr', 'application/octet-stream')"
# Its key (base64, for the final check that no key shows in any output).
KORD=$(bb_payload "$UO1" | base64 -w0)
check "its payload is 32 bytes" test "$(printf '%s' "$KORD" | base64 -d | wc -c)" = 32
run 0 "init with the ordered secret" -- "$CMKFS" init -c "$OCONF" "$T_DIR/o"
t_contains "the ordered secret's UUID is the version" "key version $UO1"
fs_mount "$OCONF" "$T_DIR/o" "$mnt"
echo "key generated by barbican" > "$mnt/g"
head -c 200000 /dev/urandom > "$mnt/g-blob"
osum=$(sha256sum < "$mnt/g-blob")
fs_remount "$OCONF" "$T_DIR/o" "$mnt"
check "ordered key: read back after remount" test "$(cat "$mnt/g")" = "key generated by barbican"
check "ordered key: blob intact" test "$(sha256sum < "$mnt/g-blob")" = "$osum"
fs_umount "$mnt"
run 0 "key list with the ordered secret" -- "$CMKFS" key list -c "$OCONF"
t_contains "names the ordered secret's UUID" "$UO1"
# Rotation by ordering again. cmkfs ranks versions by "created" in whole
# seconds: let the clock pass the second the first secret was created in
# (bounded) so the second order is unambiguously newer.
o1_created=$(bb_list "$ORD" | "$BB_PY" -c 'import json, sys, calendar, datetime
c = json.load(sys.stdin)["secrets"][0]["created"]
print(calendar.timegm(datetime.datetime.fromisoformat(c).timetuple()))')
for _ in $(seq 30); do [ "$(date -u +%s)" -gt "$o1_created" ] && break; sleep 0.1; done
O2=$(bb_order "$ORD") || fs_abort "a second key order of the same name"
UO2=$(bb_order_wait "$O2" 60) || fs_abort "the second key order becomes ACTIVE"
t_pass
run 0 "key list after the second order" -- "$CMKFS" key list -c "$OCONF"
t_contains "lists the new version" "$UO2"
t_contains "and the old one" "$UO1"
fs_mount "$OCONF" "$T_DIR/o" "$mnt"
echo "after the second order" > "$mnt/g2"
fs_umount "$mnt"
check "new files take the second order's secret" test "$(ostatus "$UO1" "$UO2")" = "2 1 $UO2"
run 0 "rewrap to the second order's secret" -- "$CMKFS" rewrap -c "$OCONF" "$T_DIR/o"
t_contains "rewrap summary" "2 re-wrapped to CMK version $UO2, 1 already current, 0 failed"
check "every file on the new version" test "$(ostatus "$UO1" "$UO2")" = "0 3 $UO2"
check "delete the first order's secret" test "$(bb_delete "$UO1")" = 204
fs_mount "$OCONF" "$T_DIR/o" "$mnt"
check "after rewrap and deleting the old secret: file read" test "$(cat "$mnt/g")" = "key generated by barbican"
check "blob intact" test "$(sha256sum < "$mnt/g-blob")" = "$osum"
check "new file read" test "$(cat "$mnt/g2")" = "after the second order"
fs_umount "$mnt"

# The README's command itself, when the OpenStack client is installed
# (python3-openstackclient; optional, skipped without it): through the
# Keystone emulator, the application credential from the environment (not
# the command line), then cmkfs with auth = keystone.
if command -v openstack >/dev/null; then
  run 0 "openstack secret order create (the README's command)" -- \
    env -i PATH="$PATH" HOME="$T_DIR" OS_AUTH_TYPE=v3applicationcredential \
      OS_AUTH_URL="$KS_URL" OS_APPLICATION_CREDENTIAL_ID="$CRED" \
      OS_APPLICATION_CREDENTIAL_SECRET="$CRED_SECRET" OS_CACERT="$BB_CA" \
      openstack secret order create --name cmkfs-osc --algorithm aes --bit-length 256 \
        --mode ctr --payload-content-type application/octet-stream \
        -f value -c "Order href" key
  if [[ $T_OUT =~ /v1/orders/([0-9a-f-]{36}) ]] &&
     UC=$(bb_order_wait "${BASH_REMATCH[1]}" 60); then
    t_pass
    conf "$T_DIR/osc.conf" keystone secret_name=cmkfs-osc
    run 0 "init with the secret the openstack client ordered" -- "$CMKFS" init -c "$T_DIR/osc.conf" "$T_DIR/c"
    t_contains "its UUID is the version" "key version $UC"
    fs_mount "$T_DIR/osc.conf" "$T_DIR/c" "$mnt"
    echo "ordered with the openstack client" > "$mnt/c"
    fs_remount "$T_DIR/osc.conf" "$T_DIR/c" "$mnt"
    check "write and read with the client-ordered key" \
      test "$(cat "$mnt/c")" = "ordered with the openstack client"
    fs_umount "$mnt"
  else
    t_fail "the openstack client's order becomes ACTIVE: $T_OUT"
  fi
else
  echo "# skipped the openstack client check: python3-openstackclient is not installed"
fi

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
bb_store_expiring cmkfs-exp "$(openssl rand -base64 32)" "$soon" >/dev/null || t_fail "store an expiring secret"
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
for s in "$K1" "$KTEXT" "$KSHORT" "$KORD" "$CRED_SECRET"; do
  for f in "$ALL" "$KS_LOG" "$BB_OUT"; do
    [ -e "$f" ] || continue
    if grep -qF -- "$s" "$f"; then t_fail "a secret appears in $f"; else t_pass; fi
  done
done

fs_done
