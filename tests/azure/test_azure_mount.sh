#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmkfs with provider = azure, against the Key Vault emulator (HTTPS on
# loopback, a CA made for the run): init, mount, write and read with
# client-secret sign-in and with a managed identity; the Key Vault version
# id in each file's header; the token cached and reused, renewed on a 401;
# 429 and 503 retried after Retry-After; one handle shared by threads; and
# every failure the issue lists, each with its exit code and message, in
# bounded time. At the end, no client secret or key value may appear in
# any output, in the emulator's log or in a process's command line.
# Needs root and /dev/fuse (it mounts), openssl, curl and python3.
. "$(dirname "$0")/../fs/fs_lib.sh"
. "$(dirname "$0")/az_lib.sh"
# Both libraries set an EXIT trap: unmount first, then stop the emulator.
trap 't_cleanup; az_cleanup' EXIT

for tool in curl openssl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing" >&2; exit 1; }
done
# The emulator is on loopback: no proxy from the environment may get in.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

TENANT=2b1c6f3e-7d4a-4e1b-9c2d-5a6b7c8d9e0f
CID=cmkfs-test-app
CSECRET='Xq8~cmkfs.Client-Secret_0042'
V1=0a1b2c3d4e5f60718293a4b5c6d7e8f9
V2=1b2c3d4e5f60718293a4b5c6d7e8f90a
V3=2c3d4e5f60718293a4b5c6d7e8f90a1b
V4=3d4e5f60718293a4b5c6d7e8f90a1b2c
VX=4e5f60718293a4b5c6d7e8f90a1b2c3d
K1=$(openssl rand -base64 32)
K2=$(openssl rand -base64 32)
K3=$(openssl rand -base64 32)
K4=$(openssl rand -base64 32)
KOFF=$(openssl rand -base64 32)
KOLD=$(openssl rand -base64 32)
KSHORT=$(openssl rand -base64 16)
NOW=$(date +%s)
PAST=$((NOW - 86400))
FUTURE=$((NOW + 86400))
ALL=$T_DIR/outputs # every cmkfs output, searched for secrets at the end
BOUND=30           # seconds a failing command may take with the defaults

az_setup || { t_fail "test CA"; t_done; exit 1; }
cat > "$AZ_DIR/config.json" <<EOF
{
  "tenant": "$TENANT",
  "clients": {"$CID": "$CSECRET"},
  "page_size": 2,
  "secrets": {
    "cmk": {"versions": [
      {"id": "$VX", "value": "$KOLD", "created": $((NOW - 400)), "exp": $PAST},
      {"id": "$V1", "value": "$K1", "created": $((NOW - 300))},
      {"id": "$V2", "value": "$K2", "created": $((NOW - 200)), "enabled": false},
      {"id": "$V3", "value": "$K3", "created": $((NOW - 100))}
    ]},
    "cmk-off": {"versions": [
      {"value": "$(openssl rand -base64 32)", "created": $((NOW - 200))},
      {"value": "$KOFF", "created": $((NOW - 100)), "enabled": false}
    ]},
    "cmk-short": "$KSHORT",
    "cmk-text": "this is not a key",
    "cmk-nbf": {"versions": [{"value": "$(openssl rand -base64 32)", "nbf": $FUTURE}]},
    "cmk-exp": {"versions": [{"value": "$(openssl rand -base64 32)", "exp": $PAST}]}
  }
}
EOF
az_start "$AZ_DIR/config.json" || { t_fail "the emulator starts"; t_done; exit 1; }

printf '%s\n' "$CSECRET" > "$T_DIR/client-secret"
chmod 600 "$T_DIR/client-secret"

