#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""HashiCorp Vault / OpenBao emulator for the cmkfs tests (Python standard
library, plus Debian's python3-cryptography for the transit engine and
Kubernetes JWTs: without it everything else still works, and transit calls
answer 500, transit keys or kubernetes mounts in the config are refused):
a KV version 2 secrets engine, a transit secrets engine, AppRole, Kubernetes
and token auth, namespaces, seal state, ACL policies, fault injection.

It serves, on loopback only:

  HTTPS port (--port, 0 = pick one; --port-file gets the number):
    GET|HEAD /v1/sys/health               200 active / 429 standby /
                                          503 sealed / 501 uninitialised
    GET  /v1/sys/seal-status
    GET  /v1/{kv}/data/{path}[?version=N] KV v2 read (404 + metadata when
                                          the version is deleted/destroyed)
    POST|PUT /v1/{kv}/data/{path}         new version {"data": {...},
                                          "options": {"cas": N}}
    PATCH /v1/{kv}/data/{path}            JSON merge patch (Content-Type
                                          application/merge-patch+json)
    DELETE /v1/{kv}/data/{path}           soft-delete the current version
    POST /v1/{kv}/delete|undelete|destroy/{path}  {"versions": [1, 2]}
    GET|POST|DELETE /v1/{kv}/metadata/{path}, LIST (or GET ?list=true)
    GET|POST /v1/{kv}/config
    GET|POST|DELETE|LIST /v1/{kv1}/{path} a KV version 1 mount
    LIST /v1/{transit}/keys               transit: key names
    GET|POST|DELETE /v1/{transit}/keys/{name}   read / create {"type",
                                          "derived", "exportable", ...} /
                                          delete (when deletion_allowed)
    POST /v1/{transit}/keys/{name}/rotate | /config  new version / {"min_
                                          decryption_version", "min_
                                          encryption_version",
                                          "deletion_allowed", "exportable",
                                          "allow_plaintext_backup"}
    POST /v1/{transit}/encrypt/{name}     {"plaintext": base64, "key_version",
                                          "context", "associated_data"} ->
                                          {"ciphertext": "vault:vN:...",
                                          "key_version": N}
    POST /v1/{transit}/decrypt/{name}     {"ciphertext", "context", ...} ->
                                          {"plaintext": base64}
    POST /v1/{transit}/rewrap/{name}      {"ciphertext", "key_version"} ->
                                          {"ciphertext", "key_version"}
    POST /v1/auth/{approle}/login         {"role_id", "secret_id"}
    POST /v1/auth/{kubernetes}/login      {"role", "jwt"}
    GET  /v1/auth/{approle}/role/{name}/role-id
    POST /v1/auth/{approle}/role/{name}/secret-id
    GET  /v1/auth/token/lookup-self, POST /v1/auth/token/renew-self,
    POST /v1/auth/token/revoke-self
    /_emulator/...                        admin API (below)
  plain-HTTP port (--admin-port, 0 = pick one; --admin-port-file gets it):
    /_emulator/... only (anything else: 404 {"errors":[]}).

A namespace is named by the X-Vault-Namespace header, by a path prefix
(/v1/ns1/secret/data/x) or both (header "ns1", path /v1/child/secret/...),
resolved as OpenBao does: the longest known namespace that is a prefix of
header + path, and the whole header must be matched.

Usage:
  vault_emulator.py --config state.json --cert server.pem --key server.key \
      [--port 0] [--port-file F] [--admin-port 0] [--admin-port-file F] \
      [--log requests.jsonl] [--host 127.0.0.1]
It prints "vault_emulator: https=PORT admin=PORT" on stdout once both listen.
SIGTERM/SIGINT or POST /_emulator/shutdown stops it.

Config file (JSON; every key optional). The top level describes the root
namespace; "namespaces" holds child namespaces with the same keys:
  {
    "flavor": "vault",            # "vault": an unknown/expired token gets
                                  # "2 errors occurred: permission denied,
                                  # invalid token" (current Vault); "openbao":
                                  # plain "permission denied"
    "version": "1.17.6",          # in sys/health and sys/seal-status
    "initialized": true, "sealed": false, "standby": false,
    "cluster_name": "vault-cluster-emulator", "cluster_id": "uuid",
    "default_lease_ttl": 2764800,  # token TTL when a role sets none (768h)
    "max_lease_ttl": 2764800,
    "lockout_threshold": 5,        # AppRole user lockout: failed logins per
    "lockout_duration": 900,       # role_id before 403 for this many seconds
                                   # (Vault's defaults; 0 disables)
    "kv_mounts": {"secret": {"version": 2, "max_versions": 0,
                             "cas_required": false,
                             "delete_version_after": "0s"}},
                                   # default: {"secret": {"version": 2}}
    "transit_mounts": {"transit": {"disable_upsert": false, "keys": {
        "cmk": {"type": "aes256-gcm96", "versions": 1,
                "min_decryption_version": 1, "min_encryption_version": 0,
                "deletion_allowed": false, "exportable": false,
                "derived": false, "allow_plaintext_backup": false,
                "auto_rotate_period": 0}}}},
                                   # default: {"transit": {}} (no keys; none
                                   # if a kv mount is called "transit").
                                   # Types: aes256-gcm96, aes128-gcm96,
                                   # chacha20-poly1305. "versions": N makes
                                   # versions 1..N, each a fresh random key
    "auth_mounts": {"approle": {"roles": {
        "cmkfs": {"role_id": "...", "secret_ids": ["..." | {"secret_id":
                  "...", "num_uses": 0, "metadata": {}}],
                  "bind_secret_id": true, "token_ttl": 3600,
                  "token_max_ttl": 0, "token_policies": ["cmk-read"],
                  "token_no_default_policy": false, "token_num_uses": 0}}},
                    "kubernetes": {"type": "kubernetes",
        "jwt_public_key": "PEM" | ["PEM", ...],   # or "pem_keys": the
                                   # service-account signing keys (RSA or
                                   # ECDSA public key or certificate);
                                   # required: every JWT is checked with them
        "issuer": "https://kubernetes.default.svc.cluster.local",
        "disable_iss_validation": true,   # the plugin's default: the issuer
                                   # is only checked when this is false
        "revoked_service_account_uids": [],  # emulates the TokenReview API
                                   # refusing a token (403 permission denied)
        "roles": {"cmkfs": {"bound_service_account_names": ["cmkfs"],
                            "bound_service_account_namespaces": ["store"],
                            "audience": null, "alias_name_source":
                            "serviceaccount_uid", "token_policies": [...],
                            "token_ttl": 3600, "token_max_ttl": 0,
                            "token_no_default_policy": false,
                            "token_num_uses": 0}}}},
                                   # "type": "approle" when absent.
                                   # default: {"approle": {"roles": {}}}
    "policies": {"cmk-read": {"secret/data/cmk": ["read"],
                              "secret/metadata/cmk": ["read"],
                              "secret/data/+/x": ["read"],
                              "secret/metadata/*": ["list"]}},
                                   # path -> capabilities (create read update
                                   # patch delete list sudo deny); globs as in
                                   # Vault (+ one segment, trailing * prefix,
                                   # Vault's priority rules). "root" is
                                   # built in; "default" is built in unless
                                   # given (token lookup/renew/revoke-self)
    "tokens": [{"token": "root", "policies": ["root"], "ttl": 0,
                "renewable": false, "num_uses": 0, "display_name": "root",
                "meta": null}],    # static tokens; default (root namespace,
                                   # no "tokens" key): one root token "root"
    "secrets": {"secret": {
        "cmk": {"versions": [
                   {"data": {"key": "..."},
                    "created_time": "2024-01-02T03:04:05.5Z" | epoch,
                    "deletion_time": RFC3339 | epoch | true (= a second
                                     ago) | null,   # may be in the future
                    "destroyed": false}],
                "custom_metadata": {"owner": "x"} | null,
                "max_versions": 0, "cas_required": false,
                "delete_version_after": "0s"}},
               "kv1mount": {"some/path": {"k": "v"}}},   # KV v1: the data
    "namespaces": {"ns1": {...same keys..., "namespaces": {...}}},
    "faults": [FAULT, ...]
  }
Versions are numbered 1, 2, ... in list order; older ones beyond
max_versions (secret's or mount's, 10 if both are 0) are trimmed as Vault
trims them (oldest_version moves).

FAULT (applies to the next "count" requests whose method and path match;
"count": -1 = forever; checked before the seal, namespace and token checks):
  {"path": "regex searched in the URL path (not the query)",
   "method": "GET" (any if absent), "server": "https"|"http" (any if absent),
   "namespace": "ns1" (X-Vault-Namespace header value; any if absent),
   "count": 1, "action": ACTION, "delay": seconds before acting, ...}
  ACTION: "429"           429 rate limit quota body, Retry-After:
                          "retry_after" (default 1; null = no header)
          "503"           503 {"errors":["Vault is sealed"]}, Retry-After
          "500"           500 {"errors":["internal error"]}
          "sealed"        503 "Vault is sealed", no Retry-After
          "invalid_token" 403 as for an unknown token, even with a good one
          "denied"        403 as for a policy denial
          "slow"          wait "delay" seconds, then answer normally
          "drop"          close the connection without any response
          "truncate"      send headers and half the body, then close
          "huge"          200 with a well-formed JSON body of "size" bytes
                          (default 16 MiB)
          "malformed"     200, Content-Type JSON, body "body" (default: JSON
                          cut short)
          "redirect"      "status" (307) to "location" (default: the same
                          URL on localhost, or on 127.0.0.1 when the request
                          named localhost), as a standby node redirects
          "status"        "status", "body" (JSON or text), "headers"
  "body", "headers" and "retry_after" override the defaults of any action.

Admin API (both ports; never logged, never authenticated; JSON bodies;
"namespace" is "" or absent for the root namespace, "mount" defaults to
"secret" or "approle"):
  GET  /_emulator/health                     {"ok": true}
  GET  /_emulator/state                      settings, namespaces, secrets,
                                             roles, kubernetes mounts,
                                             transit keys (no key material),
                                             tokens (accessors only), faults
  POST /_emulator/reset                      reload the config file (drops
                                             every issued token)
  POST /_emulator/settings                   merge {"sealed", "initialized",
                                             "standby", "flavor", "version",
                                             "lockout_threshold", ...}
  POST /_emulator/seal | /_emulator/unseal
  POST /_emulator/secrets/add                {"namespace", "mount", "path",
                                             "data", "created_time"} ->
                                             {"version": N}
  POST /_emulator/secrets/delete             {..., "versions": [N],
                                             "deletion_time" (default now;
                                             may be in the future)}
  POST /_emulator/secrets/undelete|destroy   {..., "versions": [N]}
  POST /_emulator/secrets/metadata           {..., "custom_metadata",
                                             "max_versions", "cas_required",
                                             "delete_version_after"}
  POST /_emulator/secrets/remove             {..., "path"}: metadata and all
                                             versions
  POST /_emulator/roles                      {"namespace", "mount", "role",
                                             role fields (as in the config)}:
                                             create or merge; e.g.
                                             {"role": "cmkfs", "token_ttl": 2};
                                             "unlock": true ends a lockout;
                                             a kubernetes mount's roles too
  POST /_emulator/policies                   {"namespace", "name", "rules":
                                             {path: [caps]}} (null deletes)
  POST /_emulator/policies/{name}            {"namespace", "rules"}: the same.
                                             Creates or replaces; tokens keep
                                             policy names, so a change holds
                                             from the next request of every
                                             live token of that namespace
  POST /_emulator/transit/{mount}/{name}     create or change a key:
                                             {"namespace", key fields as in
                                             the config ("type", "derived",
                                             "versions" only when creating),
                                             "rotate": true | N,
                                             "delete": true} -> the key's
                                             data as Vault reads it (rotation
                                             comes before the other fields)
  POST /_emulator/transit/{mount}/{name}/encrypt  {"namespace", "plaintext"
                                             (base64), "key_version",
                                             "context"} -> {"ciphertext",
                                             "key_version"}; .../decrypt
                                             {"ciphertext"} -> {"plaintext",
                                             "key_version"} (no token, no
                                             policy; 400 {"error": Vault's
                                             text})
  POST /_emulator/kubernetes/{mount}         {"namespace", "issuer",
                                             "jwt_public_key", "pem_keys",
                                             "disable_iss_validation",
                                             "revoked_service_account_uids",
                                             "roles"}: merge into the mount
  POST /_emulator/namespaces                 {"path": "ns2"} (create)
  POST /_emulator/tokens                     mint {"namespace", "policies",
                                             "ttl", "token", "renewable",
                                             "num_uses", "meta"} ->
                                             {"token", "accessor", "ttl"}
  POST /_emulator/tokens/ttl                 {"token"|"accessor"|"all": true,
                                             "ttl": seconds left (<= 0:
                                             expired now)}
  POST /_emulator/tokens/expire              every token with a TTL expires
                                             now ({"include_root": true}:
                                             static/TTL-less ones too)
  POST /_emulator/tokens/revoke              {"token"} or {"accessor"}
  GET|POST|DELETE /_emulator/faults          list / add one or a list / clear
  GET|DELETE /_emulator/log                  request log / clear it (and --log)
  POST /_emulator/shutdown

Log (--log, JSON lines, one per request, written just before the answer
goes out, so it is complete once a client has its answer):
  {"ts", "server": "https"|"http", "kind": "kv"|"transit"|"auth"|"sys"|"other",
   "method", "path", "query" (secret-looking parameters redacted), "host",
   "request_id", "token" (whether X-Vault-Token or Authorization: Bearer was
   sent; the token itself is never logged), "token_source": "header"|
   "bearer"|null, "token_state": "valid"|"missing"|"invalid"|"expired"|null
   (null: not checked), "namespace" (X-Vault-Namespace header or null),
   "ns" (the resolved namespace path, "" = root, null = unresolved),
   "op" (read|update|delete|list|patch|null), "status" (null if dropped),
   "fault", "role_name" (successful AppRole and Kubernetes logins only),
   "service_account": "NS/NAME" (successful Kubernetes logins only),
   "key_version" (transit encrypt/decrypt/rewrap that got that far: the
   version used; for rewrap the new one)}
  Request bodies are never logged (no plaintext, ciphertext, JWT, secret).

