#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Self-test of the Barbican harness with curl: a real Barbican API server
# (Debian's barbican-api, unauthenticated-context pipeline) and the Keystone
# v3 emulator in front of it. Part 1, Barbican direct: two secrets of one
# name listed newest first, the payload as octet-stream, delete (then 404),
# an expired secret, another project sees nothing, error bodies. Part 2,
# through Keystone: application-credential tokens, the authenticating proxy
# with/without/expired token, project from the token, the request log.
# Loopback only; every curl call is bounded by --max-time.
# Ends with "N passed, M failed"; exit 1 on failure, 77 when it cannot run.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/barbican_lib.sh"

for tool in curl openssl base64; do
  command -v "$tool" >/dev/null || {
    echo "SKIP: $tool is not installed"; echo "0 passed, 0 failed, 1 skipped"; exit 77; }
done

now() { date +%s.%N; }
secs() { "$BB_PY" -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }

# req NAME CURL-ARGS...: body in $BB_DIR/NAME.body, headers in NAME.hdr;
# sets STATUS (000 when no HTTP answer).
req() {
  local name=$1; shift
  STATUS=$(curl -sS --max-time 15 --cacert "$BB_CA" -o "$BB_DIR/$name.body" \
    -D "$BB_DIR/$name.hdr" -w '%{http_code}' "$@" 2>"$BB_DIR/$name.err")
}
# jget NAME PYEXPR: evaluates PYEXPR with d = the JSON body of NAME.
jget() {
  "$BB_PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$BB_DIR/$1.body" "$2" 2>/dev/null
}
# hdr NAME HEADER: the header's value (first one), CR stripped.
hdr() {
  tr -d '\r' < "$BB_DIR/$1.hdr" | awk -v h="$2" '
    index(tolower($0), tolower(h) ":") == 1 { sub(/^[^:]*: */, ""); print; exit }'
}
is() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }; }
like() { [[ $1 =~ $2 ]] || { echo "  '$1' !~ /$2/" >&2; return 1; }; }

UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
OTHER_PROJECT=0000000000000000000000000000beef
K1=$(openssl rand -base64 32)
K2=$(openssl rand -base64 32)
K3=$(openssl rand -base64 32)

T0=$(now)
bb_setup || { bb_bad "setup (barbican-api installed, CA made)"; bb_done; exit 1; }
T1=$(now)
bb_start || { bb_bad "barbican starts"; bb_done; exit 1; }
T2=$(now)
bb_ok "barbican starts ($BB_URL, pid $BB_PID; setup $(secs "$T0" "$T1") s, start $(secs "$T1" "$T2") s)"

# ---------------- part 1: Barbican directly (X-Project-Id) ----------------

# An expiring secret first, so its expiry passes while the rest runs.
EXP_AT=$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%S)
EXP_ID=$(bb_store_expiring cmk-exp "$K3" "$EXP_AT")
bb_check "store a secret expiring at $EXP_AT" like "$EXP_ID" "$UUID_RE"
req expm -H "X-Project-Id: $BB_PROJECT" "$BB_URL/v1/secrets/$EXP_ID"
bb_check "expiring secret: expiration echoed (naive, no Z)" is "$(jget expm 'd["expiration"]')" "$EXP_AT"
req expp0 -H "X-Project-Id: $BB_PROJECT" -H 'Accept: application/octet-stream' "$BB_URL/v1/secrets/$EXP_ID/payload"
bb_check "expiring secret: payload readable before it expires" is "$STATUS" 200

req root "$BB_URL/"
bb_check "GET / is the version document (300)" is "$STATUS" 300
bb_check "version document links v1 from host_href" \
  is "$(jget root 'd["versions"]["values"][0]["links"][0]["href"]')" "$BB_URL/v1/"

req noproj "$BB_URL/v1/secrets"
bb_check "no X-Project-Id: 400" is "$STATUS" 400
bb_check "no X-Project-Id: an HTML body from webob, not JSON" grep -q 'Missing X-Project-Id' "$BB_DIR/noproj.body"

ID1=$(bb_store cmk "$K1")
bb_check "store secret 1 (uuid)" like "$ID1" "$UUID_RE"
req store2 -X POST -H "X-Project-Id: $BB_PROJECT" -H 'Content-Type: application/json' \
  --data-binary "$(bb_secret_json cmk "$K2")" "$BB_URL/v1/secrets"
