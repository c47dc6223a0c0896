#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Key rotation with provider = azure against the Key Vault emulator: the
# admin's story of tests/rotation_lib.sh (rotate, remount, rewrap, disable
# the old version, verify; revocation while mounted within the re-check
# interval; an unreachable vault revoking nothing). Needs root, /dev/fuse,
# openssl, curl and python3.
. "$(dirname "$0")/../fs/fs_lib.sh"
. "$(dirname "$0")/az_lib.sh"
. "$(dirname "$0")/../rotation_lib.sh"
trap 't_cleanup; az_cleanup' EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

TENANT=2b1c6f3e-7d4a-4e1b-9c2d-5a6b7c8d9e0f
CID=cmkfs-rotation
CSECRET='Rot~cmkfs.Client-Secret_7'
az_setup || { t_fail "test CA"; t_done; exit 1; }
cat > "$AZ_DIR/config.json" <<EOF
{"tenant": "$TENANT", "clients": {"$CID": "$CSECRET"},
 "secrets": {"cmk": {"versions": [{"value": "$(openssl rand -base64 32)", "created": $(($(date +%s) - 100))}]}}}
EOF
az_start "$AZ_DIR/config.json" || { t_fail "the emulator starts"; t_done; exit 1; }
printf '%s\n' "$CSECRET" > "$T_DIR/client-secret"
chmod 600 "$T_DIR/client-secret"

ROT_CONF=$T_DIR/az.conf
ROT_CIPHER=$T_DIR/cipher
ROT_MNT=$T_DIR/mnt
ROT_WAIT=10
cat > "$ROT_CONF" <<EOF
[kms]
provider = azure
vault_url = $AZ_URL
secret = cmk
auth = client-secret
tenant = $TENANT
client_id = $CID
client_secret_file = $T_DIR/client-secret
authority_url = $AZ_URL
ca_file = $AZ_CA
retries = 0
timeout = 2
recheck_interval = 2
EOF
chmod 600 "$ROT_CONF"
t_expect 0 "init" -- "$CMKFS" init -c "$ROT_CONF" "$ROT_CIPHER"

kms_rotate() {
  az_admin POST secrets/cmk "{\"value\": \"$(openssl rand -base64 32)\"}" |
    "$AZ_PY" -c 'import json, sys; print(json.load(sys.stdin)["version"])'
}
kms_disable() { az_admin POST "secrets/cmk/$1" '{"enabled": false}' >/dev/null; }
kms_enable() { az_admin POST "secrets/cmk/$1" '{"enabled": true}' >/dev/null; }
kms_break() {
  az_admin POST faults '{"path": "^/secrets/", "action": "drop", "count": -1}' >/dev/null
}
kms_unbreak() { az_admin DELETE faults >/dev/null; }

rot_scenario
fs_done
