# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for the OpenStack Barbican tests: sourced, never run. They start a
# real Barbican API server (Debian's barbican-api, python3-barbican) and the
# Keystone v3 emulator (keystone_emulator.py) on loopback with a throwaway
# CA, and count checks. Needs: bash, openssl, curl, Debian's /usr/bin/python3
# and barbican-api (installed here through scripts/deps.sh when missing).
#
#   bb_setup                  temp dir $BB_DIR (mode 700) + CA ($BB_CA,
#                             $BB_CERTS); installs barbican-api if missing
#   bb_start                  start Barbican (fresh SQLite db, fresh KEK;
#                             BB_DB_MANAGE=1: schema by barbican-manage db
#                             upgrade, else db_auto_create); sets BB_URL (https, no path),
#                             BB_PORT, BB_CA, BB_PID, BB_LOG (barbican's log),
#                             BB_OUT (launcher/access log), BB_PROJECT, BB_CONF.
#                             host_href = BB_URL, or $BB_HOST_HREF when set
#   bb_stop                   stop it (also done at exit)
#   bb_store NAME B64KEY      store a 256-bit AES symmetric secret; prints
#                             its UUID
#   bb_store_expiring NAME B64KEY ISO8601   same, with "expiration"
#   bb_delete UUID            DELETE it; prints the HTTP status
#   bb_list NAME              GET /v1/secrets?name=NAME&sort=created:desc;
#                             prints the JSON body
#   bb_payload UUID           prints the payload bytes (Accept:
#                             application/octet-stream) to stdout
#   bb_order NAME             POST /v1/orders: a "key" order (aes, 256 bits,
#                             mode ctr, application/octet-stream), i.e.
#                             Barbican generates the key; prints the order's
#                             UUID (what `openstack secret order create
#                             --name NAME --algorithm aes --bit-length 256
#                             --mode ctr --payload-content-type
#                             application/octet-stream key` sends)
#   bb_order_wait UUID [SECS] polls GET /v1/orders/UUID (every 0.2 s, up to
#                             SECS, default 60) until ACTIVE; prints the
#                             UUID of the secret it made; fails (message on
#                             stderr) on ERROR or when the time is up
#   (all take the project from $BB_PROJECT; set it to act as another project)
#
#   ks_start [BARBICAN_URL]   start the Keystone emulator (proxy upstream:
#                             BARBICAN_URL, default $BB_URL; "" = none yet,
#                             set later with ks_admin POST upstream); token
#                             lifetime $KS_TOKEN_LIFETIME s (3600); sets KS_URL
#                             (identity base WITH /v3: POST $KS_URL/auth/tokens),
#                             KS_BARBICAN_URL (the authenticating proxy in front
#                             of Barbican, https, no path), KS_ADMIN (plain
#                             http admin base, no path), KS_PID, KS_LOG (JSON
#                             lines request log), KS_OUT (its stderr)
#   ks_stop                   stop it (also done at exit)
#   bb_start_with_keystone    ks_start "", then bb_start with host_href =
#                             $KS_BARBICAN_URL, then the proxy's upstream =
#                             $BB_URL (secret_ref then points at the proxy)
#   ks_admin METHOD PATH [JSON]   call $KS_ADMIN/_emulator/PATH
#   ks_token CRED_ID SECRET   issue a token (application credential); prints
#                             the X-Subject-Token value
#
#   BB_KEEP=1                 keep $BB_DIR (logs, db, conf) at exit; the
#                             servers are still stopped
#   Never use a bare `wait` in a test: the servers are background children
#   of the test shell too; wait for the pids you started.
#
#   bb_ok DESC / bb_bad DESC / bb_check DESC COMMAND...   count results
#   bb_done                   prints "N passed, M failed"; exit status
set -u
BB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BB_ROOT=$(cd "$BB_HERE/../.." && pwd)
# Barbican lives in Debian's dist-packages: always Debian's interpreter.
BB_PY=/usr/bin/python3
BB_PASS=0
BB_FAIL=0
BB_PID=
KS_PID=
BB_DIR=
# A fixed, UUID-like Keystone project id (Barbican only needs a string).
BB_PROJECT=${BB_PROJECT:-7c1e4f0a2b3d4e5f8a9b0c1d2e3f4a5b}

