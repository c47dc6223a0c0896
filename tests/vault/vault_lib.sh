# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for the HashiCorp Vault / OpenBao tests: sourced, never run. They
# start the emulator (vault_emulator.py) on loopback with a throwaway CA
# (made by ../azure/make_ca.sh), and count checks. Needs: bash, openssl,
# curl, Debian's /usr/bin/python3.
#
#   vault_setup                 temp dir $VAULT_DIR + CA ($VAULT_CA, $VAULT_CERTS)
#   vault_start CONFIG          start the emulator; sets VAULT_PORT,
#                               VAULT_ADMIN_PORT, VAULT_URL (https://127.0.0.1:
#                               PORT), VAULT_ADMIN (http://127.0.0.1:PORT),
#                               VAULT_LOG (JSON lines), VAULT_PID
#   vault_stop                  stop it (also done at exit)
#   vault_admin METHOD PATH [JSON]   call /_emulator/PATH on the plain port
#   vault_log_count PY-EXPR     how many log entries e satisfy the Python
#                               expression, e.g. 'e["path"].endswith("/login")'
#   vault_ok DESC / vault_bad DESC / vault_check DESC COMMAND...   count results
#   vault_done                  prints "N passed, M failed"; exit status
#
# A test may define vault_teardown (run at exit, before the temp dir goes).
# An EXIT trap set before this file is sourced (e.g. az_lib.sh's) still runs.
set -u
VAULT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VAULT_PY=${PYTHON:-/usr/bin/python3}
[ -x "$VAULT_PY" ] || VAULT_PY=$(command -v python3)
VAULT_PASS=0
VAULT_FAIL=0
VAULT_PID=
VAULT_DIR=
VAULT_PREV_TRAP=$(trap -p EXIT)

vault_cleanup() {
  vault_stop
  if declare -F vault_teardown >/dev/null; then vault_teardown; fi
  [ -n "$VAULT_DIR" ] && rm -rf "$VAULT_DIR"
  VAULT_DIR=
  if [ -n "$VAULT_PREV_TRAP" ]; then
    eval "set -- $VAULT_PREV_TRAP"
    eval "$3"
  fi
}
trap vault_cleanup EXIT
trap 'exit 130' INT TERM

vault_setup() {
  VAULT_DIR=$(mktemp -d /tmp/cmkfs-vault.XXXXXX)
  chmod 700 "$VAULT_DIR"
  VAULT_CERTS=$VAULT_DIR/certs
  bash "$VAULT_HERE/../azure/make_ca.sh" "$VAULT_CERTS"
  # shellcheck disable=SC2034 # for the tests that source this file
  VAULT_CA=$VAULT_CERTS/ca.pem
}

vault_start() {
  local config=$1
  VAULT_LOG=$VAULT_DIR/requests.jsonl
  rm -f "$VAULT_DIR/port" "$VAULT_DIR/admin-port"
  "$VAULT_PY" "$VAULT_HERE/vault_emulator.py" --config "$config" \
    --cert "$VAULT_CERTS/server.pem" --key "$VAULT_CERTS/server.key" \
    --port-file "$VAULT_DIR/port" --admin-port-file "$VAULT_DIR/admin-port" \
    --log "$VAULT_LOG" >"$VAULT_DIR/emulator.out" 2>&1 &
  VAULT_PID=$!
  for _ in $(seq 1200); do       # up to 120 s on a loaded machine
    [ -s "$VAULT_DIR/port" ] && [ -s "$VAULT_DIR/admin-port" ] && break
    kill -0 "$VAULT_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! [ -s "$VAULT_DIR/port" ] || ! [ -s "$VAULT_DIR/admin-port" ]; then
    echo "vault_start: the emulator did not start:" >&2
    cat "$VAULT_DIR/emulator.out" >&2
    vault_stop
    return 1
  fi
  VAULT_PORT=$(cat "$VAULT_DIR/port")
  VAULT_ADMIN_PORT=$(cat "$VAULT_DIR/admin-port")
  # shellcheck disable=SC2034 # for the tests that source this file
  VAULT_URL=https://127.0.0.1:$VAULT_PORT
  VAULT_ADMIN=http://127.0.0.1:$VAULT_ADMIN_PORT
}

vault_stop() {
  [ -n "${VAULT_PID:-}" ] || return 0
  kill "$VAULT_PID" 2>/dev/null || true
  for _ in $(seq 50); do         # up to 5 s, then force
    kill -0 "$VAULT_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$VAULT_PID" 2>/dev/null || true
  wait "$VAULT_PID" 2>/dev/null || true
  VAULT_PID=
}

