#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Self-test of the Azure Key Vault emulator with curl: token endpoint, IMDS,
# the secrets data plane (current/given version, paging, 401 challenge,
# 403/404 bodies), fault injection (429/503 + Retry-After, slow, dropped,
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

az_setup || exit 1
cat > "$AZ_DIR/config.json" <<EOF
{
  "tenant": "$TENANT",
  "clients": {"$CID": "$CSECRET"},
  "page_size": 2,
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

az_done
