#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Self-test of the Azure Key Vault emulator with curl: token endpoint (client
# secret, certificate and federated assertions), IMDS, the secrets data plane
# (current/given version, paging, 401 challenge, 403/404 bodies), the keys
# data plane (create, get, versions, update, rotate, soft delete/recover,
# wrap/unwrap cross-checked with OpenSSL, disabled / key_ops / nbf-exp
# errors), RBAC, fault injection (429/503 + Retry-After, slow, dropped,
# truncated, redirect), the request log and TLS trust. Loopback only; every
# curl call is bounded by --max-time. Ends with "N passed, M failed".
set -u
. "$(dirname "${BASH_SOURCE[0]}")/az_lib.sh"

for tool in curl openssl; do
  command -v "$tool" >/dev/null || {
    echo "SKIP: $tool is not installed"; echo "0 passed, 0 failed, 1 skipped"; exit 77; }
done

TENANT=0b5ee0f1-6a9e-4a9e-9d1b-7f0c2d3e4a51
CID=cmkfs-client
CSECRET='s3cret~value.with-symbols'
V1=1a2b3c4d5e6f708192a3b4c5d6e7f801
V2=f0e1d2c3b4a5968778695a4b3c2d1e0f
V3=0000000000000000000000000000000a
V4=9999999999999999999999999999999b
V5=5555555555555555555555555555555c
NOW=$(date +%s)
PAST=$((NOW - 86400))
FUTURE=$((NOW + 86400))

CERT_CID=cmkfs-cert-client
FED_CID=cmkfs-fed-client
FED_ISS=https://oidc.cmkfs.test/cluster-1/
FED_SUB=system:serviceaccount:cmkfs:cmkfs-sa
K1=0000000000000000000000000000a001
KD1=0000000000000000000000000000d001
KD2=0000000000000000000000000000d002
KV1=11111111111111111111111111111111
KV2=22222222222222222222222222222222
KV3=33333333333333333333333333333333
KV4=44444444444444444444444444444444
KV5=55555555555555555555555555555555

az_setup || exit 1
KEYS=$AZ_DIR/keys
mkdir -p "$KEYS"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$KEYS/wrap2048.key" 2>/dev/null
az_client_cert "$KEYS" client          # registered certificate credential
az_client_cert "$KEYS" stranger        # a certificate Entra does not know
az_rsa_key "$KEYS/issuer.key"          # the federated issuer's signing key
az_rsa_key "$KEYS/other.key"           # someone else's key
cat > "$AZ_DIR/config.json" <<EOF
{
  "tenant": "$TENANT",
  "clients": {"$CID": "$CSECRET"},
  "certificates": {"$CERT_CID": $(az_json_file "$KEYS/client.pem")},
  "federated": {"$FED_CID": [{"issuer": "$FED_ISS", "subject": "$FED_SUB",
                              "audience": "api://AzureADTokenExchange",
                              "jwks": $(az_json_file "$KEYS/issuer.key.pub")}]},
  "page_size": 2,
  "keys": {
    "wrap2048": {"versions": [{"id": "$K1", "pem": $(az_json_file "$KEYS/wrap2048.key")}]},
    "kdis": {"versions": [{"id": "$KD1"}, {"id": "$KD2", "enabled": false}]},
    "kops": [{"key_ops": ["wrapKey", "encrypt"]}],
    "kexp": [{"nbf": $PAST, "exp": $((NOW - 3600))}],
    "knbf": [{"nbf": $FUTURE}],
    "kver": {"versions": [{"id": "$KV3"}, {"id": "$KV1"}, {"id": "$KV5"},
                          {"id": "$KV2"}, {"id": "$KV4"}]},
    "kdel": [{"tags": {"purpose": "delete-me"}}]
  },
  "secrets": {
    "cmk": {"versions": [
      {"id": "$V1", "value": "key-one", "created": 1700000001},
      {"id": "$V2", "value": "key-two", "created": 1700000002, "enabled": false},
      {"id": "$V3", "value": "key-three", "created": 1700000003,
       "nbf": $FUTURE, "exp": $PAST, "contentType": "application/octet-stream",
       "tags": {"purpose": "cmk"}},
      {"id": "$V4", "value": "key-four", "created": 1700000004},
      {"id": "$V5", "value": "key-five", "created": 1700000005}
    ]},
    "cmk-off": {"versions": [
      {"value": "old", "created": 1700000001},
      {"value": "new", "created": 1700000002, "enabled": false}
    ]}
  }
}
EOF
az_start "$AZ_DIR/config.json" || { az_bad "emulator starts"; az_done; exit 1; }
az_ok "emulator starts (https $AZ_PORT, imds $AZ_IMDS_PORT)"

# req NAME CURL-ARGS...: body in $AZ_DIR/NAME.body, headers in NAME.hdr;
# sets STATUS (000 when no HTTP answer) and RC (curl's exit code).
req() {
  local name=$1; shift
  STATUS=$(curl -sS --max-time 15 --cacert "$AZ_CA" -o "$AZ_DIR/$name.body" \
    -D "$AZ_DIR/$name.hdr" -w '%{http_code}' "$@" 2>"$AZ_DIR/$name.err")
  RC=$?
}
# jq_ NAME PYTHON-EXPR: evaluates EXPR with d = the JSON body of NAME.
jq_() {
  "$AZ_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$AZ_DIR/$1.body" "$2" 2>/dev/null
}
hdr() { grep -i "^$2:" "$AZ_DIR/$1.hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
eq() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }; }

KV="$AZ_URL"
API="api-version=7.4"

# --- token endpoint (client credentials) --------------------------------------
token_req() {
  req "$1" "$AZ_URL/$2/oauth2/v2.0/token" --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$3" --data-urlencode "client_secret=$4" \
    --data-urlencode "scope=$5"
}
token_req tok "$TENANT" "$CID" "$CSECRET" "https://vault.azure.net/.default"
az_check "token: 200" eq "$STATUS" 200
az_check "token: token_type Bearer, expires_in 3599 (a number)" \
  eq "$(jq_ tok 'd["token_type"], d["expires_in"], d["ext_expires_in"], type(d["expires_in"]).__name__')" \
  "('Bearer', 3599, 3599, 'int')"
TOKEN=$(jq_ tok 'd["access_token"]')
az_check "token: a JWT-shaped access_token" eval '[[ "$TOKEN" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]'
az_check "token: no-store cache header" eq "$(hdr tok Cache-Control)" "no-store, no-cache"

token_req tokbad "$TENANT" "$CID" wrong "https://vault.azure.net/.default"
az_check "token: bad secret -> 401" eq "$STATUS" 401
az_check "token: bad secret -> invalid_client, AADSTS7000215" \
  eq "$(jq_ tokbad 'd["error"], d["error_codes"], d["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")')" \
  "('invalid_client', [7000215], True)"
az_check "token: error has trace_id, correlation_id, timestamp" \
  eq "$(jq_ tokbad 'all(k in d for k in ("trace_id", "correlation_id", "timestamp"))')" True
token_req tokten 00000000-0000-0000-0000-000000000000 "$CID" "$CSECRET" "https://vault.azure.net/.default"
az_check "token: unknown tenant -> 400 AADSTS90002" \
  eq "$STATUS $(jq_ tokten 'd["error"], d["error_codes"]')" "400 ('invalid_request', [90002])"
token_req tokcid "$TENANT" nobody "$CSECRET" "https://vault.azure.net/.default"
az_check "token: unknown client -> 400 unauthorized_client AADSTS700016" \
  eq "$STATUS $(jq_ tokcid 'd["error"], d["error_codes"]')" "400 ('unauthorized_client', [700016])"
token_req tokscope "$TENANT" "$CID" "$CSECRET" "https://vault.azure.net"
az_check "token: scope without /.default -> 400 invalid_scope" \
  eq "$STATUS $(jq_ tokscope 'd["error"]')" "400 invalid_scope"
req tokget "$AZ_URL/$TENANT/oauth2/v2.0/token"
az_check "token: GET -> 400" eq "$STATUS" 400

# --- IMDS -----------------------------------------------------------------------
IMDS_Q="api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"
req imds0 "$AZ_IMDS/metadata/identity/oauth2/token?$IMDS_Q"
az_check "imds: no Metadata header -> 400" eq "$STATUS" 400
az_check "imds: no Metadata header -> invalid_request body" \
  eq "$(jq_ imds0 'd')" "{'error': 'invalid_request', 'error_description': 'Required metadata header not specified'}"
