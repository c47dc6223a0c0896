#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Self-test of the Vault / OpenBao emulator with curl: sys/health and seal
# state, token checks (missing, unknown, expired, policy), KV v2 reads of
# live, soft-deleted and destroyed versions, metadata, writes and
# delete/undelete/destroy through the API, a KV v1 mount, AppRole login,
# token TTL expiry and re-login, user lockout, namespaces, fault injection,
# the request log, the admin API and TLS trust; then the transit engine
# (keys, encrypt/decrypt/rewrap, rotation, min_decryption_version, policy
# changes while a token lives, namespaces) and Kubernetes login with JWTs
# signed here (skipped without python3-cryptography). Loopback only; every
# curl call is bounded by --max-time. Ends with "N passed, M failed".
set -u
. "$(dirname "${BASH_SOURCE[0]}")/vault_lib.sh"

for tool in curl openssl; do
  command -v "$tool" >/dev/null || {
    echo "SKIP: $tool is not installed"; echo "0 passed, 0 failed, 1 skipped"; exit 77; }
done

ROOT=root-token-for-tests
READER=reader-token-for-tests
WRITER=writer-token-for-tests
UPDATER=updater-token-for-tests
ROLE_ID=8a1c6f0e-role-cmkfs
SECRET_ID=2f9d4b7a-secret-cmkfs
NS_ROLE_ID=ns1-role-id
NS_SECRET_ID=ns1-secret-id
FUTURE=$(( $(date +%s) + 86400 ))
ENC_UPDATE=enc-update-token-for-tests
ENC_CREATE=enc-create-token-for-tests

vault_setup >/dev/null || exit 1
# Transit and Kubernetes auth need python3-cryptography; without it their
# config stays out and their checks are skipped.
HAVE_CRYPTO=0 TRANSIT_CFG='' K8S_CFG='' NS1_TRANSIT=''
if "$VAULT_PY" -c 'import cryptography.hazmat.primitives.ciphers.aead' 2>/dev/null; then
  HAVE_CRYPTO=1
  { vault_k8s_keys k8s-sa && vault_k8s_keys k8s-other; } || { echo "openssl genpkey failed" >&2; exit 1; }
  TRANSIT_CFG='"transit_mounts": {"transit": {"keys": {"cmk": {},
      "aged": {"versions": 3, "min_decryption_version": 2}}},
    "transit-noups": {"disable_upsert": true}},'
  K8S_CFG=', "kubernetes": {"type": "kubernetes",
    "jwt_public_key": '"$(vault_json_file "$VAULT_DIR/k8s-sa.pub")"',
    "issuer": "'"$VAULT_K8S_ISSUER"'", "disable_iss_validation": false,
    "roles": {"cmkfs": {"bound_service_account_names": ["cmkfs"],
                        "bound_service_account_namespaces": ["store"],
                        "token_policies": ["cmk-transit"], "token_ttl": 3600},
              "aud": {"bound_service_account_names": ["*"],
                      "bound_service_account_namespaces": ["st*"], "audience": "vault"}}}'
  NS1_TRANSIT='"transit_mounts": {"transit": {"keys": {"nskey": {}}}},'
fi
cat > "$VAULT_DIR/config.json" <<EOF
{
  "version": "1.17.6",
  "lockout_threshold": 3,
  "lockout_duration": 8,
  "kv_mounts": {"secret": {"version": 2}, "legacy": {"version": 1}},
  $TRANSIT_CFG
  "policies": {
    "cmk-read": {"secret/data/cmk": ["read"], "secret/metadata/cmk": ["read"]},
    "writer": {"secret/data/*": ["create", "read", "update", "delete"],
               "secret/delete/*": ["update"], "secret/undelete/*": ["update"],
               "secret/destroy/*": ["update"],
               "secret/metadata/*": ["read", "list", "create", "update"]},
    "updater": {"secret/data/*": ["read", "update"]},
    "cmk-transit": {"transit/encrypt/cmk": ["update"], "transit/decrypt/cmk": ["update"],
                    "transit/rewrap/cmk": ["update"], "transit/keys/cmk": ["read"]},
    "enc-update": {"transit/encrypt/*": ["update"]},
    "enc-create": {"transit-noups/encrypt/*": ["create", "update"]}
  },
  "tokens": [
    {"token": "$ROOT", "policies": ["root"]},
    {"token": "$READER", "policies": ["cmk-read"]},
    {"token": "$WRITER", "policies": ["writer"]},
    {"token": "$UPDATER", "policies": ["updater"]},
    {"token": "$ENC_UPDATE", "policies": ["enc-update"]},
    {"token": "$ENC_CREATE", "policies": ["enc-create"]}
  ],
  "auth_mounts": {"approle": {"roles": {
    "cmkfs": {"role_id": "$ROLE_ID", "secret_ids": ["$SECRET_ID"],
              "token_ttl": 30, "token_policies": ["cmk-read"]},
    "once": {"role_id": "once-role", "secret_ids": [{"secret_id": "once-secret", "num_uses": 1}],
             "token_policies": ["cmk-read"]}
  }}$K8S_CFG},
  "secrets": {
    "secret": {
      "cmk": {"custom_metadata": {"owner": "cmkfs", "purpose": "test"},
              "versions": [
        {"data": {"key": "key-one"}, "created_time": "2024-01-01T00:00:01.5Z"},
        {"data": {"key": "key-two"}, "created_time": 1704067202, "deletion_time": true},
        {"data": {"key": "key-three"}, "created_time": 1704067203, "destroyed": true},
        {"data": {"key": "key-four", "<b>": "a&b"}, "created_time": 1704067204}
      ]},
      "future": {"versions": [{"data": {"key": "soon-gone"}, "deletion_time": $FUTURE}]},
      "gone": {"versions": [{"data": {"key": "old"}}, {"data": {"key": "new"}, "deletion_time": true}]},
      "dir/a": {"versions": [{"data": {"v": "1"}}]},
      "dir/sub/b": {"versions": [{"data": {"v": "2"}}]}
    },
    "legacy": {"old/key": {"value": "v1-data"}}
  },
  "namespaces": {
    "ns1": {
      $NS1_TRANSIT
      "policies": {"ns-read": {"secret/data/cmk": ["read"]}},
      "auth_mounts": {"approle": {"roles": {
        "ns-role": {"role_id": "$NS_ROLE_ID", "secret_ids": ["$NS_SECRET_ID"],
                    "token_policies": ["ns-read"]}}}},
      "secrets": {"secret": {"cmk": [{"data": {"key": "ns1-key"}}],
                             "nsonly": [{"data": {"key": "x"}}]}}
    }
  }
}
EOF
vault_start "$VAULT_DIR/config.json" || { vault_bad "emulator starts"; vault_done; exit 1; }
vault_ok "emulator starts (https $VAULT_PORT, admin $VAULT_ADMIN_PORT)"

# req NAME CURL-ARGS...: body in $VAULT_DIR/NAME.body, headers in NAME.hdr;
# sets STATUS (000 when no HTTP answer) and RC (curl's exit code).
req() {
  local name=$1; shift
  STATUS=$(curl -sS --max-time 15 --cacert "$VAULT_CA" -o "$VAULT_DIR/$name.body" \
    -D "$VAULT_DIR/$name.hdr" -w '%{http_code}' "$@" 2>"$VAULT_DIR/$name.err")
  RC=$?
}
# jq_ NAME PYTHON-EXPR: evaluates EXPR with d = the JSON body of NAME.
jq_() {
  "$VAULT_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$VAULT_DIR/$1.body" "$2" 2>/dev/null
}
raw() { cat "$VAULT_DIR/$1.body"; }
hdr() { grep -i "^$2:" "$VAULT_DIR/$1.hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
eq() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }; }
V="$VAULT_URL/v1"
AUTH=(-H "X-Vault-Token: $ROOT")
E_INVALID='{"errors":["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"]}'
E_POLICY='{"errors":["1 error occurred:\n\t* permission denied\n\n"]}'

# --- sys/health and seal-status --------------------------------------------------
req health "$V/sys/health"
vault_check "health: 200 when active" eq "$STATUS" 200
vault_check "health: body fields" \
  eq "$(jq_ health 'd["initialized"], d["sealed"], d["standby"], d["performance_standby"], d["replication_performance_mode"], d["replication_dr_mode"], d["version"], "cluster_name" in d, type(d["server_time_utc"]).__name__')" \
  "(True, False, False, False, 'disabled', 'disabled', '1.17.6', True, 'int')"
vault_check "health: JSON, Cache-Control no-store, trailing newline" \
  eq "$(hdr health Content-Type)|$(hdr health Cache-Control)|$(tail -c1 "$VAULT_DIR/health.body" | od -An -c | tr -d ' ')" \
  'application/json|no-store|\n'