vault_admin() {
  local method=$1 path=$2 data=${3:-}
  if [ -n "$data" ]; then
    curl -sS --max-time 10 -X "$method" -H 'Content-Type: application/json' \
      --data "$data" "$VAULT_ADMIN/_emulator/$path"
  else
    curl -sS --max-time 10 -X "$method" "$VAULT_ADMIN/_emulator/$path"
  fi
}

vault_log_count() {
  "$VAULT_PY" -c '
import json, sys
n = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        if line.strip():
            e = json.loads(line)
            if eval(sys.argv[2], {}, {"e": e}):
                n += 1
print(n)' "$VAULT_LOG" "$1"
}

vault_ok() { VAULT_PASS=$((VAULT_PASS + 1)); echo "ok - $1"; }
vault_bad() { VAULT_FAIL=$((VAULT_FAIL + 1)); echo "FAIL: $1" >&2; echo "not ok - $1"; }

# vault_check DESC COMMAND...: passes when COMMAND succeeds.
vault_check() {
  local desc=$1; shift
  if "$@"; then vault_ok "$desc"; else vault_bad "$desc"; fi
}

vault_done() {
  echo "$VAULT_PASS passed, $VAULT_FAIL failed"
  [ "$VAULT_PASS" -gt 0 ] && [ "$VAULT_FAIL" -eq 0 ]
}

# --- Kubernetes service-account JWTs (for auth_mounts of type kubernetes) ---
#   vault_k8s_keys NAME         RSA 2048 signing key pair: $VAULT_DIR/NAME.key
#                               and NAME.pub (the PEM for "jwt_public_key")
#   vault_json_file FILE        FILE's text as a JSON string (to put a PEM in
#                               a config written by a here-document)
#   vault_jwt_sign KEY CLAIMS   an RS256 JWT of the JSON object CLAIMS
#   vault_k8s_jwt KEY NS NAME [TTL [UID]]
#                               a projected service-account token for NS/NAME:
#                               iss and aud $VAULT_K8S_ISSUER, sub
#                               system:serviceaccount:NS:NAME, kubernetes.io
#                               {namespace, pod, serviceaccount {name, uid}},
#                               iat/nbf now, exp now + TTL (default 3600; a
#                               TTL below -60, beyond the 60 s clock-skew
#                               leeway, gives an expired token); UID
#                               defaults to one derived from NS/NAME
VAULT_K8S_ISSUER=${VAULT_K8S_ISSUER:-https://kubernetes.default.svc.cluster.local}

vault_k8s_keys() {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$VAULT_DIR/$1.key" 2>/dev/null &&
  openssl pkey -in "$VAULT_DIR/$1.key" -pubout -out "$VAULT_DIR/$1.pub" 2>/dev/null
}

vault_json_file() {
  "$VAULT_PY" -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"
}

vault_b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

vault_jwt_sign() {
  local key=$1 claims=$2 head body
  head=$(printf '%s' '{"alg":"RS256","kid":"vault-emulator-test"}' | vault_b64url)
  body=$(printf '%s' "$claims" | vault_b64url)
  printf '%s.%s.%s\n' "$head" "$body" \
    "$(printf '%s.%s' "$head" "$body" | openssl dgst -sha256 -sign "$key" -binary | vault_b64url)"
}

vault_k8s_jwt() {
  local key=$1 ns=$2 name=$3 ttl=${4:-3600} uid=${5:-} now iat h
  now=$(date +%s)
  iat=$now
  [ "$ttl" -gt 0 ] || iat=$((now + ttl - 3600))
  if [ -z "$uid" ]; then
    h=$(printf '%s/%s' "$ns" "$name" | sha256sum | cut -c1-32)
    uid=${h:0:8}-${h:8:4}-4${h:13:3}-8${h:17:3}-${h:20:12}
  fi
  vault_jwt_sign "$key" "$(printf '{"aud":["%s"],"exp":%d,"iat":%d,"iss":"%s","kubernetes.io":{"namespace":"%s","pod":{"name":"%s-0","uid":"%s"},"serviceaccount":{"name":"%s","uid":"%s"}},"nbf":%d,"sub":"system:serviceaccount:%s:%s"}' \
    "$VAULT_K8S_ISSUER" $((now + ttl)) "$iat" "$VAULT_K8S_ISSUER" "$ns" "$name" "$uid" \
    "$name" "$uid" "$iat" "$ns" "$name")"
}