req imds "$AZ_IMDS/metadata/identity/oauth2/token?$IMDS_Q" -H 'Metadata: true'
az_check "imds: 200 with Metadata: true (plain HTTP port)" eq "$STATUS" 200
az_check "imds: every field is a string" \
  eq "$(jq_ imds 'all(isinstance(d[k], str) for k in ("access_token","expires_in","expires_on","not_before","resource","token_type"))')" True
az_check "imds: expires_in 86399, resource, Bearer" \
  eq "$(jq_ imds 'd["expires_in"], d["resource"], d["token_type"]')" "('86399', 'https://vault.azure.net', 'Bearer')"
# shellcheck disable=SC2034 # read by the eval'd check below
EXP_ON=$(jq_ imds 'd["expires_on"]')
az_check "imds: expires_on is epoch seconds about a day ahead" \
  eval '[ "$EXP_ON" -gt $((NOW + 86000)) ] && [ "$EXP_ON" -lt $((NOW + 87000)) ]'
IMDS_TOKEN=$(jq_ imds 'd["access_token"]')
req imdss "$AZ_URL/metadata/identity/oauth2/token?$IMDS_Q" -H 'Metadata: true'
az_check "imds: also on the HTTPS port" eq "$STATUS" 200
req imdsnoid "$AZ_IMDS/metadata/identity/oauth2/token?$IMDS_Q&client_id=someone-else" -H 'Metadata: true'
az_check "imds: unknown client_id -> 400 Identity not found" \
  eq "$STATUS $(jq_ imdsnoid 'd["error_description"]')" "400 Identity not found"
req imdsarm "$AZ_IMDS/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/" -H 'Metadata: true'
ARM_TOKEN=$(jq_ imdsarm 'd["access_token"]')

# --- the challenge ------------------------------------------------------------
CHALLENGE="Bearer authorization=\"https://login.microsoftonline.com/$TENANT\", resource=\"https://vault.azure.net\""
req noauth "$KV/secrets/cmk?$API"
az_check "401 without Authorization" eq "$STATUS" 401
az_check "401 WWW-Authenticate challenge" eq "$(hdr noauth WWW-Authenticate)" "$CHALLENGE"
az_check "401 body AKV10000" \
  eq "$(jq_ noauth 'd')" "{'error': {'code': 'Unauthorized', 'message': 'AKV10000: Request is missing a Bearer or PoP token.'}}"
req badtok "$KV/secrets/cmk?$API" -H "Authorization: Bearer not-a-token"
az_check "401 for an unknown token, with the challenge" \
  eq "$STATUS|$(hdr badtok WWW-Authenticate)" "401|$CHALLENGE"
req armtok "$KV/secrets/cmk?$API" -H "Authorization: Bearer $ARM_TOKEN"
az_check "401 AKV10022 for a token of another audience" \
  eq "$STATUS $(jq_ armtok 'd["error"]["message"].split(":")[0]')" "401 AKV10022"
EXPIRED=$(az_admin POST tokens '{"lifetime": -5}' | "$AZ_PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
req exptok "$KV/secrets/cmk?$API" -H "Authorization: Bearer $EXPIRED"
az_check "401 TokenExpired for an expired token" \
  eq "$STATUS|$(jq_ exptok 'd["error"]["message"]')|$(hdr exptok WWW-Authenticate)" \
  "401|[TokenExpired] Error validating token: 'S2S12086'.|$CHALLENGE"

AUTH=(-H "Authorization: Bearer $TOKEN")
# --- get secret ----------------------------------------------------------------
req cur "$KV/secrets/cmk?$API" "${AUTH[@]}" -H 'x-ms-client-request-id: abc-123'
az_check "current version: 200" eq "$STATUS" 200
az_check "current version: the last created (key-five)" \
  eq "$(jq_ cur 'd["value"], d["id"]')" "('key-five', 'https://127.0.0.1:$AZ_PORT/secrets/cmk/$V5')"
az_check "current version: attributes" \
  eq "$(jq_ cur 'd["attributes"]')" "{'enabled': True, 'created': 1700000005, 'updated': 1700000005, 'recoveryLevel': 'Recoverable+Purgeable', 'recoverableDays': 90}"
az_check "current version: JSON content type, request id echoed" \
  eq "$(hdr cur Content-Type)|$(hdr cur x-ms-client-request-id)" "application/json; charset=utf-8|abc-123"
req imdsuse "$KV/secrets/cmk?$API" -H "Authorization: Bearer $IMDS_TOKEN"
az_check "an IMDS (managed identity) token is accepted by the vault" \
  eq "$STATUS $(jq_ imdsuse 'd["value"]')" "200 key-five"
req curslash "$KV/secrets/cmk/?$API" "${AUTH[@]}"
az_check "current version with a trailing slash (as the SDKs send it)" \
  eq "$STATUS $(jq_ curslash 'd["value"]')" "200 key-five"
req ver1 "$KV/secrets/cmk/$V1?api-version=2025-07-01" "${AUTH[@]}"
az_check "given version (api-version 2025-07-01)" \
  eq "$STATUS $(jq_ ver1 'd["value"], d["id"].rsplit("/", 1)[1]')" "200 ('key-one', '$V1')"
req ver3 "$KV/secrets/cmk/$V3?api-version=7.5" "${AUTH[@]}"
az_check "nbf in the future and exp in the past are NOT enforced: value returned" \
  eq "$STATUS $(jq_ ver3 'd["value"], d["attributes"]["nbf"], d["attributes"]["exp"]')" "200 ('key-three', $FUTURE, $PAST)"
az_check "contentType and tags in the bundle" \
  eq "$(jq_ ver3 'd["contentType"], d["tags"]')" "('application/octet-stream', {'purpose': 'cmk'})"
req upper "$KV/secrets/CMK/${V1^^}?$API" "${AUTH[@]}"
az_check "names and versions are case-insensitive" eq "$STATUS $(jq_ upper 'd["value"]')" "200 key-one"

# --- 403 / 404 --------------------------------------------------------------------
req dis "$KV/secrets/cmk/$V2?$API" "${AUTH[@]}"
az_check "disabled version: 403" eq "$STATUS" 403
az_check "disabled version: Forbidden / SecretDisabled body" \
  eq "$(jq_ dis 'd')" "{'error': {'code': 'Forbidden', 'message': 'Operation get is not allowed on a disabled secret.', 'innererror': {'code': 'SecretDisabled'}}}"
req disc "$KV/secrets/cmk-off?$API" "${AUTH[@]}"
az_check "current version disabled: 403 (no fallback to an older version)" eq "$STATUS" 403
req nf "$KV/secrets/nope?$API" "${AUTH[@]}"
az_check "unknown secret: 404 SecretNotFound" \
  eq "$STATUS $(jq_ nf 'd["error"]["code"]')" "404 SecretNotFound"
az_check "unknown secret: message names it" \
  eq "$(jq_ nf 'd["error"]["message"].split(". If")[0]')" "A secret with (name/id) nope was not found in this key vault"
req nfv "$KV/secrets/cmk/00000000000000000000000000000000?$API" "${AUTH[@]}"
az_check "unknown version: 404 naming name/version" \
  eq "$STATUS $(jq_ nfv 'd["error"]["message"].split(" was")[0]')" \
  "404 A secret with (name/id) cmk/00000000000000000000000000000000"

# --- api-version --------------------------------------------------------------------
req noapi "$KV/secrets/cmk" "${AUTH[@]}"
az_check "no api-version: 400 BadParameter" eq "$STATUS $(jq_ noapi 'd["error"]["code"]')" "400 BadParameter"
req oldapi "$KV/secrets/cmk?api-version=6.0" "${AUTH[@]}"
az_check "unknown api-version: 400 'not recognized'" \
  eq "$STATUS $(jq_ oldapi '"not recognized" in d["error"]["message"]')" "400 True"

# --- paging -------------------------------------------------------------------------
url="$KV/secrets/cmk/versions?$API"
pages=0 ids="" sizes="" values=0 link_ok=1
while [ -n "$url" ] && [ "$pages" -lt 10 ]; do
  req page "$url" "${AUTH[@]}"
  [ "$STATUS" = 200 ] || break
  pages=$((pages + 1))
  sizes="$sizes$(jq_ page 'len(d["value"])')"
  ids="$ids $(jq_ page '" ".join(i["id"].rsplit("/", 1)[1] for i in d["value"])')"
  values=$((values + $(jq_ page 'sum("value" in i for i in d["value"])')))
  url=$(jq_ page 'd["nextLink"] or ""')
  if [ -n "$url" ]; then
    case "$url" in
      "https://127.0.0.1:$AZ_PORT/secrets/cmk/versions?api-version=7.4&\$skiptoken="*) ;;
      *) link_ok=0; echo "  bad nextLink: $url" >&2 ;;
    esac
  fi