req healthhead -I "$V/sys/health"
vault_check "health: HEAD 200, JSON content type, no body (curl -I saw only headers)" \
  eval '[ "$STATUS|$(hdr healthhead Content-Type)" = "200|application/json" ] && cmp -s "$VAULT_DIR/healthhead.body" "$VAULT_DIR/healthhead.hdr"'
req healthcode "$V/sys/health?activecode=299"
vault_check "health: activecode=299" eq "$STATUS" 299
req healthpost -X POST "$V/sys/health"
vault_check "health: POST -> 405 {\"errors\":[]}" eq "$STATUS $(raw healthpost)" "405 {\"errors\":[]}"
req sealst "$V/sys/seal-status"
vault_check "seal-status: sealed false, initialized true" \
  eq "$STATUS $(jq_ sealst 'd["sealed"], d["initialized"], d["type"]')" "200 (False, True, 'shamir')"

# --- tokens ------------------------------------------------------------------------
req notok "$V/secret/data/cmk"
vault_check "no token: 403 {\"errors\":[\"permission denied\"]}" \
  eq "$STATUS $(raw notok)" "403 {\"errors\":[\"permission denied\"]}"
req badtok "$V/secret/data/cmk" -H 'X-Vault-Token: hvs.not-a-token'
vault_check "unknown token: 403, permission denied + invalid token (current Vault)" \
  eq "$STATUS $(raw badtok)" "403 $E_INVALID"
req bearer "$V/secret/data/cmk" -H "Authorization: Bearer $ROOT"
vault_check "Authorization: Bearer is accepted" eq "$STATUS" 200
req polden "$V/secret/data/future" -H "X-Vault-Token: $READER"
vault_check "policy denial: 403 \"1 error occurred: permission denied\"" \
  eq "$STATUS $(raw polden)" "403 $E_POLICY"
req polok "$V/secret/data/cmk" -H "X-Vault-Token: $READER"
vault_check "the reader policy allows secret/data/cmk" eq "$STATUS" 200
req pollist -X LIST "$V/secret/metadata/" -H "X-Vault-Token: $READER"
vault_check "LIST needs the list capability (403)" eq "$STATUS" 403
req lookroot "$V/auth/token/lookup-self" "${AUTH[@]}"
vault_check "lookup-self of the root token" \
  eq "$STATUS $(jq_ lookroot 'd["data"]["policies"], d["data"]["path"], d["data"]["ttl"], d["data"]["expire_time"], d["mount_type"]')" \
  "200 (['root'], 'auth/token/root', 0, None, 'token')"
vault_check "lookup-self keys sorted as Go marshals a map" \
  eq "$(jq_ lookroot 'list(d["data"]) == sorted(d["data"])')" True

# --- KV v2 reads ---------------------------------------------------------------------
req cur "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "current version: 200, key-four, version 4" \
  eq "$STATUS $(jq_ cur 'd["data"]["data"]["key"], d["data"]["metadata"]["version"]')" "200 ('key-four', 4)"
vault_check "current version: envelope fields and order" \
  eq "$(jq_ cur 'list(d)')" \
  "['request_id', 'lease_id', 'renewable', 'lease_duration', 'data', 'wrap_info', 'warnings', 'auth', 'mount_type']"
vault_check "current version: lease_id \"\", renewable false, nulls, mount_type kv" \
  eq "$(jq_ cur 'd["lease_id"], d["renewable"], d["lease_duration"], d["wrap_info"], d["warnings"], d["auth"], d["mount_type"]')" \
  "('', False, 0, None, None, None, 'kv')"
vault_check "current version: metadata fields, custom_metadata, times" \
  eq "$(jq_ cur 'd["data"]["metadata"]')" \
  "{'created_time': '2024-01-01T00:00:04Z', 'custom_metadata': {'owner': 'cmkfs', 'purpose': 'test'}, 'deletion_time': '', 'destroyed': False, 'version': 4}"
vault_check "JSON escapes <, > and & as Go does" eval 'grep -q "\\\\u003cb\\\\u003e\":\"a\\\\u0026b\"" "$VAULT_DIR/cur.body"'
req v1 "$V/secret/data/cmk?version=1" "${AUTH[@]}"
vault_check "version=1: 200, key-one, nanosecond created_time" \
  eq "$STATUS $(jq_ v1 'd["data"]["data"]["key"], d["data"]["metadata"]["created_time"]')" \
  "200 ('key-one', '2024-01-01T00:00:01.5Z')"
req v0 "$V/secret/data/cmk?version=0" "${AUTH[@]}"
vault_check "version=0: the current version" eq "$STATUS $(jq_ v0 'd["data"]["metadata"]["version"]')" "200 4"
req vdel "$V/secret/data/cmk?version=2" "${AUTH[@]}"
vault_check "soft-deleted version: 404" eq "$STATUS" 404
vault_check "soft-deleted version: body data.data null + its metadata, no errors" \
  eq "$(jq_ vdel 'd["data"]["data"], d["data"]["metadata"]["version"], d["data"]["metadata"]["deletion_time"] != "", d["data"]["metadata"]["destroyed"], "errors" in d, d["mount_type"]')" \
  "(None, 2, True, False, False, '')"
vault_check "soft-deleted version: raw body (json.Marshal) has no trailing newline" \
  eq "$(tail -c1 "$VAULT_DIR/vdel.body")" "}"
req vdes "$V/secret/data/cmk?version=3" "${AUTH[@]}"
vault_check "destroyed version: 404 with data null, destroyed true, deletion_time \"\"" \
  eq "$STATUS $(jq_ vdes 'd["data"]["data"], d["data"]["metadata"]["destroyed"], d["data"]["metadata"]["deletion_time"]')" \
  "404 (None, True, '')"
req vnone "$V/secret/data/cmk?version=9" "${AUTH[@]}"
vault_check "unknown version: 404 {\"errors\":[]}" eq "$STATUS $(raw vnone)" "404 {\"errors\":[]}"
req pnone "$V/secret/data/nope" "${AUTH[@]}"
vault_check "unknown path: 404 {\"errors\":[]} + newline" \
  eq "$STATUS|$(raw pnone)|$(tail -c1 "$VAULT_DIR/pnone.body" | od -An -c | tr -d ' ')" "404|{\"errors\":[]}|\\n"
req vbad "$V/secret/data/cmk?version=abc" "${AUTH[@]}"
vault_check "version=abc: 400 error converting input" \
  eq "$STATUS $(jq_ vbad 'd["errors"][0].startswith("error converting input abc for field \"version\"")')" "400 True"
req fut "$V/secret/data/future" "${AUTH[@]}"
vault_check "deletion_time in the future (delete_version_after): still 200, shown" \
  eq "$STATUS $(jq_ fut 'd["data"]["data"]["key"], d["data"]["metadata"]["deletion_time"] != ""')" "200 ('soon-gone', True)"
req gone "$V/secret/data/gone" "${AUTH[@]}"
vault_check "current version deleted: 404 for it, no fallback to an older one" \
  eq "$STATUS $(jq_ gone 'd["data"]["metadata"]["version"], d["data"]["data"]')" "404 (2, None)"
req meta "$V/secret/metadata/cmk" "${AUTH[@]}"
vault_check "metadata: 200 with every field" \
  eq "$STATUS $(jq_ meta 'sorted(d["data"])')" \
  "200 ['cas_required', 'created_time', 'current_version', 'custom_metadata', 'delete_version_after', 'max_versions', 'oldest_version', 'updated_time', 'versions']"
vault_check "metadata: current 4, oldest 0, max_versions 0, 0s, times" \
  eq "$(jq_ meta 'd["data"]["current_version"], d["data"]["oldest_version"], d["data"]["max_versions"], d["data"]["delete_version_after"], d["data"]["cas_required"], d["data"]["created_time"], d["data"]["updated_time"]')" \
  "(4, 0, 0, '0s', False, '2024-01-01T00:00:01.5Z', '2024-01-01T00:00:04Z')"
vault_check "metadata: versions map {\"1\"..\"4\"} with deleted and destroyed states" \
  eq "$(jq_ meta '[(k, v["deletion_time"] != "", v["destroyed"]) for k, v in d["data"]["versions"].items()]')" \
  "[('1', False, False), ('2', True, False), ('3', False, True), ('4', False, False)]"
req mnone "$V/secret/metadata/nope" "${AUTH[@]}"
vault_check "metadata of an unknown path: 404 {\"errors\":[]}" eq "$STATUS $(raw mnone)" "404 {\"errors\":[]}"
req mlist -X LIST "$V/secret/metadata/" "${AUTH[@]}"
vault_check "LIST metadata/: keys, folders with /" \
  eq "$STATUS $(jq_ mlist 'd["data"]["keys"]')" "200 ['cmk', 'dir/', 'future', 'gone']"