bb_cleanup() {
  [ -n "${BB_KEEP:-}" ] && { echo "kept $BB_DIR" >&2; ks_stop; bb_stop; return; }
  ks_stop
  bb_stop
  if declare -F bb_teardown >/dev/null; then bb_teardown; fi
  [ -n "$BB_DIR" ] && rm -rf "$BB_DIR"
}
trap bb_cleanup EXIT
trap 'exit 130' INT TERM

# bb_installed: barbican-api's Python package is importable by Debian's python.
bb_installed() {
  dpkg-query -W -f='${Status}' barbican-api 2>/dev/null | grep -q 'install ok installed' &&
    [ -x "$BB_PY" ] && "$BB_PY" -c 'import barbican.api.app' 2>/dev/null
}

bb_install() {
  bb_installed && return 0
  (
    set -e
    # shellcheck source=/dev/null
    . "$BB_ROOT/scripts/deps.sh"
    cmkfs_install_packages barbican-api
  ) || { echo "bb_install: could not install barbican-api" >&2; return 1; }
  # On a host booted with systemd the package enables and starts
  # barbican-api.service (without uwsgi its init script runs
  # /usr/bin/barbican-api: paste's httpserver on 0.0.0.0:9311). The tests
  # never use it and must stay on loopback: stop what this install started.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
      systemctl disable --now barbican-api.service >/dev/null 2>&1 || true
    else
      sudo systemctl disable --now barbican-api.service >/dev/null 2>&1 || true
    fi
  fi
  bb_installed || { echo "bb_install: barbican-api still unusable" >&2; return 1; }
}

bb_setup() {
  bb_install || return 1
  BB_DIR=$(mktemp -d /tmp/cmkfs-barbican.XXXXXX)
  chmod 700 "$BB_DIR"
  BB_CERTS=$BB_DIR/certs
  bash "$BB_ROOT/tests/azure/make_ca.sh" "$BB_CERTS" || return 1
  BB_CA=$BB_CERTS/ca.pem
}