# conf FILE AUTH [KEY=VALUE...]: a config for the emulator; later keys
# replace earlier ones (an empty value drops the key).
conf() {
  local file=$1 auth=$2 kv k
  shift 2
  declare -A v=([vault_url]=$AZ_URL [secret]=cmk [ca_file]=$AZ_CERTS/ca.pem)
  local order=(vault_url secret auth tenant client_id client_secret_file
               authority_url imds_url ca_file timeout retries)
  if [ "$auth" = client-secret ]; then
    v[auth]=client-secret v[tenant]=$TENANT v[client_id]=$CID
    v[client_secret_file]=$T_DIR/client-secret v[authority_url]=$AZ_URL
  else
    v[auth]=managed-identity v[imds_url]=$AZ_IMDS
  fi
  for kv in "$@"; do v[${kv%%=*}]=${kv#*=}; done
  { echo "[kms]"; echo "provider = azure"
    for k in "${order[@]}"; do
      [ -n "${v[$k]:-}" ] && echo "$k = ${v[$k]}"
    done; } > "$file"
  chmod 600 "$file"
}

# run CODE DESC -- CMD...: t_expect, keeping the output for the final
# search; ELAPSED is how long it took, in seconds.
run() {
  local t0 t1
  t0=$(date +%s%N)
  t_expect "$@"
  t1=$(date +%s%N)
  ELAPSED=$(((t1 - t0) / 1000000000))
  printf '%s\n' "$T_OUT" >> "$ALL"
}

# log_count FILTER: how many emulator log lines match a python condition on
# e (one request), e.g. 'e["kind"] == "token"'.
log_count() {
  "$AZ_PY" - "$AZ_LOG" "$1" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if eval(sys.argv[2]):
        n += 1
print(n)
EOF
}

check() { # check DESC COMMAND...
  local d=$1; shift
  if "$@"; then t_pass; else t_fail "$d"; fi
}

cs=$T_DIR/cs.conf
mi=$T_DIR/mi.conf
conf "$cs" client-secret
conf "$mi" managed-identity

# --- client-secret sign-in: init, mount, write, read --------------------------
run 0 "init with client-secret sign-in" -- "$CMKFS" init -c "$cs" "$T_DIR/a"
t_contains "init names the current version" "$V3"
mnt=$T_DIR/mnt
az_admin DELETE log >/dev/null
fs_mount "$cs" "$T_DIR/a" "$mnt" || fs_abort "mount with client-secret sign-in"
# The daemon's command line and environment hold no secret.
pid=$(fs_daemon_pid "$mnt")
if [ -n "$pid" ] && ! tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qF "$CSECRET" &&
   ! tr '\0' '\n' < "/proc/$pid/environ" | grep -qF "$CSECRET"; then t_pass
else t_fail "the daemon's command line or environment (pid '$pid') holds the client secret"; fi
echo "through Key Vault" > "$mnt/hello"
[ "$(cat "$mnt/hello")" = "through Key Vault" ] && t_pass || t_fail "read back through the mount"
fs_umount "$mnt"
# One token for the whole mount: the current version, both pages of the
# list and the other enabled version, all with it.
tokens=$(log_count 'e["kind"] == "token"')
kv=$(log_count 'e["kind"] == "kv" and e["auth"]')
pages=$(log_count '"skiptoken" in e["query"]')
check "one token reused for $kv vault requests (got $tokens tokens)" \
  test "$tokens" = 1 -a "$kv" -ge 4
check "the versions list was paged (nextLink followed $pages times)" test "$pages" -ge 1
run 0 "info on a backing file" -- "$CMKFS" info -c "$cs" "$T_DIR/a/hello"
t_contains "the slot holds the Key Vault version id" "CMK version $V3 (active)"
t_contains "the key service unwraps it" "unwraps with CMK version $V3"
run 0 "key list" -- "$CMKFS" key list -c "$cs"
t_contains "key list names the vault and secret" "key '$AZ_URL/secrets/cmk'"
case $T_OUT in
  *"$V3"*enabled*"$V2"*disabled*"$V1"*enabled*"$VX"*disabled*) t_pass ;;
  *) t_fail "key list: newest first, disabled and expired versions marked: $T_OUT" ;;
esac

# --- managed identity ---------------------------------------------------------
az_admin DELETE log >/dev/null
run 0 "init with a managed identity" -- "$CMKFS" init -c "$mi" "$T_DIR/b"
check "the token came from IMDS with Metadata: true, over plain http" \
  test "$(log_count 'e["kind"] == "imds" and e["metadata"] and e["server"] == "http" and e["status"] == 200')" = 1
check "no client-secret sign-in with a managed identity" \
  test "$(log_count 'e["kind"] == "token"')" = 0
fs_mount "$mi" "$T_DIR/b" "$mnt" || fs_abort "mount with a managed identity"
echo "managed" > "$mnt/m"
[ "$(cat "$mnt/m")" = managed ] && t_pass || t_fail "read back (managed identity)"
fs_umount "$mnt"
# Both sign-ins reach the same key: the volume made with one mounts with
# the other.
fs_mount "$mi" "$T_DIR/a" "$mnt" && [ "$(cat "$mnt/hello")" = "through Key Vault" ] &&
  t_pass || t_fail "the client-secret volume through the managed identity"