req mlist2 "$V/secret/metadata/dir?list=true" "${AUTH[@]}"
vault_check "GET ?list=true on metadata/dir" eq "$STATUS $(jq_ mlist2 'd["data"]["keys"]')" "200 ['a', 'sub/']"
req inval "$V/secret/cmk" "${AUTH[@]}"
vault_check "a KV v1-style path on a v2 mount: 404 with the 'vault kv get' warning" \
  eq "$STATUS $(jq_ inval 'd["data"], d["warnings"][0].endswith("use '"'"'vault kv get'"'"' for this operation.")')" "404 (None, True)"
req nomount "$V/nomount/data/x" "${AUTH[@]}"
vault_check "no mount: 404 no handler for route" \
  eq "$STATUS $(raw nomount)" "404 {\"errors\":[\"no handler for route \\\"nomount/data/x\\\". route entry not found.\"]}"
req unsop "$V/secret/delete/cmk" "${AUTH[@]}"
vault_check "GET on delete/: 405 unsupported operation" \
  eq "$STATUS $(jq_ unsop 'd["errors"]')" "405 ['1 error occurred:\\n\\t* unsupported operation\\n\\n']"
req kv1 "$V/legacy/old/key" "${AUTH[@]}"
vault_check "KV v1 mount: 200, data, lease_duration 2764800" \
  eq "$STATUS $(jq_ kv1 'd["data"], d["lease_duration"], d["mount_type"]')" "200 ({'value': 'v1-data'}, 2764800, 'kv')"
req cfg "$V/secret/config" "${AUTH[@]}"
vault_check "mount config" eq "$STATUS $(jq_ cfg 'd["data"]')" \
  "200 {'cas_required': False, 'delete_version_after': '0s', 'max_versions': 0}"

# --- KV v2 writes through the API -----------------------------------------------------
W=(-H "X-Vault-Token: $WRITER" -H 'Content-Type: application/json')
req put "$V/secret/data/cmk" "${W[@]}" -X POST --data '{"data": {"key": "key-five"}}'
vault_check "POST data: 200 version 5, write metadata shape" \
  eq "$STATUS $(jq_ put 'sorted(d["data"]), d["data"]["version"], d["mount_type"]')" \
  "200 (['created_time', 'custom_metadata', 'deletion_time', 'destroyed', 'version'], 5, 'kv')"
req put5 "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "the new version is current" eq "$(jq_ put5 'd["data"]["data"]["key"]')" key-five
req nodata "$V/secret/data/cmk" "${W[@]}" -X PUT --data '{"value": "x"}'
vault_check "PUT without data: 400 no data provided" eq "$STATUS $(raw nodata)" "400 {\"errors\":[\"no data provided\"]}"
req cas "$V/secret/data/cmk" "${W[@]}" -X POST --data '{"options": {"cas": 1}, "data": {"k": "v"}}'
vault_check "cas mismatch: 400" eq "$STATUS $(jq_ cas 'd["errors"]')" \
  "400 ['check-and-set parameter did not match the current version']"
req badjson "$V/secret/data/cmk" "${W[@]}" -X POST --data '{"data": '
vault_check "malformed JSON: 400 failed to parse JSON input" \
  eq "$STATUS $(jq_ badjson 'd["errors"][0].startswith("failed to parse JSON input: ")')" "400 True"
req slash "$V/secret/data/dir/" "${W[@]}" -X POST --data '{"data": {}}'
vault_check "write to a path ending in /: 400" eq "$STATUS $(jq_ slash 'd["errors"]')" \
  "400 [\"cannot write to a path ending in '/'\"]"
req del5 "$V/secret/delete/cmk" "${W[@]}" -X POST --data '{"versions": [5]}'
vault_check "POST delete {versions:[5]}: 204, no body" eq "$STATUS $(wc -c <"$VAULT_DIR/del5.body")" "204 0"
req r5 "$V/secret/data/cmk?version=5" "${AUTH[@]}"
vault_check "deleted version 5: 404 with metadata" eq "$STATUS $(jq_ r5 'd["data"]["data"], d["data"]["metadata"]["deletion_time"] != ""')" "404 (None, True)"
req und5 "$V/secret/undelete/cmk" "${W[@]}" -X POST --data '{"versions": "5"}'; s1=$STATUS
req r5b "$V/secret/data/cmk?version=5" "${AUTH[@]}"
vault_check "undelete (versions as \"5\"): 204, version 5 readable again" \
  eq "$s1 $STATUS $(jq_ r5b 'd["data"]["data"]["key"]')" "204 200 key-five"
req des5 "$V/secret/destroy/cmk" "${W[@]}" -X POST --data '{"versions": [5]}'; s1=$STATUS
req und5b "$V/secret/undelete/cmk" "${W[@]}" -X POST --data '{"versions": [5]}'
req r5c "$V/secret/data/cmk?version=5" "${AUTH[@]}"
vault_check "destroy: 204; undelete cannot bring it back" \
  eq "$s1 $STATUS $(jq_ r5c 'd["data"]["metadata"]["destroyed"], d["data"]["data"]')" "204 404 (True, None)"
req nover "$V/secret/delete/cmk" "${W[@]}" -X POST --data '{}'
req nover2 "$V/secret/destroy/cmk" "${W[@]}" -X POST --data '{}'
vault_check "no versions: 400 \"No version number provided\" / destroy: lowercase" \
  eq "$(jq_ nover 'd["errors"][0]') | $(jq_ nover2 'd["errors"][0]')" "No version number provided | no version number provided"
req put6 "$V/secret/data/cmk" "${W[@]}" -X POST --data '{"data": {"key": "key-six"}}'
req dellatest -X DELETE "$V/secret/data/cmk" -H "X-Vault-Token: $WRITER"
req r6 "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "DELETE data: 204, the current version (6) reads 404" eq "$STATUS $(jq_ r6 'd["data"]["metadata"]["version"]')" "404 6"
req rdw "$V/secret/data/cmk" -H "X-Vault-Token: $READER" -X POST --data '{"data": {}}'
vault_check "reader cannot write: 403" eq "$STATUS" 403
req upd_new "$V/secret/data/brand-new" -H "X-Vault-Token: $UPDATER" -X POST --data '{"data": {"a": "b"}}'; s1=$STATUS
req upd_old "$V/secret/data/future" -H "X-Vault-Token: $UPDATER" -X POST --data '{"data": {"a": "b"}}'
vault_check "update-only policy: a new key needs create (403), an existing one is an update (200)" \
  eq "$s1 $STATUS" "403 200"
req cmeta "$V/secret/metadata/future" "${W[@]}" -X POST --data '{"custom_metadata": {"team": "storage"}, "max_versions": 3}'
req cmeta2 "$V/secret/metadata/future" "${AUTH[@]}"
vault_check "metadata write: 204; custom_metadata and max_versions set" \
  eq "$(jq_ cmeta2 'd["data"]["custom_metadata"], d["data"]["max_versions"]')" "({'team': 'storage'}, 3)"
for i in 1 2 3; do
  req trim "$V/secret/data/future" "${W[@]}" -X POST --data "{\"data\": {\"n\": \"$i\"}}"
done
req cmeta3 "$V/secret/metadata/future" "${AUTH[@]}"
vault_check "max_versions 3: old versions trimmed, oldest_version moves" \
  eq "$(jq_ cmeta3 'd["data"]["current_version"], d["data"]["oldest_version"], sorted(d["data"]["versions"], key=int)')" \
  "(5, 3, ['3', '4', '5'])"

# --- AppRole ---------------------------------------------------------------------------
login() {  # login NAME ROLE_ID SECRET_ID [extra curl args]
  local name=$1 rid=$2 sid=$3; shift 3
  req "$name" -X POST "$V/auth/approle/login" --data "{\"role_id\": \"$rid\", \"secret_id\": \"$sid\"}" "$@"
}
login li "$ROLE_ID" "$SECRET_ID"
vault_check "login: 200" eq "$STATUS" 200
vault_check "login: auth block fields in Vault's order" \
  eq "$(jq_ li 'list(d["auth"])')" \
  "['client_token', 'accessor', 'policies', 'token_policies', 'metadata', 'lease_duration', 'renewable', 'entity_id', 'token_type', 'orphan', 'mfa_requirement', 'num_uses']"
vault_check "login: policies sorted with default, role_name, TTL 30, service, orphan" \
  eq "$(jq_ li 'd["auth"]["policies"], d["auth"]["token_policies"], d["auth"]["metadata"], d["auth"]["lease_duration"], d["auth"]["renewable"], d["auth"]["token_type"], d["auth"]["orphan"], d["auth"]["mfa_requirement"], d["auth"]["num_uses"]')" \
  "(['cmk-read', 'default'], ['cmk-read', 'default'], {'role_name': 'cmkfs'}, 30, True, 'service', True, None, 0)"
vault_check "login: data null, mount_type \"\", hvs. token, 24-char accessor, entity_id" \
  eq "$(jq_ li 'd["data"], d["mount_type"], d["auth"]["client_token"].startswith("hvs."), len(d["auth"]["accessor"]), len(d["auth"]["entity_id"])')" \
  "(None, '', True, 24, 36)"