bb_check "store secret 2: 201" is "$STATUS" 201
REF2=$(jget store2 'd["secret_ref"]')
ID2=${REF2##*/}
bb_check "secret_ref is host_href + /v1/secrets/UUID" like "$REF2" "^$BB_URL/v1/secrets/[0-9a-f-]{36}\$"
bb_check "Location header = secret_ref" is "$(hdr store2 Location)" "$REF2"
bb_check "the POST answer holds only secret_ref" is "$(jget store2 'sorted(d)')" '["secret_ref"]'

req list -H "X-Project-Id: $BB_PROJECT" "$BB_URL/v1/secrets?name=cmk&sort=created:desc"
bb_check "list ?name=cmk&sort=created:desc: 200" is "$STATUS" 200
bb_check "list total 2" is "$(jget list 'd["total"]')" 2
bb_check "list newest first" is "$(jget list '[s["secret_ref"].rsplit("/",1)[1] for s in d["secrets"]]')" "[\"$ID2\", \"$ID1\"]"
bb_check "bb_list gives the same" is "$(bb_list cmk | "$BB_PY" -c 'import json,sys; print(json.load(sys.stdin)["secrets"][0]["secret_ref"])')" "$REF2"
req lista -H "X-Project-Id: $BB_PROJECT" "$BB_URL/v1/secrets?name=cmk&sort=created:asc"
bb_check "sort=created:asc: oldest first" is "$(jget lista 'd["secrets"][0]["secret_ref"]')" "$BB_URL/v1/secrets/$ID1"
req listn -H "X-Project-Id: $BB_PROJECT" "$BB_URL/v1/secrets?name=cmk"
bb_check "no sort: oldest first too" is "$(jget listn 'd["secrets"][0]["secret_ref"]')" "$BB_URL/v1/secrets/$ID1"
bb_check "created: naive UTC ISO 8601 with microseconds, no Z" \
  like "$(jget list 'd["secrets"][0]["created"]')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$'
bb_check "list entry fields" is "$(jget list 'sorted(d["secrets"][0])')" \
  '["algorithm", "bit_length", "content_types", "created", "creator_id", "expiration", "mode", "name", "secret_ref", "secret_type", "status", "updated"]'
bb_check "content_types.default = application/octet-stream" \
  is "$(jget list 'd["secrets"][0]["content_types"]["default"]')" application/octet-stream

printf '%s' "$K2" | base64 -d > "$BB_DIR/k2.bin"
req pay -H "X-Project-Id: $BB_PROJECT" -H 'Accept: application/octet-stream' "$BB_URL/v1/secrets/$ID2/payload"
bb_check "payload (Accept: application/octet-stream): 200" is "$STATUS" 200
bb_check "payload bytes = the stored key (32 bytes)" cmp -s "$BB_DIR/pay.body" "$BB_DIR/k2.bin"
bb_check "payload Content-Type application/octet-stream" is "$(hdr pay Content-Type)" application/octet-stream
bb_check "bb_payload gives the same bytes" cmp -s <(bb_payload "$ID2") "$BB_DIR/k2.bin"
req payj -H "X-Project-Id: $BB_PROJECT" -H 'Accept: application/json' "$BB_URL/v1/secrets/$ID2/payload"
bb_check "payload with Accept: application/json: 406" is "$STATUS" 406
bb_check "error body {code,title,description}" is "$(jget payj 'sorted(d)')" '["code", "description", "title"]'
req payn -H "X-Project-Id: $BB_PROJECT" "$BB_URL/v1/secrets/$ID2/payload"
bb_check "payload without Accept: 200, the bytes" cmp -s "$BB_DIR/payn.body" "$BB_DIR/k2.bin"

req other -H "X-Project-Id: $OTHER_PROJECT" "$BB_URL/v1/secrets?name=cmk&sort=created:desc"
bb_check "another project lists nothing" is "$(jget other '[d["total"], d["secrets"]]')" '[0, []]'
req otherp -H "X-Project-Id: $OTHER_PROJECT" -H 'Accept: application/octet-stream' "$BB_URL/v1/secrets/$ID2/payload"
bb_check "another project's payload GET: 403 (not 404)" is "$STATUS" 403
bb_check "403 body" is "$(jget otherp 'd["title"]')" Forbidden

bb_check "bb_delete secret 1: 204" is "$(bb_delete "$ID1")" 204
req gone -H "X-Project-Id: $BB_PROJECT" "$BB_URL/v1/secrets/$ID1"
bb_check "deleted secret: 404" is "$STATUS" 404
bb_check "404 body" is "$(jget gone 'd')" '{"code": 404, "title": "Not Found", "description": "Secret not found."}'
req gonep -H "X-Project-Id: $BB_PROJECT" -H 'Accept: application/octet-stream' "$BB_URL/v1/secrets/$ID1/payload"
bb_check "deleted secret payload: 404" is "$STATUS" 404
bb_check "delete again: 404" is "$(bb_delete "$ID1")" 404
bb_check "list after delete: only secret 2" is "$(bb_list cmk | "$BB_PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["total"], d["secrets"][0]["secret_ref"])')" "1 $REF2"
req badid -H "X-Project-Id: $BB_PROJECT" "$BB_URL/v1/secrets/not-a-uuid"
bb_check "malformed id: 404 'Provided secret id is invalid.'" \
  is "$STATUS $(jget badid 'd["description"]')" "404 Not Found. Provided secret id is invalid."