done
az_check "paging: 5 versions in 3 pages of 2, 2, 1" eq "$pages:$sizes" "3:221"
az_check "paging: every version once" \
  eq "$(tr ' ' '\n' <<<"$ids" | sed '/^$/d' | sort | tr '\n' ' ')" "$(printf '%s\n' $V1 $V2 $V3 $V4 $V5 | sort | tr '\n' ' ')"
az_check "paging: listed in version-id order, not creation order" \
  eq "$(echo "$ids" | xargs)" "$(printf '%s\n' $V1 $V2 $V3 $V4 $V5 | sort | tr '\n' ' ' | sed 's/ $//')"
az_check "paging: items carry no value" eq "$values" 0
az_check "paging: nextLink absolute, explicit port, api-version + \$skiptoken" eq "$link_ok" 1
az_check "paging: last page has \"nextLink\": null" eq "$(jq_ page '"nextLink" in d and d["nextLink"] is None')" True
req mr "$KV/secrets/cmk/versions?$API&maxresults=1" "${AUTH[@]}"
az_check "paging: maxresults=1 honored and kept in nextLink" \
  eq "$(jq_ mr 'len(d["value"]), d["nextLink"].endswith("&maxresults=1")')" "(1, True)"
req mrbad "$KV/secrets/cmk/versions?$API&maxresults=26" "${AUTH[@]}"
az_check "paging: maxresults=26 -> 400 BadParameter" eq "$STATUS $(jq_ mrbad 'd["error"]["code"]')" "400 BadParameter"
az_admin POST settings '{"page_size": 25}' >/dev/null
req disitem "$KV/secrets/cmk/versions?$API" "${AUTH[@]}"
az_check "paging: one page when page_size (25) allows; nextLink null" \
  eq "$(jq_ disitem 'len(d["value"]), d["nextLink"]')" "(5, None)"
az_admin POST settings '{"page_size": 2}' >/dev/null
az_check "paging: disabled versions are listed with enabled false, nbf/exp shown" \
  eq "$(jq_ disitem '[i["attributes"]["enabled"] for i in d["value"] if i["id"].endswith("'$V2'")], [("nbf" in i["attributes"], "exp" in i["attributes"]) for i in d["value"] if i["id"].endswith("'$V3'")]')" \
  "([False], [(True, True)])"
req lst "$KV/secrets?$API" "${AUTH[@]}"
az_check "list secrets: version-less ids" \
  eq "$(jq_ lst 'sorted(i["id"].rsplit("/", 1)[1] for i in d["value"])')" "['cmk', 'cmk-off']"

# --- faults -----------------------------------------------------------------------
az_admin POST faults '{"path": "^/secrets/cmk/?$", "action": "429", "retry_after": 2, "count": 1}' >/dev/null
req f429 "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "fault 429 with Retry-After: 2" eq "$STATUS|$(hdr f429 Retry-After)" "429|2"
az_check "fault 429 body code Throttled" eq "$(jq_ f429 'd["error"]["code"]')" Throttled
req after "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "fault consumed: next request 200" eq "$STATUS" 200
az_admin POST faults '{"path": "^/secrets/cmk", "action": "503", "retry_after": 1, "count": 2}' >/dev/null
req f503a "$KV/secrets/cmk?$API" "${AUTH[@]}"; s1=$STATUS
req f503b "$KV/secrets/cmk/versions?$API" "${AUTH[@]}"; s2=$STATUS
req f503c "$KV/secrets/cmk?$API" "${AUTH[@]}"; s3=$STATUS
az_check "fault 503 x2 with Retry-After: 1, then 200" eq "$s1 $s2 $s3 $(hdr f503a Retry-After)" "503 503 200 1"
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "drop"}' >/dev/null
req drop "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "fault drop: no HTTP answer, curl fails (rc $RC)" eval '[ "$STATUS" = 000 ] && [ "$RC" -ne 0 ]'
req afterdrop "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "after a drop the server still answers" eq "$STATUS" 200
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "truncate"}' >/dev/null
req trunc "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "fault truncate: curl reports a partial body (rc $RC)" eq "$RC" 18
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "slow", "delay": 1.5}' >/dev/null
# shellcheck disable=SC2034 # t0 and t1 are read by the eval'd check below
t0=$(date +%s%N)
req slow "$KV/secrets/cmk?$API" "${AUTH[@]}"
# shellcheck disable=SC2034 # read by the eval'd check below
t1=$(date +%s%N)
az_check "fault slow: 200 after >= 1.5 s" eval '[ "$STATUS" = 200 ] && [ $(( (t1 - t0) / 1000000 )) -ge 1500 ]'
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "slow", "delay": 3}' >/dev/null
STATUS=$(curl -sS --max-time 1 --cacert "$AZ_CA" -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$KV/secrets/cmk?$API" 2>/dev/null); RC=$?
az_check "fault slow: a client timeout fires (curl rc $RC)" eq "$RC" 28
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "redirect"}' >/dev/null
req redir "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "fault redirect: 307 to another host" \
  eq "$STATUS $(hdr redir Location)" "307 https://localhost:$AZ_PORT/secrets/cmk?$API"
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "unauthorized"}' >/dev/null
req unauth "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "fault unauthorized: 401 with challenge despite a valid token" \
  eq "$STATUS|$(hdr unauth WWW-Authenticate)" "401|$CHALLENGE"
az_admin POST faults '{"path": "/oauth2/v2.0/token", "action": "503", "retry_after": 3}' >/dev/null
token_req tok503 "$TENANT" "$CID" "$CSECRET" "https://vault.azure.net/.default"
az_check "fault on the token endpoint: 503 + Retry-After, OAuth-shaped body" \
  eq "$STATUS $(hdr tok503 Retry-After) $(jq_ tok503 'd["error"]')" "503 3 temporarily_unavailable"

# --- admin changes at run time ----------------------------------------------------
NEWV=$(az_admin POST secrets/cmk '{"value": "key-six"}' | "$AZ_PY" -c 'import json,sys; print(json.load(sys.stdin)["version"])')
req six "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "admin: a new version becomes current" eq "$(jq_ six 'd["value"], d["id"].rsplit("/", 1)[1]')" "('key-six', '$NEWV')"
az_admin POST "secrets/cmk/$NEWV" '{"enabled": false}' >/dev/null
req sixoff "$KV/secrets/cmk?$API" "${AUTH[@]}"
az_check "admin: disabling the current version -> 403" eq "$STATUS" 403
req put "$KV/secrets/rotated?$API" "${AUTH[@]}" -X PUT -H 'Content-Type: application/json' \
  --data '{"value": "fresh", "attributes": {"enabled": true}}'
az_check "PUT set secret: 200 with a 32-hex version" \
  eval '[ "$STATUS" = 200 ] && [[ "$(jq_ put "d[\"id\"].rsplit(\"/\", 1)[1]")" =~ ^[0-9a-f]{32}$ ]]'
PV=$(jq_ put 'd["id"].rsplit("/", 1)[1]')
req patch "$KV/secrets/rotated/$PV?$API" "${AUTH[@]}" -X PATCH -H 'Content-Type: application/json' \
  --data '{"attributes": {"enabled": false}}'
az_check "PATCH update: 200 without value, enabled false" \
  eq "$STATUS $(jq_ patch '"value" in d, d["attributes"]["enabled"]')" "200 (False, False)"
req del "$KV/secrets/cmk?$API" "${AUTH[@]}" -X DELETE
az_check "unsupported method: 405" eq "$STATUS" 405

# --- keys: helpers ---------------------------------------------------------------
# kv NAME METHOD PATH [JSON]: an authenticated Key Vault call (api-version 7.4).
kv() {
  local name=$1 method=$2 path=$3 data=${4:-}
  local sep='?'
  case $path in *\?*) sep='&' ;; esac
  if [ -n "$data" ]; then
    req "$name" "$KV$path$sep$API" "${AUTH[@]}" -X "$method" -H 'Content-Type: application/json' --data "$data"
  else
    req "$name" "$KV$path$sep$API" "${AUTH[@]}" -X "$method"
  fi
}
unb64url() {   # base64url text on stdin -> bytes on stdout
  "$AZ_PY" -c 'import base64, sys; s = sys.stdin.read().strip(); sys.stdout.buffer.write(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))'
}
jwk_pem() {    # jwk_pem NAME OUT: the public key of the bundle in NAME.body as PEM
  "$AZ_PY" - "$AZ_DIR/$1.body" "$2" <<'EOF'
import base64, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
k = json.load(open(sys.argv[1]))["key"]
num = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
pub = rsa.RSAPublicNumbers(num(k["e"]), num(k["n"])).public_key()
open(sys.argv[2], "wb").write(pub.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))
EOF
}
OAEP256=(-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256)
openssl rand 32 > "$AZ_DIR/pt.bin"
PT=$(az_b64url < "$AZ_DIR/pt.bin")
wrapbody() { printf '{"alg": "%s", "value": "%s"}' "$1" "$2"; }

