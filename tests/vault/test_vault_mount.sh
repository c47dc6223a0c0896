#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmkfs with provider = vault, against the Vault KV v2 emulator (HTTPS on
# loopback, a CA made for the run): init, mount, write, read with a token
# file and with AppRole (a new login before the token's lease ends, one
# handle shared by threads); namespaces; the rotation story of
# tests/rotation_lib.sh with KV versions (delete, undelete); every failure
# with its exit code and message, in bounded time; a token file rewritten
# by an agent is read again when Vault refuses the old token; and no
# token, secret_id or key value in any output or log.
# Needs root and /dev/fuse, openssl, curl and python3.
. "$(dirname "$0")/../fs/fs_lib.sh"
. "$(dirname "$0")/vault_lib.sh"
. "$(dirname "$0")/../rotation_lib.sh"
trap 't_cleanup; vault_cleanup' EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

TOKEN=hvs.cmkfs-reader-0d1e2f
TOKEN2=hvs.cmkfs-reader-second-7a8b
NOPOL=hvs.cmkfs-no-policy-3c4d
ROLE_ID=5b1c8a3e-1d2f-4e5a-8b9c-0d1e2f3a4b5c
SECRET_ID=9f8e7d6c-cmkfs-secret-id-0042
K1=$(openssl rand -base64 32)
K2=$(openssl rand -base64 32)
KNS=$(openssl rand -base64 32)
KSHORT=$(openssl rand -base64 16)
ALL=$T_DIR/outputs
BOUND=30

vault_setup || { t_fail "test CA"; t_done; exit 1; }
cat > "$VAULT_DIR/config.json" <<EOF
{
  "policies": {"cmk-read": {"secret/data/cmkfs/*": ["read"], "secret/metadata/cmkfs/*": ["read"]}},
  "tokens": [{"token": "root", "policies": ["root"]},
             {"token": "$TOKEN", "policies": ["cmk-read"]},
             {"token": "$TOKEN2", "policies": ["cmk-read"]},
             {"token": "$NOPOL", "policies": ["default"]}],
  "auth_mounts": {"approle": {"roles": {"cmkfs": {"role_id": "$ROLE_ID",
      "secret_ids": ["$SECRET_ID"], "token_ttl": 3600, "token_policies": ["cmk-read"]}}}},
  "secrets": {"secret": {
    "cmkfs/cmk": {"versions": [{"data": {"key": "$K1"}}, {"data": {"key": "$K2"}}]},
    "cmkfs/rot": {"versions": [{"data": {"key": "$(openssl rand -base64 32)"}}]},
    "cmkfs/short": {"versions": [{"data": {"key": "$KSHORT"}}]},
    "cmkfs/text": {"versions": [{"data": {"key": "not a key"}}]},
    "cmkfs/nofield": {"versions": [{"data": {"other": "$K1"}}]},
    "cmkfs/gone": {"versions": [{"data": {"key": "$K1"}}, {"data": {"key": "$K2"}, "deletion_time": true}]},
    "cmkfs/alldead": {"versions": [{"data": {"key": "$K1"}, "destroyed": true}]},
    "other/cmk": {"versions": [{"data": {"key": "$K1"}}]}}},
  "namespaces": {"team1": {
    "policies": {"cmk-read": {"secret/data/cmkfs/*": ["read"], "secret/metadata/cmkfs/*": ["read"]}},
    "tokens": [{"token": "hvs.team1-reader", "policies": ["cmk-read"]}],
    "secrets": {"secret": {"cmkfs/cmk": {"versions": [{"data": {"key": "$KNS"}}]}}}}}
}
EOF
vault_start "$VAULT_DIR/config.json" || { t_fail "the emulator starts"; t_done; exit 1; }
printf '%s\n' "$TOKEN" > "$T_DIR/token"
printf '%s\n' "$SECRET_ID" > "$T_DIR/secret-id"
chmod 600 "$T_DIR/token" "$T_DIR/secret-id"