# Concurrent writers (SQLite behind a threaded server): all must succeed.
pids=()
for i in 1 2 3 4 5 6; do
  bb_store "par-$i" "$K1" > "$BB_DIR/par$i.id" 2>"$BB_DIR/par$i.err" & pids+=($!)
done
wait "${pids[@]}"   # never a bare wait: the servers are children too
bb_check "6 concurrent stores all succeed" is "$(cat "$BB_DIR"/par?.id | grep -cE "$UUID_RE")" 6

req past -X POST -H "X-Project-Id: $BB_PROJECT" -H 'Content-Type: application/json' \
  --data-binary "$(bb_secret_json cmk-past "$K1" 2020-01-01T00:00:00Z)" "$BB_URL/v1/secrets"
bb_check "expiration in the past: 400" is "$STATUS" 400
bb_check "  ... 'is before current time'" like "$(jget past 'd["description"]')" "before current time"

# The expiring secret, once its expiration has passed: 404.
while [ "$(date -u +%Y-%m-%dT%H:%M:%S)" \< "$EXP_AT" ] || [ "$(date -u +%Y-%m-%dT%H:%M:%S)" = "$EXP_AT" ]; do
  sleep 0.2
done
sleep 0.3
req expp -H "X-Project-Id: $BB_PROJECT" -H 'Accept: application/octet-stream' "$BB_URL/v1/secrets/$EXP_ID/payload"
bb_check "expired secret payload: 404 'Secret not found.'" is "$STATUS $(jget expp 'd["description"]')" "404 Secret not found."
req expm2 -H "X-Project-Id: $BB_PROJECT" "$BB_URL/v1/secrets/$EXP_ID"
bb_check "expired secret metadata: 404" is "$STATUS" 404
bb_check "expired secret not listed" is "$(bb_list cmk-exp | "$BB_PY" -c 'import json,sys; print(json.load(sys.stdin)["total"])')" 0
T3=$(now)

# ------------- part 2: through the Keystone emulator (tokens) -------------
bb_stop
T4=$(now)
bb_start_with_keystone || { bb_bad "keystone emulator + barbican behind it start"; bb_done; exit 1; }
T5=$(now)
bb_ok "keystone emulator ($KS_URL, proxy $KS_BARBICAN_URL) and barbican behind it start ($(secs "$T4" "$T5") s)"

CID=5f1c0a7e9b3d4c2a8e6f0b1d2c3a4e5f
CSECRET='app-cred.secret~with_symbols'
out=$(ks_admin POST credentials "{\"id\": \"$CID\", \"secret\": \"$CSECRET\", \"name\": \"cmkfs\", \"roles\": [\"creator\"]}")
bb_check "admin: add an application credential" like "$out" "\"id\": \"$CID\""
bb_check "admin: the credential answer has no secret" eval "! grep -q secret <<<'$out'"
bb_check "admin: health" like "$(ks_admin GET health)" '"ok": true'

auth_json() {
  printf '{"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "%s", "secret": "%s"}}}}' "$1" "$2"
}
req tok -H 'Content-Type: application/json' --data-binary "$(auth_json "$CID" "$CSECRET")" "$KS_URL/auth/tokens"
TOKEN=$(hdr tok X-Subject-Token)
bb_check "token: 201" is "$STATUS" 201
bb_check "token in X-Subject-Token (Fernet-like)" like "$TOKEN" '^gAAAAA[A-Za-z0-9_-]{150,}$'
bb_check "token body: methods" is "$(jget tok 'd["token"]["methods"]')" '["application_credential"]'
bb_check "token body: project from the credential" is "$(jget tok 'd["token"]["project"]["id"] + " " + d["token"]["project"]["domain"]["id"]')" "$BB_PROJECT default"
bb_check "token body: application_credential" is "$(jget tok 'd["token"]["application_credential"]')" "{\"id\": \"$CID\", \"name\": \"cmkfs\", \"restricted\": true}"
bb_check "token body: expires_at/issued_at ISO 8601 with Z" \
  like "$(jget tok 'd["token"]["expires_at"] + " " + d["token"]["issued_at"]')" '^[0-9T:.-]{26}Z [0-9T:.-]{26}Z$'