# --- keys: create, get ---------------------------------------------------------
kv kget GET /keys/wrap2048
az_check "keys: GET current version 200" eq "$STATUS" 200
az_check "keys: bundle shape {key: {kid, kty, key_ops, n, e}, attributes}" \
  eq "$(jq_ kget 'list(d), list(d["key"]), d["key"]["kty"], d["key"]["e"], d["key"]["kid"]')" \
  "(['key', 'attributes'], ['kid', 'kty', 'key_ops', 'n', 'e'], 'RSA', 'AQAB', 'https://127.0.0.1:$AZ_PORT/keys/wrap2048/$K1')"
az_check "keys: attributes as Key Vault sends them (exportable false, no nbf/exp)" \
  eq "$(jq_ kget 'list(d["attributes"]), d["attributes"]["exportable"], d["attributes"]["recoverableDays"]')" \
  "(['enabled', 'created', 'updated', 'recoveryLevel', 'recoverableDays', 'exportable'], False, 90)"
az_check "keys: default key_ops of an RSA key" \
  eq "$(jq_ kget 'd["key"]["key_ops"]')" "['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']"
jwk_pem kget "$AZ_DIR/wrap2048.pub"
az_check "keys: n/e of the bundle are the configured PEM key's" \
  eq "$(openssl pkey -pubin -in "$AZ_DIR/wrap2048.pub" -outform DER | openssl dgst -sha256)" \
  "$(openssl pkey -in "$KEYS/wrap2048.key" -pubout -outform DER | openssl dgst -sha256)"
req kget70 "$KV/keys/wrap2048/$K1?api-version=7.2" "${AUTH[@]}"
az_check "keys: no exportable attribute before api-version 7.3" eq "$(jq_ kget70 '"exportable" in d["attributes"]')" False
kv kslash GET /keys/wrap2048/
az_check "keys: version-less GET with a trailing slash" eq "$STATUS $(jq_ kslash 'd["key"]["kid"].rsplit("/", 1)[1]')" "200 $K1"

kv kc3072 POST /keys/k3072/create '{"kty": "RSA", "key_size": 3072, "attributes": {"enabled": true}, "tags": {"size": "3072"}}'
az_check "keys: create RSA 3072 -> 200, 384-byte n, tags, a 32-hex version" \
  eq "$STATUS $(jq_ kc3072 'len(__import__("base64").urlsafe_b64decode(d["key"]["n"] + "==")), d["tags"], bool(__import__("re").match("^[0-9a-f]{32}$", d["key"]["kid"].rsplit("/", 1)[1]))')" \
  "200 (384, {'size': '3072'}, True)"
kv kc4096 POST /keys/k4096/create '{"kty": "RSA-HSM", "key_size": 4096, "key_ops": ["wrapKey", "unwrapKey"]}'
az_check "keys: create RSA-HSM 4096 -> kty RSA-HSM, 512-byte n, key_ops as asked" \
  eq "$STATUS $(jq_ kc4096 'd["key"]["kty"], len(__import__("base64").urlsafe_b64decode(d["key"]["n"] + "==")), d["key"]["key_ops"]')" \
  "200 ('RSA-HSM', 512, ['wrapKey', 'unwrapKey'])"
kv kcbad POST /keys/kbad/create '{"kty": "RSA", "key_size": 1024}'
az_check "keys: create with key_size 1024 -> 400 BadParameter" \
  eq "$STATUS $(jq_ kcbad 'd["error"]["code"], d["error"]["message"]')" \
  "400 ('BadParameter', 'Unsupported key size (1024). Supported sizes are [2048, 3072, 4096]')"
kv kcops POST /keys/kbad/create '{"kty": "RSA", "key_ops": ["wrapKey", "fly"]}'
az_check "keys: create with an unknown key_op -> 400 BadParameter" \
  eq "$STATUS $(jq_ kcops 'd["error"]["code"], d["error"]["message"].startswith("Unsupported key operation(s): \"fly\".")')" "400 ('BadParameter', True)"
kv kcname POST /keys/bad_name/create '{"kty": "RSA"}'
az_check "keys: create with an invalid name -> 400" eq "$STATUS" 400

# --- keys: wrap / unwrap -------------------------------------------------------
for size in 2048 3072 4096; do
  case $size in 2048) kn=wrap2048 ;; *) kn=k$size ;; esac
  kv "w$size" POST "/keys/$kn/wrapkey" "$(wrapbody RSA-OAEP-256 "$PT")"
  WR=$(jq_ "w$size" 'd["value"]')
  az_check "wrap RSA-OAEP-256 ($size): 200, kid names the current version, ${size}-bit ciphertext" \
    eq "$STATUS $(jq_ "w$size" 'd["kid"].startswith("https://127.0.0.1:'"$AZ_PORT"'/keys/'"$kn"'/"), len(d["kid"].rsplit("/", 1)[1]), sorted(d)') $(printf %s "$WR" | unb64url | wc -c)" \
    "200 (True, 32, ['kid', 'value']) $((size / 8))"
  VER=$(jq_ "w$size" 'd["kid"].rsplit("/", 1)[1]')
  kv "u$size" POST "/keys/$kn/$VER/unwrapkey" "$(wrapbody RSA-OAEP-256 "$WR")"
  az_check "unwrap RSA-OAEP-256 ($size): round trip of 32 bytes" eq "$STATUS $(jq_ "u$size" 'd["value"]')" "200 $PT"
  # wrapped locally by OpenSSL with the n/e of GET /keys, unwrapped by the vault
  kv "g$size" GET "/keys/$kn"
  jwk_pem "g$size" "$AZ_DIR/$kn.pub"
  LOCAL=$(openssl pkeyutl -encrypt -pubin -inkey "$AZ_DIR/$kn.pub" "${OAEP256[@]}" -in "$AZ_DIR/pt.bin" | az_b64url)
  kv "ul$size" POST "/keys/$kn/unwrapkey" "$(wrapbody RSA-OAEP-256 "$LOCAL")"
  az_check "unwrap ($size) of a value wrapped by OpenSSL with GET's n/e" eq "$STATUS $(jq_ "ul$size" 'd["value"]')" "200 $PT"
done
# wrapped by the vault, unwrapped by OpenSSL with the private key (config PEM)
kv w2 POST "/keys/wrap2048/$K1/wrapkey" "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "wrap by the vault = what OpenSSL pkeyutl -decrypt (OAEP, SHA-256) gives back" \
  eq "$(jq_ w2 'd["value"]' | unb64url | openssl pkeyutl -decrypt -inkey "$KEYS/wrap2048.key" "${OAEP256[@]}" | az_b64url)" "$PT"
az_admin GET "keys/k4096/$(jq_ kc4096 'd["key"]["kid"].rsplit("/", 1)[1]')" > "$AZ_DIR/k4096.admin"
"$AZ_PY" -c 'import json, sys; open(sys.argv[2], "w").write(json.load(open(sys.argv[1]))["private_pem"])' \
  "$AZ_DIR/k4096.admin" "$AZ_DIR/k4096.key"
az_check "admin: a generated key's private PEM decrypts what the vault wrapped (4096)" \
  eq "$(jq_ w4096 'd["value"]' | unb64url | openssl pkeyutl -decrypt -inkey "$AZ_DIR/k4096.key" "${OAEP256[@]}" | az_b64url)" "$PT"
for alg in RSA-OAEP RSA1_5; do
  kv "wa$alg" POST /keys/wrap2048/wrapkey "$(wrapbody "$alg" "$PT")"
  kv "ua$alg" POST /keys/wrap2048/unwrapkey "$(wrapbody "$alg" "$(jq_ "wa$alg" 'd["value"]')")"
  az_check "wrap/unwrap round trip with $alg" eq "$STATUS $(jq_ "ua$alg" 'd["value"]')" "200 $PT"
done
az_check "RSA-OAEP (SHA-1) interoperates with OpenSSL's default OAEP" \
  eq "$(jq_ waRSA-OAEP 'd["value"]' | unb64url | openssl pkeyutl -decrypt -inkey "$KEYS/wrap2048.key" -pkeyopt rsa_padding_mode:oaep | az_b64url)" "$PT"