# conf FILE AUTH [KEY=VALUE...]: a config for the emulator.
conf() {
  local file=$1 auth=$2 kv k
  shift 2
  declare -A v=([url]=$VAULT_URL [path]=cmkfs/cmk [ca_file]=$VAULT_CA [auth]=$auth)
  local order=(url kv_mount path field namespace auth token_file role_id
               secret_id_file auth_mount ca_file timeout retries recheck_interval)
  if [ "$auth" = token ]; then v[token_file]=$T_DIR/token
  else v[role_id]=$ROLE_ID v[secret_id_file]=$T_DIR/secret-id; fi
  for kv in "$@"; do v[${kv%%=*}]=${kv#*=}; done
  { echo "[kms]"; echo "provider = vault"
    for k in "${order[@]}"; do [ -n "${v[$k]:-}" ] && echo "$k = ${v[$k]}"; done; } > "$file"
  chmod 600 "$file"
}
run() {
  local t0 t1
  t0=$(date +%s%N)
  t_expect "$@"
  t1=$(date +%s%N)
  ELAPSED=$(((t1 - t0) / 1000000000))
  printf '%s\n' "$T_OUT" >> "$ALL"
}
check() { local d=$1; shift; if "$@"; then t_pass; else t_fail "$d"; fi; }
lc() { vault_log_count "$1"; }

tok=$T_DIR/token.conf
app=$T_DIR/approle.conf
conf "$tok" token
conf "$app" approle
mnt=$T_DIR/mnt

# --- token file: init, mount, write, read ------------------------------------
run 0 "init with a token file" -- "$CMKFS" init -c "$tok" "$T_DIR/a"
t_contains "the newest KV version" "key version 2"
fs_mount "$tok" "$T_DIR/a" "$mnt"
echo "hello through vault" > "$mnt/hello"
head -c 200000 /dev/urandom > "$mnt/blob"
sum=$(sha256sum < "$mnt/blob")
fs_remount "$tok" "$T_DIR/a" "$mnt"
check "read back after remount" test "$(cat "$mnt/hello")" = "hello through vault"
check "blob intact" test "$(sha256sum < "$mnt/blob")" = "$sum"
fs_umount "$mnt"
run 0 "info names the KV version" -- "$CMKFS" info -c "$tok" "$T_DIR/a/hello"
t_contains "version 2" "CMK version 2 (active)"
run 0 "key list" -- "$CMKFS" key list -c "$tok"
t_contains "the volume's key name" "$VAULT_URL/v1/secret/data/cmkfs/cmk#key"
check "requests carried X-Vault-Token" test "$(lc 'e["kind"] == "kv" and not e["token"]')" = 0

# --- AppRole: login, a new login before the lease ends, threads ------------------
vault_admin DELETE log >/dev/null
run 0 "init with AppRole" -- "$CMKFS" init -c "$app" "$T_DIR/b"
check "one AppRole login for the whole init" test "$(lc 'e["path"] == "/v1/auth/approle/login" and e["status"] == 200')" = 1
fs_mount "$app" "$T_DIR/b" "$mnt"
echo approle > "$mnt/f" && check "write and read with AppRole" test "$(cat "$mnt/f")" = approle
fs_umount "$mnt"
vault_admin POST roles '{"role": "cmkfs", "token_ttl": 2}' >/dev/null
vault_admin DELETE log >/dev/null
printf '%s\n' "$SECRET_ID" "$K1" "$K2" > "$T_DIR/secrets"
run 0 "four threads share one handle for 6 s while tokens last 2 s" -- \
  "$CMKFS_AZURE_KMS_PROG" "$app" 4 6 "$T_DIR/secrets"
logins=$(lc 'e["path"] == "/v1/auth/approle/login" and e["status"] == 200')
expired=$(lc 'e["kind"] == "kv" and e["token_state"] == "expired"')
check "logged in again before the lease ended ($logins logins)" test "$logins" -ge 3
check "no request went out with an expired token ($expired)" test "$expired" = 0
vault_admin POST roles '{"role": "cmkfs", "token_ttl": 3600}' >/dev/null

# --- a token file rewritten by an agent ------------------------------------------------
conf "$T_DIR/agent.conf" token recheck_interval=1
fs_mount "$T_DIR/agent.conf" "$T_DIR/a" "$mnt"
vault_admin POST tokens/revoke "{\"token\": \"$TOKEN\"}" >/dev/null
printf '%s\n' "$TOKEN2" > "$T_DIR/token"
vault_admin DELETE log >/dev/null
reread() { test "$(lc 'e["token_state"] == "valid" and e["status"] == 200 and e["path"].endswith("/metadata/cmkfs/cmk")')" -ge 1; }
t_wait_until 120 "after a 403 the token file is read again" -- reread
check "the mount still reads" test "$(cat "$mnt/hello")" = "hello through vault"
fs_umount "$mnt"

# --- namespaces --------------------------------------------------------------------------
printf '%s\n' hvs.team1-reader > "$T_DIR/token-ns"
chmod 600 "$T_DIR/token-ns"
conf "$T_DIR/ns.conf" token namespace=team1 token_file="$T_DIR/token-ns"
vault_admin DELETE log >/dev/null
run 0 "init in namespace team1" -- "$CMKFS" init -c "$T_DIR/ns.conf" "$T_DIR/n"
check "X-Vault-Namespace: team1 on every request" test "$(lc 'e["namespace"] != "team1"')" = 0
run 0 "key list in the namespace" -- "$CMKFS" key list -c "$T_DIR/ns.conf"
t_contains "the key name has the namespace" "$VAULT_URL/v1/team1/secret/data/cmkfs/cmk#key"
conf "$T_DIR/nons.conf" token token_file="$T_DIR/token-ns"
run 4 "the namespace's token outside it" -- "$CMKFS" init -c "$T_DIR/nons.conf" "$T_DIR/e"
t_contains "access denied" "access denied"

# --- versions: deleted current version, no usable version ---------------------------
conf "$T_DIR/gone.conf" token path=cmkfs/gone
run 0 "the current version is deleted: the newest that is not" -- "$CMKFS" init -c "$T_DIR/gone.conf" "$T_DIR/g"
t_contains "version 1" "key version 1"
run 0 "key list shows it disabled" -- "$CMKFS" key list -c "$T_DIR/gone.conf"
t_contains "version 2 disabled" "disabled"
conf "$T_DIR/dead.conf" token path=cmkfs/alldead
run 4 "every version destroyed" -- "$CMKFS" init -c "$T_DIR/dead.conf" "$T_DIR/e"
t_contains "says so" "is usable (all 1 are deleted or destroyed)"

# --- the rotation story --------------------------------------------------------------
ROT_CONF=$T_DIR/rot.conf
ROT_CIPHER=$T_DIR/r
ROT_MNT=$mnt
ROT_WAIT=10
conf "$ROT_CONF" token path=cmkfs/rot recheck_interval=2 retries=0 timeout=2
t_expect 0 "init for rotation" -- "$CMKFS" init -c "$ROT_CONF" "$ROT_CIPHER"
kms_rotate() {
  vault_admin POST secrets/add "{\"path\": \"cmkfs/rot\", \"data\": {\"key\": \"$(openssl rand -base64 32)\"}}" |
    "$VAULT_PY" -c 'import json, sys; print(json.load(sys.stdin)["version"])'
}
kms_disable() { vault_admin POST secrets/delete "{\"path\": \"cmkfs/rot\", \"versions\": [$1]}" >/dev/null; }
kms_enable() { vault_admin POST secrets/undelete "{\"path\": \"cmkfs/rot\", \"versions\": [$1]}" >/dev/null; }
kms_break() { vault_admin POST faults '{"path": "^/v1/", "action": "drop", "count": -1}' >/dev/null; }
kms_unbreak() { vault_admin DELETE faults >/dev/null; }
rot_scenario
fs_umount "$mnt"

# --- failures: exit 4, a clear message, bounded time ----------------------------------
conf "$T_DIR/t1.conf" token retries=1
vault_admin POST seal >/dev/null
run 4 "a sealed Vault" -- "$CMKFS" init -c "$T_DIR/t1.conf" "$T_DIR/e"
t_contains "says it is sealed" "Vault is sealed"
t_contains "after retrying" "(2 tries)"
vault_admin POST unseal >/dev/null
vault_admin POST faults '{"path": "/data/cmkfs/cmk$", "action": "503", "retry_after": 1, "count": 1}' >/dev/null
run 0 "a 503 with Retry-After, then success" -- "$CMKFS" init -c "$tok" "$T_DIR/c"
vault_admin DELETE faults >/dev/null
printf '%s\n' hvs.unknown-token > "$T_DIR/bad-token"
chmod 600 "$T_DIR/bad-token"
conf "$T_DIR/badtok.conf" token token_file="$T_DIR/bad-token"
run 4 "an unknown token" -- "$CMKFS" init -c "$T_DIR/badtok.conf" "$T_DIR/e"
t_contains "Vault's own words" "permission denied"
t_contains "and a hint" "does the token's policy allow read"
printf '%s\n' "$NOPOL" > "$T_DIR/nopol"
chmod 600 "$T_DIR/nopol"
conf "$T_DIR/nopol.conf" token token_file="$T_DIR/nopol"
run 4 "a token whose policy does not cover the path" -- "$CMKFS" init -c "$T_DIR/nopol.conf" "$T_DIR/e"
t_contains "access denied" "access denied"
printf '%s\n' wrong-secret-id > "$T_DIR/bad-sid"
chmod 600 "$T_DIR/bad-sid"
conf "$T_DIR/badsid.conf" approle secret_id_file="$T_DIR/bad-sid"
run 4 "a wrong secret_id" -- "$CMKFS" init -c "$T_DIR/badsid.conf" "$T_DIR/e"
t_contains "the login was refused" "AppRole login at $VAULT_URL/v1/auth/approle/login refused: HTTP 400: invalid role or secret ID"
conf "$T_DIR/missing.conf" token path=cmkfs/none
run 4 "a path with no secret" -- "$CMKFS" init -c "$T_DIR/missing.conf" "$T_DIR/e"
t_contains "says which" "no secret secret/cmkfs/none"
conf "$T_DIR/short.conf" token path=cmkfs/short
run 4 "a 16-byte key" -- "$CMKFS" init -c "$T_DIR/short.conf" "$T_DIR/e"
t_contains "says what is wrong" "must be the base64 of a 32-byte key (it is 16 bytes)"
conf "$T_DIR/text.conf" token path=cmkfs/text
run 4 "a value that is not base64" -- "$CMKFS" init -c "$T_DIR/text.conf" "$T_DIR/e"
t_contains "says so" "(it is not base64)"
conf "$T_DIR/nofield.conf" token path=cmkfs/nofield
run 4 "no such field" -- "$CMKFS" init -c "$T_DIR/nofield.conf" "$T_DIR/e"
t_contains "names the field" "has no text field 'key'"
conf "$T_DIR/v1.conf" token kv_mount=kv1
run 4 "a mount that is not KV version 2" -- "$CMKFS" init -c "$T_DIR/v1.conf" "$T_DIR/e"
vault_admin POST faults '{"path": "/data/cmkfs/cmk$", "action": "slow", "delay": 60, "count": -1}' >/dev/null
run 4 "a Vault slower than the time-out (default settings)" -- "$CMKFS" init -c "$tok" "$T_DIR/e"
check "gives up within $BOUND s (took $ELAPSED s)" test "$ELAPSED" -lt "$BOUND"
t_contains "names the cause" "timed out"
vault_admin DELETE faults >/dev/null
vault_admin POST faults '{"path": "/data/cmkfs/cmk$", "action": "redirect", "count": -1}' >/dev/null
run 4 "a redirect (a standby node)" -- "$CMKFS" init -c "$tok" "$T_DIR/e"
t_contains "refused" "cmkfs follows no redirects"
vault_admin DELETE faults >/dev/null
vault_admin POST faults '{"path": "/data/cmkfs/cmk$", "action": "huge", "count": -1}' >/dev/null
run 4 "an answer too big" -- "$CMKFS" init -c "$T_DIR/t1.conf" "$T_DIR/e"
t_contains "the cap" "larger than 1048576 bytes"
vault_admin DELETE faults >/dev/null
vault_admin POST faults '{"path": "/data/cmkfs/cmk$", "action": "malformed", "count": -1}' >/dev/null
run 4 "malformed JSON" -- "$CMKFS" init -c "$T_DIR/t1.conf" "$T_DIR/e"
t_contains "not a KV answer" "is not a KV version 2 secret"
vault_admin DELETE faults >/dev/null
conf "$T_DIR/otherca.conf" token ca_file="$VAULT_CERTS/other-ca.pem"
run 4 "a certificate from another CA" -- "$CMKFS" init -c "$T_DIR/otherca.conf" "$T_DIR/e"
t_contains "a certificate error" "certificate"
conf "$T_DIR/plain.conf" token url="http://127.0.0.1:$VAULT_PORT"
run 3 "an http:// url" -- "$CMKFS" init -c "$T_DIR/plain.conf" "$T_DIR/e"
conf "$T_DIR/open.conf" token
chmod 644 "$T_DIR/open.conf"
run 3 "a readable config that names a token file" -- "$CMKFS" init -c "$T_DIR/open.conf" "$T_DIR/e"
t_contains "says why" "names a secret (token_file)"
chmod 644 "$T_DIR/token"
run 4 "a token file others can read" -- "$CMKFS" init -c "$tok" "$T_DIR/e"
t_contains "says so" "token_file is readable by others"
chmod 600 "$T_DIR/token"

# --- nothing secret anywhere ----------------------------------------------------------
for s in "$TOKEN" "$TOKEN2" "$SECRET_ID" "$K1" "$K2" "$KNS" "$KSHORT" hvs.team1-reader; do
  for f in "$ALL" "$VAULT_LOG" "$VAULT_DIR/emulator.out"; do
    if grep -qF -- "$s" "$f"; then t_fail "a secret appears in $f"; else t_pass; fi
  done
done

fs_done
