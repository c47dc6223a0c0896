#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fidelity test of the Key Vault emulator against Microsoft's official clients:
# runs sdk_check/check.mjs (@azure/keyvault-secrets) and sdk_check/
# check_keys.mjs (@azure/keyvault-keys: KeyClient, CryptographyClient), pinned
# in sdk_check/package-lock.json, against kv_emulator.py over HTTPS with a
# throwaway CA. npm installs into a temporary copy of sdk_check, never into
# the source tree.
# Exit: 0 all passed; 1 a failure; 77 skipped (node/npm missing or too old,
# or the npm registry unreachable with nothing usable in the npm cache).
# Ends with "N passed, M failed".
set -u
. "$(dirname "${BASH_SOURCE[0]}")/az_lib.sh"
SKIP=77

skip() {
  echo "SKIP: $*"
  echo "$AZ_PASS passed, $AZ_FAIL failed, 1 skipped"
  exit "$SKIP"
}
for tool in node npm curl openssl; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (needed by the Azure SDK check)"
done
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || skip "Node.js >= 20 is needed by @azure/keyvault-secrets 4.11 (found $(node --version 2>&1))"

TENANT=6d1f0c1e-8b0f-4c55-9a3e-2f4b1d7e9a10
CID=cmkfs-sdk-check
CSECRET='sdk~check.secret-42'
NOW=$(date +%s)

az_setup || exit 1
az_ok "test CA and server certificate made"
cat > "$AZ_DIR/config.json" <<EOF
{
  "tenant": "$TENANT",
  "clients": {"$CID": "$CSECRET"},
  "page_size": 2,
  "secrets": {
    "cmk": {"versions": [
      {"id": "c0ffee00c0ffee00c0ffee00c0ffee01", "value": "key-one", "created": 1700000001},
      {"id": "0badf00d0badf00d0badf00d0badf00d", "value": "key-two", "created": 1700000002, "enabled": false},
      {"id": "7e57ab1e7e57ab1e7e57ab1e7e57ab1e", "value": "key-three", "created": 1700000003,
       "nbf": $((NOW + 86400)), "exp": $((NOW - 86400)),
       "contentType": "application/octet-stream", "tags": {"purpose": "cmk"}},
      {"id": "ffeeddccbbaa99887766554433221100", "value": "key-four", "created": 1700000004},
      {"id": "1234567890abcdef1234567890abcdef", "value": "key-five", "created": 1700000005}
    ]},
    "cmk-off": {"versions": [
      {"value": "old", "created": 1700000001},
      {"value": "new", "created": 1700000002, "enabled": false}
    ]}
  },
  "keys": {
    "cmk-key": {"versions": [
      {"id": "c0ffee00c0ffee00c0ffee00c0ffee01", "created": 1700000001},
      {"id": "0badf00d0badf00d0badf00d0badf00d", "created": 1700000002, "enabled": false},
      {"id": "7e57ab1e7e57ab1e7e57ab1e7e57ab1e", "created": 1700000003},
      {"id": "ffeeddccbbaa99887766554433221100", "created": 1700000004},
      {"id": "1234567890abcdef1234567890abcdef", "created": 1700000005}
    ]}
  }
}
EOF
if az_start "$AZ_DIR/config.json"; then
  az_ok "emulator started (https $AZ_PORT, admin $AZ_IMDS)"
else
  az_bad "emulator started"; az_done; exit 1
fi

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/sdk_check" && pwd)
work=$AZ_DIR/sdk_check
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/harness.mjs" "$src/check.mjs" \
  "$src/check_keys.mjs" "$work/"
npm_flags=(--no-audit --no-fund --ignore-scripts --loglevel=error)
if timeout 30 npm ping --loglevel=error >/dev/null 2>&1; then
  if (cd "$work" && timeout 300 npm ci --prefer-offline "${npm_flags[@]}") >"$AZ_DIR/npm.log" 2>&1; then
    az_ok "npm ci (@azure/keyvault-secrets, @azure/keyvault-keys from package-lock.json)"
  else
    cat "$AZ_DIR/npm.log" >&2
    az_bad "npm ci"; az_done; exit 1
  fi
elif (cd "$work" && timeout 120 npm ci --offline "${npm_flags[@]}") >"$AZ_DIR/npm.log" 2>&1; then
  az_ok "npm ci --offline (registry unreachable; packages from the npm cache)"
else
  skip "the npm registry cannot be reached and the npm cache lacks @azure/keyvault-secrets or -keys"
fi
az_check "node_modules stayed out of the source tree" eval '[ ! -e "$src/node_modules" ]'

# run_check SCRIPT: runs one check under node and counts its ok / not ok lines.
run_check() {
  local script=$1 out=$AZ_DIR/${1%.mjs}.out rc n_ok n_bad
  (cd "$work" && NODE_EXTRA_CA_CERTS="$AZ_CA" KV_URL="$AZ_URL" KV_ADMIN="$AZ_IMDS/_emulator" \
    KV_LOG="$AZ_LOG" KV_CONFIG="$AZ_DIR/config.json" KV_TENANT="$TENANT" \
    KV_CLIENT_ID="$CID" KV_CLIENT_SECRET="$CSECRET" \
    timeout 240 node "$script") >"$out" 2>&1
  rc=$?
  cat "$out"
  n_ok=$(grep -c '^ok - ' "$out")
  n_bad=$(grep -c '^not ok - ' "$out")
  AZ_PASS=$((AZ_PASS + n_ok))
  AZ_FAIL=$((AZ_FAIL + n_bad))
  if [ "$rc" -ne 0 ] && [ "$n_bad" -eq 0 ]; then
    az_bad "node $script exited with $rc"
  fi
  [ "$rc" -eq 0 ] || { echo "--- emulator output ---" >&2; cat "$AZ_DIR/emulator.out" >&2; }
}
run_check check.mjs
run_check check_keys.mjs
az_check "the emulator reported no bug (no 500 answer, no traceback)" \
  eval '! grep -q "\"status\":500" "$AZ_LOG" && ! grep -q Traceback "$AZ_DIR/emulator.out"'
az_check "the request log never holds the client secret" eval '! grep -qF -- "$CSECRET" "$AZ_LOG"'
az_done