fs_umount "$mnt"

# --- a new version: new files use it, old ones keep theirs --------------------
az_admin POST secrets/cmk "{\"id\": \"$V4\", \"value\": \"$K4\"}" >/dev/null
fs_mount "$cs" "$T_DIR/a" "$mnt" || fs_abort "mount after a new version"
echo "new" > "$mnt/new"
[ "$(cat "$mnt/hello")" = "through Key Vault" ] && t_pass || t_fail "old file after a new version"
fs_umount "$mnt"
run 0 "info after a new version" -- "$CMKFS" info -c "$cs" "$T_DIR/a/new" "$T_DIR/a/hello"
t_contains "a new file is wrapped with the new version" "CMK version $V4 (active)"
t_contains "an old file keeps its version" "CMK version $V3 (active)"

# --- the 401 challenge: one fresh token, one more try --------------------------
az_admin DELETE log >/dev/null
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "unauthorized", "count": 1}' >/dev/null
run 0 "a 401 from the vault, then success" -- "$CMKFS" init -c "$cs" "$T_DIR/c"
check "after the 401: one fresh token, then 200" \
  test "$(log_count 'e["status"] == 401')" = 1 -a "$(log_count 'e["kind"] == "token"')" = 2

# --- 429 and 503 with Retry-After -----------------------------------------------
az_admin DELETE log >/dev/null
az_admin POST faults '[{"path": "^/secrets/cmk$", "action": "429", "retry_after": 1, "count": 1},
  {"path": "^/secrets/cmk$", "action": "503", "retry_after": 1, "count": 1}]' >/dev/null
run 0 "429 and 503 with Retry-After, then success" -- "$CMKFS" init -c "$cs" "$T_DIR/d"
check "429, 503, then 200 on the same URL" test \
  "$(log_count 'e["path"] == "/secrets/cmk" and e["status"] in (429, 503)')" = 2
check "Retry-After was obeyed (took $ELAPSED s)" test "$ELAPSED" -ge 2
az_admin POST faults '{"path": "/oauth2/", "action": "503", "retry_after": 1, "count": 1}' >/dev/null
run 0 "a 503 from the token endpoint is retried too" -- "$CMKFS" key list -c "$cs"

# --- one handle, many threads, tokens expiring under them -----------------------
if [ -n "${CMKFS_AZURE_KMS_PROG:-}" ]; then
  az_admin DELETE log >/dev/null
  "$CMKFS_AZURE_KMS_PROG" "$cs" 8 2 > "$T_DIR/threads.out" 2>&1 &
  tpid=$!
  sleep 1
  az_admin POST tokens/expire >/dev/null
  wait "$tpid"; rc=$?
  T_OUT=$(cat "$T_DIR/threads.out"); printf '%s\n' "$T_OUT" >> "$ALL"
  check "8 threads on one handle: $T_OUT" test "$rc" = 0
  tokens=$(log_count 'e["kind"] == "token"')
  kv=$(log_count 'e["kind"] == "kv"')
  check "threads share the token: $tokens tokens for $kv requests, renewed after expiry" \
    test "$tokens" -ge 2 -a "$tokens" -le 4 -a "$kv" -ge 40
  # Short-lived tokens are renewed before they expire (at half their
  # life), so never refused. (The emulator's expiry is rounded down to a
  # whole second: 4 s leaves room for that.)
  az_admin POST settings '{"token_lifetime": 4}' >/dev/null
  az_admin DELETE log >/dev/null
  printf '%s\n' "$CSECRET" "$K1" "$K3" "$K4" > "$T_DIR/needles"
  chmod 600 "$T_DIR/needles"
  T_OUT=$("$CMKFS_AZURE_KMS_PROG" "$cs" 2 6 "$T_DIR/needles" 2>&1); rc=$?
  printf '%s\n' "$T_OUT" >> "$ALL"
  check "2 threads, 4-second tokens, then no secret in its memory: $T_OUT" \
    test "$rc" = 0
  tokens=$(log_count 'e["kind"] == "token"')
  check "renewed ahead of expiry ($tokens tokens, no 401)" \
    test "$tokens" -ge 2 -a "$(log_count 'e["status"] == 401')" = 0
  az_admin POST settings '{"token_lifetime": 3599}' >/dev/null