kv wss POST /keys/wrap2048//wrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "wrap at /keys/{name}//wrapkey (an SDK's version-less key id): the current version" \
  eq "$STATUS $(jq_ wss 'd["kid"].rsplit("/", 1)[1]')" "200 $K1"
kv enc POST /keys/wrap2048/encrypt "$(wrapbody RSA-OAEP-256 "$PT")"
kv dec POST /keys/wrap2048/decrypt "$(wrapbody RSA-OAEP-256 "$(jq_ enc 'd["value"]')")"
az_check "encrypt/decrypt round trip" eq "$STATUS $(jq_ dec 'd["value"]')" "200 $PT"

# --- keys: errors --------------------------------------------------------------
GARBAGE=$(openssl rand 256 | az_b64url)
kv ubad POST /keys/wrap2048/unwrapkey "$(wrapbody RSA-OAEP-256 "$GARBAGE")"
az_check "unwrap of a value that is no ciphertext -> 400 BadParameter (OAEP padding)" \
  eq "$STATUS $(jq_ ubad 'd')" "400 {'error': {'code': 'BadParameter', 'message': 'Error occurred while decoding OAEP padding.'}}"
kv ulen POST /keys/wrap2048/unwrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "unwrap of a value of the wrong length -> 400 BadParameter" eq "$STATUS $(jq_ ulen 'd["error"]["code"]')" "400 BadParameter"
kv ualg POST /keys/wrap2048/wrapkey "$(wrapbody A256KW "$PT")"
az_check "wrap with an alg an RSA key has not -> 400 BadParameter" \
  eq "$STATUS $(jq_ ualg 'd["error"]["code"], d["error"]["message"]')" "400 ('BadParameter', 'Property alg has invalid value\r\n')"
kv uval POST /keys/wrap2048/wrapkey '{"alg": "RSA-OAEP-256", "value": "not base64url!"}'
az_check "wrap with a value that is not base64url -> 400, Key Vault's message" \
  eq "$STATUS $(jq_ uval 'd["error"]["message"].split("\r\n")')" \
  "400 [\"Content of 'value' is not base64url.\", \"Property 'value' is required.\", '']"
kv knf GET /keys/nope
az_check "unknown key -> 404 KeyNotFound with Key Vault's message" \
  eq "$STATUS $(jq_ knf 'd["error"]["code"], d["error"]["message"]')" \
  "404 ('KeyNotFound', 'A key with (name/id) nope was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182')"
kv knfv GET "/keys/wrap2048/$KD1"
az_check "unknown version -> 404 naming name/version" \
  eq "$STATUS $(jq_ knfv 'd["error"]["message"].split(" was")[0]')" "404 A key with (name/id) wrap2048/$KD1"
kv knfw POST /keys/nope/wrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "wrap with an unknown key -> 404 KeyNotFound" eq "$STATUS $(jq_ knfw 'd["error"]["code"]')" "404 KeyNotFound"
kv k405 PUT /keys/wrap2048/rotate '{}'
az_check "keys: unsupported method -> 405" eq "$STATUS" 405

# disabled
kv kdisget GET /keys/kdis
az_check "disabled current version: GET still 200 (enabled false), no fallback" \
  eq "$STATUS $(jq_ kdisget 'd["attributes"]["enabled"], d["key"]["kid"].endswith("'$KD2'")')" "200 (False, True)"
jwk_pem kdisget "$AZ_DIR/kd2.pub"
LOCAL_D2=$(openssl pkeyutl -encrypt -pubin -inkey "$AZ_DIR/kd2.pub" "${OAEP256[@]}" -in "$AZ_DIR/pt.bin" | az_b64url)
kv kdisu POST "/keys/kdis/$KD2/unwrapkey" "$(wrapbody RSA-OAEP-256 "$LOCAL_D2")"
az_check "unwrap with a disabled version -> 403 Forbidden / KeyDisabled" \
  eq "$STATUS $(jq_ kdisu 'd')" \
  "403 {'error': {'code': 'Forbidden', 'message': 'Operation unwrapKey is not allowed on a disabled key.', 'innererror': {'code': 'KeyDisabled'}}}"
kv kdisw POST /keys/kdis/wrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "version-less wrap on a disabled current version -> 403 KeyDisabled (wrapKey)" \
  eq "$STATUS $(jq_ kdisw 'd["error"]["message"], d["error"]["innererror"]["code"]')" \
  "403 ('Operation wrapKey is not allowed on a disabled key.', 'KeyDisabled')"
kv kdis1 POST "/keys/kdis/$KD1/wrapkey" "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "the older, enabled version still wraps" eq "$STATUS" 200
az_admin POST "keys/kdis/$KD2" '{"enabled": true}' >/dev/null
kv kdisu2 POST "/keys/kdis/$KD2/unwrapkey" "$(wrapbody RSA-OAEP-256 "$LOCAL_D2")"
az_check "admin: enabling the version again -> unwrap 200" eq "$STATUS $(jq_ kdisu2 'd["value"]')" "200 $PT"
az_admin POST "keys/kdis/$KD2" '{"enabled": false}' >/dev/null
kv kdisu3 POST "/keys/kdis/$KD2/unwrapkey" "$(wrapbody RSA-OAEP-256 "$LOCAL_D2")"
az_check "admin: disabling it -> 403 again" eq "$STATUS" 403

# key_ops
kv kopsw POST /keys/kops/wrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "key_ops [wrapKey, encrypt]: wrap 200" eq "$STATUS" 200
kv kopsu POST /keys/kops/unwrapkey "$(wrapbody RSA-OAEP-256 "$(jq_ kopsw 'd["value"]')")"
az_check "key_ops without unwrapKey: unwrap -> 403 Forbidden / KeyOperationForbidden" \
  eq "$STATUS $(jq_ kopsu 'd')" \
  "403 {'error': {'code': 'Forbidden', 'message': 'Operation unwrapKey is not permitted on this key.', 'innererror': {'code': 'KeyOperationForbidden'}}}"

# nbf / exp: only wrapKey/encrypt refuse outside the window
kv kexpg GET /keys/kexp
az_check "expired key: GET 200 with nbf and exp reported" \
  eq "$STATUS $(jq_ kexpg 'd["attributes"]["nbf"], d["attributes"]["exp"]')" "200 ($PAST, $((NOW - 3600)))"
kv kexpw POST /keys/kexp/wrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "expired key: wrap -> 403 Forbidden / KeyExpired" \
  eq "$STATUS $(jq_ kexpw 'd["error"]["code"], d["error"]["innererror"]["code"]')" "403 ('Forbidden', 'KeyExpired')"
jwk_pem kexpg "$AZ_DIR/kexp.pub"
kv kexpu POST /keys/kexp/unwrapkey "$(wrapbody RSA-OAEP-256 "$(openssl pkeyutl -encrypt -pubin -inkey "$AZ_DIR/kexp.pub" "${OAEP256[@]}" -in "$AZ_DIR/pt.bin" | az_b64url)")"
az_check "expired key: unwrap still works (date-time controlled operations)" eq "$STATUS $(jq_ kexpu 'd["value"]')" "200 $PT"
kv knbfw POST /keys/knbf/wrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "not-yet-valid key: wrap -> 403 KeyNotYetValid" eq "$STATUS $(jq_ knbfw 'd["error"]["innererror"]["code"]')" "403 KeyNotYetValid"

# --- keys: versions, list, update, rotate ----------------------------------------
url="$KV/keys/kver/versions?$API"
pages=0 ids="" sizes="" material=0 link_ok=1
while [ -n "$url" ] && [ "$pages" -lt 10 ]; do
  req kpage "$url" "${AUTH[@]}"
  [ "$STATUS" = 200 ] || break
  pages=$((pages + 1))
  sizes="$sizes$(jq_ kpage 'len(d["value"])')"
  ids="$ids $(jq_ kpage '" ".join(i["kid"].rsplit("/", 1)[1] for i in d["value"])')"
  material=$((material + $(jq_ kpage 'sum("key" in i or "n" in i for i in d["value"])')))
  url=$(jq_ kpage 'd["nextLink"] or ""')
  case $url in
    ""|"https://127.0.0.1:$AZ_PORT/keys/kver/versions?api-version=7.4&\$skiptoken="*) ;;
    *) link_ok=0; echo "  bad nextLink: $url" >&2 ;;
  esac
