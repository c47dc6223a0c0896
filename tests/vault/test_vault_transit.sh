#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmkfs with a Vault Transit key (transit_key): the CMK never leaves Vault.
# init has Vault encrypt a random volume key, mount has it decrypted, and
# no KV secret is ever read; Kubernetes login mounts; after a rotation,
# cmkfs rewrap has Vault re-wrap the volume key (its rewrap endpoint) in a
# handful of requests whatever the number of files, and with
# min_decryption_version raised past the old version every file still
# reads; a policy that loses decrypt while mounted cuts reads (EACCES)
# within recheck_interval; a Vault that stops answering revokes nothing
# within unreachable_grace. Against the emulator in tests/vault/.
# Needs root and /dev/fuse, openssl, curl, python3 with cryptography.
. "$(dirname "$0")/../fs/fs_lib.sh"
. "$(dirname "$0")/vault_lib.sh"
trap 't_cleanup; vault_cleanup' EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

TOKEN=hvs.cmkfs-transit-5e6f
NOPOL=hvs.cmkfs-no-policy-3c4d
FILES=${CMKFS_TRANSIT_FILES:-2000}

/usr/bin/python3 -c 'import cryptography' 2>/dev/null ||
  { echo "SKIP: python3-cryptography missing (the emulator's Transit needs it)"; exit 77; }
vault_setup || { t_fail "test CA"; t_done; exit 1; }
vault_k8s_keys sa || { t_fail "service-account key"; t_done; exit 1; }
TRANSIT_RULES='{"transit/encrypt/cmk": ["update"], "transit/decrypt/cmk": ["update"],
                "transit/rewrap/cmk": ["update"], "transit/keys/cmk": ["read"]}'
cat > "$VAULT_DIR/config.json" <<EOF
{
  "policies": {"cmk-transit": $TRANSIT_RULES},
  "tokens": [{"token": "root", "policies": ["root"]},
             {"token": "$TOKEN", "policies": ["cmk-transit"]},
             {"token": "$NOPOL", "policies": ["default"]}],
  "auth_mounts": {"kubernetes": {"type": "kubernetes",
      "jwt_public_key": $(vault_json_file "$VAULT_DIR/sa.pub"),
      "roles": {"cmkfs": {"bound_service_account_names": ["cmkfs"],
                          "bound_service_account_namespaces": ["store"],
                          "token_policies": ["cmk-transit"], "token_ttl": 3600}}}},
  "transit_mounts": {"transit": {"keys": {"cmk": {"type": "aes256-gcm96"}}}}
}
EOF
vault_start "$VAULT_DIR/config.json" || { t_fail "the emulator starts"; t_done; exit 1; }
printf '%s\n' "$TOKEN" > "$T_DIR/token"
printf '%s\n' "$NOPOL" > "$T_DIR/nopol"
vault_k8s_jwt "$VAULT_DIR/sa.key" store cmkfs 3600 > "$T_DIR/sa.jwt"
vault_k8s_jwt "$VAULT_DIR/sa.key" other cmkfs 3600 > "$T_DIR/sa-other.jwt"
chmod 600 "$T_DIR/token" "$T_DIR/nopol"
chmod 644 "$T_DIR/sa.jwt" "$T_DIR/sa-other.jwt"   # as the kubelet projects it

conf() {
  local file=$1; shift
  { echo "[kms]"; echo "provider = vault"; echo "url = $VAULT_URL"
    echo "transit_key = cmk"; echo "ca_file = $VAULT_CA"
    for line in "$@"; do echo "$line"; done; } > "$file"
  chmod 600 "$file"
}
check() { local d=$1; shift; if "$@"; then t_pass; else t_fail "$d"; fi; }
lc() { vault_log_count "$1"; }
reads_all() {  # every file byte-exact against the sums taken at write time
  (cd "$mnt" && sha256sum -c --quiet "$T_DIR/sums") >/dev/null 2>&1
}

tok=$T_DIR/token.conf
conf "$tok" "auth = token" "token_file = $T_DIR/token"
mnt=$T_DIR/mnt
cipher=$T_DIR/vol

# --- init encrypts, mount decrypts, no KV read ---------------------------------
vault_admin DELETE log >/dev/null
t_expect 0 "init with a Transit key" -- "$CMKFS" init -c "$tok" "$cipher"
t_contains "init names the Transit key version" "version 1"
check "init: one encrypt" test "$(lc 'e["path"] == "/v1/transit/encrypt/cmk" and e["status"] == 200')" = 1
check "init: no decrypt" test "$(lc '"/decrypt/" in e["path"]')" = 0
fs_mount "$tok" "$cipher" "$mnt"
mkdir -p "$mnt/faces"
for i in $(seq "$FILES"); do printf 'face %d\n' "$i" > "$mnt/faces/$i.jpg"; done
head -c 300000 /dev/urandom > "$mnt/big"
(cd "$mnt" && find . -type f -print0 | xargs -0 sha256sum) > "$T_DIR/sums"
fs_remount "$tok" "$cipher" "$mnt"
check "every file reads after a remount" reads_all
check "mount: Vault decrypted the volume key" test "$(lc 'e["path"] == "/v1/transit/decrypt/cmk" and e["status"] == 200')" -ge 1
check "no KV secret was ever read" test "$(lc '"/data/" in e["path"] or "/metadata/" in e["path"]')" = 0
check "no per-file request: decrypts stay few" test "$(lc '"/decrypt/" in e["path"]')" -le 4
fs_umount "$mnt"