else
  t_fail "CMKFS_AZURE_KMS_PROG is not set (the thread test did not run)"
fi

# --- refusals: exit 4 and a message that says why -------------------------------
printf 'not-the-secret\n' > "$T_DIR/wrong-secret"
chmod 600 "$T_DIR/wrong-secret"
conf "$T_DIR/wrong.conf" client-secret client_secret_file="$T_DIR/wrong-secret"
run 4 "a wrong client secret" -- "$CMKFS" init -c "$T_DIR/wrong.conf" "$T_DIR/e"
t_contains "the authority's error code" "AADSTS7000215"
t_contains "the OAuth error" "invalid_client"
t_contains "the token URL" "$AZ_URL/$TENANT/oauth2/v2.0/token"
conf "$T_DIR/tenant.conf" client-secret tenant=no-such-tenant
run 4 "an unknown tenant" -- "$CMKFS" init -c "$T_DIR/tenant.conf" "$T_DIR/e"
t_contains "an unknown tenant names AADSTS90002" "AADSTS90002"
conf "$T_DIR/off.conf" client-secret secret=cmk-off
run 4 "a disabled current version" -- "$CMKFS" init -c "$T_DIR/off.conf" "$T_DIR/e"
t_contains "says the current version is disabled" "the current version of secret 'cmk-off' in $AZ_URL is disabled"
conf "$T_DIR/missing.conf" managed-identity secret=cmk-missing
run 4 "a secret that does not exist" -- "$CMKFS" init -c "$T_DIR/missing.conf" "$T_DIR/e"
t_contains "says there is no such secret" "no secret 'cmk-missing' in $AZ_URL"
t_contains "with Key Vault's code" "SecretNotFound"
conf "$T_DIR/nbf.conf" managed-identity secret=cmk-nbf
run 4 "a current version whose nbf is in the future" -- "$CMKFS" init -c "$T_DIR/nbf.conf" "$T_DIR/e"
t_contains "says not valid before" "is not valid before"
conf "$T_DIR/exp.conf" managed-identity secret=cmk-exp
run 4 "a current version whose exp is past" -- "$CMKFS" init -c "$T_DIR/exp.conf" "$T_DIR/e"
t_contains "says expired" "expired at"
# A bad value is a configuration problem of the key: exit 1 from init, 4
# from mount (cmkfs's exit code tables).
conf "$T_DIR/short.conf" managed-identity secret=cmk-short
run 4 "a value of 16 bytes" -- "$CMKFS" init -c "$T_DIR/short.conf" "$T_DIR/e"
t_contains "says what the value must be" "must be the base64 of a 32-byte key (it is 16 bytes)"
conf "$T_DIR/text.conf" managed-identity secret=cmk-text
run 4 "a value that is not base64" -- "$CMKFS" init -c "$T_DIR/text.conf" "$T_DIR/e"
t_contains "says it is not base64" "(it is not base64)"
t_not_contains "never quotes the value" "this is not a key"
# The volume's own version disabled: the mount is refused, naming it.
az_admin POST "secrets/cmk/$V3" '{"enabled": false}' >/dev/null
run 4 "mount when the volume's version is disabled" -- "$CMKFS" mount -c "$cs" "$T_DIR/a" "$mnt"
t_contains "names the disabled version" "version $V3 of secret 'cmk' in $AZ_URL is disabled"
fs_is_mounted "$mnt" && { t_fail "a refused mount left a mount"; fusermount3 -u "$mnt"; } || t_pass
az_admin POST "secrets/cmk/$V3" '{"enabled": true}' >/dev/null
# An identity the vault does not let in.
az_admin POST faults '{"path": "^/secrets/", "action": "status", "status": 403, "count": 1,
  "body": {"error": {"code": "Forbidden", "message": "The user, group or application does not have secrets get permission.",
  "innererror": {"code": "AccessDenied"}}}}' >/dev/null
run 4 "access denied by the vault" -- "$CMKFS" init -c "$cs" "$T_DIR/e"
t_contains "names the vault's refusal" "access denied"