TOK=$(jq_ li 'd["auth"]["client_token"]')
req lt "$V/secret/data/cmk?version=4" -H "X-Vault-Token: $TOK"
vault_check "the AppRole token reads the CMK" eq "$STATUS $(jq_ lt 'd["data"]["data"]["key"]')" "200 key-four"
req ltm "$V/secret/metadata/cmk" -H "X-Vault-Token: $TOK"
vault_check "... and its metadata" eq "$STATUS" 200
req ls "$V/auth/token/lookup-self" -H "X-Vault-Token: $TOK"
vault_check "lookup-self: path, display_name, meta, type, ttl <= 30, renewable, expire_time" \
  eq "$STATUS $(jq_ ls 'd["data"]["path"], d["data"]["display_name"], d["data"]["meta"], d["data"]["type"], 0 < d["data"]["ttl"] <= 30, d["data"]["renewable"], d["data"]["expire_time"].endswith("Z"), d["data"]["creation_ttl"]')" \
  "200 ('auth/approle/login', 'approle', {'role_name': 'cmkfs'}, 'service', True, True, True, 30)"
login lbad "$ROLE_ID" wrong-secret
vault_check "wrong secret_id: 400 invalid role or secret ID" \
  eq "$STATUS $(raw lbad)" "400 {\"errors\":[\"invalid role or secret ID\"]}"
login lbadr no-such-role "$SECRET_ID"
vault_check "wrong role_id: 400 invalid role or secret ID" eq "$STATUS $(jq_ lbadr 'd["errors"]')" "400 ['invalid role or secret ID']"
req lnor -X POST "$V/auth/approle/login" --data '{"secret_id": "x"}'
vault_check "missing role_id: 400 missing role_id" eq "$STATUS $(jq_ lnor 'd["errors"]')" "400 ['missing role_id']"
req lnos -X POST "$V/auth/approle/login" --data "{\"role_id\": \"$ROLE_ID\"}"
vault_check "missing secret_id: 400 missing secret_id" eq "$STATUS $(jq_ lnos 'd["errors"]')" "400 ['missing secret_id']"
req lbadtok -X POST "$V/auth/approle/login" -H 'X-Vault-Token: garbage' \
  --data "{\"role_id\": \"$ROLE_ID\", \"secret_id\": \"$SECRET_ID\"}"
vault_check "login ignores a bad X-Vault-Token (unauthenticated path)" eq "$STATUS" 200
login once1 once-role once-secret; s1=$STATUS
login once2 once-role once-secret
vault_check "secret_id with num_uses 1: second login refused" eq "$s1 $STATUS" "200 400"
# The token's TTL ends (the emulator's clock for it moves on, rather
# than this test waiting 30 s).
vault_admin POST tokens/ttl "{\"token\": \"$TOK\", \"ttl\": 0}" >/dev/null
req expd "$V/secret/data/cmk?version=4" -H "X-Vault-Token: $TOK"
vault_check "expired token: 403 invalid token" eq "$STATUS $(raw expd)" "403 $E_INVALID"
login li2 "$ROLE_ID" "$SECRET_ID"
TOK2=$(jq_ li2 'd["auth"]["client_token"]')
req lt2 "$V/secret/data/cmk?version=4" -H "X-Vault-Token: $TOK2"
vault_check "a new login gets a new token that works" eval '[ "$STATUS" = 200 ] && [ "$TOK2" != "$TOK" ]'
vault_check "log: the expired use has token_state expired" \
  eq "$(vault_log_count 'e["token_state"] == "expired" and e["status"] == 403')" 1
req renew -X POST "$V/auth/token/renew-self" -H "X-Vault-Token: $TOK2" --data '{"increment": "2s"}'
vault_check "renew-self: 200 with an auth block" eq "$STATUS $(jq_ renew 'd["auth"]["client_token"] == "'"$TOK2"'", d["auth"]["renewable"]')" "200 (True, True)"
req revoke -X POST "$V/auth/token/revoke-self" -H "X-Vault-Token: $TOK2"
req afterrev "$V/secret/data/cmk" -H "X-Vault-Token: $TOK2"
vault_check "revoke-self: the token is gone (403)" eq "$STATUS" 403
vault_admin POST roles '{"role": "cmkfs", "token_ttl": 1}' >/dev/null
login lttl "$ROLE_ID" "$SECRET_ID"
vault_check "admin: a role's token_ttl changed to 1 s" eq "$(jq_ lttl 'd["auth"]["lease_duration"]')" 1
login lexp "$ROLE_ID" "$SECRET_ID"
TOK3=$(jq_ lexp 'd["auth"]["client_token"]')
vault_admin POST tokens/expire '{}' >/dev/null
req lexp2 "$V/secret/data/cmk?version=4" -H "X-Vault-Token: $TOK3"; s1=$STATUS
req rootok "$V/secret/data/cmk?version=4" "${AUTH[@]}"
vault_check "admin tokens/expire: TTL tokens expire (403 invalid token), static root stays" \
  eq "$s1 $(raw lexp2) $STATUS" "403 $E_INVALID 200"
# lockout: 3 bad secret_ids for one role_id, then even the right one is refused
for i in 1 2 3; do login lock$i "$ROLE_ID" bad-$i; done
login locked "$ROLE_ID" "$SECRET_ID"
vault_check "lockout after 3 failures: 403 permission denied" eq "$STATUS $(raw locked)" "403 {\"errors\":[\"permission denied\"]}"
# The lockout lasts 8 s, so that a loaded machine still sees it above;
# waiting out a clock is no race (a slow machine only waits longer).
sleep 8.2
login unlocked "$ROLE_ID" "$SECRET_ID"
vault_check "lockout ends after lockout_duration" eq "$STATUS" 200
req rid "$V/auth/approle/role/cmkfs/role-id" "${AUTH[@]}"
req sid -X POST "$V/auth/approle/role/cmkfs/secret-id" "${AUTH[@]}"
login lnew "$(jq_ rid 'd["data"]["role_id"]')" "$(jq_ sid 'd["data"]["secret_id"]')"
vault_check "role-id read + secret-id generated through the API log in" eq "$STATUS" 200

# --- namespaces ------------------------------------------------------------------------
NSH=(-H 'X-Vault-Namespace: ns1')
login nsl "$NS_ROLE_ID" "$NS_SECRET_ID" "${NSH[@]}"
NSTOK=$(jq_ nsl 'd["auth"]["client_token"]')
vault_check "login in ns1 with X-Vault-Namespace" eq "$STATUS" 200
req nsr "$V/secret/data/cmk" "${NSH[@]}" -H "X-Vault-Token: $NSTOK"
vault_check "ns1 secret with the header: ns1-key; header echoed" \
  eq "$STATUS $(jq_ nsr 'd["data"]["data"]["key"]') $(hdr nsr X-Vault-Namespace)" "200 ns1-key ns1"
req nsp "$V/ns1/secret/data/cmk" -H "X-Vault-Token: $NSTOK"
vault_check "ns1 secret with the path prefix /v1/ns1/..." eq "$STATUS $(jq_ nsp 'd["data"]["data"]["key"]')" "200 ns1-key"
req nsroot "$V/secret/data/cmk?version=4" -H "X-Vault-Token: $NSTOK"
vault_check "an ns1 token in the root namespace: 403 (policy denial)" eq "$STATUS $(raw nsroot)" "403 $E_POLICY"
req rootns "$V/secret/data/cmk" "${NSH[@]}" "${AUTH[@]}"
vault_check "the root token works in ns1" eq "$STATUS $(jq_ rootns 'd["data"]["data"]["key"]')" "200 ns1-key"
req nsonly "$V/secret/data/nsonly" "${AUTH[@]}"
vault_check "an ns1-only secret is not visible in the root namespace: 404 {\"errors\":[]}" \
  eq "$STATUS $(raw nsonly)" "404 {\"errors\":[]}"
req nsbad "$V/secret/data/cmk" -H 'X-Vault-Namespace: nope' "${AUTH[@]}"
vault_check "unknown namespace: 404 namespace not found" eq "$STATUS $(raw nsbad)" "404 {\"errors\":[\"namespace not found\"]}"
login nsroot_login "$NS_ROLE_ID" "$NS_SECRET_ID"
vault_check "an ns1 role_id at the root: 400 invalid role" eq "$STATUS" 400
req nsls "$V/auth/token/lookup-self" "${NSH[@]}" -H "X-Vault-Token: $NSTOK"
vault_check "lookup-self in ns1: namespace_path ns1/" eq "$(jq_ nsls 'd["data"]["namespace_path"]')" "ns1/"
vault_check "log: namespace header and resolved ns recorded" \
  eq "$(vault_log_count 'e["namespace"] == "ns1" and e["ns"] == "ns1/" and e["status"] == 200')" 4