Fidelity notes (hashicorp/vault, hashicorp/vault-plugin-secrets-kv and
openbao/openbao sources, developer.hashicorp.com/vault/api-docs):
  * Every JSON answer is Go's json.Encoder output: compact, map keys sorted,
    <>& escaped as \\u003c..., a trailing newline. 204 has no body.
  * KV v2 read: 200 {"request_id","lease_id":"","renewable":false,
    "lease_duration":0,"data":{"data":{...},"metadata":{"created_time",
    "custom_metadata","deletion_time","destroyed","version"}},"wrap_info":
    null,"warnings":null,"auth":null,"mount_type":"kv"}. A version whose
    deletion_time has passed, or that is destroyed, is a 404 whose body is
    the same envelope with "data":{"data":null,"metadata":{...}} and
    "mount_type":"" (logical.RespondWithStatusCode, no trailing newline). A
    deletion_time in the future (delete_version_after) still reads 200. An
    unknown path or version: 404 {"errors":[]}. version absent, 0 or
    negative: the current version, even when it is deleted.
  * Tokens: none sent -> 403 {"errors":["permission denied"]}; unknown,
    revoked or expired -> 403 {"errors":["2 errors occurred:\\n\\t*
    permission denied\\n\\t* invalid token\\n\\n"]} (flavor "openbao":
    "permission denied"); valid but not allowed by policy -> 403
    {"errors":["1 error occurred:\\n\\t* permission denied\\n\\n"]}.
  * AppRole: bad role_id or secret_id -> 400 {"errors":["invalid role or
    secret ID"]}; missing ones -> 400 "missing role_id"/"missing secret_id";
    after lockout_threshold bad secret_ids for one role_id -> 403
    "permission denied" until lockout_duration passes.
  * Sealed (or uninitialised): every /v1 path but sys/health and
    sys/seal-status -> 503 {"errors":["Vault is sealed"]}.
  * Transit (builtin/logical/transit, sdk/helper/keysutil): ciphertext
    "vault:v" N ":" base64(12-byte nonce || ciphertext || 16-byte tag),
    AES-GCM or ChaCha20-Poly1305 with a random key per version (derived
    keys: HKDF-SHA256 with the context as info). Errors are 400 with the
    plain text: "missing plaintext to encrypt", "missing ciphertext to
    decrypt", "encryption key not found", "invalid ciphertext: no prefix" /
    ": wrong number of fields" / ": version number could not be decoded" /
    ": version is too new" / ": could not decode base64", "invalid
    ciphertext length", "cipher: message authentication failed",
    "ciphertext or signature version is disallowed by policy (too old)",
    "requested version for encryption is negative" / "is higher than the
    latest key version" / "is less than the minimum encryption key
    version", "no such key version" (encrypting with a version below
    min_decryption_version: Vault has moved it to the archive), Go's
    "illegal base64 data at input byte N" for a bad plaintext or context,
    "key not found" (rotate), "no existing key named X could be found",
    "cannot set min decryption version of N, latest key version is M",
    "cannot set min encryption/decryption values; min encryption version
    of N must be greater than or equal to min decryption version of M",
    "min decryption version cannot be negative", "error deleting policy X:
    deletion is not allowed for this key" (or "could not delete key; not
    found"), "unknown key type X"; a missing key reads 404 {"errors":[]};
    LIST with no keys 404. Reading, creating, rotating and configuring
    answer the key's data (name, type, derived, deletion_allowed,
    exportable, allow_plaintext_backup, latest_version,
    min_available_version (0), min_decryption_version,
    min_encryption_version, keys {"N": unix seconds} for the versions not
    archived (>= min_decryption_version), supports_encryption/decryption/
    derivation/signing, auto_rotate_period, imported_key; kdf and
    convergent_encryption when derived), mount_type "transit"; creating an
    existing key warns "key X already existed". ACL: encrypt/{name} has
    Vault's existence check, so a missing key needs "create" (and is then
    made, unless the mount has disable_upsert: 400 "encryption key not
    found") and an existing one "update"; decrypt, rewrap, keys/{name}
    (POST: no existence check, so "update"), rotate and config need
    "update"; GET keys/{name} "read"; DELETE "delete"; LIST keys/ "list".
    Not emulated: batch_input (400 "vault_emulator: batch_input is not
    emulated"), convergent encryption, asymmetric/HMAC/other key types (400
    "vault_emulator: key type X is not emulated"), key_size, automatic
    rotation (auto_rotate_period is only stored), keys/{name}/trim, export,
    backup/restore, datakey, hmac, sign, random, hash, config/keys (404
    unsupported path).
  * Kubernetes login (vault-plugin-auth-kubernetes path_login.go with
    pem_keys, hashicorp/cap jwt): "missing role", "missing jwt", 'invalid
    role name "x"' (400); a JWT that is malformed, signed with another key
    or an algorithm other than RS/PS/ES256/384/512 -> 403 "permission
    denied"; "invalid issuer (iss) claim", "invalid audience (aud) claim:
    audience claim does not match any expected audience", "invalid
    expiration time (exp) claim: token is expired" (60 s clock skew; no
    exp: iat/nbf + 150 s; no iat/nbf/exp: accepted, as legacy secret
    tokens are), "invalid not before (nbf) claim: token not yet valid",
    "service account name not authorized", "namespace not authorized"
    (403, checked in that order); a uid in revoked_service_account_uids
    -> 403 "permission denied". Both claim layouts: legacy
    kubernetes.io/serviceaccount/{namespace,service-account.name,
    service-account.uid,secret.name} and projected "kubernetes.io":
    {"namespace", "serviceaccount": {"name", "uid"}} (preferred when
    present). Names and namespaces match with "*" globs. The auth block is
    AppRole's, with metadata {role, service_account_name,
    service_account_namespace, service_account_secret_name,
    service_account_uid}, display_name "MOUNT-NS-NAME" and a stable
    entity_id per service account. No user lockout (Vault has none for
    this method). Role and config CRUD through the API are not emulated.
  * Unknown namespace -> 404 {"errors":["namespace not found"]} (OpenBao);
    no mount for the path -> 404 {"errors":["no handler for route
    \\"PATH\\". route entry not found."]}; a token used outside its
    namespace (or a child of it) -> 403 as a policy denial.
"""

import argparse
import base64
import calendar
import contextlib
import datetime
import ipaddress
import json
import os
import re
import secrets as pysecrets
import signal
import socket
import ssl
import string
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:        # Debian's python3-cryptography: transit and Kubernetes JWTs only
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    HAVE_CRYPTO = True
except ImportError:         # KV, AppRole and the rest still work
    HAVE_CRYPTO = False

MAX_BODY = 32 << 20             # Vault's default max_request_size
MAX_DELAY = 300.0
DEFAULT_LEASE_TTL = 2764800     # 768h, Vault's default
DEFAULT_MAX_VERSIONS = 10
B62 = string.ascii_letters + string.digits
CAPABILITIES = {"create", "read", "update", "patch", "delete", "list",
                "sudo", "deny"}
SENSITIVE_QUERY = {"token", "client_token", "secret_id", "role_id",
                   "password", "accessor", "jwt", "plaintext", "ciphertext"}
NO_CRYPTO = "vault_emulator: python3-cryptography is not installed"

E_DENIED = "permission denied"
E_INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
E_POLICY = "1 error occurred:\n\t* permission denied\n\n"
E_UNSUPPORTED_PATH = "1 error occurred:\n\t* unsupported path\n\n"
E_UNSUPPORTED_OP = "1 error occurred:\n\t* unsupported operation\n\n"
E_SEALED = "Vault is sealed"
E_BAD_CREDS = "invalid role or secret ID"
E_TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"
E_DERIVE_CONTEXT = ("missing 'context' for key derivation; the key was created using a "
                    "derived key, which means additional, per-request information must "
                    "be included in order to perform operations with the key")
W_KV_ROOT = "Non-listing operations on the root of a K/V v2 mount are not supported."
W_KV_INVALID = ("Invalid path for a versioned K/V secrets engine. See the API docs "
                "for the appropriate API endpoints to use. If using the Vault CLI, "
                "use 'vault kv %s' for this operation.")

# Vault's built-in "default" policy, the parts a KV client touches.
DEFAULT_POLICY = {
    "auth/token/lookup-self": ["read"],
    "auth/token/renew-self": ["update"],
    "auth/token/revoke-self": ["update"],
    "sys/capabilities-self": ["update"],
    "sys/internal/ui/resultant-acl": ["read"],
    "cubbyhole/*": ["create", "read", "update", "delete", "list"],
}


class ConfigError(Exception):
    pass


class ApiError(Exception):
    """A Vault-style error answer: status and the "errors" list."""

    def __init__(self, status, *errors):
        super().__init__(status)
        self.status = status
        self.errors = list(errors)


# -- small helpers ------------------------------------------------------------

def go_json(obj):
    """Go's json.Marshal: compact, HTML-safe escapes, raw UTF-8."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029"))


def sorted_map(obj):
    """A Go map[string]interface{} marshals with sorted keys, recursively."""
    if isinstance(obj, dict):
        return {k: sorted_map(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [sorted_map(v) for v in obj]
    return obj


def rand62(n):
    return "".join(pysecrets.choice(B62) for _ in range(n))


def now_ns():
    return time.time_ns()


def fmt_time(ns):
    """ptypes.TimestampString / RFC 3339 with nanoseconds, UTC; "" for None."""
    if ns is None:
        return ""
    secs, frac = divmod(int(ns), 1_000_000_000)
    out = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        out += "." + ("%09d" % frac).rstrip("0")
    return out + "Z"


TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})"
                     r"(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$")


def parse_time(value, where):
    """RFC 3339 text or epoch seconds -> nanoseconds since the epoch."""
    if isinstance(value, bool) or value is None:
        raise ConfigError("%s: a time is RFC 3339 text or epoch seconds" % where)
    if isinstance(value, int):
        return value * 1_000_000_000
    if isinstance(value, float):
        return int(round(value * 1e9))
    if isinstance(value, str):
        m = TIME_RE.match(value.strip())
        if m:
            y, mo, d, h, mi, s, frac, tz = m.groups()
            try:
                secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi),
                                        int(s), 0, 0, 0))
                datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
            except ValueError:
                raise ConfigError("%s: %r is not a valid time" % (where, value))
            if tz not in ("Z", "z"):
                sign = 1 if tz[0] == "+" else -1
                secs -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
            nanos = int((frac or "").ljust(9, "0")) if frac else 0
            return secs * 1_000_000_000 + nanos
    raise ConfigError("%s: %r is not a valid time" % (where, value))


DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")
DUR_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60,
            "h": 3600, "d": 86400}


def parse_duration(value, what="duration"):
    """parseutil.ParseDurationSecond: an integer (seconds), digits, or a Go
    duration ("1h30m", "90s", "2d"). Returns whole seconds."""
    if isinstance(value, bool):
        raise ValueError("%s: not a duration" % what)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if not isinstance(value, str):
        raise ValueError("%s: not a duration" % what)
    text = value.strip()
    if text == "":
        return 0
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    total, pos = 0.0, 0
    for m in DUR_RE.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * DUR_UNIT[m.group(2)]
        pos = m.end()
    if pos != len(body) or pos == 0:
        raise ValueError('time: invalid duration "%s"' % text)
    return sign * int(total)


def go_duration(secs):
    """time.Duration.String() for whole seconds: 0s, 1m30s, 1h0m0s."""
    if secs == 0:
        return "0s"
    sign = "-" if secs < 0 else ""
    s = abs(int(secs))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return "%s%dh%dm%ds" % (sign, h, m, sec)
    if m:
        return "%s%dm%ds" % (sign, m, sec)
    return "%s%ds" % (sign, sec)


def go_int(value):
    """mapstructure.WeakDecode into an int (strconv.ParseInt base 0)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s == "":
            return 0
        try:
            if re.fullmatch(r"[+-]?0[0-7]+", s):
                return int(s, 8)
            return int(s, 0)
        except ValueError:
            raise ValueError("cannot parse '' as int: strconv.ParseInt: parsing %s: "
                             "invalid syntax" % json.dumps(s))
    raise ValueError("'' expected type 'int', got unconvertible type '%s'"
                     % type(value).__name__)


def go_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        s = value.strip().lower()
        if s in ("1", "t", "true"):
            return True
        if s in ("0", "f", "false", ""):
            return False
    raise ValueError("cannot parse '' as bool: strconv.ParseBool: parsing %s: "
                     "invalid syntax" % json.dumps(str(value)))


def comma_int_slice(value):
    """framework.TypeCommaIntSlice: [1, 2], "1,2", 1."""
    if value is None:
        return []
    if isinstance(value, list):
        return [go_int(v) for v in value]
    if isinstance(value, str):
        return [go_int(v) for v in value.split(",") if v.strip() != ""]
    return [go_int(value)]


B64_STD = {c: i for i, c in enumerate(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def go_b64decode(text):
    """base64.StdEncoding.DecodeString: padding required, CR/LF skipped;
    ValueError("illegal base64 data at input byte N") as Go reports it."""
    src = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    n, si, out = len(src), 0, bytearray()

    def bad(pos):
        return ValueError("illegal base64 data at input byte %d" % pos)
    while True:
        vals, dlen, end = [], 4, False
        while len(vals) < 4:
            j = len(vals)
            if si == n:
                if j == 0:
                    return bytes(out)
                raise bad(si - j)
            c = src[si]
            si += 1
            if c in B64_STD:
                vals.append(B64_STD[c])
                continue
            if c in (10, 13):
                continue
            if c != 61:                             # not "="
                raise bad(si - 1)
            if j < 2:
                raise bad(si - 1)
            if j == 2:
                while si < n and src[si] in (10, 13):
                    si += 1
                if si == n:
                    raise bad(n)
                if src[si] != 61:
                    raise bad(si - 1)
                si += 1
            while si < n and src[si] in (10, 13):
                si += 1
            if si < n:
                raise bad(si)
            dlen, end = j, True
            break
        val = 0
        for k in range(4):
            val = (val << 6) | (vals[k] if k < len(vals) else 0)
        out += val.to_bytes(3, "big")[:dlen - 1]
        if end:
            return bytes(out)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64url_decode(text):
    """go-jose: trailing "=" trimmed, then base64.RawURLEncoding."""
    text = text.rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("illegal base64 data")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def go_quote(s):
    """Go's %q for ordinary text."""
    return json.dumps(s, ensure_ascii=False)


def multi_err(msg):
    """A backend error the core wraps in a multierror (non-login paths)."""
    return "1 error occurred:\n\t* %s\n\n" % msg


def glob_list_contains(patterns, value):
    """strutil.StrListContainsGlob: "*" anywhere in an item is a wildcard."""
    for pat in patterns:
        if pat == value:
            return True
        rx = ".*".join(re.escape(part) for part in pat.split("*"))
        if re.fullmatch(rx, value, re.S):
            return True
    return False


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def canonical_ns(path):
    path = (path or "").strip().strip("/")
    return path + "/" if path else ""


# -- the stored state -----------------------------------------------------------

class VersionMeta:
    __slots__ = ("created", "deletion", "destroyed", "data")

    def __init__(self, created, deletion, destroyed, data):
        self.created = created
        self.deletion = deletion
        self.destroyed = destroyed
        self.data = data

    def gone(self, now):
        return self.destroyed or (self.deletion is not None and self.deletion < now)


def deletion_after(mount_dva, meta_dva):
    """deletionTime(): the smallest non-zero of the two, 0 if both are 0."""
    if mount_dva == 0 and meta_dva == 0:
        return 0
    low = meta_dva if meta_dva != 0 else 0
    if (mount_dva != 0 and mount_dva < low) or low == 0:
        low = mount_dva
    return low


class Secret:
    """A KV v2 key: its KeyMetadata and version data."""

    def __init__(self):
        self.versions = {}
        self.current = 0
        self.oldest = 0
        self.created = None
        self.updated = None
        self.max_versions = 0
        self.cas_required = False
        self.dva = 0
        self.custom_metadata = None

    def add_version(self, data, created, mount):
        """KeyMetadata.AddVersion with delete_version_after and trimming."""
        deletion = None
        if mount.dva >= 0:
            after = deletion_after(mount.dva, self.dva)
            if after:
                deletion = created + after * 1_000_000_000
        vm = VersionMeta(created, deletion, False, data)
        self.current += 1
        self.versions[self.current] = vm
        self.updated = created
        if self.created is None:
            self.created = created
        keep = max(self.max_versions, mount.max_versions) or DEFAULT_MAX_VERSIONS
        if self.current - self.oldest >= keep:
            drop = self.current - keep
            for i in range(self.oldest, drop + 1):
                self.versions.pop(i, None)
            self.oldest = drop + 1
        return self.current, vm

    def meta_for(self, num, vm):
        return {"created_time": fmt_time(vm.created),
                "custom_metadata": sorted_map(self.custom_metadata),
                "deletion_time": fmt_time(vm.deletion),
                "destroyed": vm.destroyed,
                "version": num}

    def dump(self):
        return {"current_version": self.current, "oldest_version": self.oldest,
                "max_versions": self.max_versions, "cas_required": self.cas_required,
                "delete_version_after": go_duration(self.dva),
                "custom_metadata": self.custom_metadata,
                "versions": {str(n): {"data": v.data, "created_time": fmt_time(v.created),
                                      "deletion_time": fmt_time(v.deletion),
                                      "destroyed": v.destroyed}
                             for n, v in sorted(self.versions.items())}}


class KVMount:
    def __init__(self, name, spec, where):
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ConfigError("%s: a kv mount is an object" % where)
        self.name = name
        self.version = spec.get("version", 2)
        if self.version not in (1, 2, "1", "2"):
            raise ConfigError("%s: version is 1 or 2" % where)
        self.version = int(self.version)
        try:
            self.max_versions = go_int(spec.get("max_versions", 0))
            self.cas_required = bool(spec.get("cas_required", False))
            self.dva = parse_duration(spec.get("delete_version_after", 0))
        except ValueError as e:
            raise ConfigError("%s: %s" % (where, e))
        self.secrets = {}       # v2: path -> Secret; v1: path -> dict

    def config_data(self):
        return {"cas_required": self.cas_required,
                "delete_version_after": go_duration(max(self.dva, 0)),
                "max_versions": self.max_versions}


