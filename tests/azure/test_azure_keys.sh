#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmkfs with a Key Vault key (key = NAME): the CMK never leaves the vault.
# init has the vault wrap a random volume key (wrapKey, RSA-OAEP-256), mount
# has it unwrapped (unwrapKey), no secret is ever read; after a new key
# version, cmkfs rewrap of 2,000 files takes at most 20 requests and under
# 3 s and uses the new version; with the old version disabled every file
# still reads; the current version disabled while mounted cuts reads
# (EACCES) within recheck_interval; unwrapKey not permitted (key_ops, RBAC)
# exits 4 naming unwrapKey; a deleted key is refused naming KeyNotFound and
# works again once recovered; managed identity, workload identity and a
# client certificate all mount. Against the emulator in tests/azure/.
# Needs root and /dev/fuse, openssl, curl, python3 with cryptography.
. "$(dirname "$0")/../fs/fs_lib.sh"
. "$(dirname "$0")/az_lib.sh"
trap 't_cleanup; az_cleanup' EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

/usr/bin/python3 -c 'import cryptography' 2>/dev/null ||
  { echo "SKIP: python3-cryptography missing (the emulator's keys need it)"; exit 77; }
TENANT=2b1c6f3e-7d4a-4e1b-9c2d-5a6b7c8d9e0f
CID=cmkfs-test-app
CSECRET='Xq8~cmkfs.Client-Secret_0042'
MI=cmkfs-managed-identity
WID=cmkfs-workload-app
CERTID=cmkfs-cert-app
ISSUER=https://oidc.aks.example/issuer
FILES=${CMKFS_KEYS_FILES:-2000}

az_setup || { t_fail "test CA"; t_done; exit 1; }
az_rsa_key "$AZ_DIR/issuer.key"
az_client_cert "$AZ_DIR" app
cat > "$AZ_DIR/config.json" <<EOF
{
  "tenant": "$TENANT",
  "clients": {"$CID": "$CSECRET"},
  "imds": {"enabled": true, "client_id": "$MI"},
  "certificates": {"$CERTID": $(az_json_file "$AZ_DIR/app.pem")},
  "federated": {"$WID": [{"issuer": "$ISSUER", "subject": "system:serviceaccount:store:cmkfs",
                          "audience": "api://AzureADTokenExchange",
                          "jwks": $(az_json_file "$AZ_DIR/issuer.key.pub")}]},
  "page_size": 2,
  "keys": {"cmk": {"versions": [{"kty": "RSA-HSM", "size": 3072}]}}
}
EOF
az_start "$AZ_DIR/config.json" || { t_fail "the emulator starts"; t_done; exit 1; }
printf '%s\n' "$CSECRET" > "$T_DIR/client.secret"
cat "$AZ_DIR/app.key" "$AZ_DIR/app.pem" > "$T_DIR/app.pem"
chmod 600 "$T_DIR/client.secret" "$T_DIR/app.pem"
now=$(date +%s)
az_jwt "$AZ_DIR/issuer.key" '{"alg":"RS256","typ":"JWT"}' \
  "{\"iss\":\"$ISSUER\",\"sub\":\"system:serviceaccount:store:cmkfs\",\"aud\":\"api://AzureADTokenExchange\",\"iat\":$now,\"nbf\":$now,\"exp\":$((now + 3600))}" \
  > "$T_DIR/federated.jwt"
chmod 644 "$T_DIR/federated.jwt"   # as the AKS webhook projects it

conf() {  # conf FILE AUTH-LINES...
  local file=$1; shift
  { echo "[kms]"; echo "provider = azure"; echo "vault_url = $AZ_URL"
    echo "key = cmk"; echo "ca_file = $AZ_CA"
    for line in "$@"; do echo "$line"; done; } > "$file"
  chmod 600 "$file"
}
check() { local d=$1; shift; if "$@"; then t_pass; else t_fail "$d"; fi; }
lc() {
  /usr/bin/python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        e = json.loads(line)
        if eval(sys.argv[2], {}, {"e": e}):
            n += 1
print(n)' "$AZ_LOG" "$1"
}
reads_all() { (cd "$mnt" && sha256sum -c --quiet "$T_DIR/sums") >/dev/null 2>&1; }
current() { az_admin GET keys/cmk | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("current") or d["versions"][-1]["id"])'; }