# --- sealed / uninitialised / standby ---------------------------------------------------
vault_admin POST seal >/dev/null
req sealed "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "sealed: 503 Vault is sealed" eq "$STATUS $(raw sealed)" "503 {\"errors\":[\"Vault is sealed\"]}"
login sealedlogin "$ROLE_ID" "$SECRET_ID"
vault_check "sealed: login 503 too" eq "$STATUS" 503
req sealedh "$V/sys/health"
vault_check "sealed: health 503, sealed/standby true, no cluster_name" \
  eq "$STATUS $(jq_ sealedh 'd["sealed"], d["standby"], "cluster_name" in d, d["replication_dr_mode"]')" "503 (True, True, False, 'unknown')"
req sealedhc "$V/sys/health?sealedcode=200"
vault_check "sealed: health ?sealedcode=200" eq "$STATUS" 200
req sealeds "$V/sys/seal-status"
vault_check "sealed: seal-status answers, sealed true" eq "$STATUS $(jq_ sealeds 'd["sealed"]')" "200 True"
vault_admin POST unseal >/dev/null
req unsealed "$V/secret/data/cmk?version=4" "${AUTH[@]}"
vault_check "unsealed again: 200" eq "$STATUS" 200
vault_admin POST settings '{"initialized": false}' >/dev/null
req uninit "$V/sys/health"
vault_check "uninitialised: health 501, initialized false" eq "$STATUS $(jq_ uninit 'd["initialized"], d["sealed"]')" "501 (False, True)"
vault_admin POST settings '{"initialized": true, "standby": true}' >/dev/null
req standby "$V/sys/health"; s1=$STATUS
req standbyok "$V/sys/health?standbyok=true"
vault_check "standby: health 429 (standby true), ?standbyok=true 200" \
  eq "$s1 $(jq_ standby 'd["standby"]') $STATUS" "429 True 200"
vault_admin POST settings '{"standby": false, "flavor": "openbao"}' >/dev/null
req obao "$V/secret/data/cmk" -H 'X-Vault-Token: nope'
vault_check "flavor openbao: an unknown token gets plain permission denied" \
  eq "$STATUS $(raw obao)" "403 {\"errors\":[\"permission denied\"]}"
vault_admin POST settings '{"flavor": "vault"}' >/dev/null

# --- faults ----------------------------------------------------------------------------------
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "429", "retry_after": 2}' >/dev/null
req f429 "$V/secret/data/cmk?version=4" "${AUTH[@]}"
vault_check "fault 429: Retry-After 2, rate limit quota body" \
  eq "$STATUS|$(hdr f429 Retry-After)|$(jq_ f429 'd["errors"][0]')" \
  "429|2|request path \"secret/data/cmk\": rate limit quota exceeded"
req f429b "$V/secret/data/cmk?version=4" "${AUTH[@]}"
vault_check "fault consumed: next request 200" eq "$STATUS" 200
vault_admin POST faults '{"path": "^/v1/secret/", "action": "503", "count": 2}' >/dev/null
req f503a "$V/secret/data/cmk?version=4" "${AUTH[@]}"; s1=$STATUS
req f503b "$V/secret/metadata/cmk" "${AUTH[@]}"; s2=$STATUS
req f503c "$V/secret/data/cmk?version=4" "${AUTH[@]}"; s3=$STATUS
vault_check "fault 503 x2 (Retry-After 1, Vault is sealed), then 200" \
  eq "$s1 $s2 $s3 $(hdr f503a Retry-After) $(jq_ f503a 'd["errors"][0]')" "503 503 200 1 Vault is sealed"
vault_admin POST faults '{"path": "/login$", "action": "500"}' >/dev/null
login f500 "$ROLE_ID" "$SECRET_ID"
vault_check "fault 500 on the login path" eq "$STATUS $(raw f500)" "500 {\"errors\":[\"internal error\"]}"
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "drop"}' >/dev/null
req drop "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "fault drop: no HTTP answer (curl rc $RC)" eval '[ "$STATUS" = 000 ] && [ "$RC" -ne 0 ]'
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "truncate"}' >/dev/null
req trunc "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "fault truncate: curl reports a partial body (rc $RC)" eq "$RC" 18
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "slow", "delay": 1.5}' >/dev/null
# shellcheck disable=SC2034 # t0 and t1 are read by the eval'd check below
t0=$(date +%s%N)
req slow "$V/secret/data/cmk?version=4" "${AUTH[@]}"
# shellcheck disable=SC2034 # read by the eval'd check below
t1=$(date +%s%N)
vault_check "fault slow: 200 after >= 1.5 s" eval '[ "$STATUS" = 200 ] && [ $(( (t1 - t0) / 1000000 )) -ge 1500 ]'
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "huge", "size": 3000000}' >/dev/null
req huge "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "fault huge: 200, 3000000 bytes of valid JSON" \
  eq "$STATUS $(wc -c <"$VAULT_DIR/huge.body") $(jq_ huge 'len(d["data"]["data"]["pad"]) > 2900000')" "200 3000000 True"
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "malformed"}' >/dev/null
req malf "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "fault malformed: 200, JSON content type, unparsable body" \
  eval '[ "$STATUS" = 200 ] && [ "$(hdr malf Content-Type)" = application/json ] && [ -z "$(jq_ malf 1)" ]'
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "invalid_token"}' >/dev/null
req finv "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "fault invalid_token: 403 invalid token despite the root token" eq "$STATUS $(raw finv)" "403 $E_INVALID"
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "redirect"}' >/dev/null
req redir "$V/secret/data/cmk?version=4" "${AUTH[@]}"
vault_check "fault redirect: 307 to localhost" \
  eq "$STATUS $(hdr redir Location)" "307 https://localhost:$VAULT_PORT/v1/secret/data/cmk?version=4"
vault_admin POST faults '{"path": "^/v1/secret/data/cmk$", "action": "status", "status": 502, "body": "<html>bad gateway</html>", "headers": {"Content-Type": "text/html"}}' >/dev/null
req f502 "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "fault status: 502 with an HTML body" eq "$STATUS $(raw f502) $(hdr f502 Content-Type)" "502 <html>bad gateway</html> text/html"
vault_admin POST faults '{"path": "/data/cmk$", "namespace": "ns1", "action": "sealed"}' >/dev/null
req fnsroot "$V/secret/data/cmk?version=4" "${AUTH[@]}"; s1=$STATUS
req fns "$V/secret/data/cmk" "${NSH[@]}" "${AUTH[@]}"
vault_check "a fault limited to namespace ns1 skips the root namespace, hits ns1" eq "$s1 $STATUS" "200 503"
vault_check "... with 503 Vault is sealed, no Retry-After" \
  eq "$(raw fns)|$(hdr fns Retry-After)" "{\"errors\":[\"Vault is sealed\"]}|"
vault_admin POST faults '{"path": "^/v1/secret/data/never$", "action": "drop", "count": -1}' >/dev/null
vault_check "admin: faults listed with remaining count" \
  eq "$(vault_admin GET faults | "$VAULT_PY" -c 'import json,sys; print([f["remaining"] for f in json.load(sys.stdin)])')" "[-1]"
vault_admin DELETE faults >/dev/null

# --- admin API ------------------------------------------------------------------------------
vault_admin POST secrets/add '{"path": "cmk", "data": {"key": "key-admin"}}' >"$VAULT_DIR/add.out"
req adm "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "admin secrets/add: a new current version" \
  eq "$(cat "$VAULT_DIR/add.out") $(jq_ adm 'd["data"]["data"]["key"]')" '{"version":7} key-admin'
vault_admin POST secrets/delete "{\"path\": \"cmk\", \"versions\": [7], \"deletion_time\": $FUTURE}" >/dev/null
req admfut "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "admin secrets/delete with a future deletion_time: still 200" eq "$STATUS" 200
vault_admin POST secrets/delete '{"path": "cmk", "versions": [7]}' >/dev/null
req admdel "$V/secret/data/cmk" "${AUTH[@]}"; s1=$STATUS
vault_admin POST secrets/undelete '{"path": "cmk", "versions": [7]}' >/dev/null
req admund "$V/secret/data/cmk" "${AUTH[@]}"; s2=$STATUS
vault_admin POST secrets/destroy '{"path": "cmk", "versions": [1]}' >/dev/null
req admdes "$V/secret/data/cmk?version=1" "${AUTH[@]}"
vault_check "admin secrets/delete (404), undelete (200), destroy (404 destroyed)" \
  eq "$s1 $s2 $STATUS $(jq_ admdes 'd["data"]["metadata"]["destroyed"]')" "404 200 404 True"