done
az_check "key versions: 5 versions in 3 pages of 2, 2, 1" eq "$pages:$sizes" "3:221"
az_check "key versions: listed in version-id order, each once" eq "$(echo "$ids" | xargs)" "$KV1 $KV2 $KV3 $KV4 $KV5"
az_check "key versions: items are {kid, attributes}, no key material" eq "$material:$(jq_ kpage 'sorted(d["value"][0])')" "0:['attributes', 'kid']"
az_check "key versions: nextLink absolute with explicit port, api-version, \$skiptoken" eq "$link_ok" 1
kv kmr GET "/keys/kver/versions?maxresults=1"
az_check "key versions: maxresults=1 honored and kept in nextLink" \
  eq "$(jq_ kmr 'len(d["value"]), d["nextLink"].endswith("&maxresults=1")')" "(1, True)"
kv kvnone GET /keys/nope/versions
az_check "versions of an unknown key: 200 and an empty list" eq "$STATUS $(jq_ kvnone 'd')" "200 {'value': [], 'nextLink': None}"
az_admin POST settings '{"page_size": 25}' >/dev/null
kv klist GET /keys
az_admin POST settings '{"page_size": 2}' >/dev/null
az_check "list keys: version-less kids of every key" \
  eq "$(jq_ klist '" ".join(i["kid"].rsplit("/", 1)[1] for i in d["value"])')" "k3072 k4096 kdel kdis kexp knbf kops kver wrap2048"
kv kcur GET /keys/kver
az_check "current version is the last created, not the highest id" eq "$(jq_ kcur 'd["key"]["kid"].rsplit("/", 1)[1]')" "$KV4"
kv kpatch PATCH "/keys/kver/$KV4" '{"attributes": {"enabled": false}, "key_ops": ["wrapKey", "unwrapKey"], "tags": {"state": "off"}}'
az_check "PATCH a version: 200 bundle with enabled false, new key_ops and tags" \
  eq "$STATUS $(jq_ kpatch 'd["attributes"]["enabled"], d["key"]["key_ops"], d["tags"]')" \
  "200 (False, ['wrapKey', 'unwrapKey'], {'state': 'off'})"
kv kpatchw POST "/keys/kver/$KV4/wrapkey" "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "after PATCH enabled false: wrap 403 KeyDisabled" eq "$STATUS $(jq_ kpatchw 'd["error"]["innererror"]["code"]')" "403 KeyDisabled"
kv kpatchbad PATCH "/keys/kver/$KV4" '{"attributes": {"enabled": "no"}}'
az_check "PATCH with enabled not a boolean -> 400" eq "$STATUS" 400
kv krot POST /keys/kver/rotate
NEWKV=$(jq_ krot 'd["key"]["kid"].rsplit("/", 1)[1]')
kv krotg GET /keys/kver
az_check "rotate: 200, a new current version, same kty and key_ops, enabled" \
  eq "$STATUS $(jq_ krot 'd["key"]["kty"], d["key"]["key_ops"], d["attributes"]["enabled"]') $(jq_ krotg 'd["key"]["kid"].rsplit("/", 1)[1]')" \
  "200 ('RSA', ['wrapKey', 'unwrapKey'], True) $NEWKV"

# --- keys: soft delete, recover, purge -----------------------------------------------
kv kd DELETE /keys/kdel
az_check "DELETE key: 200 DeletedKeyBundle (recoveryId, deletedDate, scheduledPurgeDate, key, attributes, tags)" \
  eq "$STATUS $(jq_ kd 'list(d), d["recoveryId"], d["scheduledPurgeDate"] - d["deletedDate"]')" \
  "200 (['recoveryId', 'deletedDate', 'scheduledPurgeDate', 'key', 'attributes', 'tags'], 'https://127.0.0.1:$AZ_PORT/deletedkeys/kdel', 7776000)"
kv kdg GET /keys/kdel
az_check "deleted key: GET -> 404 KeyNotFound" eq "$STATUS $(jq_ kdg 'd["error"]["code"]')" "404 KeyNotFound"
kv kdw POST /keys/kdel/wrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "deleted key: wrap -> 404 KeyNotFound" eq "$STATUS $(jq_ kdw 'd["error"]["code"]')" "404 KeyNotFound"
kv kdd GET /deletedkeys/kdel
az_check "GET /deletedkeys/{name}: 200 with the deleted bundle" eq "$STATUS $(jq_ kdd 'd["recoveryId"].endswith("/deletedkeys/kdel"), "n" in d["key"]')" "200 (True, True)"
kv kdl GET /deletedkeys
az_check "GET /deletedkeys lists it" eq "$STATUS $(jq_ kdl '[i["recoveryId"].rsplit("/", 1)[1] for i in d["value"]]')" "200 ['kdel']"
kv kdc POST /keys/kdel/create '{"kty": "RSA"}'
az_check "create over a deleted name -> 409 Conflict / ObjectIsDeletedButRecoverable" \
  eq "$STATUS $(jq_ kdc 'd')" \
  "409 {'error': {'code': 'Conflict', 'message': 'Key kdel is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.', 'innererror': {'code': 'ObjectIsDeletedButRecoverable'}}}"
kv kdr POST /deletedkeys/kdel/recover
az_check "recover: 200 KeyBundle" eq "$STATUS $(jq_ kdr 'sorted(d), d["tags"]')" "200 (['attributes', 'key', 'tags'], {'purpose': 'delete-me'})"
kv kdg2 GET /keys/kdel
az_check "recovered key: GET 200 again, same version" eq "$STATUS $(jq_ kdg2 'd["key"]["kid"]')" "200 $(jq_ kd 'd["key"]["kid"]')"
kv kdr2 POST /deletedkeys/kdel/recover
az_check "recover of a key that is not deleted -> 404 'Deleted Key not found'" \
  eq "$STATUS $(jq_ kdr2 'd["error"]["code"], d["error"]["message"]')" "404 ('KeyNotFound', 'Deleted Key not found: kdel')"
az_admin POST settings '{"delete_delay": 1}' >/dev/null
kv kd2 DELETE /keys/kdel
kv kdd2 GET /deletedkeys/kdel; s1=$STATUS
kv kdc2 POST /keys/kdel/create '{"kty": "RSA"}'
az_check "delete_delay: /deletedkeys/{name} 404 at first, create -> 409 ObjectIsBeingDeleted" \
  eq "$s1 $STATUS $(jq_ kdc2 'd["error"]["innererror"]["code"]')" "404 409 ObjectIsBeingDeleted"
sleep 1.1
kv kdd3 GET /deletedkeys/kdel
az_check "delete_delay: then 200" eq "$STATUS" 200
az_admin POST settings '{"delete_delay": 0}' >/dev/null
kv kpurge DELETE /deletedkeys/kdel; s1=$STATUS
kv kdd4 GET /deletedkeys/kdel
az_check "purge: 204, then the deleted key is gone (404)" eq "$s1 $STATUS" "204 404"
kv kcnew POST /keys/kdel/create '{"kty": "RSA"}'
az_check "after purge the name can be used again" eq "$STATUS" 200
az_admin DELETE keys/wrap2048 >/dev/null
kv kad GET /keys/wrap2048
az_admin POST keys/wrap2048/recover >/dev/null
kv kar GET /keys/wrap2048
az_check "admin: DELETE /_emulator/keys/{name} soft-deletes, .../recover recovers" eq "$(jq_ kad 'd["error"]["code"]') $STATUS" "KeyNotFound 200"
NEWV=$(az_admin POST keys/wrap2048 '{"size": 2048, "key_ops": ["unwrapKey"]}' | "$AZ_PY" -c 'import json, sys; print(json.load(sys.stdin)["version"])')
kv kadd GET /keys/wrap2048
az_check "admin: POST /_emulator/keys/{name} adds the current version" \
  eq "$(jq_ kadd 'd["key"]["kid"].rsplit("/", 1)[1], d["key"]["key_ops"]')" "('$NEWV', ['unwrapKey'])"
az_admin DELETE "keys/wrap2048/$NEWV" >/dev/null