# bb_wait_port FILE PID: waits (up to 30 s) for the port file.
bb_wait_port() {
  local file=$1 pid=$2
  for _ in $(seq 300); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

bb_write_conf() {
  local kek auto_create=True
  [ -n "${BB_DB_MANAGE:-}" ] && auto_create=False
  kek=$(openssl rand -base64 32)
  # The conf holds the KEK: 600 (the directory is 700 anyway).
  : > "$BB_CONF"
  chmod 600 "$BB_CONF"
  # host_href: serve_barbican.py --set-host-href rewrites it to the real
  # https://127.0.0.1:PORT once bound; Barbican builds secret_ref from it.
  cat > "$BB_CONF" <<EOF
# Written by tests/barbican/barbican_lib.sh for one test run; throwaway.
[DEFAULT]
host_href = https://127.0.0.1:0
sql_connection = sqlite:///$BB_DIR/barbican.sqlite
# Barbican creates the schema itself at start-up (its models + an alembic
# stamp): about 1.5 s faster than "barbican-manage db upgrade" (the
# migrations), which BB_DB_MANAGE=1 runs instead.
db_auto_create = $auto_create
log_file = $BB_LOG
use_stderr = False
debug = False
# No message queue: the API does its work in-process.
[queue]
enable = False
[keystone_notifications]
enable = False
[secretstore]
enabled_secretstore_plugins = store_crypto
[crypto]
enabled_crypto_plugins = simple_crypto
[simple_crypto_plugin]
kek = $kek
# oslo.policy's defaults in bookworm, stated: Barbican's legacy roles apply
# (admin, creator, observer, audit; "member"/"reader" get 403). The empty
# policy.d here is found before /etc/barbican/policy.d.
[oslo_policy]
enforce_scope = False
enforce_new_defaults = False
policy_dirs = policy.d
EOF
  mkdir -p "$BB_DIR/policy.d" "$BB_DIR/.barbican"
  # barbican's modules also parse oslo.config's default files at import:
  # with HOME=$BB_DIR this one is found first, so /etc/barbican/barbican.conf
  # (mode 640 root:barbican) is never read, by barbican-manage either.
  ln -sf ../barbican.conf "$BB_DIR/.barbican/barbican.conf"
}

bb_write_paste() {
  # Debian's /etc/barbican/barbican-api-paste.ini, with /v1 on the
  # unauthenticated-context pipeline (project from X-Project-Id, roles from
  # X-Roles, default the admin role) and nothing read from /etc/barbican.
  cat > "$BB_DIR/barbican-api-paste.ini" <<'EOF'
[composite:main]
use = egg:Paste#urlmap
/: barbican_version
/healthcheck: healthcheck
/v1: barbican_api

[pipeline:barbican_version]
pipeline = cors http_proxy_to_wsgi microversion versionapp

[pipeline:barbican_api]
pipeline = cors http_proxy_to_wsgi unauthenticated-context microversion apiapp

[app:apiapp]
paste.app_factory = barbican.api.app:create_main_app

[app:versionapp]
paste.app_factory = barbican.api.app:create_version_app

[filter:unauthenticated-context]
paste.filter_factory = barbican.api.middleware.context:UnauthenticatedContextMiddleware.factory

[filter:microversion]
paste.filter_factory = barbican.api.middleware.microversion:MicroversionMiddleware.factory

[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = barbican
oslo_config_file = %(here)s/barbican.conf

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory

[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = %(here)s/healthcheck_disable
EOF
}

bb_start() {
  bb_stop
  BB_CONF=$BB_DIR/barbican.conf
  BB_LOG=$BB_DIR/barbican.log
  BB_OUT=$BB_DIR/barbican.out
  rm -f "$BB_DIR/port" "$BB_DIR/barbican.sqlite"
  bb_write_conf
  bb_write_paste
  # The schema, with barbican's own tooling: db_auto_create at start-up, or
  # its alembic migrations (BB_DB_MANAGE=1).
  if [ -n "${BB_DB_MANAGE:-}" ] && ! (cd "$BB_DIR" && HOME=$BB_DIR barbican-manage db upgrade \
        --db-url "sqlite:///$BB_DIR/barbican.sqlite") >"$BB_DIR/db-upgrade.out" 2>&1; then
    echo "bb_start: barbican-manage db upgrade failed:" >&2
    cat "$BB_DIR/db-upgrade.out" >&2
    return 1
  fi
  # The launcher binds an ephemeral port, rewrites host_href in $BB_CONF to
  # https://127.0.0.1:PORT (unless BB_HOST_HREF names another base, e.g.
  # the Keystone proxy), loads the app, then writes the port file.
  local href=(--set-host-href)
  if [ -n "${BB_HOST_HREF:-}" ]; then
    href=()
    sed -i "s|^host_href = .*|host_href = $BB_HOST_HREF|" "$BB_CONF"
  fi
  (cd "$BB_DIR" && exec env HOME="$BB_DIR" "$BB_PY" "$BB_HERE/serve_barbican.py" \
    --config-file "$BB_CONF" --paste-ini "$BB_DIR/barbican-api-paste.ini" \
    --cert "$BB_CERTS/server.pem" --key "$BB_CERTS/server.key" \
    "${href[@]}" --port-file "$BB_DIR/port") >"$BB_OUT" 2>&1 &
  BB_PID=$!
  if ! bb_wait_port "$BB_DIR/port" "$BB_PID"; then
    echo "bb_start: barbican did not start:" >&2
    tail -n 30 "$BB_OUT" >&2
    [ -f "$BB_LOG" ] && tail -n 30 "$BB_LOG" >&2
    bb_stop
    return 1
  fi
  BB_PORT=$(cat "$BB_DIR/port")
  BB_URL=https://127.0.0.1:$BB_PORT
  for _ in $(seq 100); do        # up to 10 s for a first answer
    if curl -sS --max-time 5 --cacert "$BB_CA" -o /dev/null "$BB_URL/" 2>/dev/null; then
      return 0
    fi
    kill -0 "$BB_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bb_start: barbican does not answer on $BB_URL" >&2
  tail -n 30 "$BB_OUT" >&2
  bb_stop
  return 1
}

# bb_kill VAR: stops the process whose pid is in VAR, then clears VAR.
bb_kill() {
  local var=$1 pid=${!1:-}
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do         # up to 5 s, then force
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  printf -v "$var" '%s' ''
}

bb_stop() { bb_kill BB_PID; }

# bb_curl ARGS...: curl to Barbican as project $BB_PROJECT.
bb_curl() {
  curl -sS --max-time 15 --cacert "$BB_CA" -H "X-Project-Id: $BB_PROJECT" "$@"
}

bb_json() { "$BB_PY" -c "$1" "${@:2}"; }

# bb_secret_json NAME B64KEY [ISO8601]: the POST /v1/secrets body.
bb_secret_json() {
  bb_json 'import json, sys
d = {"name": sys.argv[1], "payload": sys.argv[2],
     "payload_content_type": "application/octet-stream",
     "payload_content_encoding": "base64",
     "secret_type": "symmetric", "algorithm": "aes", "bit_length": 256}
if len(sys.argv) > 3:
    d["expiration"] = sys.argv[3]
print(json.dumps(d))' "$@"
}

# bb_post_secret JSON: prints the new secret's UUID (last path part of
# secret_ref), or the error body on stderr and fails.
bb_post_secret() {
  local body status
  body=$(bb_curl -X POST -H 'Content-Type: application/json' \
    -H 'Accept: application/json' --data-binary "$1" \
    -w '\n%{http_code}' "$BB_URL/v1/secrets") || return 1
  status=${body##*$'\n'}
  body=${body%$'\n'*}
  if [ "$status" != 201 ]; then
    echo "bb_store: HTTP $status: $body" >&2
    return 1
  fi
  bb_json 'import json, sys; print(json.loads(sys.argv[1])["secret_ref"].rstrip("/").rsplit("/", 1)[1])' "$body"
}

bb_store() { bb_post_secret "$(bb_secret_json "$1" "$2")"; }
bb_store_expiring() { bb_post_secret "$(bb_secret_json "$1" "$2" "$3")"; }

bb_delete() {
  bb_curl -o /dev/null -w '%{http_code}\n' -X DELETE "$BB_URL/v1/secrets/$1"
}

bb_list() {
  local q
  q=$(bb_json 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")
  bb_curl -H 'Accept: application/json' "$BB_URL/v1/secrets?name=$q&sort=created:desc"
}

bb_payload() {
  bb_curl -H 'Accept: application/octet-stream' "$BB_URL/v1/secrets/$1/payload"
}

# The body of an order for a key generated by Barbican: the shape
# python-barbicanclient's KeyOrder.submit() posts (null meta fields left
# out), so what works here works for `openstack secret order create`.
bb_order_json() {
  bb_json 'import json, sys
print(json.dumps({"type": "key", "meta": {
    "name": sys.argv[1], "algorithm": "aes", "bit_length": 256,
    "mode": "ctr", "payload_content_type": "application/octet-stream"}}))' "$1"
}

bb_order() {
  local body status
  body=$(bb_curl -X POST -H 'Content-Type: application/json' \
    -H 'Accept: application/json' --data-binary "$(bb_order_json "$1")" \
    -w '\n%{http_code}' "$BB_URL/v1/orders") || return 1
  status=${body##*$'\n'}
  body=${body%$'\n'*}
  if [ "$status" != 202 ]; then
    echo "bb_order: HTTP $status: $body" >&2
    return 1
  fi
  # {"order_ref": "<host_href>/v1/orders/UUID"}: the UUID, not the URL
  # (host_href may be the Keystone proxy).
  bb_json 'import json, sys; print(json.loads(sys.argv[1])["order_ref"].rstrip("/").rsplit("/", 1)[1])' "$body"
}

# bb_order_wait UUID [SECS]: Barbican runs an order in the API request when
# its queue is off ([queue] enable = False, as here), else barbican-worker
# runs it later: either way, poll the order's status, bounded.
bb_order_wait() {
  local id=$1 secs=${2:-60} body state end
  end=$(($(date +%s) + secs))
  while :; do
    body=$(bb_curl -H 'Accept: application/json' "$BB_URL/v1/orders/$id") || body=
    state=$(bb_json 'import json, sys
try:
    o = json.loads(sys.argv[1])
except ValueError:
    print("?"); sys.exit()
st = o.get("status", "?")
if st == "ACTIVE":
    print("ACTIVE " + o["secret_ref"].rstrip("/").rsplit("/", 1)[1])
elif st == "ERROR":
    print("ERROR %s %s" % (o.get("error_status_code"), o.get("error_reason")))
else:
    print(st)' "$body")
    case "$state" in
      "ACTIVE "*) echo "${state#ACTIVE }"; return 0 ;;
      ERROR*) echo "bb_order_wait: order $id failed: ${state#ERROR }" >&2; return 1 ;;
    esac
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "bb_order_wait: order $id not ACTIVE within $secs s (status: $state; $body)" >&2
      return 1
    fi
    sleep 0.2
  done
}

# ---- Keystone v3 emulator (also the authenticating proxy to Barbican) ----

ks_start() {
  local target=${1-${BB_URL:-}}
  KS_LOG=$BB_DIR/keystone-requests.jsonl
  KS_OUT=$BB_DIR/keystone.out
  rm -f "$BB_DIR/ks-port" "$BB_DIR/ks-proxy-port" "$BB_DIR/ks-admin-port"
  local upstream=(--barbican-ca "$BB_CA")
  [ -n "$target" ] && upstream+=(--barbican "$target")
  "$BB_PY" "$BB_HERE/keystone_emulator.py" \
    --cert "$BB_CERTS/server.pem" --key "$BB_CERTS/server.key" \
    --port-file "$BB_DIR/ks-port" --proxy-port-file "$BB_DIR/ks-proxy-port" \
    --admin-port-file "$BB_DIR/ks-admin-port" --log "$KS_LOG" \
    --project-id "$BB_PROJECT" --token-lifetime "${KS_TOKEN_LIFETIME:-3600}" \
    "${upstream[@]}" >"$KS_OUT" 2>&1 &
  KS_PID=$!
  if ! bb_wait_port "$BB_DIR/ks-admin-port" "$KS_PID"; then
    echo "ks_start: the keystone emulator did not start:" >&2
    cat "$KS_OUT" >&2
    ks_stop
    return 1
  fi
  KS_URL=https://127.0.0.1:$(cat "$BB_DIR/ks-port")/v3
  KS_BARBICAN_URL=https://127.0.0.1:$(cat "$BB_DIR/ks-proxy-port")
  KS_ADMIN=http://127.0.0.1:$(cat "$BB_DIR/ks-admin-port")
}

ks_stop() { bb_kill KS_PID; }

# bb_start_with_keystone: the deployment shape of a real cloud: the Keystone
# emulator first, then Barbican with host_href = the proxy (so secret_ref
# points at $KS_BARBICAN_URL), then the proxy pointed at Barbican.
bb_start_with_keystone() {
  ks_start "" || return 1
  BB_HOST_HREF=$KS_BARBICAN_URL bb_start || return 1
  ks_admin POST upstream "{\"url\": \"$BB_URL\"}" >/dev/null || return 1
}

ks_admin() {
  local method=$1 path=$2 data=${3:-}
  if [ -n "$data" ]; then
    curl -sS --max-time 10 -X "$method" -H 'Content-Type: application/json' \
      --data "$data" "$KS_ADMIN/_emulator/$path"
  else
    curl -sS --max-time 10 -X "$method" "$KS_ADMIN/_emulator/$path"
  fi
}

ks_token() {
  local body
  body=$(bb_json 'import json, sys; print(json.dumps({"auth": {"identity": {
    "methods": ["application_credential"],
    "application_credential": {"id": sys.argv[1], "secret": sys.argv[2]}}}}))' "$1" "$2")
  curl -sS --max-time 10 --cacert "$BB_CA" -o /dev/null -D - \
    -H 'Content-Type: application/json' --data-binary "$body" \
    "$KS_URL/auth/tokens" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'
}

# ---- counting ----

bb_ok() { BB_PASS=$((BB_PASS + 1)); echo "ok - $1"; }
bb_bad() { BB_FAIL=$((BB_FAIL + 1)); echo "FAIL: $1" >&2; echo "not ok - $1"; }

# bb_check DESC COMMAND...: passes when COMMAND succeeds.
bb_check() {
  local desc=$1; shift
  if "$@"; then bb_ok "$desc"; else bb_bad "$desc"; fi
}

bb_done() {
  echo "$BB_PASS passed, $BB_FAIL failed"
  [ "$BB_PASS" -gt 0 ] && [ "$BB_FAIL" -eq 0 ]
}