vault_admin POST secrets/add '{"namespace": "ns1", "path": "cmk", "data": {"key": "ns1-two"}}' >/dev/null
req admns "$V/secret/data/cmk" "${NSH[@]}" "${AUTH[@]}"
vault_check "admin secrets/add in a namespace" eq "$(jq_ admns 'd["data"]["data"]["key"], d["data"]["metadata"]["version"]')" "('ns1-two', 2)"
MINT=$(vault_admin POST tokens '{"policies": ["cmk-read"], "ttl": 60}' | "$VAULT_PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
req mint "$V/secret/data/cmk" -H "X-Vault-Token: $MINT"
vault_check "admin tokens: a minted token with cmk-read" eq "$STATUS" 200
vault_admin POST tokens/ttl "{\"token\": \"$MINT\", \"ttl\": 0}" >/dev/null
req mintexp "$V/secret/data/cmk" -H "X-Vault-Token: $MINT"
vault_check "admin tokens/ttl 0: the token is expired" eq "$STATUS $(raw mintexp)" "403 $E_INVALID"
vault_admin POST policies '{"name": "cmk-read", "rules": {"secret/data/cmk": ["deny"]}}' >/dev/null
req denyp "$V/secret/data/cmk" -H "X-Vault-Token: $READER"
vault_check "admin policies: deny wins" eq "$STATUS" 403
vault_check "admin state: ports and namespaces" \
  eq "$(vault_admin GET state | "$VAULT_PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["ports"]["https"], sorted(d["namespaces"]))')" "$VAULT_PORT ['', 'ns1/']"
vault_admin POST reset >/dev/null
req afterreset "$V/secret/data/cmk" "${AUTH[@]}"
vault_check "admin reset: the config's state again (current version 4)" \
  eq "$STATUS $(jq_ afterreset 'd["data"]["metadata"]["version"]')" "200 4"
req resettok "$V/secret/data/cmk" -H "X-Vault-Token: $NSTOK" "${NSH[@]}"
vault_check "admin reset: issued tokens are gone" eq "$STATUS" 403
req other "$VAULT_ADMIN/v1/sys/health"
vault_check "the admin port serves no /v1 (404)" eq "$STATUS" 404

# --- the request log --------------------------------------------------------------------------
vault_check "log: requests with and without a token" \
  eval '[ "$(vault_log_count "e[\"token\"] is False")" -gt 0 ] && [ "$(vault_log_count "e[\"token\"] is True")" -gt 0 ]'
vault_check "log: never holds a token, a secret_id or a secret value's token" \
  eval '! grep -qF -e "$ROOT" -e "$SECRET_ID" -e "${TOK:4:40}" -e "${NSTOK:4:40}" -e "$READER" "$VAULT_LOG"'
vault_check "log: token_state missing / invalid recorded" \
  eval '[ "$(vault_log_count "e[\"token_state\"] == \"missing\"")" -gt 0 ] && [ "$(vault_log_count "e[\"token_state\"] == \"invalid\"")" -gt 0 ]'
vault_check "log: a dropped request has status null and fault drop" \
  eq "$(vault_log_count 'e["fault"] == "drop" and e["status"] is None')" 1
vault_check "log: successful logins name the role" \
  eval '[ "$(vault_log_count "e.get(\"role_name\") == \"cmkfs\" and e[\"status\"] == 200")" -ge 4 ]'
vault_check "log: admin calls are not logged" eval '! grep -q _emulator "$VAULT_LOG"'

# --- TLS trust --------------------------------------------------------------------------------
curl -sS --max-time 10 --cacert "$VAULT_CERTS/other-ca.pem" -o /dev/null "$V/sys/health" 2>/dev/null; RC=$?
vault_check "TLS: a client trusting another CA refuses the server (rc $RC)" eq "$RC" 60
curl -sS --max-time 10 --cacert "$VAULT_CA" -o /dev/null "https://localhost:$VAULT_PORT/v1/sys/health" 2>/dev/null; RC=$?
vault_check "TLS: the certificate also names localhost" eq "$RC" 0

# --- transit ------------------------------------------------------------------------------------
# [TOKEN=T] tpost NAME PATH JSON [curl args]: POST to /v1/PATH with token T
# (default: the root token).
tpost() {
  local name=$1 path=$2 body=$3; shift 3
  req "$name" -X POST "$V/$path" --data "$body" -H "X-Vault-Token: ${TOKEN:-$ROOT}" "$@"
}
# tamper CIPHERTEXT: the same with one bit of the GCM tag flipped
tamper() {
  "$VAULT_PY" -c 'import base64,sys; p,v,b=sys.argv[1].split(":"); r=bytearray(base64.b64decode(b)); r[-1]^=1; print("%s:%s:%s" % (p, v, base64.b64encode(bytes(r)).decode()))' "$1"
}
E_TOO_OLD='{"errors":["ciphertext or signature version is disallowed by policy (too old)"]}'
if [ "$HAVE_CRYPTO" != 1 ]; then
  echo "SKIP: transit and Kubernetes checks (no python3-cryptography for $VAULT_PY)"
else
vault_admin DELETE log >/dev/null
PT=$(printf 'customer master key' | base64)
req tlist -X LIST "$V/transit/keys" "${AUTH[@]}"
vault_check "transit LIST keys: the configured keys" eq "$STATUS $(jq_ tlist 'd["data"]["keys"], d["mount_type"]')" "200 (['aged', 'cmk'], 'transit')"
req tread "$V/transit/keys/cmk" "${AUTH[@]}"
vault_check "transit read key: Vault's fields for aes256-gcm96" \
  eq "$STATUS $(jq_ tread 'list(d["data"])')" \
  "200 ['allow_plaintext_backup', 'auto_rotate_period', 'deletion_allowed', 'derived', 'exportable', 'imported_key', 'keys', 'latest_version', 'min_available_version', 'min_decryption_version', 'min_encryption_version', 'name', 'supports_decryption', 'supports_derivation', 'supports_encryption', 'supports_signing', 'type']"
vault_check "transit read key: type, versions, keys {\"1\": unix time}, supports_*" \
  eq "$(jq_ tread 'd["data"]["type"], d["data"]["latest_version"], d["data"]["min_decryption_version"], d["data"]["min_encryption_version"], list(d["data"]["keys"]), type(d["data"]["keys"]["1"]).__name__, d["data"]["supports_encryption"], d["data"]["supports_signing"], d["data"]["deletion_allowed"]')" \
  "('aes256-gcm96', 1, 1, 0, ['1'], 'int', True, False, False)"
req tnone "$V/transit/keys/nope" "${AUTH[@]}"
vault_check "transit read of an unknown key: 404 {\"errors\":[]}" eq "$STATUS $(raw tnone)" "404 {\"errors\":[]}"
tpost enc1 transit/encrypt/cmk "{\"plaintext\": \"$PT\"}"
CT1=$(jq_ enc1 'd["data"]["ciphertext"]')
vault_check "encrypt: vault:v1: + base64(12-byte nonce, ciphertext, 16-byte tag), key_version 1" \
  eq "$STATUS ${CT1:0:9} $(jq_ enc1 'len(__import__("base64").b64decode(d["data"]["ciphertext"][9:])), d["data"]["key_version"], d["mount_type"]')" \
  "200 vault:v1: (47, 1, 'transit')"
tpost dec1 transit/decrypt/cmk "{\"ciphertext\": \"$CT1\"}"
vault_check "decrypt: the plaintext back" eq "$STATUS $(jq_ dec1 'd["data"]["plaintext"]')" "200 $PT"
tpost tamp transit/decrypt/cmk "{\"ciphertext\": \"$(tamper "$CT1")\"}"
vault_check "decrypt of a tampered ciphertext: 400 cipher: message authentication failed" \
  eq "$STATUS $(raw tamp)" '400 {"errors":["cipher: message authentication failed"]}'
tpost nopfx transit/decrypt/cmk '{"ciphertext": "v1:abc"}'; e1=$(jq_ nopfx 'd["errors"][0]')
tpost nob64 transit/decrypt/cmk '{"ciphertext": "vault:v1:@@@@"}'; e2=$(jq_ nob64 'd["errors"][0]')
tpost toonew transit/decrypt/cmk '{"ciphertext": "vault:v7:AAAA"}'; e3=$(jq_ toonew 'd["errors"][0]')
tpost short transit/decrypt/cmk '{"ciphertext": "vault:v1:AAAA"}'; e4=$(jq_ short 'd["errors"][0]')
vault_check "bad ciphertexts: 400 invalid ciphertext: no prefix / could not decode base64 / version is too new / length" \
  eq "$e1|$e2|$e3|$e4" \
  "invalid ciphertext: no prefix|invalid ciphertext: could not decode base64|invalid ciphertext: version is too new|invalid ciphertext length"
tpost nokey transit/decrypt/nope "{\"ciphertext\": \"$CT1\"}"
vault_check "decrypt with an unknown key: 400 encryption key not found" \
  eq "$STATUS $(raw nokey)" '400 {"errors":["encryption key not found"]}'
tpost nopt transit/encrypt/cmk '{}'; s1="$STATUS $(jq_ nopt 'd["errors"][0]')"
tpost badpt transit/encrypt/cmk '{"plaintext": "abc"}'
vault_check "encrypt: missing plaintext / plaintext not base64 (Go's error text)" \
  eq "$s1|$STATUS $(jq_ badpt 'd["errors"][0]')" \
  "400 missing plaintext to encrypt|400 illegal base64 data at input byte 0"