# --- RBAC ---------------------------------------------------------------------------
kv rb0 POST /keys/k3072/create '{"kty": "RSA"}'
az_check "RBAC off (default): any valid token may create" eq "$STATUS" 200
az_admin POST rbac "{\"principal\": \"$CID\", \"actions\": [\"keys/get\", \"keys/unwrap\", \"Microsoft.KeyVault/vaults/secrets/getSecret/action\"]}" >/dev/null
kv rb1 GET /keys/wrap2048
az_check "RBAC: keys/get (= keys/read) allows GET" eq "$STATUS" 200
kv rb2 POST /keys/wrap2048/unwrapkey "$(wrapbody RSA-OAEP-256 "$(jq_ w2048 'd["value"]')")"
az_check "RBAC: keys/unwrap allows unwrap" eq "$STATUS $(jq_ rb2 'd["value"]')" "200 $PT"
kv rb3 POST /keys/wrap2048/wrapkey "$(wrapbody RSA-OAEP-256 "$PT")"
az_check "RBAC: wrap with an RSA key is allowed to a keys/read holder" eq "$STATUS" 200
kv rb4 POST /keys/k3072/create '{"kty": "RSA"}'
az_check "RBAC: create without keys/create/action -> 403 Forbidden / ForbiddenByRbac" \
  eq "$STATUS $(jq_ rb4 'd["error"]["code"], d["error"]["innererror"]')" "403 ('Forbidden', {'code': 'ForbiddenByRbac'})"
CALLER_OID=$("$AZ_PY" -c 'import uuid, sys; print(uuid.uuid5(uuid.NAMESPACE_URL, "kv-emulator-sp:" + sys.argv[1]))' "$CID")
az_check "RBAC: the message names caller, action, resource, vault as Key Vault does" \
  eq "$(jq_ rb4 '"\n".join(d["error"]["message"].split("\r\n"))')" "Caller is not authorized to perform action on resource.
If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.
Caller: appid=$CID;oid=$CALLER_OID;iss=https://sts.windows.net/$TENANT/
Action: 'Microsoft.KeyVault/vaults/keys/create/action'
Resource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/cmkfs-test/providers/microsoft.keyvault/vaults/cmkfs-emulator/keys/k3072'
Assignment: (not found)
DenyAssignmentId: null
DecisionReason: 'DeniedWithNoValidRBAC' 
Vault: cmkfs-emulator;location=emulator"
kv rb5 GET /keys/nope
az_check "RBAC: with keys/read a missing key is 404" eq "$STATUS" 404
kv rb6 DELETE /keys/kver
az_check "RBAC: delete without keys/delete -> 403" eq "$STATUS $(jq_ rb6 'd["error"]["message"].split("\r\n")[3]')" "403 Action: 'Microsoft.KeyVault/vaults/keys/delete'"
req rb7 "$KV/secrets/cmk/$V1?$API" "${AUTH[@]}"
az_check "RBAC covers secrets: getSecret/action allows GET secret" eq "$STATUS" 200
req rb8 "$KV/secrets?$API" "${AUTH[@]}"
az_check "RBAC: list secrets needs secrets/readMetadata/action -> 403" \
  eq "$STATUS $(jq_ rb8 'd["error"]["message"].split("\r\n")[3:5]')" \
  "403 [\"Action: 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'\", \"Resource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/cmkfs-test/providers/microsoft.keyvault/vaults/cmkfs-emulator'\"]"
req rb9 "$KV/keys/nope?$API" -H "Authorization: Bearer $IMDS_TOKEN"
az_check "RBAC: a managed identity without an assignment -> 403 naming its client id (before any lookup)" \
  eq "$STATUS $(jq_ rb9 'd["error"]["message"].split("\r\n")[2].split(";")[0]')" "403 Caller: appid=22222222-3333-4444-5555-666666666666"
az_admin POST rbac '{"principal": "22222222-3333-4444-5555-666666666666", "actions": ["Key Vault Crypto Service Encryption User"]}' >/dev/null
req rb10 "$KV/keys/wrap2048?$API" -H "Authorization: Bearer $IMDS_TOKEN"
az_check "RBAC: a built-in role name works as an assignment (managed identity)" eq "$STATUS" 200
az_admin POST rbac "{\"principal\": \"$CID\", \"actions\": []}" >/dev/null
kv rb11 GET /keys/wrap2048
az_check "RBAC: \"actions\": [] removes the assignment -> 403" eq "$STATUS" 403
az_admin POST rbac '{"enabled": false}' >/dev/null
kv rb12 GET /keys/wrap2048
az_check "RBAC: {\"enabled\": false} turns it off -> 200" eq "$STATUS" 200

# --- token endpoint: certificate and federated assertions -----------------------------
TOKEN_URL="$AZ_URL/$TENANT/oauth2/v2.0/token"
assertion_req() {    # assertion_req NAME CLIENT_ID ASSERTION [ASSERTION_TYPE]
  req "$1" "$TOKEN_URL" --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$2" --data-urlencode "client_assertion=$3" \
    --data-urlencode "client_assertion_type=${4-urn:ietf:params:oauth:client-assertion-type:jwt-bearer}" \
    --data-urlencode "scope=https://vault.azure.net/.default"
}
claims() {   # claims ISS SUB AUD NBF EXP
  printf '{"aud": "%s", "iss": "%s", "sub": "%s", "jti": "%s", "nbf": %s, "exp": %s, "iat": %s}' \
    "$3" "$1" "$2" "$(openssl rand -hex 16)" "$4" "$5" "$4"
}
X5T256=$(az_thumbprint "$KEYS/client.pem")
X5T1=$(az_thumbprint "$KEYS/client.pem" sha1)
HDR="{\"alg\": \"RS256\", \"typ\": \"JWT\", \"x5t#S256\": \"$X5T256\"}"
GOOD_CLAIMS=$(claims "$CERT_CID" "$CERT_CID" "$TOKEN_URL" "$NOW" $((NOW + 600)))
CERT_JWT=$(az_jwt "$KEYS/client.key" "$HDR" "$GOOD_CLAIMS")
assertion_req ca1 "$CERT_CID" "$CERT_JWT"
az_check "certificate assertion (RS256, x5t#S256): 200 Bearer token" eq "$STATUS $(jq_ ca1 'd["token_type"], d["expires_in"]')" "200 ('Bearer', 3599)"
req ca1use "$KV/keys/wrap2048?$API" -H "Authorization: Bearer $(jq_ ca1 'd["access_token"]')"
az_check "the certificate credential's token opens the vault" eq "$STATUS" 200
assertion_req ca2 "$CERT_CID" "$(az_jwt "$KEYS/client.key" "{\"alg\": \"PS256\", \"typ\": \"JWT\", \"x5t#S256\": \"$X5T256\"}" "$GOOD_CLAIMS")"
az_check "certificate assertion with PS256 (as Microsoft's page now says): 200" eq "$STATUS" 200
assertion_req ca3 "$CERT_CID" "$(az_jwt "$KEYS/client.key" "{\"alg\": \"RS256\", \"typ\": \"JWT\", \"x5t\": \"$X5T1\"}" "$GOOD_CLAIMS")"
az_check "certificate assertion with the legacy SHA-1 x5t: 200" eq "$STATUS" 200
assertion_req ca4 "$CERT_CID" "$(az_jwt "$KEYS/stranger.key" "$HDR" "$GOOD_CLAIMS")"
az_check "signed by another key (thumbprint of the registered cert) -> 401 AADSTS700027" \
  eq "$STATUS $(jq_ ca4 'd["error"], d["error_codes"], d["error_description"].split("\r\n")[0]')" \
  "401 ('invalid_client', [700027], 'AADSTS700027: Client assertion failed signature validation.')"