# --- Kubernetes login ---------------------------------------------------------
k8s=$T_DIR/k8s.conf
# The kubelet's layout: the token behind two symbolic links.
conf "$k8s" "auth = kubernetes" "role = cmkfs" \
  "jwt_file = $(t_projected "$T_DIR/sa.jwt" "$T_DIR/serviceaccount")"
vault_admin DELETE log >/dev/null
fs_mount "$k8s" "$cipher" "$mnt"
check "Kubernetes login mounts and every file reads" reads_all
check "one Kubernetes login" test "$(lc 'e["path"] == "/v1/auth/kubernetes/login" and e["status"] == 200')" = 1
fs_umount "$mnt"
conf "$T_DIR/k8s-other.conf" "auth = kubernetes" "role = cmkfs" "jwt_file = $T_DIR/sa-other.jwt"
t_expect 4 "a service account of another namespace is refused" -- \
  "$CMKFS" mount -c "$T_DIR/k8s-other.conf" "$cipher" "$mnt"
t_contains "the refusal says why" "namespace not authorized"

# --- rotation: rewrap in O(1), then the old version retired ------------------
vault_admin POST transit/transit/cmk '{"rotate": true}' >/dev/null
vault_admin DELETE log >/dev/null
t0=$(date +%s%N)
t_expect 0 "rewrap after a rotation" -- "$CMKFS" rewrap -c "$tok" "$cipher"
took_ms=$((($(date +%s%N) - t0) / 1000000))
t_contains "rewrap moved the volume key to version 2" "CMK version 2"
n=$(lc 'e["path"].startswith("/v1/")')
echo "rewrap of $FILES files: $n key-service requests, $took_ms ms" >&2
check "rewrap of $FILES files took $n requests (at most 20)" test "$n" -le 20
check "rewrap used Vault's rewrap endpoint" test "$(lc 'e["path"] == "/v1/transit/rewrap/cmk" and e["status"] == 200')" = 1
check "rewrap of $FILES files took ${took_ms} ms (under 3 s)" test "$took_ms" -lt 3000
t_expect 0 "a second rewrap finds nothing to do" -- "$CMKFS" rewrap -c "$tok" "$cipher"
t_contains "already current" "already wrapped with CMK version 2"
vault_admin POST transit/transit/cmk '{"min_decryption_version": 2}' >/dev/null
fs_mount "$tok" "$cipher" "$mnt"
check "min_decryption_version 2: every file intact" reads_all
fs_umount "$mnt"

# --- refusals at mount: exit 4, the cause named ---------------------------------
conf "$T_DIR/nopol.conf" "auth = token" "token_file = $T_DIR/nopol"
t_expect 4 "a token without decrypt is refused" -- \
  "$CMKFS" mount -c "$T_DIR/nopol.conf" "$cipher" "$mnt"
t_contains "names the decrypt path" "transit/decrypt/cmk"
conf "$T_DIR/kv.conf" "auth = token" "token_file = $T_DIR/token"
sed -i 's/^transit_key = cmk$/path = cmkfs\/cmk/' "$T_DIR/kv.conf"
t_expect 5 "a KV config on a Transit volume is refused" -- \
  "$CMKFS" mount -c "$T_DIR/kv.conf" "$cipher" "$mnt"
t_contains "says the volume key is wrapped" "wrapped by a key service key"

# --- revocation while mounted ---------------------------------------------------
rc=$T_DIR/recheck.conf
conf "$rc" "auth = token" "token_file = $T_DIR/token" "recheck_interval = 1" \
  "unreachable_grace = 3600"
fs_mount "$rc" "$cipher" "$mnt"
check "reads before the revocation" reads_all
# Vault stops answering: within the grace period nothing is revoked.
vault_admin POST faults '{"path": "^/v1/transit/", "action": "503", "count": -1}' >/dev/null
met_503() { test "$(lc '"/decrypt/" in e["path"] and e.get("status") == 503')" -ge 2; }
t_wait_until 60 "the re-check meets the unreachable Vault" -- met_503
check "an unreachable Vault revokes nothing within unreachable_grace" reads_all
vault_admin DELETE faults >/dev/null
vault_admin POST policies/cmk-transit '{"rules": {"transit/encrypt/cmk": ["update"]}}' >/dev/null
cut() { ! cat "$mnt/faces/1.jpg" >/dev/null 2>"$T_DIR/cut.err" && grep -q "Permission denied" "$T_DIR/cut.err"; }
t_wait_until 60 "decrypt taken away: reads fail with EACCES within recheck_interval" -- cut
check "a new file cannot be read either" cut
vault_admin POST policies/cmk-transit "{\"rules\": $TRANSIT_RULES}" >/dev/null
t_wait_until 60 "decrypt given back: reads work again" -- reads_all
fs_umount "$mnt"

