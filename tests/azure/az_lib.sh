# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for the Azure Key Vault tests: sourced, never run. They start the
# emulator (kv_emulator.py) on loopback with a throwaway CA, and count
# checks. Needs: bash, openssl, curl, Debian's /usr/bin/python3.
#
#   az_setup                  temp dir $AZ_DIR + CA ($AZ_CA, $AZ_CERTS)
#   az_start CONFIG           start the emulator; sets AZ_PORT, AZ_IMDS_PORT,
#                             AZ_URL (https), AZ_IMDS (http), AZ_LOG, AZ_PID
#   az_stop                   stop it (also done at exit)
#   az_admin METHOD PATH [JSON]   call /_emulator/PATH on the plain port
#   az_ok DESC / az_bad DESC / az_check DESC COND...   count results
#   az_done                   prints "N passed, M failed"; exit status
# Client credentials for the token endpoint (openssl; for tests that sign
# client assertions themselves):
#   az_b64url < DATA          base64url, no padding
#   az_json_file FILE         FILE's text as a JSON string (for configs)
#   az_client_cert DIR NAME   self-signed RSA certificate DIR/NAME.pem + key
#                             DIR/NAME.key (for "certificates" in the config)
#   az_rsa_key FILE           RSA key FILE + public key FILE.pub (an issuer's
#                             key for "federated" ... "jwks")
#   az_thumbprint CERT [sha256|sha1]   base64url thumbprint (x5t#S256 / x5t)
#   az_jwt KEY HEADER CLAIMS  compact JWT signed with KEY; HEADER and CLAIMS
#                             are JSON; HEADER's "alg" is RS256 or PS256
set -u
AZ_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AZ_PY=${PYTHON:-/usr/bin/python3}
[ -x "$AZ_PY" ] || AZ_PY=$(command -v python3)
AZ_PASS=0
AZ_FAIL=0
AZ_PID=
AZ_DIR=

az_cleanup() {
  az_stop
  if declare -F az_teardown >/dev/null; then az_teardown; fi
  [ -n "$AZ_DIR" ] && rm -rf "$AZ_DIR"
}
trap az_cleanup EXIT
trap 'exit 130' INT TERM

az_setup() {
  AZ_DIR=$(mktemp -d /tmp/cmkfs-azure.XXXXXX)
  chmod 700 "$AZ_DIR"
  AZ_CERTS=$AZ_DIR/certs
  bash "$AZ_HERE/make_ca.sh" "$AZ_CERTS"
  # shellcheck disable=SC2034 # for the tests that source this file
  AZ_CA=$AZ_CERTS/ca.pem
}

az_start() {
  local config=$1
  AZ_LOG=$AZ_DIR/requests.jsonl
  rm -f "$AZ_DIR/port" "$AZ_DIR/imds-port"
  "$AZ_PY" "$AZ_HERE/kv_emulator.py" --config "$config" \
    --cert "$AZ_CERTS/server.pem" --key "$AZ_CERTS/server.key" \
    --port-file "$AZ_DIR/port" --imds-port-file "$AZ_DIR/imds-port" \
    --log "$AZ_LOG" >"$AZ_DIR/emulator.out" 2>&1 &
  AZ_PID=$!
  for _ in $(seq 1200); do       # up to 120 s on a loaded machine
    [ -s "$AZ_DIR/port" ] && [ -s "$AZ_DIR/imds-port" ] && break
    kill -0 "$AZ_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! [ -s "$AZ_DIR/port" ] || ! [ -s "$AZ_DIR/imds-port" ]; then
    echo "az_start: the emulator did not start:" >&2
    cat "$AZ_DIR/emulator.out" >&2
    return 1
  fi
  AZ_PORT=$(cat "$AZ_DIR/port")
  AZ_IMDS_PORT=$(cat "$AZ_DIR/imds-port")
  # shellcheck disable=SC2034 # for the tests that source this file
  AZ_URL=https://127.0.0.1:$AZ_PORT
  AZ_IMDS=http://127.0.0.1:$AZ_IMDS_PORT
}

az_stop() {
  [ -n "${AZ_PID:-}" ] || return 0
  kill "$AZ_PID" 2>/dev/null || true
  for _ in $(seq 50); do         # up to 5 s, then force
    kill -0 "$AZ_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$AZ_PID" 2>/dev/null || true
  wait "$AZ_PID" 2>/dev/null || true
  AZ_PID=
}

az_admin() {
  local method=$1 path=$2 data=${3:-}
  if [ -n "$data" ]; then
    curl -sS --max-time 10 -X "$method" -H 'Content-Type: application/json' \
      --data "$data" "$AZ_IMDS/_emulator/$path"
  else
    curl -sS --max-time 10 -X "$method" "$AZ_IMDS/_emulator/$path"
  fi
}

az_ok() { AZ_PASS=$((AZ_PASS + 1)); echo "ok - $1"; }
az_bad() { AZ_FAIL=$((AZ_FAIL + 1)); echo "FAIL: $1" >&2; echo "not ok - $1"; }

# az_check DESC COMMAND...: passes when COMMAND succeeds.
az_check() {
  local desc=$1; shift
  if "$@"; then az_ok "$desc"; else az_bad "$desc"; fi
}

az_done() {
  echo "$AZ_PASS passed, $AZ_FAIL failed"
  [ "$AZ_PASS" -gt 0 ] && [ "$AZ_FAIL" -eq 0 ]
}

az_b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

az_json_file() {
  "$AZ_PY" -c 'import json, sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"
}

az_client_cert() {
  local dir=$1 name=$2
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "${3:-2}" \
    -keyout "$dir/$name.key" -out "$dir/$name.pem" -subj "/CN=$name" 2>/dev/null
}

az_rsa_key() {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null &&
    openssl pkey -in "$1" -pubout -out "$1.pub" 2>/dev/null
}

az_thumbprint() {
  openssl x509 -in "$1" -outform DER | openssl dgst "-${2:-sha256}" -binary | az_b64url
}

az_jwt() {
  local key=$1 header=$2 claims=$3 input alg opts=()
  alg=$("$AZ_PY" -c 'import json, sys; print(json.loads(sys.argv[1])["alg"])' "$header")
  case $alg in
    RS256) ;;
    PS256) opts=(-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest) ;;
    *) echo "az_jwt: alg $alg: RS256 or PS256" >&2; return 1 ;;
  esac
  input="$(printf '%s' "$header" | az_b64url).$(printf '%s' "$claims" | az_b64url)"
  printf '%s.%s\n' "$input" \
    "$(printf '%s' "$input" | openssl dgst -sha256 -sign "$key" "${opts[@]}" -binary | az_b64url)"
}