tpost rot transit/keys/cmk/rotate '{}'
vault_check "rotate: 200 with the key, latest_version 2" eq "$STATUS $(jq_ rot 'd["data"]["latest_version"], sorted(d["data"]["keys"])')" "200 (2, ['1', '2'])"
tpost enc2 transit/encrypt/cmk "{\"plaintext\": \"$PT\"}"
tpost encv1 transit/encrypt/cmk "{\"plaintext\": \"$PT\", \"key_version\": 1}"
vault_check "encrypt after rotation: v2; key_version 1 still allowed (min_encryption_version 0)" \
  eq "$(jq_ enc2 'd["data"]["ciphertext"][:9], d["data"]["key_version"]') $(jq_ encv1 'd["data"]["ciphertext"][:9]')" "('vault:v2:', 2) vault:v1:"
tpost rw transit/rewrap/cmk "{\"ciphertext\": \"$CT1\"}"
CT1R=$(jq_ rw 'd["data"]["ciphertext"]')
vault_check "rewrap v1 -> v2" eq "$STATUS ${CT1R:0:9} $(jq_ rw 'd["data"]["key_version"]')" "200 vault:v2: 2"
tpost cfg2 transit/keys/cmk/config '{"min_decryption_version": 2}'
vault_check "config min_decryption_version 2: 200, v1 archived (keys lists only 2)" \
  eq "$STATUS $(jq_ cfg2 'd["data"]["min_decryption_version"], list(d["data"]["keys"])')" "200 (2, ['2'])"
tpost old1 transit/decrypt/cmk "{\"ciphertext\": \"$CT1\"}"
vault_check "decrypt of a v1 ciphertext below min_decryption_version: 400 (too old), exact body" \
  eq "$STATUS $(raw old1)" "400 $E_TOO_OLD"
tpost new1 transit/decrypt/cmk "{\"ciphertext\": \"$CT1R\"}"
vault_check "the rewrapped ciphertext decrypts" eq "$STATUS $(jq_ new1 'd["data"]["plaintext"]')" "200 $PT"
tpost rwold transit/rewrap/cmk "{\"ciphertext\": \"$CT1\"}"
vault_check "rewrap of a too-old ciphertext: 400 too old" eq "$STATUS $(raw rwold)" "400 $E_TOO_OLD"
tpost cfgbad1 transit/keys/cmk/config '{"min_decryption_version": 9}'; e1=$(jq_ cfgbad1 'd["errors"][0]')
tpost cfgbad2 transit/keys/cmk/config '{"min_encryption_version": 1}'; e2=$(jq_ cfgbad2 'd["errors"][0]')
tpost cfgbad3 transit/keys/nope/config '{"deletion_allowed": true}'; e3=$(jq_ cfgbad3 'd["errors"][0]')
vault_check "config errors as Vault words them" \
  eq "$e1|$e2|$e3" \
  "cannot set min decryption version of 9, latest key version is 2|cannot set min encryption/decryption values; min encryption version of 1 must be greater than or equal to min decryption version of 2|no existing key named nope could be found"
tpost encold transit/encrypt/cmk "{\"plaintext\": \"$PT\", \"key_version\": 1}"; e1=$(jq_ encold 'd["errors"][0]')
tpost cfgenc transit/keys/cmk/config '{"min_encryption_version": 2}'
tpost encold2 transit/encrypt/cmk "{\"plaintext\": \"$PT\", \"key_version\": 1}"; e2=$(jq_ encold2 'd["errors"][0]')
tpost enchigh transit/encrypt/cmk "{\"plaintext\": \"$PT\", \"key_version\": 5}"; e3=$(jq_ enchigh 'd["errors"][0]')
vault_check "encrypt key_version: archived (no such key version), below min_encryption_version, above latest" \
  eq "$e1|$e2|$e3" \
  "no such key version|requested version for encryption is less than the minimum encryption key version|requested version for encryption is higher than the latest key version"
req aged "$V/transit/keys/aged" "${AUTH[@]}"
vault_check "a configured key with 3 versions, min_decryption_version 2" \
  eq "$(jq_ aged 'd["data"]["latest_version"], d["data"]["min_decryption_version"], sorted(d["data"]["keys"])')" "(3, 2, ['2', '3'])"
tpost upsert transit/encrypt/fresh "{\"plaintext\": \"$PT\"}"; s1=$STATUS
req fresh "$V/transit/keys/fresh" "${AUTH[@]}"
vault_check "encrypt to a missing key with create (root): the key is made (upsert)" \
  eq "$s1 $STATUS $(jq_ fresh 'd["data"]["latest_version"]')" "200 200 1"
TOKEN=$ENC_UPDATE tpost upd_only transit/encrypt/other "{\"plaintext\": \"$PT\"}"; s1="$STATUS $(raw upd_only)"
TOKEN=$ENC_UPDATE tpost upd_ok transit/encrypt/cmk "{\"plaintext\": \"$PT\"}"
vault_check "update-only policy: a missing key needs create (403), an existing one is an update (200)" \
  eq "$s1|$STATUS" "403 $E_POLICY|200"
TOKEN=$ENC_CREATE tpost noups transit-noups/encrypt/x "{\"plaintext\": \"$PT\"}"
vault_check "disable_upsert mount: create allowed, still 400 encryption key not found" \
  eq "$STATUS $(jq_ noups 'd["errors"][0]')" "400 encryption key not found"
req del1 -X DELETE "$V/transit/keys/fresh" "${AUTH[@]}"; s1="$STATUS $(jq_ del1 'd["errors"][0]')"
tpost delcfg transit/keys/fresh/config '{"deletion_allowed": true}'
req del2 -X DELETE "$V/transit/keys/fresh" "${AUTH[@]}"; s2=$STATUS
req del3 "$V/transit/keys/fresh" "${AUTH[@]}"
vault_check "delete: refused until deletion_allowed, then 204, then 404" \
  eq "$s1|$s2 $STATUS" "400 error deleting policy fresh: deletion is not allowed for this key|204 404"
tpost mk transit/keys/made '{"type": "aes128-gcm96"}'; s1="$STATUS $(jq_ mk 'd["data"]["type"], d["data"]["latest_version"]')"
tpost mk2 transit/keys/made '{}'; s2="$STATUS $(jq_ mk2 'd["warnings"]')"
tpost mkbad transit/keys/bad '{"type": "aes512-gcm"}'
vault_check "create key (aes128-gcm96), again (warning), unknown type (400)" \
  eq "$s1|$s2|$STATUS $(jq_ mkbad 'd["errors"][0]')" \
  "200 ('aes128-gcm96', 1)|200 ['key made already existed']|400 unknown key type aes512-gcm"
req rdenc "$V/transit/encrypt/cmk" "${AUTH[@]}"
req badp "$V/transit/hmac/cmk" -X POST "${AUTH[@]}" --data '{}'
vault_check "GET on encrypt/: 405; a path the emulator lacks (hmac): 404 unsupported path" \
  eq "$(jq_ rdenc 'd["errors"]') $STATUS" "['1 error occurred:\\n\\t* unsupported operation\\n\\n'] 404"
# namespaces
tpost nsenc transit/encrypt/nskey "{\"plaintext\": \"$PT\"}" "${NSH[@]}"
NSCT=$(jq_ nsenc 'd["data"]["ciphertext"]')
req nsdec -X POST "$V/ns1/transit/decrypt/nskey" "${AUTH[@]}" --data "{\"ciphertext\": \"$NSCT\"}"
vault_check "transit in ns1: encrypt with X-Vault-Namespace, decrypt with the /v1/ns1/ prefix" \
  eq "$STATUS $(jq_ nsdec 'd["data"]["plaintext"]')" "200 $PT"
tpost nsroot transit/decrypt/nskey "{\"ciphertext\": \"$NSCT\"}"
vault_check "the ns1 key does not exist in the root namespace (400 encryption key not found)" \
  eq "$STATUS $(jq_ nsroot 'd["errors"][0]')" "400 encryption key not found"
# admin API
vault_admin POST transit/transit/cmk '{"rotate": true, "min_decryption_version": 3, "min_encryption_version": 3}' >"$VAULT_DIR/adm.out"
vault_check "admin transit: rotate and raise min_decryption_version in one call" \
  eq "$("$VAULT_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["latest_version"], d["min_decryption_version"], list(d["keys"]))' "$VAULT_DIR/adm.out")" "3 3 ['3']"