# --- status: the volume keys, and a rewrap due ---------------------------------
vault_admin POST transit/transit/cmk '{"rotate": true}' >/dev/null
st_json() { "$CMKFS" status --json -c "$rc" "$cipher" 2>/dev/null; }
jq_py() { /usr/bin/python3 -c "import json, sys; s = json.load(sys.stdin); print($1)"; }
t_expect 0 "status after a rotation" -- "$CMKFS" status -c "$rc" "$cipher"
t_contains "status says a rewrap is due" "a rewrap is due (cmkfs rewrap)"
t_contains "status lists the volume key" "vk1"
check "status --json: rewrap_due" test "$(st_json | jq_py 's["rewrap_due"]')" = True
t_expect 0 "rewrap to version 3" -- "$CMKFS" rewrap -c "$rc" "$cipher"
check "status --json: no rewrap due after it" test "$(st_json | jq_py 's["rewrap_due"]')" = False

# --- a new volume key: every header re-wrapped, online, kill-safe ---------------
fs_mount "$rc" "$cipher" "$mnt"
rm -f "$T_DIR/reader.stop" "$T_DIR/reader.bad"
( while [ ! -e "$T_DIR/reader.stop" ]; do
    reads_all || echo "wrong read" >> "$T_DIR/reader.bad"
  done ) &
reader=$!
vk_files() {  # vk_files ID: how many files status counts on volume key ID
  st_json | jq_py "sum(k['files'] for k in s['volume_keys'] if k['id'] == '$1')"
}
CMKFS_FAULT=rewrap.file:$((FILES / 3)) "$CMKFS" rewrap --volume-key -j 4 -c "$rc" "$cipher" \
  > "$T_DIR/vk-kill.out" 2>&1
check "rewrap --volume-key killed mid-walk (SIGKILL)" test $? = 137
check "after the kill: nothing unreadable" test "$(st_json | jq_py 's["unreadable"]')" = 0
check "after the kill: files on both volume keys" \
  test "$(vk_files vk1)" -gt 0 -a "$(vk_files vk2)" -gt 0
check "after the kill: status says the replacement is unfinished" \
  sh -c "'$CMKFS' status -c '$rc' '$cipher' | grep -q 'rewrap --volume-key finishes'"
t_expect 0 "a rerun finishes the replacement" -- \
  "$CMKFS" rewrap --volume-key -c "$rc" "$cipher"
t_contains "every header now on vk2" "re-wrapped to volume key vk2"
check "status: every file on vk2" test "$(vk_files vk2)" = "$(st_json | jq_py 's["files"]')"
check "status: vk2 is the current volume key" \
  test "$(st_json | jq_py "[k['id'] for k in s['volume_keys'] if k['current']][0]")" = vk2
echo "written during the replacement" > "$mnt/faces/during.jpg"
t_expect 1 "a second replacement at once waits for the mounts to re-read" -- \
  "$CMKFS" rewrap --volume-key -c "$rc" "$cipher"
t_contains "and says when to run it again" "run this again in"
vk3() { "$CMKFS" rewrap --volume-key -c "$rc" "$cipher" > "$T_DIR/vk3.out" 2>&1; }
t_wait_until 120 "a second replacement once the mounts re-read the descriptor" -- vk3
check "the second replacement made vk3" grep -q "new volume key vk3" "$T_DIR/vk3.out"
touch "$T_DIR/reader.stop"
wait "$reader"
check "a reader on the running mount never saw a wrong byte" test ! -e "$T_DIR/reader.bad"
check "the file written during the replacement reads" \
  grep -q "written during the replacement" "$mnt/faces/during.jpg"
(cd "$mnt" && sha256sum faces/during.jpg) >> "$T_DIR/sums"
fs_remount "$rc" "$cipher" "$mnt"
check "every file reads after a remount" reads_all
check "status: every file on vk3" test "$(vk_files vk3)" = "$(st_json | jq_py 's["files"]')"
check "status: vk1 is gone from the descriptor" test "$(vk_files vk1)" = 0 -a \
  "$(st_json | jq_py "len([k for k in s['volume_keys'] if k['id'] == 'vk1'])")" = 0
fs_umount "$mnt"

# --- nothing secret in any output -------------------------------------------------
all=$(cat "$T_DIR"/run.*.out 2>/dev/null)
case "$all" in *"$TOKEN"*) t_fail "the token reached an output" ;; *) t_pass ;; esac
case "$all" in *"$(head -c 40 "$T_DIR/sa.jwt")"*) t_fail "the JWT reached an output" ;; *) t_pass ;; esac
t_done