bb_check "token body: roles" is "$(jget tok '[r["name"] for r in d["token"]["roles"]]')" '["creator"]'
bb_check "catalog: key-manager public endpoint = the proxy" \
  is "$(jget tok '[e["url"] for s in d["token"]["catalog"] if s["type"] == "key-manager" for e in s["endpoints"] if e["interface"] == "public"][0]')" "$KS_BARBICAN_URL"
req tokn -H 'Content-Type: application/json' --data-binary "$(auth_json "$CID" "$CSECRET")" "$KS_URL/auth/tokens?nocatalog"
bb_check "?nocatalog: no catalog" is "$(jget tokn '"catalog" in d["token"]')" False
bb_check "ks_token helper" like "$(ks_token "$CID" "$CSECRET")" '^gAAAAA'

req bads -H 'Content-Type: application/json' --data-binary "$(auth_json "$CID" wrong)" "$KS_URL/auth/tokens"
bb_check "wrong secret: 401" is "$STATUS" 401
bb_check "wrong secret: Keystone error body" is "$(jget bads 'd')" \
  '{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}'
bb_check "wrong secret: WWW-Authenticate: Keystone uri=..." like "$(hdr bads WWW-Authenticate)" '^Keystone uri="https://127\.0\.0\.1:[0-9]+"$'
bb_check "wrong secret: no token" is "$(hdr bads X-Subject-Token)" ""
req badi -H 'Content-Type: application/json' --data-binary "$(auth_json nosuchcredential "$CSECRET")" "$KS_URL/auth/tokens"
bb_check "unknown credential id: 401" is "$STATUS" 401
req badj -H 'Content-Type: application/json' --data-binary '{"auth": ' "$KS_URL/auth/tokens"
bb_check "malformed JSON: 400" is "$STATUS" 400

req nt -H 'Accept: application/json' "$KS_BARBICAN_URL/v1/secrets"
bb_check "proxy without token: 401" is "$STATUS" 401
bb_check "proxy 401 body like keystonemiddleware" is "$(jget nt 'd["error"]["title"] + "|" + d["error"]["message"]')" \
  "Unauthorized|The request you have made requires authentication."
bb_check "proxy 401 WWW-Authenticate names the identity service" is "$(hdr nt WWW-Authenticate)" "Keystone uri=\"${KS_URL%/v3}\""
req ut -H "X-Auth-Token: gAAAAAunknown" "$KS_BARBICAN_URL/v1/secrets"
bb_check "proxy with an unknown token: 401" is "$STATUS" 401
req pv "$KS_BARBICAN_URL/"
bb_check "proxy: / (versions) needs no token, 300" is "$STATUS" 300

# Store through the proxy, with a forged X-Project-Id that must be replaced.
printf '%s' "$K1" | base64 -d > "$BB_DIR/k1.bin"
req ps -X POST -H "X-Auth-Token: $TOKEN" -H "X-Project-Id: $OTHER_PROJECT" -H 'X-Roles: admin' \
  -H 'Content-Type: application/json' --data-binary "$(bb_secret_json cmk "$K1")" "$KS_BARBICAN_URL/v1/secrets"