class Role:
    FIELDS = ("role_id", "secret_ids", "bind_secret_id", "token_ttl",
              "token_max_ttl", "token_policies", "policies",
              "token_no_default_policy", "token_num_uses", "secret_id_num_uses",
              "entity_id")

    def __init__(self, name):
        self.name = name
        self.role_id = str(uuid.uuid4())
        self.secret_ids = {}
        self.bind_secret_id = True
        self.token_ttl = 0
        self.token_max_ttl = 0
        self.token_policies = []
        self.token_no_default_policy = False
        self.token_num_uses = 0
        self.secret_id_num_uses = 0
        self.entity_id = str(uuid.uuid4())
        self.failures = 0
        self.last_failure = 0.0
        self.locked_until = 0.0

    def update(self, spec, where):
        if not isinstance(spec, dict):
            raise ConfigError("%s: a role is an object" % where)
        for key in spec:
            if key not in self.FIELDS:
                raise ConfigError("%s: unknown role field %r" % (where, key))
        try:
            if "role_id" in spec:
                if not isinstance(spec["role_id"], str) or not spec["role_id"]:
                    raise ConfigError("%s: role_id is a non-empty string" % where)
                self.role_id = spec["role_id"]
            if "secret_ids" in spec:
                self.secret_ids = {}
                for sid in spec["secret_ids"] or []:
                    if isinstance(sid, str):
                        sid = {"secret_id": sid}
                    if not isinstance(sid, dict) or not isinstance(sid.get("secret_id"), str):
                        raise ConfigError("%s: a secret_id is a string or "
                                          "{\"secret_id\": ...}" % where)
                    self.secret_ids[sid["secret_id"]] = {
                        "num_uses": go_int(sid.get("num_uses", 0)),
                        "metadata": dict(sid.get("metadata") or {}),
                        "accessor": str(uuid.uuid4())}
            if "bind_secret_id" in spec:
                self.bind_secret_id = go_bool(spec["bind_secret_id"])
            for key in ("token_ttl", "token_max_ttl"):
                if key in spec:
                    setattr(self, key, parse_duration(spec[key], key))
            pol = spec.get("token_policies", spec.get("policies"))
            if pol is not None:
                if isinstance(pol, str):
                    pol = [p.strip() for p in pol.split(",") if p.strip()]
                if not isinstance(pol, list) or not all(isinstance(p, str) for p in pol):
                    raise ConfigError("%s: token_policies is a list of names" % where)
                self.token_policies = list(pol)
            if "token_no_default_policy" in spec:
                self.token_no_default_policy = go_bool(spec["token_no_default_policy"])
            for key in ("token_num_uses", "secret_id_num_uses"):
                if key in spec:
                    setattr(self, key, go_int(spec[key]))
            if "entity_id" in spec:
                self.entity_id = str(spec["entity_id"])
        except ValueError as e:
            raise ConfigError("%s: %s" % (where, e))

    def dump(self):
        return {"role_id": self.role_id, "secret_ids": sorted(self.secret_ids),
                "bind_secret_id": self.bind_secret_id, "token_ttl": self.token_ttl,
                "token_max_ttl": self.token_max_ttl,
                "token_policies": self.token_policies,
                "token_no_default_policy": self.token_no_default_policy,
                "token_num_uses": self.token_num_uses,
                "failed_logins": self.failures,
                "locked": self.locked_until > time.time()}


class TransitError(Exception):
    """A keysutil error: user (400, plain text) or internal (500)."""

    def __init__(self, msg, internal=False):
        super().__init__(msg)
        self.internal = internal


# key type -> key length; the other types Vault knows are refused (documented)
TRANSIT_TYPES = {"aes256-gcm96": 32, "aes128-gcm96": 16, "chacha20-poly1305": 32}
VAULT_KEY_TYPES = {"xchacha20-poly1305", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521",
                   "ed25519", "rsa-2048", "rsa-3072", "rsa-4096", "hmac", "managed_key",
                   "aes128-cmac", "aes256-cmac", "ml-dsa", "hybrid", "slh-dsa"}
TRANSIT_KEY_FIELDS = ("type", "versions", "min_decryption_version",
                      "min_encryption_version", "deletion_allowed", "exportable",
                      "derived", "allow_plaintext_backup", "auto_rotate_period")


class TransitKey:
    """A keysutil.Policy of a symmetric type: per-version random keys."""

    def __init__(self, name, ktype="aes256-gcm96", derived=False):
        if not HAVE_CRYPTO:
            raise ConfigError(NO_CRYPTO)
        if ktype not in TRANSIT_TYPES:
            raise ConfigError("key type %r is not emulated (only %s)"
                              % (ktype, ", ".join(sorted(TRANSIT_TYPES))))
        self.name = name
        self.type = ktype
        self.derived = bool(derived)
        self.versions = {}          # version -> (key bytes, creation unix seconds)
        self.latest = 0
        self.min_dec = 1
        self.min_enc = 0
        self.deletion_allowed = False
        self.exportable = False
        self.allow_plaintext_backup = False
        self.auto_rotate_period = 0
        self.rotate()

    def rotate(self, when=None):
        self.latest += 1
        self.versions[self.latest] = (os.urandom(TRANSIT_TYPES[self.type]),
                                      int(time.time() if when is None else when))

    def data(self):
        """formatKeyPolicy for a symmetric key. Versions below
        min_decryption_version are archived, so "keys" omits them."""
        d = {"name": self.name, "type": self.type, "derived": self.derived,
             "deletion_allowed": self.deletion_allowed, "min_available_version": 0,
             "min_decryption_version": self.min_dec,
             "min_encryption_version": self.min_enc, "latest_version": self.latest,
             "exportable": self.exportable,
             "allow_plaintext_backup": self.allow_plaintext_backup,
             "supports_encryption": True, "supports_decryption": True,
             "supports_signing": False, "supports_derivation": True,
             "auto_rotate_period": self.auto_rotate_period, "imported_key": False,
             "keys": {str(v): t for v, (_, t) in self.versions.items()
                      if v >= self.min_dec}}
        if self.derived:
            d["kdf"] = "hkdf_sha256"
            d["convergent_encryption"] = False
        return sorted_map(d)

    def set_versions(self, min_dec=None, min_enc=None):
        """path_keys_config's checks; returns a warning or None."""
        warning = None
        dec, enc = self.min_dec, self.min_enc
        if min_dec is not None:
            if min_dec < 0:
                raise TransitError("min decryption version cannot be negative")
            if min_dec == 0:
                min_dec = 1
                warning = ("since Vault 0.3, transit key numbering starts at 1; "
                           "forcing minimum to 1")
            if min_dec != dec:
                if min_dec > self.latest:
                    raise TransitError("cannot set min decryption version of %d, latest "
                                       "key version is %d" % (min_dec, self.latest))
                dec = min_dec
        if min_enc is not None:
            if min_enc < 0:
                raise TransitError("min encryption version cannot be negative")
            if min_enc != enc:
                if min_enc > self.latest:
                    raise TransitError("cannot set min encryption version of %d, latest "
                                       "key version is %d" % (min_enc, self.latest))
                enc = min_enc
        if enc > 0 and enc < dec:
            raise TransitError("cannot set min encryption/decryption values; min "
                               "encryption version of %d must be greater than or equal "
                               "to min decryption version of %d" % (enc, dec))
        self.min_dec, self.min_enc = dec, enc
        return warning

    def key_for(self, ver, context):
        """GetKey: the raw key, or HKDF-SHA256(key, info=context) if derived."""
        # Versions below min_decryption_version are in the archive, not in
        # Policy.Keys, so safeGetKeyEntry does not find them.
        if not self.derived:
            if ver not in self.versions or ver < self.min_dec:
                raise TransitError("no such key version")
            return self.versions[ver][0]
        if ver <= 0 or ver > self.latest:
            raise TransitError("invalid key version")
        if not context:
            raise TransitError(E_DERIVE_CONTEXT)
        if ver not in self.versions or ver < self.min_dec:
            raise TransitError("no such key version")
        size = TRANSIT_TYPES[self.type]
        return HKDF(algorithm=hashes.SHA256(), length=size, salt=None,
                    info=context).derive(self.versions[ver][0])

    def aead(self, key):
        return ChaCha20Poly1305(key) if self.type == "chacha20-poly1305" else AESGCM(key)

    def encrypt(self, ver, context, plaintext_b64, aad=None):
        """EncryptWithFactory -> ("vault:vN:base64(nonce|ct|tag)", N)."""
        try:
            plain = go_b64decode(plaintext_b64)
        except ValueError as e:
            raise TransitError(str(e))
        if ver == 0:
            ver = self.latest
        elif ver < 0:
            raise TransitError("requested version for encryption is negative")
        elif ver > self.latest:
            raise TransitError("requested version for encryption is higher than the "
                               "latest key version")
        elif ver < self.min_enc:
            raise TransitError("requested version for encryption is less than the "
                               "minimum encryption key version")
        key = self.key_for(ver, context)
        nonce = os.urandom(12)
        sealed = self.aead(key).encrypt(nonce, plain, aad or None)
        return "vault:v%d:%s" % (ver, b64(nonce + sealed)), ver

    def decrypt(self, value, context, aad=None):
        """DecryptWithFactory -> (base64 plaintext, version)."""
        if not value.startswith("vault:v"):
            raise TransitError("invalid ciphertext: no prefix")
        fields = value[len("vault:v"):].split(":", 1)
        if len(fields) != 2:
            raise TransitError("invalid ciphertext: wrong number of fields")
        if not re.fullmatch(r"[+-]?[0-9]+", fields[0]):
            raise TransitError("invalid ciphertext: version number could not be decoded")
        ver = int(fields[0]) or 1         # v0: the first implementation's numbering
        if ver > self.latest:
            raise TransitError("invalid ciphertext: version is too new")
        if self.min_dec > 0 and ver < self.min_dec:
            raise TransitError(E_TOO_OLD)
        try:
            decoded = go_b64decode(fields[1])
        except ValueError:
            raise TransitError("invalid ciphertext: could not decode base64")
        key = self.key_for(ver, context)
        if len(decoded) < 12:
            raise TransitError("invalid ciphertext length")
        try:
            plain = self.aead(key).decrypt(decoded[:12], decoded[12:], aad or None)
        except InvalidTag:
            raise TransitError("cipher: message authentication failed")
        return b64(plain), ver

    def update(self, spec, where, creating=False):
        """Config / admin fields (Vault's validation for the versions)."""
        if not isinstance(spec, dict):
            raise ConfigError("%s: a transit key is an object" % where)
        for k in spec:
            if k not in TRANSIT_KEY_FIELDS:
                raise ConfigError("%s: unknown transit key field %r" % (where, k))
        try:
            if creating:
                for _ in range(go_int(spec.get("versions", 1)) - 1):
                    self.rotate()
            for k in ("deletion_allowed", "exportable", "allow_plaintext_backup"):
                if k in spec:
                    setattr(self, k, go_bool(spec[k]))
            if "auto_rotate_period" in spec:
                self.auto_rotate_period = parse_duration(spec["auto_rotate_period"])
            dec = spec.get("min_decryption_version")
            enc = spec.get("min_encryption_version")
            self.set_versions(None if dec is None else go_int(dec),
                              None if enc is None else go_int(enc))
        except (ValueError, TransitError) as e:
            raise ConfigError("%s: %s" % (where, e))


class TransitMount:
    def __init__(self, name, spec, where):
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ConfigError("%s: a transit mount is an object" % where)
        unknown = set(spec) - {"keys", "disable_upsert"}
        if unknown:
            raise ConfigError("%s: unknown keys %s" % (where, sorted(unknown)))
        self.name = name
        self.disable_upsert = bool(spec.get("disable_upsert", False))
        self.keys = {}
        keys = spec.get("keys") or {}
        if not isinstance(keys, dict):
            raise ConfigError("%s: keys is an object" % where)
        for kname, kspec in keys.items():
            self.keys[kname] = self.new_key(kname, kspec or {}, "%s.keys.%s" % (where, kname))

    @staticmethod
    def new_key(name, spec, where):
        if not re.fullmatch(r"\w(?:[\w\-.@]*\w)?", name):
            raise ConfigError("%s: %r is not a valid key name" % (where, name))
        if not isinstance(spec, dict):
            raise ConfigError("%s: a transit key is an object" % where)
        key = TransitKey(name, spec.get("type", "aes256-gcm96"), spec.get("derived", False))
        key.update(spec, where, creating=True)
        return key


class KubeRole:
    FIELDS = ("bound_service_account_names", "bound_service_account_namespaces",
              "audience", "alias_name_source", "token_ttl", "token_max_ttl",
              "token_policies", "policies", "token_no_default_policy",
              "token_num_uses")

    def __init__(self, name):
        self.name = name
        self.names = []
        self.namespaces = []
        self.audience = ""
        self.alias_name_source = "serviceaccount_uid"
        self.token_ttl = 0
        self.token_max_ttl = 0
        self.token_policies = []
        self.token_no_default_policy = False
        self.token_num_uses = 0

    def update(self, spec, where):
        if not isinstance(spec, dict):
            raise ConfigError("%s: a role is an object" % where)
        for key in spec:
            if key not in self.FIELDS:
                raise ConfigError("%s: unknown kubernetes role field %r" % (where, key))
        try:
            for key, attr in (("bound_service_account_names", "names"),
                              ("bound_service_account_namespaces", "namespaces")):
                if key in spec:
                    val = spec[key]
                    if isinstance(val, str):
                        val = [v.strip() for v in val.split(",") if v.strip()]
                    if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
                        raise ConfigError("%s: %s is a list of names" % (where, key))
                    setattr(self, attr, list(val))
            if "audience" in spec:
                self.audience = spec["audience"] or ""
            if "alias_name_source" in spec:
                if spec["alias_name_source"] not in ("serviceaccount_uid",
                                                     "serviceaccount_name"):
                    raise ConfigError("%s: invalid alias_name_source, must be one of: "
                                      "serviceaccount_uid, serviceaccount_name" % where)
                self.alias_name_source = spec["alias_name_source"]
            for key in ("token_ttl", "token_max_ttl"):
                if key in spec:
                    setattr(self, key, parse_duration(spec[key], key))
            pol = spec.get("token_policies", spec.get("policies"))
            if pol is not None:
                if isinstance(pol, str):
                    pol = [p.strip() for p in pol.split(",") if p.strip()]
                if not isinstance(pol, list) or not all(isinstance(p, str) for p in pol):
                    raise ConfigError("%s: token_policies is a list of names" % where)
                self.token_policies = list(pol)
            if "token_no_default_policy" in spec:
                self.token_no_default_policy = go_bool(spec["token_no_default_policy"])
            if "token_num_uses" in spec:
                self.token_num_uses = go_int(spec["token_num_uses"])
        except ValueError as e:
            raise ConfigError("%s: %s" % (where, e))
        # path_role.go's checks
        if not self.names:
            raise ConfigError('%s: "bound_service_account_names" can not be empty' % where)
        if len(self.names) > 1 and "*" in self.names:
            raise ConfigError('%s: can not mix "*" with values' % where)
        if not self.namespaces:
            raise ConfigError('%s: "bound_service_account_namespaces" can not be empty '
                              'if "bound_service_account_namespace_selector" is not set'
                              % where)
        if len(self.namespaces) > 1 and "*" in self.namespaces:
            raise ConfigError('%s: can not mix "*" with values' % where)

    def dump(self):
        return {"bound_service_account_names": self.names,
                "bound_service_account_namespaces": self.namespaces,
                "audience": self.audience, "alias_name_source": self.alias_name_source,
                "token_ttl": self.token_ttl, "token_max_ttl": self.token_max_ttl,
                "token_policies": self.token_policies,
                "token_no_default_policy": self.token_no_default_policy,
                "token_num_uses": self.token_num_uses}


JWT_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
            "ES256", "ES384", "ES512"}