assertion_req ca5 "$CERT_CID" "$(az_jwt "$KEYS/stranger.key" "{\"alg\": \"RS256\", \"typ\": \"JWT\", \"x5t#S256\": \"$(az_thumbprint "$KEYS/stranger.pem")\"}" "$GOOD_CLAIMS")"
az_check "an unregistered certificate -> 401 AADSTS700027 'The key was not found.'" \
  eq "$STATUS $(jq_ ca5 'd["error_codes"], "[Reason - The key was not found., Thumbprint of key used by client:" in d["error_description"]')" "401 ([700027], True)"
assertion_req ca6 "$CERT_CID" "$(az_jwt "$KEYS/client.key" "$HDR" "$(claims "$CERT_CID" "$CERT_CID" "https://login.microsoftonline.com/common/oauth2/v2.0/token" "$NOW" $((NOW + 600)))")"
az_check "wrong aud -> 401 AADSTS700023" eq "$STATUS $(jq_ ca6 'd["error"], d["error_codes"]')" "401 ('invalid_client', [700023])"
assertion_req ca7 "$CERT_CID" "$(az_jwt "$KEYS/client.key" "$HDR" "$(claims "$CERT_CID" "$CERT_CID" "$TOKEN_URL" $((NOW - 7200)) $((NOW - 3600)))")"
az_check "expired assertion -> 401 AADSTS700024 'not within its valid time range'" \
  eq "$STATUS $(jq_ ca7 'd["error_codes"], d["error_description"].startswith("AADSTS700024: Client assertion is not within its valid time range. Current time: ")')" "401 ([700024], True)"
assertion_req ca8 "$CERT_CID" "$(az_jwt "$KEYS/client.key" "$HDR" "$(claims "$CERT_CID" "someone-else" "$TOKEN_URL" "$NOW" $((NOW + 600)))")"
az_check "sub is not the client_id -> 401 AADSTS700021" eq "$STATUS $(jq_ ca8 'd["error_codes"]')" "401 [700021]"
assertion_req ca9 "$CERT_CID" "not.a-jwt"
az_check "malformed assertion -> 400 invalid_request AADSTS50027" eq "$STATUS $(jq_ ca9 'd["error"], d["error_codes"]')" "400 ('invalid_request', [50027])"
assertion_req ca10 "$CERT_CID" "$CERT_JWT" ""
az_check "no client_assertion_type -> 400 AADSTS900144" eq "$STATUS $(jq_ ca10 'd["error_codes"]')" "400 [900144]"
assertion_req ca11 "$CERT_CID" "$(printf '%s.%s.c2ln' "$(printf '{"alg":"HS256","typ":"JWT"}' | az_b64url)" "$(printf %s "$GOOD_CLAIMS" | az_b64url)")"
az_check "HS256 -> 401 AADSTS5002738 unsupported algorithm" eq "$STATUS $(jq_ ca11 'd["error_codes"]')" "401 [5002738]"
token_req ca12 "$TENANT" "$CERT_CID" "guess" "https://vault.azure.net/.default"
az_check "a certificate-only client with a client_secret -> 401 AADSTS7000215" eq "$STATUS $(jq_ ca12 'd["error_codes"]')" "401 [7000215]"
"$AZ_PY" - "$KEYS/client.key" "$KEYS/expired.pem" <<'EOF'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now - datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
open(sys.argv[2], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
EOF
az_admin POST certificates/cmkfs-old-client "{\"pem\": $(az_json_file "$KEYS/expired.pem")}" >/dev/null
assertion_req ca13 cmkfs-old-client "$(az_jwt "$KEYS/client.key" "{\"alg\": \"RS256\", \"typ\": \"JWT\", \"x5t#S256\": \"$(az_thumbprint "$KEYS/expired.pem")\"}" \
  "$(claims cmkfs-old-client cmkfs-old-client "$TOKEN_URL" "$NOW" $((NOW + 600)))")"
az_check "admin-registered certificate that has expired -> 401 AADSTS700027 'The key used is expired.'" \
  eq "$STATUS $(jq_ ca13 'd["error_codes"], "[Reason - The key used is expired., Thumbprint of key used by client:" in d["error_description"]')" "401 ([700027], True)"

FED_CLAIMS=$(claims "$FED_ISS" "$FED_SUB" "api://AzureADTokenExchange" "$NOW" $((NOW + 3600)))
FED_JWT=$(az_jwt "$KEYS/issuer.key" '{"alg": "RS256", "typ": "JWT", "kid": "k8s-1"}' "$FED_CLAIMS")
assertion_req fa1 "$FED_CID" "$FED_JWT"
az_check "federated assertion (service account token): 200 Bearer token" eq "$STATUS $(jq_ fa1 'd["token_type"]')" "200 Bearer"
assertion_req fa2 "$FED_CID" "$(az_jwt "$KEYS/issuer.key" '{"alg": "RS256", "typ": "JWT"}' "$(claims "$FED_ISS" "system:serviceaccount:cmkfs:other" "api://AzureADTokenExchange" "$NOW" $((NOW + 3600)))")"
az_check "federated: another subject -> 400 invalid_request AADSTS70021 naming issuer/subject/audience" \
  eq "$STATUS $(jq_ fa2 'd["error"], d["error_description"].split("\r\n")[0]')" \
  "400 ('invalid_request', \"AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '$FED_ISS'. Assertion Subject: 'system:serviceaccount:cmkfs:other'. Assertion Audience: 'api://AzureADTokenExchange'.\")"
assertion_req fa3 "$FED_CID" "$(az_jwt "$KEYS/issuer.key" '{"alg": "RS256", "typ": "JWT"}' "$(claims "$FED_ISS" "$FED_SUB" "api://other" "$NOW" $((NOW + 3600)))")"
az_check "federated: another audience -> 400 AADSTS70021" eq "$STATUS $(jq_ fa3 'd["error_codes"]')" "400 [70021]"
assertion_req fa4 "$FED_CID" "$(az_jwt "$KEYS/issuer.key" '{"alg": "RS256", "typ": "JWT"}' "$(claims "$FED_ISS" "$FED_SUB" "api://AzureADTokenExchange" $((NOW - 7200)) $((NOW - 3600)))")"
az_check "federated: expired token -> 401 AADSTS700024" eq "$STATUS $(jq_ fa4 'd["error_codes"]')" "401 [700024]"
assertion_req fa5 "$FED_CID" "$(az_jwt "$KEYS/other.key" '{"alg": "RS256", "typ": "JWT"}' "$FED_CLAIMS")"
az_check "federated: signed by a key the issuer does not have -> 401 AADSTS700027" eq "$STATUS $(jq_ fa5 'd["error_codes"]')" "401 [700027]"
assertion_req fa6 "$CID" "$FED_JWT"
az_check "federated assertion for a client without that record -> 400 AADSTS70021" eq "$STATUS $(jq_ fa6 'd["error_codes"]')" "400 [70021]"
az_check "log: token requests carry client_id and credential, never the assertion" \
  eval 'grep -q "\"client_id\":\"$CERT_CID\".*\"credential\":\"certificate\"" "$AZ_LOG" &&
        grep -q "\"client_id\":\"$FED_CID\".*\"credential\":\"federated\"" "$AZ_LOG" &&
        ! grep -qF -e "${CERT_JWT##*.}" -e "${FED_JWT##*.}" "$AZ_LOG"'
az_check "log: keys requests are kind kv, with the caller's appid" \
  eval 'grep -q "\"kind\":\"kv\",\"method\":\"POST\",\"path\":\"/keys/wrap2048/unwrapkey\".*\"appid\":\"$CID\"" "$AZ_LOG"'
az_check "log: an RBAC refusal names the data action" \
  eval 'grep -q "\"status\":403.*\"rbac\":\"Microsoft.KeyVault/vaults/keys/create/action\"" "$AZ_LOG"'
req crid "$KV/keys/wrap2048?$API" "${AUTH[@]}" -H 'x-ms-client-request-id: crid-42'
az_check "log: x-ms-client-request-id is recorded as client_request_id (keys and secrets)" \
  eval 'grep -q "\"path\":\"/keys/wrap2048\".*\"client_request_id\":\"crid-42\"" "$AZ_LOG" &&
        grep -q "\"path\":\"/secrets/cmk\".*\"client_request_id\":\"abc-123\"" "$AZ_LOG"'

# --- TLS trust ----------------------------------------------------------------------
curl -sS --max-time 10 --cacert "$AZ_CERTS/other-ca.pem" -o /dev/null "$KV/secrets/cmk?$API" 2>/dev/null; RC=$?
az_check "TLS: a client trusting another CA refuses the server (rc $RC)" eq "$RC" 60
curl -sS --max-time 10 --cacert "$AZ_CA" -o /dev/null "https://localhost:$AZ_PORT/_emulator/health" 2>/dev/null; RC=$?
az_check "TLS: the certificate also names localhost" eq "$RC" 0

# --- the request log ------------------------------------------------------------------
az_check "log: unauthenticated and authenticated requests recorded" \
  eval 'grep -q "\"path\":\"/secrets/cmk\",.*\"auth\":false" "$AZ_LOG" && grep -q "\"auth\":true" "$AZ_LOG"'
az_check "log: never contains a token or the client secret" \
  eval '! grep -qF -e "${TOKEN:0:40}" -e "$CSECRET" "$AZ_LOG"'
az_check "log: a dropped request has status null and fault drop" \
  eval 'grep -q "\"status\":null,\"fault\":\"drop\"" "$AZ_LOG"'
az_check "log: IMDS entries say whether Metadata was sent" \
  eval 'grep -q "\"kind\":\"imds\".*\"metadata\":false" "$AZ_LOG" && grep -q "\"kind\":\"imds\".*\"metadata\":true" "$AZ_LOG"'
az_check "log: admin calls are not logged" eval '! grep -q _emulator "$AZ_LOG"'
az_check "the emulator reported no bug (no 500 answer, no traceback)" \
  eval '! grep -q "\"status\":500" "$AZ_LOG" && ! grep -q Traceback "$AZ_DIR/emulator.out"'

az_done