sec=$T_DIR/secret.conf
conf "$sec" "auth = client-secret" "tenant = $TENANT" "client_id = $CID" \
  "client_secret_file = $T_DIR/client.secret" "authority_url = $AZ_URL"
mnt=$T_DIR/mnt
cipher=$T_DIR/vol

# --- init wraps, mount unwraps, no secret read ------------------------------------
az_admin DELETE log >/dev/null
t_expect 0 "init with a Key Vault key" -- "$CMKFS" init -c "$sec" "$cipher"
v1=$(current)
t_contains "init names the key version" "$v1"
check "init: one wrapKey" test "$(lc '"/wrapkey" in e["path"] and e["status"] == 200')" = 1
check "init: no unwrapKey" test "$(lc '"/unwrapkey" in e["path"]')" = 0
fs_mount "$sec" "$cipher" "$mnt"
mkdir -p "$mnt/faces"
for i in $(seq "$FILES"); do printf 'face %d\n' "$i" > "$mnt/faces/$i.jpg"; done
head -c 300000 /dev/urandom > "$mnt/big"
(cd "$mnt" && find . -type f -print0 | xargs -0 sha256sum) > "$T_DIR/sums"
fs_remount "$sec" "$cipher" "$mnt"
check "every file reads after a remount" reads_all
check "mount: the vault unwrapped the volume key" test "$(lc '"/unwrapkey" in e["path"] and e["status"] == 200')" -ge 1
check "no secret was ever read" test "$(lc '"/secrets" in e["path"]')" = 0
check "every key request carried x-ms-client-request-id" \
  test "$(lc '"/keys/" in e["path"] and not e.get("client_request_id")')" = 0
fs_umount "$mnt"

# --- sign-ins: managed identity, workload identity, client certificate ---------------
conf "$T_DIR/mi.conf" "auth = managed-identity" "imds_url = $AZ_IMDS"
fs_mount "$T_DIR/mi.conf" "$cipher" "$mnt" && check "managed identity mounts" reads_all
fs_umount "$mnt"
conf "$T_DIR/wi.conf" "auth = workload-identity" "authority_url = $AZ_URL"
# As the AKS webhook sets it: the token behind the kubelet's two links.
AZURE_FEDERATED_TOKEN_FILE=$(t_projected "$T_DIR/federated.jwt" "$T_DIR/azure-identity-token")
export AZURE_TENANT_ID=$TENANT AZURE_CLIENT_ID=$WID AZURE_FEDERATED_TOKEN_FILE
fs_mount "$T_DIR/wi.conf" "$cipher" "$mnt" && check "workload identity (from AKS's environment) mounts" reads_all
fs_umount "$mnt"
check "a federated credential was used" test "$(lc 'e.get("credential") == "federated" and e["status"] == 200')" -ge 1
conf "$T_DIR/default.conf" "auth = default" "authority_url = $AZ_URL" "imds_url = $AZ_IMDS"
fs_mount "$T_DIR/default.conf" "$cipher" "$mnt" && check "auth = default mounts in a pod" reads_all
check "auth = default says it chose workload identity" \
  grep -q "auth = default signs in with workload identity" "$T_DIR/run.$T_RUNS.out"
fs_umount "$mnt"
unset AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_FEDERATED_TOKEN_FILE
conf "$T_DIR/cert.conf" "auth = client-certificate" "tenant = $TENANT" \
  "client_id = $CERTID" "client_certificate_file = $T_DIR/app.pem" "authority_url = $AZ_URL"