class KubeMount:
    """A Kubernetes auth mount: its config (pem_keys, issuer) and roles."""
    CONFIG = ("issuer", "jwt_public_key", "pem_keys", "disable_iss_validation",
              "revoked_service_account_uids")

    def __init__(self, name):
        self.name = name
        self.issuer = ""
        self.disable_iss = True         # the plugin's default since 0.11
        self.pems = []
        self.keys = []
        self.revoked = set()
        self.roles = {}

    def configure(self, spec, where):
        for key in spec:
            if key not in self.CONFIG + ("type", "roles", "namespace", "mount"):
                raise ConfigError("%s: unknown kubernetes mount key %r" % (where, key))
        if "issuer" in spec:
            self.issuer = spec["issuer"] or ""
        if "disable_iss_validation" in spec:
            self.disable_iss = bool(spec["disable_iss_validation"])
        pems = None
        for key in ("jwt_public_key", "pem_keys"):
            if key in spec:
                val = spec[key]
                pems = (pems or []) + ([val] if isinstance(val, str) else list(val or []))
        if pems is not None:
            if not HAVE_CRYPTO:
                raise ConfigError("%s: %s" % (where, NO_CRYPTO))
            keys = []
            for pem in pems:
                keys.append(self.parse_pem(pem, where))
            self.pems, self.keys = pems, keys
        if "revoked_service_account_uids" in spec:
            self.revoked = set(spec["revoked_service_account_uids"] or [])
        for rname, rspec in (spec.get("roles") or {}).items():
            role = KubeRole(rname)
            role.update(rspec, "%s.roles.%s" % (where, rname))
            self.roles[rname] = role
        if not self.keys:
            raise ConfigError("%s: jwt_public_key (the service-account signing key, "
                              "PEM) is required" % where)

    @staticmethod
    def parse_pem(pem, where):
        data = pem.encode() if isinstance(pem, str) else pem
        key = None
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError):
            try:
                key = x509.load_pem_x509_certificate(data).public_key()
            except ValueError:
                pass
        if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            raise ConfigError("%s: data does not contain any valid RSA or ECDSA public keys"
                              % where)
        return key

    def verify(self, token):
        """go-jose ParseSigned + StaticKeySet.VerifySignature: the claims,
        or None when the token is malformed or no key verifies it."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(b64url_decode(parts[0]))
            payload = b64url_decode(parts[1])
            sig = b64url_decode(parts[2])
            alg = header.get("alg")
        except (ValueError, AttributeError):
            return None
        if alg not in JWT_ALGS:
            return None
        signed = (parts[0] + "." + parts[1]).encode("ascii", "replace")
        hashalg = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[alg[2:]]()
        for key in self.keys:
            try:
                if alg[0] in "RP" and isinstance(key, rsa.RSAPublicKey):
                    pad = padding.PKCS1v15() if alg[0] == "R" else \
                        padding.PSS(mgf=padding.MGF1(hashalg), salt_length=padding.PSS.AUTO)
                    key.verify(sig, signed, pad, hashalg)
                elif alg[0] == "E" and isinstance(key, ec.EllipticCurvePublicKey):
                    size = (key.curve.key_size + 7) // 8
                    want = {"256": 256, "384": 384, "512": 521}[alg[2:]]
                    if key.curve.key_size != want or len(sig) != 2 * size:
                        continue
                    der = encode_dss_signature(int.from_bytes(sig[:size], "big"),
                                               int.from_bytes(sig[size:], "big"))
                    key.verify(der, signed, ec.ECDSA(hashalg))
                else:
                    continue
            except (InvalidSignature, ValueError):
                continue
            try:
                claims = json.loads(payload)
            except ValueError:
                return None
            return claims if isinstance(claims, dict) else None
        return None

    def dump(self):
        return {"type": "kubernetes", "issuer": self.issuer,
                "disable_iss_validation": self.disable_iss, "pem_keys": len(self.pems),
                "revoked_service_account_uids": sorted(self.revoked),
                "roles": {r: role.dump() for r, role in self.roles.items()}}


class Token:
    def __init__(self, tid, ns, policies, ttl, renewable, display_name, path,
                 meta=None, num_uses=0, entity_id="", max_ttl=0, role=None):
        now = time.time()
        self.id = tid
        self.accessor = rand62(24)
        self.ns = ns                    # namespace path, "" = root
        self.policies = policies
        self.created = now
        self.issue_ns = now_ns()
        self.ttl = ttl                  # creation TTL, 0 = never expires
        self.expires = now + ttl if ttl else None
        self.max_expires = now + max_ttl if max_ttl else None
        self.renewable = renewable
        self.display_name = display_name
        self.path = path
        self.meta = meta
        self.num_uses = num_uses
        self.entity_id = entity_id
        self.role = role
        self.last_renewal = None

    def expired(self, now=None):
        now = time.time() if now is None else now
        return self.expires is not None and self.expires <= now

    def left(self):
        if self.expires is None:
            return 0
        return max(0, int(round(self.expires - time.time())))

    def dump(self):
        return {"accessor": self.accessor, "namespace": self.ns,
                "policies": self.policies, "ttl_left": self.left(),
                "creation_ttl": self.ttl, "expired": self.expired(),
                "display_name": self.display_name, "num_uses": self.num_uses}


class Namespace:
    def __init__(self, path):
        self.path = path                # "" root, "ns1/", "ns1/child/"
        self.id = "root" if path == "" else rand62(5)
        self.kv = {}
        self.transit = {}               # mount name -> TransitMount
        self.auth = {}                  # approle mount name -> {role: Role}
        self.kube = {}                  # kubernetes mount name -> KubeMount
        self.policies = {}

    def role_by_id(self, mount, role_id):
        for role in self.auth.get(mount, {}).values():
            if role.role_id == role_id:
                return role
        return None


class Fault:
    ACTIONS = {"429", "503", "500", "sealed", "invalid_token", "denied", "slow",
               "drop", "truncate", "huge", "malformed", "redirect", "status"}

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ConfigError("a fault is an object")
        self.spec = dict(spec)
        self.action = str(spec.get("action", ""))
        if self.action not in self.ACTIONS:
            raise ConfigError("fault action must be one of %s" % sorted(self.ACTIONS))
        try:
            self.path = re.compile(spec.get("path", ""))
        except re.error as e:
            raise ConfigError("fault path is not a regex: %s" % e)
        self.method = spec.get("method")
        self.namespace = spec.get("namespace")
        try:
            self.count = int(spec.get("count", 1))
            self.delay = min(float(spec.get("delay", 0)), MAX_DELAY)
            if self.action == "huge":
                self.size = min(int(spec.get("size", 16 << 20)), 1 << 30)
        except (TypeError, ValueError):
            raise ConfigError("fault count/delay/size must be numbers")
        self.server = spec.get("server")

    def matches(self, method, path, server, ns_header):
        if self.method and self.method.upper() != method:
            return False
        if self.server and self.server != server:
            return False
        if self.namespace is not None and canonical_ns(self.namespace) != \
                canonical_ns(ns_header):
            return False
        return self.path.search(path) is not None

    def dump(self):
        d = dict(self.spec)
        d["remaining"] = self.count
        return d


SETTINGS_DEFAULTS = {
    "flavor": "vault", "version": "1.17.6", "initialized": True, "sealed": False,
    "standby": False, "cluster_name": "vault-cluster-emulator", "cluster_id": None,
    "default_lease_ttl": DEFAULT_LEASE_TTL, "max_lease_ttl": DEFAULT_LEASE_TTL,
    "lockout_threshold": 5, "lockout_duration": 900,
}
NS_KEYS = {"kv_mounts", "transit_mounts", "auth_mounts", "policies", "tokens",
           "secrets", "namespaces"}


class State:
    def __init__(self, config_path, log_path):
        self.lock = threading.RLock()
        self.config_path = config_path
        self.log_path = log_path
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.log_mem = []
        self.ports = {}
        self.load()

    # -- configuration -----------------------------------------------------
    def load(self):
        config = {}
        if self.config_path:
            try:
                with open(self.config_path, encoding="utf-8") as f:
                    config = json.load(f)
            except (OSError, ValueError) as e:
                raise ConfigError("%s: %s" % (self.config_path, e))
        if not isinstance(config, dict):
            raise ConfigError("the config is a JSON object")
        settings = dict(SETTINGS_DEFAULTS)
        for key in SETTINGS_DEFAULTS:
            if key in config:
                settings[key] = config[key]
        unknown = set(config) - set(SETTINGS_DEFAULTS) - NS_KEYS - {"faults"}
        if unknown:
            raise ConfigError("unknown config keys: %s" % sorted(unknown))
        if not settings["cluster_id"]:
            settings["cluster_id"] = str(uuid.uuid4())
        self.check_settings(settings)
        namespaces, tokens = {}, {}
        self.build_ns("", config, namespaces, tokens, settings)
        faults = [Fault(f) for f in (config.get("faults") or [])]
        with self.lock:
            self.settings = settings
            self.namespaces = namespaces
            self.tokens = tokens
            self.faults = faults

    @staticmethod
    def check_settings(s):
        if s["flavor"] not in ("vault", "openbao"):
            raise ConfigError('flavor is "vault" or "openbao"')
        for key in ("initialized", "sealed", "standby"):
            if not isinstance(s[key], bool):
                raise ConfigError("%s is true or false" % key)
        for key in ("default_lease_ttl", "max_lease_ttl", "lockout_threshold",
                    "lockout_duration"):
            try:
                s[key] = parse_duration(s[key], key)
            except ValueError as e:
                raise ConfigError(str(e))
            if s[key] < 0:
                raise ConfigError("%s must not be negative" % key)
        if not isinstance(s["version"], str):
            raise ConfigError("version is a string")

    def build_ns(self, path, spec, namespaces, tokens, settings):
        where = "namespace %r" % (path or "root")
        if not isinstance(spec, dict):
            raise ConfigError("%s: a namespace is an object" % where)
        if path:
            unknown = set(spec) - NS_KEYS
            if unknown:
                raise ConfigError("%s: unknown keys %s" % (where, sorted(unknown)))
        ns = Namespace(path)
        namespaces[path] = ns
        kv_spec = spec.get("kv_mounts", {"secret": {"version": 2}})
        if not isinstance(kv_spec, dict):
            raise ConfigError("%s: kv_mounts is an object" % where)
        for name, mspec in kv_spec.items():
            name = name.strip("/")
            if not name or name.split("/")[0] in ("auth", "sys", "cubbyhole", "identity"):
                raise ConfigError("%s: %r cannot be a kv mount" % (where, name))
            ns.kv[name] = KVMount(name, mspec, "%s: kv_mounts.%s" % (where, name))
        tr_spec = spec.get("transit_mounts", {} if "transit" in ns.kv else {"transit": {}})
        if not isinstance(tr_spec, dict):
            raise ConfigError("%s: transit_mounts is an object" % where)
        for name, mspec in tr_spec.items():
            name = name.strip("/")
            if not name or name.split("/")[0] in ("auth", "sys", "cubbyhole", "identity") \
                    or name in ns.kv:
                raise ConfigError("%s: %r cannot be a transit mount" % (where, name))
            ns.transit[name] = TransitMount(name, mspec,
                                            "%s: transit_mounts.%s" % (where, name))
        auth_spec = spec.get("auth_mounts", {"approle": {"roles": {}}})
        if not isinstance(auth_spec, dict):
            raise ConfigError("%s: auth_mounts is an object" % where)
        for name, aspec in auth_spec.items():
            name = name.strip("/")
            if not name or name == "token" or not isinstance(aspec, dict):
                raise ConfigError("%s: auth_mounts.%s is an object, not 'token'"
                                  % (where, name))
            atype = aspec.get("type", "approle")
            if atype == "kubernetes":
                km = KubeMount(name)
                km.configure(aspec, "%s: auth_mounts.%s" % (where, name))
                ns.kube[name] = km
                continue
            if atype != "approle":
                raise ConfigError('%s: auth_mounts.%s: type is "approle" or "kubernetes"'
                                  % (where, name))
            roles = {}
            for rname, rspec in (aspec.get("roles") or {}).items():
                role = Role(rname)
                role.update(rspec, "%s: auth_mounts.%s.roles.%s" % (where, name, rname))
                roles[rname] = role
            ns.auth[name] = roles
        pol = spec.get("policies") or {}
        if not isinstance(pol, dict):
            raise ConfigError("%s: policies is an object" % where)
        for pname, rules in pol.items():
            ns.policies[pname] = self.check_rules(rules, "%s: policies.%s" % (where, pname))
        tok_specs = spec.get("tokens")
        if tok_specs is None:
            tok_specs = [{"token": "root", "policies": ["root"]}] if path == "" else []
        if not isinstance(tok_specs, list):
            raise ConfigError("%s: tokens is a list" % where)
        for t in tok_specs:
            tok = self.make_token(ns, t, settings, "%s: tokens" % where)
            if tok.id in tokens:
                raise ConfigError("%s: token listed twice" % where)
            tokens[tok.id] = tok
        secrets_spec = spec.get("secrets") or {}
        if not isinstance(secrets_spec, dict):
            raise ConfigError("%s: secrets is an object" % where)
        for mname, entries in secrets_spec.items():
            mount = ns.kv.get(mname)
            if mount is None:
                raise ConfigError("%s: secrets.%s: no such kv mount" % (where, mname))
            if not isinstance(entries, dict):
                raise ConfigError("%s: secrets.%s is an object" % (where, mname))
            for spath, sspec in entries.items():
                self.load_secret(mount, spath, sspec,
                                 "%s: secrets.%s.%s" % (where, mname, spath))
        children = spec.get("namespaces") or {}
        if not isinstance(children, dict):
            raise ConfigError("%s: namespaces is an object" % where)
        for name, cspec in children.items():
            cname = name.strip("/")
            if not cname or "/" in cname or cname in ("root", "sys", "auth",
                                                       "cubbyhole", "identity"):
                raise ConfigError("%s: %r is not a valid namespace name" % (where, name))
            self.build_ns(path + cname + "/", cspec, namespaces, tokens, settings)

    @staticmethod
    def check_rules(rules, where):
        if not isinstance(rules, dict):
            raise ConfigError("%s: a policy is {path: [capabilities]}" % where)
        out = {}
        for p, caps in rules.items():
            if isinstance(caps, dict):
                caps = caps.get("capabilities")
            if not isinstance(caps, list) or not set(caps) <= CAPABILITIES:
                raise ConfigError("%s: %r: capabilities are a list of %s"
                                  % (where, p, sorted(CAPABILITIES)))
            out[p.lstrip("/")] = set(caps)
        return out

    def make_token(self, ns, t, settings, where):
        if not isinstance(t, dict):
            raise ConfigError("%s: a token is an object" % where)
        tid = t.get("token") or "hvs." + rand62(24)
        if not isinstance(tid, str):
            raise ConfigError("%s: token is a string" % where)
        pols = t.get("policies", ["default"])
        if not isinstance(pols, list) or not all(isinstance(p, str) for p in pols):
            raise ConfigError("%s: policies is a list of names" % where)
        if "root" not in pols and not t.get("no_default_policy") and "default" not in pols:
            pols = pols + ["default"]
        try:
            ttl = parse_duration(t.get("ttl", 0), "ttl")
        except ValueError as e:
            raise ConfigError("%s: %s" % (where, e))
        root = "root" in pols
        tok = Token(tid, ns.path, sorted(set(pols)), ttl,
                    bool(t.get("renewable", not root and ttl > 0)),
                    t.get("display_name") or ("root" if root else "token"),
                    "auth/token/root" if root else "auth/token/create",
                    meta=t.get("meta"), num_uses=int(t.get("num_uses", 0) or 0))
        return tok

    def load_secret(self, mount, spath, sspec, where):
        spath = spath.strip("/")
        if not spath:
            raise ConfigError("%s: empty path" % where)
        if mount.version == 1:
            if not isinstance(sspec, dict):
                raise ConfigError("%s: a KV v1 entry is an object" % where)
            mount.secrets[spath] = dict(sspec)
            return
        if isinstance(sspec, list):
            sspec = {"versions": sspec}
        if not isinstance(sspec, dict):
            raise ConfigError("%s: a secret is {\"versions\": [...]}" % where)
        sec = Secret()
        try:
            sec.max_versions = go_int(sspec.get("max_versions", 0))
            sec.cas_required = bool(sspec.get("cas_required", False))
            sec.dva = parse_duration(sspec.get("delete_version_after", 0))
        except ValueError as e:
            raise ConfigError("%s: %s" % (where, e))
        cm = sspec.get("custom_metadata")
        if cm is not None and not isinstance(cm, dict):
            raise ConfigError("%s: custom_metadata is an object or null" % where)
        sec.custom_metadata = {str(k): str(v) for k, v in cm.items()} if cm else cm
        vlist = sspec.get("versions") or []
        if not isinstance(vlist, list):
            raise ConfigError("%s: versions is a list" % where)
        now = now_ns()
        for i, vspec in enumerate(vlist):
            vwhere = "%s.versions[%d]" % (where, i)
            if not isinstance(vspec, dict) or not isinstance(vspec.get("data"), dict):
                raise ConfigError("%s: a version is {\"data\": {...}, ...}" % vwhere)
            created = vspec.get("created_time")
            created = parse_time(created, vwhere) if created is not None else \
                now - (len(vlist) - i) * 60 * 1_000_000_000
            num, vm = sec.add_version(dict(vspec["data"]), created, mount)
            dt = vspec.get("deletion_time")
            if dt is True:
                vm.deletion = now - 1_000_000_000
            elif dt not in (None, False, ""):
                vm.deletion = parse_time(dt, vwhere)
            if vspec.get("destroyed"):
                vm.destroyed = True
                vm.data = None
        mount.secrets[spath] = sec

    # -- lookups -------------------------------------------------------------
    def resolve_ns(self, header, rel):
        """ResolveNamespaceFromRequest (OpenBao): longest namespace prefix of
        header + path; None when the header is not wholly matched."""
        head = canonical_ns(header)
        if head == "root/":
            head = ""
        full = head + rel
        best = self.namespaces[""]
        for p, ns in self.namespaces.items():
            if p and full.startswith(p) and len(p) > len(best.path):
                best = ns
        if not best.path.startswith(head):
            return None, ""
        return best, full[len(best.path):]

    def ns_for_admin(self, obj):
        name = canonical_ns(obj.get("namespace"))
        ns = self.namespaces.get(name)
        if ns is None:
            raise ConfigError("no namespace %r" % obj.get("namespace"))
        return ns

    # -- faults --------------------------------------------------------------
    def take_fault(self, method, path, server, ns_header):
        with self.lock:
            for f in self.faults:
                if f.count != 0 and f.matches(method, path, server, ns_header):
                    if f.count > 0:
                        f.count -= 1
                    self.faults = [x for x in self.faults if x.count != 0]
                    return f
        return None

    # -- tokens --------------------------------------------------------------
    def issue_token(self, ns, policies, ttl, max_ttl, renewable, display_name,
                    path, meta, num_uses, entity_id, role=None):
        tid = "hvs.CAES" + rand62(87)
        if ns.path:
            tid += "." + ns.id
        tok = Token(tid, ns.path, policies, ttl, renewable, display_name, path,
                    meta=meta, num_uses=num_uses, entity_id=entity_id,
                    max_ttl=max_ttl, role=role)
        with self.lock:
            self.tokens[tid] = tok
        return tok

    def find_token(self, tid):
        """(token, state): state valid|invalid|expired."""
        with self.lock:
            tok = self.tokens.get(tid)
            if tok is None:
                return None, "invalid"
            if tok.expired():
                del self.tokens[tid]       # Vault revokes expired tokens
                return None, "expired"
            return tok, "valid"

    def policy_caps(self, ns, policies, path):
        """Capabilities the policies grant on path (Vault's merge + priority
        matching)."""
        if "root" in policies:
            return set(CAPABILITIES) - {"deny"}
        merged = {}
        for name in policies:
            rules = ns.policies.get(name)
            if rules is None and name == "default":
                rules = DEFAULT_POLICY
            for pat, caps in (rules or {}).items():
                merged.setdefault(pat, set()).update(caps)
        best = None
        for pat, caps in merged.items():
            if glob_match(pat, path):
                key = glob_priority(pat)
                if best is None or key > best[0]:
                    best = (key, caps)
        if best is None or "deny" in best[1]:
            return set()
        return best[1]

    # -- log -----------------------------------------------------------------
    def log(self, entry):
        line = json.dumps(entry, separators=(",", ":"))
        with self.lock:
            self.log_mem.append(entry)
            if len(self.log_mem) > 10000:
                del self.log_mem[:1000]
            if self.log_file:
                self.log_file.write(line + "\n")
                self.log_file.flush()

    def clear_log(self):
        with self.lock:
            self.log_mem = []
            if self.log_file:
                self.log_file.truncate(0)
                self.log_file.flush()

    def dump(self):
        with self.lock:
            nss = {}
            for p, ns in sorted(self.namespaces.items()):
                nss[p] = {
                    "id": ns.id,
                    "kv_mounts": {m: {"version": k.version, **k.config_data()}
                                  for m, k in ns.kv.items()},
                    "secrets": {m: ({sp: s.dump() for sp, s in k.secrets.items()}
                                    if k.version == 2 else dict(k.secrets))
                                for m, k in ns.kv.items()},
                    "auth_mounts": {**{m: {r: role.dump() for r, role in roles.items()}
                                       for m, roles in ns.auth.items()},
                                    **{m: km.dump() for m, km in ns.kube.items()}},
                    "transit_mounts": {m: {"disable_upsert": t.disable_upsert,
                                           "keys": {k: key.data()
                                                    for k, key in t.keys.items()}}
                                       for m, t in ns.transit.items()},
                    "policies": {n: {p2: sorted(c) for p2, c in r.items()}
                                 for n, r in ns.policies.items()},
                }
            return {"settings": self.settings, "namespaces": nss,
                    "tokens": [t.dump() for t in self.tokens.values()],
                    "faults": [f.dump() for f in self.faults],
                    "ports": self.ports}


def glob_match(pat, path):
    prefix = pat.endswith("*")
    body = pat[:-1] if prefix else pat
    parts = body.split("/")
    rx = "/".join("[^/]+" if seg == "+" else re.escape(seg) for seg in parts)
    if prefix:
        rx += ".*"
    return re.fullmatch(rx, path, re.S) is not None


def glob_priority(pat):
    """Vault's ACL priority: the first wildcard later, no trailing glob,
    fewer + segments, longer, lexically larger are preferred."""
    firsts = [i for i in (pat.find("+"), pat.find("*")) if i >= 0]
    first = min(firsts) if firsts else len(pat) + 1
    return (first, not pat.endswith("*"), -pat.split("/").count("+"), len(pat), pat)


class Dropped(Exception):
    """The connection was closed on purpose; send nothing more."""


# -- the HTTP side ----------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vault-emulator"
    sys_version = ""
    timeout = 60

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        pass

    def send_response(self, code, message=None):
        # Vault (Go net/http) sends no Server header.
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    @property
    def state(self):
        return self.server.state

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    def do_LIST(self):
        self.dispatch("LIST")

    def __getattr__(self, name):
        # Any other method (Vault answers 405 {"errors":[]}), instead of the
        # standard library's HTML 501 page.
        if name.startswith("do_") and name[3:].isupper():
            return lambda: self.dispatch(name[3:])
        raise AttributeError(name)

    # -- plumbing ----------------------------------------------------------
    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline(100).strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1000).strip():
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline(10)
                if len(data) > MAX_BODY:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY or n < 0:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    @contextlib.contextmanager
    def locked(self):
        """Holds the state lock; answers produced meanwhile go out after it is
        released, so a slow client never blocks other requests."""
        st = self.state
        st.lock.acquire()
        self.buffer = []
        try:
            yield
        finally:
            pending, self.buffer = self.buffer, None
            st.lock.release()
        for args in pending:
            self.send(*args)

    def send(self, status, body=b"", headers=None, content_type=None):
        if self.buffer is not None:
            self.buffer.append((status, body, headers, content_type))
            return
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")) + "\n"
            content_type = content_type or "application/json"
        if isinstance(body, str):
            body = body.encode("utf-8")
            content_type = content_type or "text/plain; charset=utf-8"
        self.entry["status"] = status
        self.log_entry()
        self.send_response(status)
        h = dict(self.extra_headers)
        h.update(headers or {})
        for k, v in h.items():
            self.send_header(k, str(v))
        if content_type and (body or status != 204) and \
                not any(k.lower() == "content-type" for k in h):
            self.send_header("Content-Type", content_type)
        if status != 204 and not (100 <= status < 200) and status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body and status != 204:
            self.wfile.write(body)

    def v_send(self, status, obj, raw=False, headers=None):
        """A Vault JSON answer: json.Encoder (newline) or, for raw bodies
        (RespondWithStatusCode), json.Marshal (no newline)."""
        text = go_json(obj) + ("" if raw else "\n")
        self.send(status, text, headers, content_type="application/json")

    def v_error(self, status, *errors, headers=None):
        self.v_send(status, {"errors": list(errors)}, headers=headers)

    def v_ok(self, data=None, status=200, auth=None, warnings=None, mount_type="",
             lease_duration=0, raw=False):
        body = {"request_id": self.request_id, "lease_id": "", "renewable": False,
                "lease_duration": lease_duration, "data": data, "wrap_info": None,
                "warnings": warnings, "auth": auth, "mount_type": mount_type}
        self.v_send(status, body, raw=raw)

    def v_204(self):
        self.send(204)

    def log_entry(self):
        if not self.logged and not self.admin_call:
            self.logged = True
            self.state.log(self.entry)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise Dropped()

    def host(self):
        return self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]

    # -- dispatch ------------------------------------------------------------
    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        server = self.server.kind
        ns_header = self.headers.get("X-Vault-Namespace")
        rel = path[4:] if path.startswith("/v1/") else None
        if rel is None:
            kind = "other"
        elif rel.startswith("sys/") or rel == "sys":
            kind = "sys"
        elif rel.startswith("auth/"):
            kind = "auth"
        else:
            kind = "kv"
        tok_hdr = (self.headers.get("X-Vault-Token") or "").strip()
        authz = self.headers.get("Authorization", "")
        bearer = authz[7:].strip() if authz[:7].lower() == "bearer " else ""
        redacted = "&".join(
            "%s=%s" % (k, "REDACTED" if k.lower() in SENSITIVE_QUERY else v)
            for k, vs in query.items() for v in vs)
        self.request_id = str(uuid.uuid4())
        self.buffer = None
        self.cap_needed = None
        self.entry = {
            "ts": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "server": server, "kind": kind, "method": method, "path": path,
            "query": redacted, "host": self.headers.get("Host"),
            "request_id": self.request_id,
            "token": bool(tok_hdr or bearer),
            "token_source": "header" if tok_hdr else ("bearer" if bearer else None),
            "token_state": None, "namespace": ns_header, "ns": None, "op": None,
            "status": None, "fault": None}
        self.extra_headers = {"Cache-Control": "no-store"}
        if ns_header:
            self.extra_headers["X-Vault-Namespace"] = ns_header
        admin = path == "/_emulator" or path.startswith("/_emulator/")
        self.admin_call = admin
        self.logged = False
        try:
            try:
                body = self.read_body()
            except (ValueError, OSError):
                self.close_connection = True
                if admin:
                    self.send(413, {"error": "request body too large or malformed"})
                else:
                    self.v_error(413, "http: request body too large")
                return
            if admin:
                self.extra_headers = {}
                self.admin(method, path, body)
                return
            fault = self.state.take_fault(method, path, server, ns_header)
            if fault and self.apply_fault(fault, url):
                return
            if rel is None or server != "https":
                self.v_error(404)
                return
            try:
                self.vault(method, rel, query, body, tok_hdr or bearer)
            except ApiError as e:
                self.v_error(e.status, *e.errors)
        except Dropped:
            pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception:           # an emulator bug: say so loudly, answer 500
            traceback.print_exc()
            self.close_connection = True
            if not self.logged:
                try:
                    self.v_error(500, "internal error")
                except OSError:
                    pass
        finally:
            self.log_entry()

    def apply_fault(self, f, url):
        """Returns True when the fault produced the whole answer."""
        self.entry["fault"] = f.action
        if f.delay > 0:
            time.sleep(f.delay)
        a, spec = f.action, f.spec
        extra = dict(spec.get("headers") or {})
        if a == "slow":
            return False
        if a == "drop":
            self.log_entry()
            self.drop()
        if a in ("429", "503"):
            retry = spec.get("retry_after", 1)
            if retry is not None:
                extra.setdefault("Retry-After", str(retry))
            if a == "429":
                rel = url.path[4:] if url.path.startswith("/v1/") else url.path
                errors = ['request path "%s": rate limit quota exceeded' % rel]
            else:
                errors = [E_SEALED]
            body = spec.get("body", {"errors": errors})
            self.fault_body(int(a), body, extra)
            return True
        simple = {"500": (500, ["internal error"]), "sealed": (503, [E_SEALED]),
                  "denied": (403, [E_POLICY])}
        if a == "invalid_token":
            simple[a] = (403, [self.invalid_token_text()])
        if a in simple:
            status, errors = simple[a]
            self.fault_body(status, spec.get("body", {"errors": errors}), extra)
            return True
        if a == "truncate":
            data = (go_json({"request_id": self.request_id, "data": {"data": {"x": "y" * 64}}})
                    + "\n").encode()
            self.entry["status"] = 200
            self.log_entry()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.drop()
        if a == "huge":
            head = b'{"request_id":"%s","data":{"data":{"pad":"' % self.request_id.encode()
            tail = b'"}}}\n'
            pad = max(0, f.size - len(head) - len(tail))
            self.entry["status"] = 200
            self.log_entry()
            self.send_response(200)
            for k, v in {**self.extra_headers, **extra}.items():
                self.send_header(k, str(v))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(head) + pad + len(tail)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(head)
                chunk = b"A" * 65536
                left = pad
                while left > 0:
                    n = min(left, len(chunk))
                    self.wfile.write(chunk[:n])
                    left -= n
                self.wfile.write(tail)
            return True
        if a == "malformed":
            body = spec.get("body", '{"request_id":"%s","data":{"data":{"key":'
                            % self.request_id)
            if not isinstance(body, str):
                body = json.dumps(body)
            self.send(200, body, extra, content_type="application/json")
            return True
        if a == "redirect":
            loc = spec.get("location")
            if not loc:
                hostname = urllib.parse.urlsplit("//" + self.host()).hostname
                other = "127.0.0.1" if hostname == "localhost" else "localhost"
                loc = "https://%s:%d%s" % (other, self.server.server_address[1],
                                           url.path + ("?" + url.query if url.query else ""))
            extra["Location"] = loc
            self.send(int(spec.get("status", 307)), b"", extra)
            return True
        if a == "status":
            self.fault_body(int(spec.get("status", 500)), spec.get("body", ""), extra)
            return True
        return False

    def fault_body(self, status, body, headers):
        if isinstance(body, (dict, list)):
            self.send(status, go_json(body) + "\n", headers, content_type="application/json")
        else:
            self.send(status, body, headers)

    def invalid_token_text(self):
        return E_INVALID_TOKEN if self.state.settings["flavor"] == "vault" else E_DENIED

    # -- Vault ---------------------------------------------------------------
    def vault(self, method, rel, query, raw, token):
        st = self.state
        rel = urllib.parse.unquote(rel)
        if any(ord(c) < 0x20 or ord(c) == 0x7f for c in rel):
            self.send(400, "Path contains non-printable characters")
            return
        if ".." in rel.split("/"):
            raise ApiError(400, "path cannot contain parent references")
        qdata = {k: (v[0] if len(v) == 1 else v) for k, v in query.items() if k != "help"}
        if rel == "sys/health":
            if method not in ("GET", "HEAD"):
                raise ApiError(405)
            self.entry["op"] = "read"
            return self.sys_health(method, qdata)
        if rel == "sys/seal-status":
            if method != "GET":
                raise ApiError(405)
            self.entry["op"] = "read"
            return self.sys_seal_status()
        # method -> logical operation (buildLogicalRequestNoAuth)
        if method == "GET":
            op = "read"
            if "list" in qdata:
                try:
                    if go_bool(qdata["list"]):
                        op = "list"
                except ValueError:
                    raise ApiError(400)
                qdata.pop("list", None)
        elif method in ("POST", "PUT"):
            op = "update"
        elif method == "DELETE":
            op = "delete"
        elif method == "LIST":
            op = "list"
        elif method == "PATCH":
            op = "patch"
        else:
            raise ApiError(405)
        self.entry["op"] = op
        data = qdata if op in ("read", "list", "delete") else {}
        if op in ("update", "patch"):
            if op == "patch":
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if ctype != "application/merge-patch+json":
                    raise ApiError(415, "PATCH requires Content-Type of %s, provided %s"
                                   % ("application/merge-patch+json", ctype))
            data = self.parse_json(raw)
        s = st.settings
        if s["sealed"] or not s["initialized"]:
            raise ApiError(503, E_SEALED)

        with st.lock:
            ns, trimmed = st.resolve_ns(self.headers.get("X-Vault-Namespace"), rel)
        if ns is None:
            raise ApiError(404, "namespace not found")
        self.entry["ns"] = ns.path
        if op == "list" and not trimmed.endswith("/"):
            trimmed += "/"
        if trimmed.endswith("/") and op in ("update", "patch"):
            raise ApiError(400, "cannot write to a path ending in '/'")

        # routing: the longest mount prefix in this namespace
        mounts = [("sys/", "sys", None), ("auth/token/", "token", None)]
        mounts += [("auth/%s/" % m, "approle", m) for m in ns.auth]
        mounts += [("auth/%s/" % m, "kubernetes", m) for m in ns.kube]
        mounts += [("%s/" % m, "kv", m) for m in ns.kv]
        mounts += [("%s/" % m, "transit", m) for m in ns.transit]
        target = trimmed if trimmed.endswith("/") else trimmed + "/"
        route = None
        for prefix, kind, name in mounts:
            if target.startswith(prefix) and (route is None or len(prefix) > len(route[0])):
                route = (prefix, kind, name)
        sub = trimmed[len(route[0]):] if route and len(trimmed) >= len(route[0]) else ""

        if route and route[1] == "approle" and sub == "login":
            return self.approle_login(ns, route[2], op, data)
        if route and route[1] == "kubernetes" and sub == "login":
            return self.kube_login(ns, route[2], op, data)
        if route and route[1] == "transit":
            self.entry["kind"] = "transit"

        tok = self.check_token(ns, token, trimmed, op, route, sub)
        if route is None:
            raise ApiError(404, 'no handler for route "%s". route entry not found.' % trimmed)
        kind = route[1]
        if kind == "kv":
            mount = ns.kv[route[2]]
            if mount.version == 2:
                return self.kv2(ns, mount, sub, op, data)
            return self.kv1(mount, sub, op, data)
        if kind == "token":
            return self.token_paths(ns, tok, sub, op, data)
        if kind == "approle":
            return self.approle_paths(ns, route[2], sub, op, data)
        if kind == "transit":
            return self.transit(ns.transit[route[2]], sub, op, data)
        raise ApiError(404, E_UNSUPPORTED_PATH)

    def parse_json(self, raw):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        text = raw.decode("utf-8", "replace")
        if ctype == "application/x-www-form-urlencoded" and text.strip() and \
                not text.lstrip().startswith("{"):
            return {k: v[0] for k, v in urllib.parse.parse_qs(text).items()}
        if not text.strip():
            return {}
        stripped = text.lstrip()
        try:
            # json.Decoder reads one value and ignores what follows it.
            obj, _ = json.JSONDecoder().raw_decode(stripped)
        except ValueError as e:
            pos = getattr(e, "pos", len(stripped))
            if pos >= len(stripped.rstrip()):
                msg = "unexpected EOF"
            else:
                msg = "invalid character %s looking for beginning of value" % (
                    "'%s'" % stripped[pos] if stripped[pos] != "'" else "'\\''")
            raise ApiError(400, "failed to parse JSON input: %s" % msg)
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            raise ApiError(400, "failed to parse JSON input: json: cannot unmarshal %s "
                           "into Go value of type map[string]interface {}"
                           % {list: "array", str: "string", bool: "bool"}.get(type(obj), "number"))
        return obj

    # -- tokens and policies -------------------------------------------------
    def check_token(self, ns, token, path, op, route, sub):
        """CheckToken + ACL; returns the token or raises the 403."""
        st = self.state
        if not token:
            self.entry["token_state"] = "missing"
            raise ApiError(403, E_DENIED)
        tok, state = st.find_token(token)
        self.entry["token_state"] = state
        if tok is None:
            raise ApiError(403, self.invalid_token_text())
        with st.lock:
            if tok.num_uses < 0:
                st.tokens.pop(tok.id, None)
                self.entry["token_state"] = "invalid"
                raise ApiError(403, self.invalid_token_text())
            # A token works in its namespace and the ones below it.
            if not ns.path.startswith(tok.ns):
                raise ApiError(403, E_POLICY)
            acl_path = ns.path[len(tok.ns):] + path
            needed = op
            if op == "update" and route and route[1] == "kv":
                needed = self.kv_write_cap(ns.kv[route[2]], sub)
            if op == "update" and route and route[1] == "transit":
                # encrypt/ has an existence check: a missing key needs create
                m = re.fullmatch(r"encrypt/(.+)", sub)
                if m and m.group(1) not in ns.transit[route[2]].keys:
                    needed = "create"
            self.cap_needed = needed
            caps = st.policy_caps(st.namespaces[tok.ns], tok.policies, acl_path)
            if tok.num_uses > 0:
                tok.num_uses -= 1
                if tok.num_uses == 0:
                    tok.num_uses = -1       # this was the last use
            if needed not in caps:
                raise ApiError(403, E_POLICY)
        return tok

    @staticmethod
    def kv_write_cap(mount, sub):
        """Existence check: create when the key does not exist yet."""
        if mount.version == 1:
            return "update" if sub in mount.secrets else "create"
        m = re.match(r"^(data|metadata)/(.+)$", sub)
        if m and m.group(2) not in mount.secrets:
            return "create"
        return "update"

    # -- sys -----------------------------------------------------------------
    def sys_health(self, method, q):
        s = self.state.settings
        codes = {"uninitcode": 501, "sealedcode": 503, "standbycode": 429,
                 "activecode": 200, "drsecondarycode": 472,
                 "performancestandbycode": 473}
        for key in codes:
            if key in q:
                try:
                    codes[key] = int(q[key] if isinstance(q[key], str) else q[key][0])
                except ValueError:
                    self.v_error(400)
                    return
        standby_ok = False
        if "standbyok" in q:
            try:
                standby_ok = go_bool(q["standbyok"])
            except ValueError:
                self.v_error(400)
                return
        sealed = s["sealed"] or not s["initialized"]
        standby = sealed or s["standby"]
        if not s["initialized"]:
            code = codes["uninitcode"]
        elif sealed:
            code = codes["sealedcode"]
        elif s["standby"] and not standby_ok:
            code = codes["standbycode"]
        else:
            code = codes["activecode"]
        body = {"initialized": s["initialized"], "sealed": sealed, "standby": standby,
                "performance_standby": False,
                "replication_performance_mode": "unknown" if sealed else "disabled",
                "replication_dr_mode": "unknown" if sealed else "disabled",
                "server_time_utc": int(time.time()), "version": s["version"]}
        if not sealed:
            body["cluster_name"] = s["cluster_name"]
            body["cluster_id"] = s["cluster_id"]
        if method == "HEAD":
            self.send(code, b"", content_type="application/json")
            return
        self.v_send(code, body)

    def sys_seal_status(self):
        s = self.state.settings
        sealed = s["sealed"] or not s["initialized"]
        body = {"type": "shamir", "initialized": s["initialized"], "sealed": sealed,
                "t": 1 if s["initialized"] else 0, "n": 1 if s["initialized"] else 0,
                "progress": 0, "nonce": "", "version": s["version"],
                "build_date": "2024-01-01T00:00:00Z", "migration": False,
                "recovery_seal": False, "storage_type": "inmem"}
        if not sealed:
            body["cluster_name"] = s["cluster_name"]
            body["cluster_id"] = s["cluster_id"]
        self.v_send(200, body)

    # -- KV v2 ---------------------------------------------------------------
    def kv2(self, ns, mount, sub, op, data):
        st = self.state
        if sub in ("metadata", "data", "delete", "undelete", "destroy"):
            self.v_ok(None, status=404, warnings=[W_KV_ROOT], raw=True)
            return
        if sub == "config":
            return self.kv2_config(mount, op, data)
        m = re.match(r"^(data|metadata|delete|undelete|destroy)/(.*)$", sub, re.S)
        kind = m.group(1) if m else None
        key = m.group(2) if m else ""
        if kind == "data" and (key == "" or key.endswith("/")):
            kind = None                     # matchAllNoTrailingSlashRegex
        if kind is None:
            verb = {"update": "put", "patch": "patch", "read": "get", "list": "list",
                    "delete": "delete"}.get(op, "")
            self.v_ok(None, status=404, warnings=[W_KV_INVALID % verb], raw=True)
            return
        with self.locked():
            if kind == "data":
                return self.kv2_data(mount, key, op, data)
            if kind == "metadata":
                return self.kv2_metadata(mount, key, op, data)
            if op != "update":
                raise ApiError(405, E_UNSUPPORTED_OP)
            try:
                versions = comma_int_slice(data.get("versions"))
            except ValueError as e:
                raise ApiError(400, 'error converting input %s for field "versions": %s'
                               % (data.get("versions"), e))
            if not versions:
                raise ApiError(400, "no version number provided" if kind == "destroy"
                               else "No version number provided")
            sec = mount.secrets.get(key)
            if sec is None:
                return self.v_204()
            self.kv2_versions_op(sec, kind, versions, mount, now_ns())
            self.v_204()

    @staticmethod
    def kv2_versions_op(sec, kind, versions, mount, now, deletion=None):
        for n in versions:
            vm = sec.versions.get(n)
            if vm is None or vm.destroyed:
                continue
            if kind == "delete":
                if vm.deletion is not None and vm.deletion < now:
                    continue
                vm.deletion = now if deletion is None else deletion
            elif kind == "undelete":
                vm.deletion = None
                if mount.dva >= 0:
                    after = deletion_after(mount.dva, sec.dva)
                    if after:
                        vm.deletion = now + after * 1_000_000_000
            elif kind == "destroy":
                vm.destroyed = True
                vm.data = None

    def kv2_config(self, mount, op, data):
        if op == "read":
            self.v_ok(mount.config_data(), mount_type="kv")
            return
        if op != "update":
            raise ApiError(405, E_UNSUPPORTED_OP)
        try:
            if "max_versions" in data:
                mount.max_versions = go_int(data["max_versions"])
            if "cas_required" in data:
                mount.cas_required = go_bool(data["cas_required"])
            if "delete_version_after" in data:
                mount.dva = parse_duration(data["delete_version_after"])
        except ValueError as e:
            raise ApiError(400, str(e))
        self.v_204()

    def kv2_data(self, mount, key, op, data):
        now = now_ns()
        sec = mount.secrets.get(key)
        if op == "read":
            raw_ver = data.get("version")
            ver = 0
            if raw_ver is not None:
                try:
                    ver = go_int(raw_ver if not isinstance(raw_ver, list) else raw_ver[0])
                except ValueError as e:
                    raise ApiError(400, 'error converting input %s for field "version": %s'
                                   % (raw_ver, e))
            if sec is None:
                raise ApiError(404)
            num = ver if ver > 0 else sec.current
            vm = sec.versions.get(num)
            if vm is None:
                raise ApiError(404)
            meta = sec.meta_for(num, vm)
            if vm.gone(now):
                self.v_ok({"data": None, "metadata": meta}, status=404, raw=True)
                return
            self.v_ok({"data": sorted_map(vm.data), "metadata": meta}, mount_type="kv")
            return
        if op in ("update", "patch"):
            if "data" not in data:
                raise ApiError(400, "no data provided")
            payload = data.get("data")
            if payload is None:
                payload = {}
            if not isinstance(payload, dict):
                raise ApiError(400, "error converting input %s for field \"data\": '' "
                               "expected a map, got '%s'" % (payload, type(payload).__name__))
            if op == "patch":
                if sec is None or sec.current == 0 or sec.versions.get(sec.current) is None:
                    self.send(404, b"")
                    return
                self.check_cas(mount, sec, data)
                cur = sec.versions[sec.current]
                if cur.gone(now):
                    meta = sec.meta_for(sec.current, cur)
                    self.v_ok(meta, status=404, raw=True)
                    return
                payload = merge_patch(cur.data or {}, payload)
            else:
                if sec is None:
                    sec = Secret()
                self.check_cas(mount, sec, data)
                mount.secrets[key] = sec
            num, vm = sec.add_version(payload, now, mount)
            self.v_ok(sec.meta_for(num, vm), mount_type="kv")
            return
        if op == "delete":
            if sec is not None:
                vm = sec.versions.get(sec.current)
                if vm is not None and not vm.destroyed and \
                        not (vm.deletion is not None and vm.deletion < now):
                    vm.deletion = now
            self.v_204()
            return
        raise ApiError(405, E_UNSUPPORTED_OP)

    @staticmethod
    def check_cas(mount, sec, data):
        opts = data.get("options")
        cas = None
        if isinstance(opts, dict) and "cas" in opts:
            try:
                cas = go_int(opts["cas"])
            except ValueError:
                raise ApiError(400, "error parsing check-and-set parameter")
        if cas is not None:
            if cas != sec.current:
                raise ApiError(400, "check-and-set parameter did not match the current version")
        elif mount.cas_required or sec.cas_required:
            raise ApiError(400, "check-and-set parameter required for this call")

    def kv2_metadata(self, mount, key, op, data):
        sec = mount.secrets.get(key)
        if op == "list":
            prefix = key
            keys = set()
            for k in mount.secrets:
                if k.startswith(prefix) and k != prefix:
                    rest = k[len(prefix):]
                    keys.add(rest.split("/")[0] + "/" if "/" in rest else rest)
            if not keys:
                raise ApiError(404)
            self.v_ok({"keys": sorted(keys)}, mount_type="kv")
            return
        if op == "read":
            if sec is None or key == "":
                raise ApiError(404)
            versions = {str(n): {"created_time": fmt_time(v.created),
                                 "deletion_time": fmt_time(v.deletion),
                                 "destroyed": v.destroyed}
                        for n, v in sec.versions.items()}
            body = {"cas_required": sec.cas_required,
                    "created_time": fmt_time(sec.created),
                    "current_version": sec.current,
                    "custom_metadata": sorted_map(sec.custom_metadata),
                    "delete_version_after": go_duration(sec.dva),
                    "max_versions": sec.max_versions,
                    "oldest_version": sec.oldest,
                    "updated_time": fmt_time(sec.updated),
                    "versions": dict(sorted(versions.items()))}
            self.v_ok(body, mount_type="kv")
            return
        if op == "delete":
            mount.secrets.pop(key, None)
            self.v_204()
            return
        if op in ("update", "patch"):
            if key == "":
                raise ApiError(400, "missing path")
            fields = ("max_versions", "cas_required", "delete_version_after",
                      "custom_metadata")
            if not any(f in data for f in fields):
                if op == "patch" and sec is None:
                    self.send(404, b"")
                    return
                self.v_204()
                return
            if op == "patch" and sec is None:
                self.send(404, b"")
                return
            try:
                mv = go_int(data["max_versions"]) if "max_versions" in data else None
                cas = go_bool(data["cas_required"]) if "cas_required" in data else None
                dva = None
                if "delete_version_after" in data:
                    dva = parse_duration(data["delete_version_after"])
                    if dva < 0:
                        raise ValueError("cannot provide negative value '%d'" % dva)
            except ValueError as e:
                raise ApiError(400, str(e))
            cm = data.get("custom_metadata") if "custom_metadata" in data else None
            if "custom_metadata" in data:
                if cm is None:
                    cm = {}
                if not isinstance(cm, dict):
                    raise ApiError(400, "custom_metadata validation failed: '' expected "
                                   "a map, got '%s'" % type(cm).__name__)
                if op == "patch":
                    old = dict(sec.custom_metadata or {})
                    for k, v in cm.items():
                        if v is None:
                            old.pop(k, None)
                        else:
                            old[k] = str(v)
                    cm = old
                else:
                    cm = {str(k): "" if v is None else str(v) for k, v in cm.items()}
            if sec is None:
                sec = Secret()
                sec.created = sec.updated = now_ns()
                mount.secrets[key] = sec
            if mv is not None:
                sec.max_versions = mv
            if cas is not None:
                sec.cas_required = cas
            if dva is not None:
                sec.dva = dva
            if "custom_metadata" in data:
                sec.custom_metadata = cm
            self.v_204()
            return
        raise ApiError(405, E_UNSUPPORTED_OP)

    # -- KV v1 ---------------------------------------------------------------
    def kv1(self, mount, key, op, data):
        st = self.state
        with self.locked():
            if op == "list":
                keys = set()
                for k in mount.secrets:
                    if k.startswith(key) and k != key:
                        rest = k[len(key):]
                        keys.add(rest.split("/")[0] + "/" if "/" in rest else rest)
                if not keys:
                    raise ApiError(404)
                self.v_ok({"keys": sorted(keys)}, mount_type="kv")
                return
            if op == "read":
                if key not in mount.secrets:
                    raise ApiError(404)
                self.v_ok(sorted_map(mount.secrets[key]), mount_type="kv",
                          lease_duration=st.settings["default_lease_ttl"])
                return
            if op == "update":
                if not key:
                    raise ApiError(400, "missing path")
                mount.secrets[key] = dict(data)
                self.v_204()
                return
            if op == "delete":
                mount.secrets.pop(key, None)
                self.v_204()
                return
        raise ApiError(405, E_UNSUPPORTED_OP)

    # -- auth/token ------------------------------------------------------------
    def token_paths(self, ns, tok, sub, op, data):
        st = self.state
        if sub == "lookup-self" and op in ("read", "update"):
            self.v_ok(self.token_info(tok), mount_type="token")
            return
        if sub == "renew-self" and op == "update":
            with st.lock:
                if not tok.renewable or tok.expires is None:
                    raise ApiError(400, "lease is not renewable")
                try:
                    inc = parse_duration(data.get("increment", 0))
                except ValueError as e:
                    raise ApiError(400, str(e))
                ttl = inc or tok.ttl
                now = time.time()
                new_exp = now + ttl
                warnings = None
                if tok.max_expires is not None and new_exp > tok.max_expires:
                    new_exp = tok.max_expires
                    warnings = ["TTL of \"%ds\" exceeded the effective max_ttl of "
                                "\"%ds\"; TTL value is capped accordingly"
                                % (ttl, int(tok.max_expires - now))]
                tok.expires = new_exp
                tok.last_renewal = now
            auth = self.auth_block(tok, list(tok.policies))
            self.v_ok(None, auth=auth, warnings=warnings)
            return
        if sub == "revoke-self" and op == "update":
            with st.lock:
                st.tokens.pop(tok.id, None)
            self.v_204()
            return
        if sub in ("lookup-self", "renew-self", "revoke-self"):
            raise ApiError(405, E_UNSUPPORTED_OP)
        raise ApiError(404, E_UNSUPPORTED_PATH)

    def token_info(self, tok):
        info = {"accessor": tok.accessor, "creation_time": int(tok.created),
                "creation_ttl": tok.ttl, "display_name": tok.display_name,
                "entity_id": tok.entity_id, "expire_time": None,
                "explicit_max_ttl": 0, "id": tok.id, "meta": tok.meta,
                "num_uses": max(tok.num_uses, 0), "orphan": True, "path": tok.path,
                "policies": tok.policies, "ttl": 0, "type": "service"}
        if tok.ns:
            info["namespace_path"] = tok.ns
        if tok.expires is not None:
            info["expire_time"] = fmt_time(int(tok.expires * 1e9))
            info["ttl"] = tok.left()
            info["renewable"] = tok.renewable
            info["issue_time"] = fmt_time(tok.issue_ns)
            if tok.last_renewal:
                info["last_renewal_time"] = int(tok.last_renewal)
                info["last_renewal"] = fmt_time(int(tok.last_renewal * 1e9))
        return sorted_map(info)

    def auth_block(self, tok, policies):
        return {"client_token": tok.id, "accessor": tok.accessor,
                "policies": policies, "token_policies": policies,
                "metadata": sorted_map(tok.meta), "lease_duration": tok.left(),
                "renewable": tok.renewable, "entity_id": tok.entity_id,
                "token_type": "service", "orphan": True, "mfa_requirement": None,
                "num_uses": max(tok.num_uses, 0)}

    # -- AppRole ---------------------------------------------------------------
    def approle_login(self, ns, mount, op, data):
        st = self.state
        if op != "update":
            raise ApiError(405, E_UNSUPPORTED_OP)
        role_id = str(data.get("role_id") or "").strip()
        if not role_id:
            raise ApiError(400, "missing role_id")
        with st.lock:
            role = ns.role_by_id(mount, role_id)
            if role is None:
                raise ApiError(400, E_BAD_CREDS)
            s = st.settings
            now = time.time()
            if role.locked_until > now:
                raise ApiError(403, E_DENIED)
            if role.failures and now - role.last_failure > s["lockout_duration"]:
                role.failures = 0
            meta = {}
            if role.bind_secret_id:
                secret_id = str(data.get("secret_id") or "").strip()
                if not secret_id:
                    raise ApiError(400, "missing secret_id")
                entry = role.secret_ids.get(secret_id)
                if entry is None:
                    role.failures += 1
                    role.last_failure = now
                    if s["lockout_threshold"] and role.failures >= s["lockout_threshold"]:
                        role.locked_until = now + s["lockout_duration"]
                        role.failures = 0
                    raise ApiError(400, E_BAD_CREDS)
                if entry["num_uses"] > 0:
                    entry["num_uses"] -= 1
                    if entry["num_uses"] == 0:
                        del role.secret_ids[secret_id]
                meta.update(entry["metadata"])
            role.failures = 0
            meta["role_name"] = role.name
            pols = set(role.token_policies)
            if not role.token_no_default_policy and "root" not in pols:
                pols.add("default")
            pols = sorted(pols)
            ttl = role.token_ttl or s["default_lease_ttl"]
            max_ttl = role.token_max_ttl or s["max_lease_ttl"]
            if max_ttl and ttl > max_ttl:
                ttl = max_ttl
            tok = st.issue_token(ns, pols, ttl, max_ttl, True, "approle",
                                 "auth/%s/login" % mount, meta, role.token_num_uses,
                                 role.entity_id, role=role.name)
        self.entry["role_name"] = role.name
        self.v_ok(None, auth=self.auth_block(tok, pols))

    def approle_paths(self, ns, mount, sub, op, data):
        st = self.state
        m = re.match(r"^role/([^/]+)/(role-id|secret-id)$", sub)
        if not m:
            raise ApiError(404, E_UNSUPPORTED_PATH)
        with self.locked():
            role = ns.auth[mount].get(m.group(1))
            if m.group(2) == "role-id":
                if op != "read":
                    raise ApiError(405, E_UNSUPPORTED_OP)
                if role is None:
                    raise ApiError(404)
                self.v_ok({"role_id": role.role_id}, mount_type="approle")
                return
            if op != "update":
                raise ApiError(405, E_UNSUPPORTED_OP)
            if role is None:
                raise ApiError(400, 'role "%s" does not exist' % m.group(1))
            sid = str(uuid.uuid4())
            acc = str(uuid.uuid4())
            try:
                uses = go_int(data.get("num_uses", role.secret_id_num_uses))
            except ValueError as e:
                raise ApiError(400, str(e))
            md = data.get("metadata")
            if isinstance(md, str) and md.strip():
                try:
                    md = json.loads(md)
                except ValueError:
                    raise ApiError(400, "failed to parse metadata")
            role.secret_ids[sid] = {"num_uses": uses,
                                    "metadata": dict(md) if isinstance(md, dict) else {},
                                    "accessor": acc}
        self.v_ok({"secret_id": sid, "secret_id_accessor": acc, "secret_id_num_uses": uses,
                   "secret_id_ttl": 0}, mount_type="approle")

    # -- transit -----------------------------------------------------------------
    @staticmethod
    def field(data, name, kind, default=None):
        """framework.FieldData: (value, given); a value of the wrong type is
        the 400 framework.FieldData.Validate answers."""
        if name not in data or data[name] is None:
            return default, False
        raw = data[name]
        try:
            if kind == "int":
                return go_int(raw), True
            if kind == "bool":
                return go_bool(raw), True
            if kind == "duration":
                return parse_duration(raw), True
            if isinstance(raw, (dict, list)):
                raise ValueError("'' expected type 'string', got unconvertible type "
                                 "'%s'" % ("map[string]interface {}" if isinstance(raw, dict)
                                           else "[]interface {}"))
            if isinstance(raw, bool):
                return ("1" if raw else "0"), True
            return str(raw), True
        except ValueError as e:
            raise ApiError(400, 'error converting input %s for field "%s": %s'
                           % (raw, name, e))

    def transit(self, tm, sub, op, data):
        if not HAVE_CRYPTO:
            raise ApiError(500, multi_err(NO_CRYPTO))
        name_rx = r"\w(?:[\w\-.@]*\w)?"
        if re.fullmatch(r"keys/?", sub):
            if op != "list":
                raise ApiError(405, E_UNSUPPORTED_OP)
            with self.state.lock:
                names = sorted(tm.keys)
            if not names:
                raise ApiError(404)
            return self.v_ok({"keys": names}, mount_type="transit")
        m = re.fullmatch(r"(keys|encrypt|decrypt|rewrap)/(%s)(?:/(rotate|config))?" % name_rx,
                         sub)
        if not m or (m.group(3) and m.group(1) != "keys"):
            raise ApiError(404, E_UNSUPPORTED_PATH)
        what, name = m.group(3) or m.group(1), m.group(2)
        allowed = {"keys": ("read", "update", "delete")}.get(what, ("update",))
        if op not in allowed:
            raise ApiError(405, E_UNSUPPORTED_OP)
        if data.get("batch_input") is not None and what in ("encrypt", "decrypt", "rewrap"):
            raise ApiError(400, "vault_emulator: batch_input is not emulated")
        with self.locked():
            try:
                if what == "keys":
                    return self.transit_key(tm, name, op, data)
                if what == "rotate":
                    key = tm.keys.get(name)
                    if key is None:
                        raise ApiError(400, "key not found")
                    key.rotate()
                    return self.v_ok(key.data(), mount_type="transit")
                if what == "config":
                    return self.transit_config(tm, name, data)
                return self.transit_crypt(tm, what, name, data)
            except TransitError as e:
                if e.internal:
                    raise ApiError(500, multi_err(str(e)))
                raise ApiError(400, str(e))

    def transit_key(self, tm, name, op, data):
        key = tm.keys.get(name)
        if op == "read":
            if key is None:
                raise ApiError(404)
            return self.v_ok(key.data(), mount_type="transit")
        if op == "delete":
            if key is None or not key.deletion_allowed:
                raise ApiError(400, "error deleting policy %s: %s" % (
                    name, "could not delete key; not found" if key is None
                    else "deletion is not allowed for this key"))
            del tm.keys[name]
            return self.v_204()
        ktype, _ = self.field(data, "type", "str", "aes256-gcm96")
        derived, _ = self.field(data, "derived", "bool", False)
        convergent, _ = self.field(data, "convergent_encryption", "bool", False)
        exportable, _ = self.field(data, "exportable", "bool", False)
        backup, _ = self.field(data, "allow_plaintext_backup", "bool", False)
        period, _ = self.field(data, "auto_rotate_period", "duration", 0)
        key_size, _ = self.field(data, "key_size", "int", 0)
        if period != 0 and period < 3600:
            raise ApiError(400, "auto rotate period must be 0 to disable or at least an hour")
        if not derived and convergent:
            raise ApiError(400, "convergent encryption requires derivation to be enabled")
        if ktype not in TRANSIT_TYPES:
            if ktype in VAULT_KEY_TYPES:
                raise ApiError(400, "vault_emulator: key type %s is not emulated (only %s)"
                               % (ktype, ", ".join(sorted(TRANSIT_TYPES))))
            raise ApiError(400, "unknown key type %s" % ktype)
        if key_size:
            raise ApiError(400, "key_size is not valid for algorithm %s" % ktype)
        if convergent:
            raise ApiError(400, "vault_emulator: convergent encryption is not emulated")
        warnings = None
        if key is None:
            key = TransitKey(name, ktype, derived)
            key.exportable, key.allow_plaintext_backup = exportable, backup
            key.auto_rotate_period = period
            tm.keys[name] = key
        else:
            warnings = ["key %s already existed" % name]
        return self.v_ok(key.data(), mount_type="transit", warnings=warnings)

    def transit_config(self, tm, name, data):
        key = tm.keys.get(name)
        if key is None:
            raise ApiError(400, "no existing key named %s could be found" % name)
        dec, has_dec = self.field(data, "min_decryption_version", "int")
        enc, has_enc = self.field(data, "min_encryption_version", "int")
        deletion, has_del = self.field(data, "deletion_allowed", "bool")
        exportable, _ = self.field(data, "exportable", "bool", False)
        backup, _ = self.field(data, "allow_plaintext_backup", "bool", False)
        period, has_period = self.field(data, "auto_rotate_period", "duration")
        warning = key.set_versions(dec if has_dec else None, enc if has_enc else None)
        if has_period and period != 0 and period < 3600:
            raise ApiError(400, "auto rotate period must be 0 to disable or at least an hour")
        if has_del:
            key.deletion_allowed = deletion
        if exportable:
            key.exportable = True           # once set, never unset
        if backup:
            key.allow_plaintext_backup = True
        if has_period:
            key.auto_rotate_period = period
        self.v_ok(key.data(), mount_type="transit",
                  warnings=[warning] if warning else None)

    def transit_crypt(self, tm, what, name, data):
        """encrypt / decrypt / rewrap of one item (path_encrypt.go etc.)."""
        context_b64, _ = self.field(data, "context", "str", "")
        aad_b64, _ = self.field(data, "associated_data", "str", "")
        version, _ = self.field(data, "key_version", "int", 0)
        item_error = None
        if what == "encrypt":
            plaintext, given = self.field(data, "plaintext", "str", "")
            if not given and "plaintext" not in data:
                raise ApiError(400, "missing plaintext to encrypt")
            try:
                go_b64decode(plaintext)
            except ValueError as e:
                item_error = str(e)
        else:
            ciphertext, _ = self.field(data, "ciphertext", "str", "")
            if not ciphertext:
                raise ApiError(400, "missing ciphertext to decrypt")
        context = b""
        if context_b64 and item_error is None:
            try:
                context = go_b64decode(context_b64)
            except ValueError as e:
                item_error = str(e)
        key = tm.keys.get(name)
        if key is None and what == "encrypt" and self.cap_needed == "create":
            ktype, _ = self.field(data, "type", "str", "aes256-gcm96")
            convergent, _ = self.field(data, "convergent_encryption", "bool", False)
            if convergent and not context_b64:
                return self.v_error(400, "convergent encryption requires derivation to "
                                         "be enabled, so context is required")
            if ktype in ("ecdsa-p256", "ecdsa-p384", "ecdsa-p521"):
                raise ApiError(400, "key type %s not supported for this operation" % ktype)
            if ktype not in TRANSIT_TYPES:
                if ktype in VAULT_KEY_TYPES:
                    raise ApiError(400, "vault_emulator: key type %s is not emulated" % ktype)
                raise ApiError(400, "unknown key type %s" % ktype)
            if not tm.disable_upsert:
                key = tm.keys[name] = TransitKey(name, ktype, bool(context_b64))
        if key is None:
            raise ApiError(400, "encryption key not found")
        if item_error is not None:
            raise ApiError(400, item_error)
        aad = None
        if aad_b64:
            try:
                aad = go_b64decode(aad_b64)
            except ValueError as e:
                raise TransitError("unable to get associated_data/additional_data from "
                                   "factory[0]: %s" % e, internal=True)
        if what == "encrypt":
            ct, ver = key.encrypt(version, context, plaintext, aad)
            self.entry["key_version"] = ver
            return self.v_ok({"ciphertext": ct, "key_version": ver}, mount_type="transit")
        plain, ver = key.decrypt(ciphertext, context, aad)
        self.entry["key_version"] = ver
        if what == "decrypt":
            return self.v_ok({"plaintext": plain}, mount_type="transit")
        ct, ver = key.encrypt(version, context, plain, aad)
        self.entry["key_version"] = ver
        self.v_ok({"ciphertext": ct, "key_version": ver}, mount_type="transit")

    # -- Kubernetes auth ---------------------------------------------------------
    def kube_login(self, ns, mount, op, data):
        """vault-plugin-auth-kubernetes path_login.go with pem_keys set: the
        JWT's signature is checked with the configured keys; the TokenReview
        call is emulated by revoked_service_account_uids."""
        st = self.state
        if op != "update":
            raise ApiError(405, E_UNSUPPORTED_OP)
        role_name, _ = self.field(data, "role", "str", "")
        if not role_name:
            raise ApiError(400, "missing role")
        jwt, _ = self.field(data, "jwt", "str", "")
        if not jwt:
            raise ApiError(400, "missing jwt")
        if not HAVE_CRYPTO:
            raise ApiError(500, NO_CRYPTO)
        with st.lock:
            km = ns.kube[mount]
            role = km.roles.get(role_name)
            if role is None:
                raise ApiError(400, "invalid role name %s" % go_quote(role_name))
            claims = km.verify(jwt)
            if claims is None:              # "error verifying token signature: ..."
                raise ApiError(403, E_DENIED)
            self.kube_check_claims(km, role, claims)
            k8s = claims.get("kubernetes.io")
            if k8s is not None and not isinstance(k8s, dict):
                raise ApiError(500, "1 error(s) decoding:\n\n* 'kubernetes.io' expected a "
                                    "map, got '%s'" % type(k8s).__name__)
            k8s_sa = (k8s or {}).get("serviceaccount")
            k8s_sa = k8s_sa if isinstance(k8s_sa, dict) else None
            if k8s_sa is not None:
                sa_name, uid = str(k8s_sa.get("name") or ""), str(k8s_sa.get("uid") or "")
            else:
                sa_name = str(claims.get("kubernetes.io/serviceaccount/service-account.name")
                              or "")
                uid = str(claims.get("kubernetes.io/serviceaccount/service-account.uid") or "")
            sa_ns = str(k8s.get("namespace") or "") if k8s is not None else \
                str(claims.get("kubernetes.io/serviceaccount/namespace") or "")
            secret_name = str(claims.get("kubernetes.io/serviceaccount/secret.name") or "")
            if len(role.names) > 1 or role.names[0] != "*":
                if not glob_list_contains(role.names, sa_name):
                    raise ApiError(403, "service account name not authorized")
            if not (role.namespaces[0] == "*" or glob_list_contains(role.namespaces, sa_ns)):
                raise ApiError(403, "namespace not authorized")
            if role.alias_name_source == "serviceaccount_name":
                if not sa_ns or not sa_name:
                    raise ApiError(500, "service account namespace and name must be set")
                alias = "%s/%s" % (sa_ns, sa_name)
            else:
                if not uid:
                    raise ApiError(500, "could not parse UID from claims")
                alias = uid
            if uid in km.revoked:           # the TokenReview API refuses it
                raise ApiError(403, E_DENIED)
            if not uid:
                raise ApiError(500, "could not parse UID from claims")
            meta = {"role": role_name, "service_account_name": sa_name,
                    "service_account_namespace": sa_ns,
                    "service_account_secret_name": secret_name,
                    "service_account_uid": uid}
            pols = set(role.token_policies)
            if not role.token_no_default_policy and "root" not in pols:
                pols.add("default")
            pols = sorted(pols)
            s = st.settings
            ttl = role.token_ttl or s["default_lease_ttl"]
            max_ttl = role.token_max_ttl or s["max_lease_ttl"]
            if max_ttl and ttl > max_ttl:
                ttl = max_ttl
            entity = str(uuid.uuid5(uuid.NAMESPACE_URL, "vault-emulator:%s%s:%s"
                                    % (ns.path, mount, alias)))
            tok = st.issue_token(ns, pols, ttl, max_ttl, True,
                                 "%s-%s-%s" % (mount.replace("/", "-"), sa_ns, sa_name),
                                 "auth/%s/login" % mount, meta, role.token_num_uses,
                                 entity, role=role_name)
        self.entry["role_name"] = role_name
        self.entry["service_account"] = "%s/%s" % (sa_ns, sa_name)
        self.v_ok(None, auth=self.auth_block(tok, pols))

    @staticmethod
    def kube_check_claims(km, role, claims):
        """hashicorp/cap jwt.Validator.ValidateAllowMissingIatNbfExp: issuer
        (only when disable_iss_validation is false and issuer is set),
        audience (when the role names one), then nbf / exp / iat with 150 s
        default expiry leeway and 60 s clock skew."""
        if not km.disable_iss and km.issuer and claims.get("iss") != km.issuer:
            raise ApiError(403, "invalid issuer (iss) claim")
        if role.audience:
            aud = claims.get("aud")
            aud = [aud] if isinstance(aud, str) else (aud if isinstance(aud, list) else [])
            if role.audience not in aud:
                raise ApiError(403, "invalid audience (aud) claim: audience claim does "
                                    "not match any expected audience")

        def num(name):
            v = claims.get(name)
            if v is None:
                return 0
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ApiError(403, "json: cannot unmarshal %s into Go struct field "
                                    "Claims.%s of type jwt.NumericDate"
                               % ("string" if isinstance(v, str) else "object", name))
            return int(v)
        iat, exp, nbf = num("iat"), num("exp"), num("nbf")
        if iat == 0 and exp == 0 and nbf == 0:
            return
        if exp == 0:
            exp = max(iat, nbf) + 150
        if nbf == 0:
            nbf = iat if iat else exp - 150
        now, skew = time.time(), 60
        if now + skew < nbf:
            raise ApiError(403, "invalid not before (nbf) claim: token not yet valid")
        if now - skew > exp:
            raise ApiError(403, "invalid expiration time (exp) claim: token is expired")
        if iat and now + skew < iat:
            raise ApiError(403, "invalid issued at (iat) claim: token issued in the future")

    # -- admin -------------------------------------------------------------------
    def admin(self, method, path, body):
        st = self.state
        try:
            obj = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return self.send(400, {"error": "body is not JSON"})
        parts = [urllib.parse.unquote(p) for p in path.split("/")[2:] if p]
        try:
            if parts == ["health"]:
                return self.send(200, {"ok": True})
            if parts == ["state"] and method == "GET":
                return self.send(200, st.dump())
            if parts == ["reset"] and method == "POST":
                st.load()
                return self.send(200, {"ok": True})
            if parts in (["seal"], ["unseal"]) and method == "POST":
                with st.lock:
                    st.settings["sealed"] = parts == ["seal"]
                return self.send(200, {"sealed": st.settings["sealed"]})
            if parts == ["settings"] and method == "POST":
                if not isinstance(obj, dict):
                    raise ConfigError("settings is an object")
                with st.lock:
                    new = dict(st.settings)
                    for k, v in obj.items():
                        if k not in new:
                            raise ConfigError("unknown setting %r" % k)
                        new[k] = v
                    st.check_settings(new)
                    st.settings = new
                return self.send(200, new)
            if parts[:1] == ["secrets"] and len(parts) == 2 and method == "POST":
                return self.admin_secret(parts[1], obj)
            if parts == ["roles"] and method == "POST":
                return self.admin_role(obj)
            if parts[:1] == ["policies"] and len(parts) <= 2 and method == "POST":
                if not isinstance(obj, dict):
                    raise ConfigError("the body is an object")
                with st.lock:
                    ns = st.ns_for_admin(obj)
                    name = parts[1] if len(parts) == 2 else obj.get("name")
                    if not isinstance(name, str) or not name or name == "root":
                        raise ConfigError("name is a policy name (not root)")
                    if obj.get("rules") is None:
                        ns.policies.pop(name, None)
                    else:
                        ns.policies[name] = st.check_rules(obj["rules"], "policy " + name)
                return self.send(200, {"ok": True})
            if parts == ["namespaces"] and method == "POST":
                p = canonical_ns(obj.get("path"))
                if not p:
                    raise ConfigError("path names a namespace")
                with st.lock:
                    parent = p[:-1].rpartition("/")[0]
                    parent = parent + "/" if parent else ""
                    if parent not in st.namespaces:
                        raise ConfigError("no parent namespace %r" % parent)
                    if p not in st.namespaces:
                        st.build_ns(p, {k: v for k, v in obj.items() if k != "path"},
                                    st.namespaces, st.tokens, st.settings)
                return self.send(200, {"path": p, "id": st.namespaces[p].id})
            if parts[:1] == ["tokens"]:
                return self.admin_tokens(method, parts[1:], obj)
            if parts[:1] == ["transit"] and len(parts) in (3, 4) and method == "POST":
                return self.admin_transit(parts[1], parts[2], parts[3:], obj)
            if parts[:1] == ["kubernetes"] and len(parts) == 2 and method == "POST":
                if not isinstance(obj, dict):
                    raise ConfigError("the body is an object")
                with st.lock:
                    ns = st.ns_for_admin(obj)
                    km = ns.kube.get(parts[1])
                    if km is None:
                        raise ConfigError("no kubernetes mount %r in namespace %r"
                                          % (parts[1], ns.path))
                    km.configure(obj, "kubernetes mount " + parts[1])
                    return self.send(200, km.dump())
            if parts == ["faults"]:
                if method == "GET":
                    with st.lock:
                        return self.send(200, [f.dump() for f in st.faults])
                if method == "DELETE":
                    with st.lock:
                        st.faults = []
                    return self.send(200, {"ok": True})
                if method == "POST":
                    new = [Fault(x) for x in (obj if isinstance(obj, list) else [obj])]
                    with st.lock:
                        st.faults.extend(new)
                        return self.send(200, {"faults": len(st.faults)})
            if parts == ["log"]:
                if method == "GET":
                    with st.lock:
                        return self.send(200, list(st.log_mem))
                if method == "DELETE":
                    st.clear_log()
                    return self.send(200, {"ok": True})
            if parts == ["shutdown"] and method == "POST":
                self.send(200, {"ok": True})
                self.close_connection = True
                threading.Thread(target=self.server.stop_all, daemon=True).start()
                return None
        except ConfigError as e:
            return self.send(400, {"error": str(e)})
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            return self.send(400, {"error": "bad request: %s" % e})
        return self.send(404, {"error": "no such admin call: %s %s" % (method, path)})

    def admin_secret(self, action, obj):
        st = self.state
        if not isinstance(obj, dict):
            raise ConfigError("the body is an object")
        with st.lock:
            ns = st.ns_for_admin(obj)
            mname = obj.get("mount", "secret")
            mount = ns.kv.get(mname)
            if mount is None:
                raise ConfigError("no kv mount %r in namespace %r" % (mname, ns.path))
            key = str(obj.get("path", "")).strip("/")
            if not key:
                raise ConfigError("path names a secret")
            if mount.version == 1:
                if action == "add":
                    mount.secrets[key] = dict(obj.get("data") or {})
                    return self.send(200, {"ok": True})
                if action == "remove":
                    mount.secrets.pop(key, None)
                    return self.send(200, {"ok": True})
                raise ConfigError("a KV v1 mount has no versions")
            sec = mount.secrets.get(key)
            now = now_ns()
            if action == "add":
                if not isinstance(obj.get("data"), dict):
                    raise ConfigError("data is an object")
                created = obj.get("created_time")
                created = parse_time(created, "created_time") if created is not None else now
                if sec is None:
                    sec = mount.secrets[key] = Secret()
                num, _ = sec.add_version(dict(obj["data"]), created, mount)
                return self.send(200, {"version": num})
            if action == "remove":
                mount.secrets.pop(key, None)
                return self.send(200, {"ok": True})
            if action == "metadata":
                if sec is None:
                    sec = mount.secrets[key] = Secret()
                    sec.created = sec.updated = now
                if "custom_metadata" in obj:
                    cm = obj["custom_metadata"]
                    sec.custom_metadata = None if cm is None else \
                        {str(k): str(v) for k, v in cm.items()}
                if "max_versions" in obj:
                    sec.max_versions = go_int(obj["max_versions"])
                if "cas_required" in obj:
                    sec.cas_required = bool(obj["cas_required"])
                if "delete_version_after" in obj:
                    sec.dva = parse_duration(obj["delete_version_after"])
                return self.send(200, sec.dump())
            if action in ("delete", "undelete", "destroy"):
                if sec is None:
                    return self.send(404, {"error": "no secret %s" % key})
                versions = comma_int_slice(obj.get("versions"))
                if not versions:
                    versions = [sec.current]
                missing = [n for n in versions if n not in sec.versions]
                if missing:
                    return self.send(404, {"error": "no versions %s" % missing})
                deletion = None
                if action == "delete" and obj.get("deletion_time") is not None:
                    deletion = parse_time(obj["deletion_time"], "deletion_time")
                if action == "delete" and deletion is not None:
                    for n in versions:
                        if not sec.versions[n].destroyed:
                            sec.versions[n].deletion = deletion
                else:
                    self.kv2_versions_op(sec, action, versions, mount, now)
                return self.send(200, sec.dump())
        raise ConfigError("unknown secrets action %r" % action)

    def admin_transit(self, mname, kname, action, obj):
        """POST /_emulator/transit/MOUNT/KEY: create or change a key;
        .../encrypt, .../decrypt: use it, without any token or policy."""
        st = self.state
        if not isinstance(obj, dict):
            raise ConfigError("the body is an object")
        with st.lock:
            ns = st.ns_for_admin(obj)
            tm = ns.transit.get(mname)
            if tm is None:
                raise ConfigError("no transit mount %r in namespace %r" % (mname, ns.path))
            key = tm.keys.get(kname)
            if action in (["encrypt"], ["decrypt"]):
                if key is None:
                    return self.send(404, {"error": "encryption key not found"})
                ctx = go_b64decode(obj.get("context") or "")
                try:
                    if action == ["encrypt"]:
                        ct, ver = key.encrypt(go_int(obj.get("key_version", 0)), ctx,
                                              obj.get("plaintext") or "")
                        return self.send(200, {"ciphertext": ct, "key_version": ver})
                    plain, ver = key.decrypt(str(obj.get("ciphertext") or ""), ctx)
                    return self.send(200, {"plaintext": plain, "key_version": ver})
                except TransitError as e:
                    return self.send(400, {"error": str(e)})
            if action:
                raise ConfigError("no such transit call %r" % action[0])
            fields = {k: v for k, v in obj.items()
                      if k not in ("namespace", "rotate", "delete")}
            if obj.get("delete"):
                tm.keys.pop(kname, None)
                return self.send(200, {"deleted": key is not None})
            if key is None:
                key = tm.new_key(kname, fields, "transit key " + kname)
                tm.keys[kname] = key
            else:
                for k in ("type", "derived", "versions"):
                    if k in fields:
                        raise ConfigError("%s only applies when the key is created" % k)
            rot = obj.get("rotate")
            for _ in range(rot if isinstance(rot, int) and not isinstance(rot, bool)
                           else 1 if rot else 0):
                key.rotate()
            key.update(fields, "transit key " + kname)
            return self.send(200, key.data())

    def admin_role(self, obj):
        st = self.state
        if not isinstance(obj, dict):
            raise ConfigError("the body is an object")
        with st.lock:
            ns = st.ns_for_admin(obj)
            mname = obj.get("mount", "approle")
            if mname in ns.kube:
                name = obj.get("role")
                if not isinstance(name, str) or not name:
                    raise ConfigError("role names the role")
                old = ns.kube[mname].roles.get(name)
                role = KubeRole(name)
                if old is not None:
                    role.__dict__.update(old.__dict__)
                role.update({k: v for k, v in obj.items()
                             if k not in ("namespace", "mount", "role")}, "role " + name)
                ns.kube[mname].roles[name] = role
                return self.send(200, role.dump())
            if mname not in ns.auth:
                ns.auth[mname] = {}
            name = obj.get("role")
            if not isinstance(name, str) or not name:
                raise ConfigError("role names the role")
            role = ns.auth[mname].get(name) or Role(name)
            role.update({k: v for k, v in obj.items()
                         if k not in ("namespace", "mount", "role", "unlock")},
                        "role " + name)
            if obj.get("unlock"):
                role.failures = 0
                role.locked_until = 0.0
            ns.auth[mname][name] = role
            return self.send(200, role.dump())

    def admin_tokens(self, method, rest, obj):
        st = self.state
        if method != "POST" or not isinstance(obj, dict):
            raise ConfigError("POST a JSON object")
        with st.lock:
            if rest == []:
                ns = st.ns_for_admin(obj)
                pols = obj.get("policies", ["default"])
                if not isinstance(pols, list):
                    raise ConfigError("policies is a list")
                if "root" not in pols and "default" not in pols and \
                        not obj.get("no_default_policy"):
                    pols = pols + ["default"]
                ttl = parse_duration(obj.get("ttl", 0))
                if obj.get("token"):
                    tok = Token(str(obj["token"]), ns.path, sorted(set(pols)), max(ttl, 0),
                                bool(obj.get("renewable", ttl > 0)), "token",
                                "auth/token/create", meta=obj.get("meta"),
                                num_uses=int(obj.get("num_uses", 0)))
                    if ttl < 0:
                        tok.expires = time.time() + ttl
                    st.tokens[tok.id] = tok
                else:
                    tok = st.issue_token(ns, sorted(set(pols)), max(ttl, 0), 0,
                                         bool(obj.get("renewable", ttl > 0)), "token",
                                         "auth/token/create", obj.get("meta"),
                                         int(obj.get("num_uses", 0)), "")
                    if ttl < 0:
                        tok.expires = time.time() + ttl
                return self.send(200, {"token": tok.id, "accessor": tok.accessor,
                                       "ttl": tok.left()})
            if rest == ["ttl"]:
                ttl = parse_duration(obj.get("ttl", 0))
                hit = 0
                for tok in list(st.tokens.values()):
                    if obj.get("all") or tok.id == obj.get("token") or \
                            tok.accessor == obj.get("accessor"):
                        tok.expires = time.time() + ttl
                        hit += 1
                return self.send(200 if hit else 404, {"tokens": hit})
            if rest == ["expire"]:
                now = time.time()
                hit = 0
                for tok in st.tokens.values():
                    if tok.expires is not None or obj.get("include_root"):
                        tok.expires = now
                        hit += 1
                return self.send(200, {"tokens": hit})
            if rest == ["revoke"]:
                gone = [t.id for t in st.tokens.values()
                        if t.id == obj.get("token") or t.accessor == obj.get("accessor")]
                for tid in gone:
                    del st.tokens[tid]
                return self.send(200 if gone else 404, {"tokens": len(gone)})
        raise ConfigError("no such tokens call")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, kind, state, ssl_ctx, stop_all):
        self.kind = kind
        self.state = state
        self.ssl_ctx = ssl_ctx
        self.stop_all = stop_all
        if ipaddress.ip_address(addr[0]).version == 6:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so a
        # stalled client cannot block the accept loop.
        if self.ssl_ctx is None:
            return super().finish_request(request, client_address)
        request.settimeout(30)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return None
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass
        return None

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


def write_port_file(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="JSON state file (see the file header)")
    ap.add_argument("--cert", required=True, help="server certificate (PEM)")
    ap.add_argument("--key", required=True, help="server private key (PEM)")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--admin-port", type=int, default=0)
    ap.add_argument("--admin-port-file")
    ap.add_argument("--log", help="request log, JSON lines")
    args = ap.parse_args()

    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            ap.error("--host must be a loopback address")
    except ValueError:
        ap.error("--host must be an IP address")
    try:
        state = State(args.config, args.log)
    except (ConfigError, ValueError, TypeError, KeyError, AttributeError) as e:
        print("vault_emulator: bad config: %s" % e, file=sys.stderr)
        return 2
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)

    servers = []
    stopped = threading.Event()

    def stop_all():
        if stopped.is_set():
            return
        stopped.set()
        for srv in servers:
            srv.shutdown()

    https = Server((args.host, args.port), "https", state, ctx, stop_all)
    servers.append(https)
    http = Server((args.host, args.admin_port), "http", state, None, stop_all)
    servers.append(http)
    state.ports = {"https": https.server_address[1], "http": http.server_address[1]}
    for srv in servers:
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, https.server_address[1])
    if args.admin_port_file:
        write_port_file(args.admin_port_file, http.server_address[1])
    print("vault_emulator: https=%d admin=%d" % (https.server_address[1],
                                                 http.server_address[1]), flush=True)

    def on_signal(signum, frame):
        threading.Thread(target=stop_all, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopped.wait(0.5):
        pass
    for srv in servers:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