bb_check "proxy: store with token: 201" is "$STATUS" 201
PREF=$(jget ps 'd["secret_ref"]')
PID_=${PREF##*/}
bb_check "proxy: secret_ref points at the proxy (host_href)" like "$PREF" "^$KS_BARBICAN_URL/v1/secrets/[0-9a-f-]{36}\$"
req pl -H "X-Auth-Token: $TOKEN" -H "X-Project-Id: $OTHER_PROJECT" "$KS_BARBICAN_URL/v1/secrets?name=cmk&sort=created:desc"
bb_check "proxy: list with token (forged X-Project-Id ignored)" is "$STATUS $(jget pl 'd["total"]')" "200 1"
bb_check "direct as the token's project: the secret is there" is "$(bb_list cmk | "$BB_PY" -c 'import json,sys; print(json.load(sys.stdin)["secrets"][0]["secret_ref"])')" "${PREF:-<no ref>}"
bb_check "direct as the forged project: nothing" is "$(BB_PROJECT=$OTHER_PROJECT bb_list cmk | "$BB_PY" -c 'import json,sys; print(json.load(sys.stdin)["total"])')" 0
req pm -H "X-Auth-Token: $TOKEN" "$KS_BARBICAN_URL/v1/secrets/$PID_"
bb_check "proxy: creator_id = the token's user" is "$(jget pm 'd["creator_id"]')" "$(jget tok 'd["token"]["user"]["id"]' || echo '<no user>')"
req pp -H "X-Auth-Token: $TOKEN" -H 'Accept: application/octet-stream' "$KS_BARBICAN_URL/v1/secrets/$PID_/payload"
bb_check "proxy: payload bytes" cmp -s "$BB_DIR/pp.body" "$BB_DIR/k1.bin"
bb_check "proxy: payload Content-Type passed through" is "$(hdr pp Content-Type)" application/octet-stream
req pe -H "X-Auth-Token: $TOKEN" -H 'Accept: application/octet-stream' "$KS_BARBICAN_URL/v1/secrets/00000000-0000-0000-0000-000000000000/payload"
bb_check "proxy: Barbican's 404 passed through unchanged" is "$STATUS $(jget pe 'd["title"]')" "404 Not Found"

# Expiry: a short-lived token stops working; expire-tokens ends the rest.
ks_admin POST token-lifetime '{"seconds": 1.5}' >/dev/null
SHORT=$(ks_token "$CID" "$CSECRET")
req s1 -H "X-Auth-Token: $SHORT" "$KS_BARBICAN_URL/v1/secrets?name=cmk"
bb_check "short-lived token works at first" is "$STATUS" 200
sleep 1.7
req s2 -H "X-Auth-Token: $SHORT" "$KS_BARBICAN_URL/v1/secrets?name=cmk"
bb_check "expired token: 401" is "$STATUS" 401
ks_admin POST token-lifetime '{"seconds": 3600}' >/dev/null
req s3 -H "X-Auth-Token: $TOKEN" "$KS_BARBICAN_URL/v1/secrets?name=cmk"
bb_check "long token still works" is "$STATUS" 200
ks_admin POST expire-tokens >/dev/null
req s4 -H "X-Auth-Token: $TOKEN" "$KS_BARBICAN_URL/v1/secrets?name=cmk"
bb_check "after expire-tokens: 401" is "$STATUS" 401

ks_admin POST fault '{"target": "token", "status": 503, "count": 1}' >/dev/null
req f1 -H 'Content-Type: application/json' --data-binary "$(auth_json "$CID" "$CSECRET")" "$KS_URL/auth/tokens"
S1=$STATUS
req f2 -H 'Content-Type: application/json' --data-binary "$(auth_json "$CID" "$CSECRET")" "$KS_URL/auth/tokens"
bb_check "fault: next token request 503 (Keystone error body), then 201" \
  is "$S1 $(jget f1 'd["error"]["code"]') $STATUS" "503 503 201"

# The request log: method, path, token_sent, status; never the token.
bb_check "log: the token never appears" eval "! grep -qF -e '$TOKEN' -e '$SHORT' -e '$CSECRET' '$KS_LOG'"
bb_check "log: proxy 401 without token logged" \
  "$BB_PY" -c 'import json,sys
L=[json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if any(e["port"]=="proxy" and e["path"]=="/v1/secrets" and not e["token_sent"] and e["token"]=="missing" and e["status"]==401 for e in L) else 1)' "$KS_LOG"
bb_check "log: forged X-Project-Id/X-Roles stripped" \
  "$BB_PY" -c 'import json,sys
L=[json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if any(e.get("stripped_headers")==["x-project-id","x-roles"] and e["status"]==201 for e in L) else 1)' "$KS_LOG"
bb_check "log: token requests with their outcome" \
  "$BB_PY" -c 'import json,sys
L=[json.loads(l) for l in open(sys.argv[1])]
a=[e.get("auth") for e in L if e["port"]=="identity" and e["method"]=="POST"]
sys.exit(0 if {"ok","bad_secret","unknown_credential","bad_request"} <= set(a) else 1)' "$KS_LOG"
bb_check "admin: requests log GET = file" is "$(ks_admin GET requests | "$BB_PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')" "$(wc -l < "$KS_LOG" | tr -d ' ')"
ks_admin DELETE requests
bb_check "admin: requests log cleared" is "$(ks_admin GET requests)" "[]"
T6=$(now)

echo "# timings: setup (CA) $(secs "$T0" "$T1") s, barbican start $(secs "$T1" "$T2") s, part 1 $(secs "$T2" "$T3") s, restart behind keystone $(secs "$T4" "$T5") s, part 2 $(secs "$T5" "$T6") s, total $(secs "$T0" "$T6") s"
bb_done || exit 1