# --- an unreachable or misbehaving service: bounded, exit 4 -----------------------
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "slow", "delay": 60, "count": -1}' >/dev/null
run 4 "a vault slower than the time-out (default settings)" -- "$CMKFS" init -c "$cs" "$T_DIR/e"
check "gives up within $BOUND s (took $ELAPSED s)" test "$ELAPSED" -lt "$BOUND"
t_contains "names the URL" "GET $AZ_URL/secrets/cmk:"
t_contains "names the cause" "timed out"
az_admin DELETE faults >/dev/null
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "drop", "count": -1}' >/dev/null
run 4 "a vault that drops the connection" -- "$CMKFS" init -c "$cs" "$T_DIR/e"
check "gives up within $BOUND s (took $ELAPSED s)" test "$ELAPSED" -lt "$BOUND"
t_contains "names the URL and the cause" "GET $AZ_URL/secrets/cmk: Empty reply from server (4 tries"
az_admin DELETE faults >/dev/null
# From here on, fewer retries where the bound is not the point.
conf "$T_DIR/cs1.conf" client-secret retries=1
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "503", "retry_after": 1, "count": -1}' >/dev/null
run 4 "a vault that stays unavailable" -- "$CMKFS" init -c "$T_DIR/cs1.conf" "$T_DIR/e"
t_contains "names the status and Azure's code" "HTTP 503 ServiceUnavailable"
t_contains "and the tries" "(2 tries)"
az_admin DELETE faults >/dev/null
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "truncate", "count": -1}' >/dev/null
run 4 "a vault that cuts its answers short" -- "$CMKFS" init -c "$T_DIR/cs1.conf" "$T_DIR/e"
t_contains "names the cause" "GET $AZ_URL/secrets/cmk: transfer closed"
az_admin DELETE faults >/dev/null
closed=$("$AZ_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conf "$T_DIR/closed.conf" managed-identity vault_url="https://127.0.0.1:$closed"
run 4 "an unreachable vault (a closed port)" -- "$CMKFS" init -c "$T_DIR/closed.conf" "$T_DIR/e"
check "gives up within $BOUND s (took $ELAPSED s)" test "$ELAPSED" -lt "$BOUND"
t_contains "names the URL" "https://127.0.0.1:$closed/secrets/cmk"
t_contains "names the cause" "Couldn't connect"
conf "$T_DIR/noimds.conf" managed-identity imds_url="http://127.0.0.1:$closed" retries=1
run 4 "no metadata service" -- "$CMKFS" init -c "$T_DIR/noimds.conf" "$T_DIR/e"
t_contains "says the managed identity failed" "managed identity: GET http://127.0.0.1:$closed/metadata/identity/oauth2/token"
run 4 "mount with an unreachable key service" -- "$CMKFS" mount -c "$T_DIR/noimds.conf" "$T_DIR/a" "$mnt"
t_contains "names the metadata service" "http://127.0.0.1:$closed/metadata/identity/oauth2/token"
fs_is_mounted "$mnt" && { t_fail "a failed mount left a mount"; fusermount3 -u "$mnt"; } || t_pass

# --- answers too big: refused, not retried -------------------------------------
# A stand-in metadata service (plain http on loopback, as IMDS is) that
# sends 2 MiB of body without a length, or 100 KiB of headers.
cat > "$T_DIR/big.py" <<'EOF'
import http.server, os, sys
mode = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200)
        if mode == "headers":
            for i in range(2000):
                self.send_header("X-Filler-%d" % i, "x" * 40)
        self.end_headers()
        if mode == "body":
            self.wfile.write(b'{"access_token": "' + b"a" * (2 << 20) + b'"}')
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
EOF
for mode in body headers; do
  "$AZ_PY" "$T_DIR/big.py" "$T_DIR/big-$mode.port" "$mode" &
  bigpid=$!
  for _ in $(seq 1200); do [ -s "$T_DIR/big-$mode.port" ] && break; sleep 0.1; done
  conf "$T_DIR/big.conf" managed-identity imds_url="http://127.0.0.1:$(cat "$T_DIR/big-$mode.port" 2>/dev/null)"
  run 4 "an answer with too big a $mode" -- "$CMKFS" init -c "$T_DIR/big.conf" "$T_DIR/e"
  if [ "$mode" = body ]; then
    t_contains "the body cap" "the answer is larger than 1048576 bytes (1 try"
  else
    t_contains "the header cap" "the answer's headers are larger than 65536 bytes (1 try"
  fi
  kill "$bigpid" 2>/dev/null; wait "$bigpid" 2>/dev/null
done