tpost old2 transit/decrypt/cmk "{\"ciphertext\": \"$CT1R\"}"
vault_check "... so the v2 ciphertext is too old now" eq "$STATUS $(raw old2)" "400 $E_TOO_OLD"
ADMCT=$(vault_admin POST transit/transit/cmk/encrypt "{\"plaintext\": \"$PT\"}" | "$VAULT_PY" -c 'import json,sys; print(json.load(sys.stdin)["ciphertext"])')
tpost admdec transit/decrypt/cmk "{\"ciphertext\": \"$ADMCT\"}"
vault_check "admin transit encrypt (no token): the API decrypts it" eq "$STATUS ${ADMCT:0:9} $(jq_ admdec 'd["data"]["plaintext"]')" "200 vault:v3: $PT"
vault_admin POST transit/transit/admkey '{"namespace": "ns1", "versions": 2}' >/dev/null
req admns "$V/transit/keys/admkey" "${NSH[@]}" "${AUTH[@]}"
vault_check "admin transit: a key created in ns1 with 2 versions" eq "$STATUS $(jq_ admns 'd["data"]["latest_version"]')" "200 2"

# --- Kubernetes auth ---------------------------------------------------------------------------
KEY=$VAULT_DIR/k8s-sa.key
klogin() { local name=$1 body=$2; shift 2; req "$name" -X POST "$V/auth/kubernetes/login" --data "$body" "$@"; }
JWT=$(vault_k8s_jwt "$KEY" store cmkfs 3600 6d5c1f4e-0000-4000-8000-00000000c0de)
klogin kl "{\"role\": \"cmkfs\", \"jwt\": \"$JWT\"}"
KTOK=$(jq_ kl 'd["auth"]["client_token"]')
vault_check "kubernetes login (projected token): 200, the approle auth block shape" \
  eq "$STATUS $(jq_ kl 'list(d["auth"])')" \
  "200 ['client_token', 'accessor', 'policies', 'token_policies', 'metadata', 'lease_duration', 'renewable', 'entity_id', 'token_type', 'orphan', 'mfa_requirement', 'num_uses']"
vault_check "kubernetes login: metadata, policies, TTL 3600, renewable" \
  eq "$(jq_ kl 'd["auth"]["metadata"], d["auth"]["policies"], d["auth"]["lease_duration"], d["auth"]["renewable"], d["auth"]["token_type"]')" \
  "({'role': 'cmkfs', 'service_account_name': 'cmkfs', 'service_account_namespace': 'store', 'service_account_secret_name': '', 'service_account_uid': '6d5c1f4e-0000-4000-8000-00000000c0de'}, ['cmk-transit', 'default'], 3600, True, 'service')"
req kls "$V/auth/token/lookup-self" -H "X-Vault-Token: $KTOK"
vault_check "lookup-self: path auth/kubernetes/login, display_name kubernetes-store-cmkfs" \
  eq "$(jq_ kls 'd["data"]["path"], d["data"]["display_name"]')" "('auth/kubernetes/login', 'kubernetes-store-cmkfs')"
LEGACY=$(vault_jwt_sign "$KEY" "{\"iss\": \"$VAULT_K8S_ISSUER\", \"kubernetes.io/serviceaccount/namespace\": \"store\", \"kubernetes.io/serviceaccount/secret.name\": \"cmkfs-token-x1\", \"kubernetes.io/serviceaccount/service-account.name\": \"cmkfs\", \"kubernetes.io/serviceaccount/service-account.uid\": \"u-1\", \"sub\": \"system:serviceaccount:store:cmkfs\"}")
klogin kleg "{\"role\": \"cmkfs\", \"jwt\": \"$LEGACY\"}"
vault_check "kubernetes login with a legacy secret token (no exp): 200, secret name in metadata" \
  eq "$STATUS $(jq_ kleg 'd["auth"]["metadata"]["service_account_secret_name"], d["auth"]["metadata"]["service_account_uid"]')" "200 ('cmkfs-token-x1', 'u-1')"
klogin knorole "{\"jwt\": \"$JWT\"}"; s1="$STATUS $(raw knorole)"
klogin knojwt '{"role": "cmkfs"}'; s2="$STATUS $(raw knojwt)"
klogin kbadrole "{\"role\": \"x\", \"jwt\": \"$JWT\"}"
vault_check "kubernetes login: missing role / missing jwt / unknown role (400)" \
  eq "$s1|$s2|$STATUS $(raw kbadrole)" \
  '400 {"errors":["missing role"]}|400 {"errors":["missing jwt"]}|400 {"errors":["invalid role name \"x\""]}'
klogin kother "{\"role\": \"cmkfs\", \"jwt\": \"$(vault_k8s_jwt "$VAULT_DIR/k8s-other.key" store cmkfs)\"}"; s1="$STATUS $(raw kother)"
klogin kjunk '{"role": "cmkfs", "jwt": "not.a.jwt"}'
vault_check "kubernetes login: another signing key / a malformed JWT: 403 permission denied" \
  eq "$s1|$STATUS $(raw kjunk)" '403 {"errors":["permission denied"]}|403 {"errors":["permission denied"]}'
klogin kns "{\"role\": \"cmkfs\", \"jwt\": \"$(vault_k8s_jwt "$KEY" other cmkfs)\"}"; s1="$STATUS $(jq_ kns 'd["errors"][0]')"
klogin kname "{\"role\": \"cmkfs\", \"jwt\": \"$(vault_k8s_jwt "$KEY" store intruder)\"}"; s2="$STATUS $(jq_ kname 'd["errors"][0]')"
klogin kexp "{\"role\": \"cmkfs\", \"jwt\": \"$(vault_k8s_jwt "$KEY" store cmkfs -600)\"}"
vault_check "kubernetes login: wrong namespace / wrong name / expired: 403 with the plugin's texts" \
  eq "$s1|$s2|$STATUS $(jq_ kexp 'd["errors"][0]')" \
  "403 namespace not authorized|403 service account name not authorized|403 invalid expiration time (exp) claim: token is expired"
klogin kiss "{\"role\": \"cmkfs\", \"jwt\": \"$(VAULT_K8S_ISSUER=https://elsewhere vault_k8s_jwt "$KEY" store cmkfs)\"}"; s1="$STATUS $(jq_ kiss 'd["errors"][0]')"
klogin kaud "{\"role\": \"aud\", \"jwt\": \"$JWT\"}"; s2="$STATUS $(jq_ kaud 'd["errors"][0]')"
klogin kaud2 "{\"role\": \"aud\", \"jwt\": \"$(vault_jwt_sign "$KEY" '{"aud": "vault", "iss": "'"$VAULT_K8S_ISSUER"'", "kubernetes.io": {"namespace": "staging", "serviceaccount": {"name": "any", "uid": "u-2"}}}')\"}"
vault_check "kubernetes login: wrong issuer, missing audience (403); audience + globs (200)" \
  eq "$s1|$s2|$STATUS" \
  "403 invalid issuer (iss) claim|403 invalid audience (aud) claim: audience claim does not match any expected audience|200"
vault_admin POST kubernetes/kubernetes '{"revoked_service_account_uids": ["u-1"]}' >/dev/null
klogin krev "{\"role\": \"cmkfs\", \"jwt\": \"$LEGACY\"}"
vault_check "a service account the (emulated) TokenReview refuses: 403 permission denied" \
  eq "$STATUS $(raw krev)" '403 {"errors":["permission denied"]}'
# the Kubernetes token against transit, and a policy revoked while it lives
TOKEN=$KTOK tpost kenc transit/encrypt/cmk "{\"plaintext\": \"$PT\"}"
KCT=$(jq_ kenc 'd["data"]["ciphertext"]')
TOKEN=$KTOK tpost kdec transit/decrypt/cmk "{\"ciphertext\": \"$KCT\"}"; s1=$STATUS
TOKEN=$KTOK tpost kother2 transit/decrypt/aged "{\"ciphertext\": \"$KCT\"}"
vault_check "the Kubernetes token: encrypt + decrypt with cmk (200), another key (403)" eq "$s1 $STATUS" "200 403"
vault_admin POST policies/cmk-transit '{"rules": {"transit/encrypt/cmk": ["update"]}}' >/dev/null
TOKEN=$KTOK tpost krevoked transit/decrypt/cmk "{\"ciphertext\": \"$KCT\"}"; s1="$STATUS $(raw krevoked)"
TOKEN=$KTOK tpost kstill transit/encrypt/cmk "{\"plaintext\": \"$PT\"}"
vault_check "admin policies/NAME drops decrypt: the same token gets 403 at once, encrypt still 200" \
  eq "$s1|$STATUS" "403 $E_POLICY|200"
vault_check "log: transit requests have kind transit and key_version" \
  eq "$(vault_log_count 'e["kind"] == "transit" and e.get("key_version") == 3 and e["path"] == "/v1/transit/decrypt/cmk"')" 2
vault_check "log: successful Kubernetes logins name the role and service account" \
  eq "$(vault_log_count 'e.get("role_name") == "cmkfs" and e.get("service_account") == "store/cmkfs"')" 2
vault_check "log: never holds a JWT, a plaintext or a ciphertext" \
  eval '! grep -qF -e "${JWT:0:40}" -e "${LEGACY:0:40}" -e "$PT" -e "${KCT:9:30}" "$VAULT_LOG"'
fi

vault_done