fs_mount "$T_DIR/cert.conf" "$cipher" "$mnt" && check "a client certificate mounts" reads_all
fs_umount "$mnt"
check "a certificate assertion was used" test "$(lc 'e.get("credential") == "certificate" and e["status"] == 200')" -ge 1
fs_mount "$T_DIR/default.conf" "$cipher" "$mnt" && check "auth = default mounts on a VM" reads_all
check "auth = default says it chose the managed identity" \
  grep -q "auth = default signs in with managed identity" "$T_DIR/run.$T_RUNS.out"
fs_umount "$mnt"

# --- a new version: rewrap in O(1), then the old version disabled -------------------
az_admin POST keys/cmk '{"kty": "RSA-HSM", "size": 3072}' >/dev/null
v2=$(current)
check "a second key version exists" test "$v2" != "$v1"
az_admin DELETE log >/dev/null
t0=$(date +%s%N)
t_expect 0 "rewrap after a new version" -- "$CMKFS" rewrap -c "$sec" "$cipher"
took_ms=$((($(date +%s%N) - t0) / 1000000))
t_contains "rewrap uses the new version" "CMK version $v2"
n=$(lc 'True')
echo "rewrap of $FILES files: $n key-service requests, $took_ms ms" >&2
check "rewrap of $FILES files took $n requests (at most 20)" test "$n" -le 20
check "rewrap of $FILES files took ${took_ms} ms (under 3 s)" test "$took_ms" -lt 3000
az_admin POST "keys/cmk/$v1" '{"enabled": false}' >/dev/null
fs_mount "$sec" "$cipher" "$mnt"
check "old version disabled: every file reads" reads_all
fs_umount "$mnt"

# --- refusals at mount: exit 4 naming the cause --------------------------------------
az_admin POST "keys/cmk/$v2" '{"key_ops": ["wrapKey"]}' >/dev/null
t_expect 4 "key_ops without unwrapKey is refused" -- "$CMKFS" mount -c "$sec" "$cipher" "$mnt"
t_contains "names unwrapKey" "does not permit unwrapKey"
az_admin POST "keys/cmk/$v2" '{"key_ops": ["wrapKey", "unwrapKey"]}' >/dev/null
az_admin POST rbac "{\"principal\": \"$CID\", \"actions\": [\"keys/get\", \"keys/wrap\"]}" >/dev/null
t_expect 4 "an identity without the unwrap permission is refused" -- "$CMKFS" mount -c "$sec" "$cipher" "$mnt"
t_contains "names unwrapKey and the role" "may not unwrapKey"
az_admin POST rbac '{"enabled": false}' >/dev/null
az_admin DELETE keys/cmk >/dev/null
t_expect 4 "a deleted key is refused" -- "$CMKFS" mount -c "$sec" "$cipher" "$mnt"
t_contains "names KeyNotFound" "KeyNotFound"
az_admin POST keys/cmk/recover >/dev/null
fs_mount "$sec" "$cipher" "$mnt" && check "recovered: every file reads" reads_all
fs_umount "$mnt"

# --- the current version disabled while mounted ----------------------------------
conf "$T_DIR/recheck.conf" "auth = client-secret" "tenant = $TENANT" "client_id = $CID" \
  "client_secret_file = $T_DIR/client.secret" "authority_url = $AZ_URL" "recheck_interval = 1"
fs_mount "$T_DIR/recheck.conf" "$cipher" "$mnt"
check "reads before the version is disabled" reads_all
az_admin POST "keys/cmk/$v2" '{"enabled": false}' >/dev/null
cut() { ! cat "$mnt/faces/1.jpg" >/dev/null 2>"$T_DIR/cut.err" && grep -q "Permission denied" "$T_DIR/cut.err"; }
t_wait_until 60 "version disabled: reads fail with EACCES within recheck_interval" -- cut
fs_umount "$mnt"

# --- nothing secret in any output -----------------------------------------------------
all=$(cat "$T_DIR"/run.*.out 2>/dev/null)
case "$all" in *"$CSECRET"*) t_fail "the client secret reached an output" ;; *) t_pass ;; esac
t_done