# --- TLS: the CA, the host name, no redirects --------------------------------------
conf "$T_DIR/otherca.conf" managed-identity ca_file="$AZ_CERTS/other-ca.pem"
run 4 "a server certificate from another CA" -- "$CMKFS" init -c "$T_DIR/otherca.conf" "$T_DIR/e"
t_contains "a certificate error" "certificate"
conf "$T_DIR/sysca.conf" managed-identity ca_file=
run 4 "the test CA is not trusted without ca_file" -- "$CMKFS" init -c "$T_DIR/sysca.conf" "$T_DIR/e"
t_contains "a certificate error" "certificate"
# A second emulator whose certificate names another host.
"$AZ_PY" "$AZ_HERE/kv_emulator.py" --config "$AZ_DIR/config.json" \
  --cert "$AZ_CERTS/wrong-name.pem" --key "$AZ_CERTS/wrong-name.key" \
  --port-file "$T_DIR/wport" --imds-port-file "$T_DIR/wiport" >/dev/null 2>&1 &
wpid=$!
for _ in $(seq 1200); do [ -s "$T_DIR/wport" ] && break; sleep 0.1; done
conf "$T_DIR/wrongname.conf" managed-identity vault_url="https://127.0.0.1:$(cat "$T_DIR/wport" 2>/dev/null)"
run 4 "a certificate for another host name" -- "$CMKFS" init -c "$T_DIR/wrongname.conf" "$T_DIR/e"
t_contains "a host name error" "match"
kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
az_admin DELETE log >/dev/null
az_admin POST faults '{"path": "^/secrets/cmk$", "action": "redirect", "count": -1}' >/dev/null
run 4 "a redirect to another host" -- "$CMKFS" init -c "$cs" "$T_DIR/e"
t_contains "the redirect is refused, naming the host" "redirected (HTTP 307) to localhost:$AZ_PORT"
check "the redirect was not followed" test "$(log_count 'e["host"] and e["host"].startswith("localhost")')" = 0
az_admin DELETE faults >/dev/null
# The same for a list page that leads elsewhere.
az_admin POST faults '{"path": "^/secrets/cmk/versions$", "action": "status", "status": 200, "count": 1,
  "body": {"value": [], "nextLink": "https://localhost:1/secrets/cmk/versions?api-version=7.4"}}' >/dev/null
run 4 "a nextLink to another host" -- "$CMKFS" key list -c "$cs"
t_contains "the link is refused" "leads away from $AZ_URL"
az_admin DELETE faults >/dev/null

# --- configuration ----------------------------------------------------------------
conf "$T_DIR/plain.conf" managed-identity vault_url="http://127.0.0.1:$AZ_PORT"
run 3 "an http vault_url" -- "$CMKFS" init -c "$T_DIR/plain.conf" "$T_DIR/e"
t_contains "expects https" "expected an https:// URL without a path"
conf "$T_DIR/imds.conf" managed-identity imds_url="http://192.0.2.1"
run 3 "plain http to a non-local metadata service" -- "$CMKFS" init -c "$T_DIR/imds.conf" "$T_DIR/e"
conf "$T_DIR/open.conf" client-secret
chmod 644 "$T_DIR/open.conf"
run 3 "a readable config that names a client secret" -- "$CMKFS" init -c "$T_DIR/open.conf" "$T_DIR/e"
t_contains "says why" "names a secret (client_secret_file)"
conf "$T_DIR/open-mi.conf" managed-identity
chmod 644 "$T_DIR/open-mi.conf"
run 0 "a readable managed-identity config names no secret" -- "$CMKFS" key list -c "$T_DIR/open-mi.conf"
chmod 644 "$T_DIR/client-secret"
run 4 "a client secret file others can read" -- "$CMKFS" init -c "$cs" "$T_DIR/e"
t_contains "says so" "client_secret_file is readable by others"
chmod 600 "$T_DIR/client-secret"

# --- nothing secret anywhere ----------------------------------------------------------
for s in "$CSECRET" "$K1" "$K2" "$K3" "$K4" "$KOFF" "$KOLD" "$KSHORT"; do
  for f in "$ALL" "$AZ_LOG" "$AZ_DIR/emulator.out"; do
    if grep -qF -- "$s" "$f"; then t_fail "a secret appears in $f"; else t_pass; fi
  done
done
grep -qi "bearer ey" "$ALL" && t_fail "a token appears in the outputs" || t_pass

fs_done
