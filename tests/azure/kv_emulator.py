#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Azure Key Vault emulator for the cmkfs tests (Python standard library, plus
Debian's python3-cryptography for RSA keys and client assertions; without it
only secrets, client secrets and IMDS work).

It serves, on loopback only:

  HTTPS port (--port, 0 = pick one; --port-file gets the number):
    POST /{tenant}/oauth2/v2.0/token      Microsoft identity platform, client
                                          credentials grant (form-encoded):
                                          client_secret, certificate assertion
                                          or federated (workload identity)
                                          assertion
    GET  /metadata/identity/oauth2/token  IMDS managed identity (also on the
                                          plain-HTTP port below, as in Azure)
    GET  /secrets                         list secrets (paged)
    GET  /secrets/{name}[/]               current version of a secret
    GET  /secrets/{name}/{version}        one version
    GET  /secrets/{name}/versions         list versions (paged, nextLink)
    PUT  /secrets/{name}                  set secret (adds a version)
    PATCH /secrets/{name}/{version}       update attributes
    GET  /keys                            list keys (paged)
    POST /keys/{name}/create              create a key (a new version):
                                          {"kty": "RSA"|"RSA-HSM", "key_size":
                                          2048|3072|4096, "key_ops": [...],
                                          "attributes": {"enabled", "nbf",
                                          "exp"}, "tags": {}}
    GET  /keys/{name}[/]                  current version (a disabled one too)
    GET  /keys/{name}/{version}           one version
    GET  /keys/{name}/versions            list versions (paged, nextLink)
    PATCH /keys/{name}[/{version}]        {"attributes", "key_ops", "tags"}
    POST /keys/{name}/rotate              new version, same kty/size/key_ops
    DELETE /keys/{name}                   soft delete -> DeletedKeyBundle
    GET  /deletedkeys[/{name}]            list deleted keys / one deleted key
    POST /deletedkeys/{name}/recover      recover -> KeyBundle
    DELETE /deletedkeys/{name}            purge (204)
    POST /keys/{name}[/{version}]/wrapkey   {"alg": "RSA-OAEP-256"|"RSA-OAEP"|
    POST /keys/{name}[/{version}]/unwrapkey  "RSA1_5", "value": base64url}
    POST /keys/{name}[/{version}]/encrypt    -> {"kid": ".../keys/{name}/
    POST /keys/{name}[/{version}]/decrypt      {version}", "value": base64url}
                                          (version-less, also .../{name}//wrapkey
                                          as the SDKs send it: current version)
    /_emulator/...                        admin API (below)
  plain-HTTP port (--imds-port, 0 = pick one; --imds-port-file gets it):
    GET  /metadata/identity/oauth2/token  and /_emulator/... only.

Key bundles are sent as Key Vault sends them: {"key": {"kid", "kty",
"key_ops", "n", "e"}, "attributes": {"enabled", "nbf"?, "exp"?, "created",
"updated", "recoveryLevel", "recoverableDays", "exportable": false (api-version
7.3 and later)}, "tags"?}; a DeletedKeyBundle adds "recoveryId",
"deletedDate", "scheduledPurgeDate" in front. Key errors: unknown or deleted
key/version 404 KeyNotFound ("A key with (name/id) NAME[/VERSION] was not
found in this key vault. If you recently deleted this key ..."); a disabled
version on wrap/unwrap/encrypt/decrypt 403 Forbidden, innererror KeyDisabled
("Operation unwrapKey is not allowed on a disabled key."); an operation not in
key_ops 403 Forbidden, KeyOperationForbidden ("Operation unwrapKey is not
permitted on this key."); wrapKey/encrypt before nbf or after exp 403
Forbidden, KeyNotYetValid / KeyExpired; bad "alg" or "value" 400 BadParameter
("Property alg has invalid value", "Content of 'value' is not base64url.");
an undecryptable value 400 BadParameter ("Error occurred while decoding OAEP
padding."); creating a soft-deleted name 409 Conflict,
ObjectIsDeletedButRecoverable (ObjectIsBeingDeleted during "delete_delay");
GET/recover/purge of a key that is not deleted 404 KeyNotFound ("Deleted Key
not found: NAME").

Usage:
  kv_emulator.py --config state.json --cert server.pem --key server.key \
      [--port 0] [--port-file F] [--imds-port 0] [--imds-port-file F] \
      [--log requests.jsonl] [--host 127.0.0.1]
It prints "kv_emulator: https=PORT imds=PORT" on stdout once both listen.
SIGTERM/SIGINT or POST /_emulator/shutdown stops it.

Config file (JSON; every key optional):
  {
    "tenant": "11111111-2222-3333-4444-555555555555",
    "clients": {"client-id": "client-secret"},
    "certificates": {"client-id": "PEM certificate" or ["PEM", ...]},
                                     # certificate credentials: assertions
                                     # signed by the certificate's key
    "federated": {"client-id": [{"issuer": "https://...", "subject":
                  "system:serviceaccount:NS:SA", "audience":
                  "api://AzureADTokenExchange" (or "audiences": [...]),
                  "jwks": PEM public key | PEM certificate | {"keys": [RSA
                  JWKs]} | a list of them}]}  # federated identity credentials
    "authority_host": "https://login.microsoftonline.com",  # in the challenge
                                     # (recordings of real vaults also show
                                     # https://login.windows.net)
    "token_lifetime": 3599,          # client-credentials tokens (seconds)
    "assertion_clock_skew": 300,     # leeway on assertion nbf/exp (seconds)
    "imds": {"enabled": true, "client_id": "...", "object_id": "...",
             "msi_res_id": "...", "token_lifetime": 86399},
    "tokens": [{"token": "static-token", "audience": "https://vault.azure.net",
                "expires_on": null, "appid": "...", "oid": "..."}],
                                     # extra accepted tokens
    "page_size": 25,                 # server-side page size cap (<= 25)
    "empty_last_page": false,        # true: last full page still has a
                                     # nextLink that leads to an empty page
    "versions_order": "id",          # "id" (Key Vault lists versions in an
                                     # order that is not chronological) or
                                     # "created"
    "recovery_level": "Recoverable+Purgeable", "recoverable_days": 90,
    "delete_delay": 0, "recover_delay": 0,
                                     # seconds a key delete / recover takes
                                     # before /deletedkeys/{name} resp.
                                     # /keys/{name} answer (SDK pollers)
    "vault_name": "cmkfs-emulator", "region": "emulator",
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "resource_group": "cmkfs-test",  # named in ForbiddenByRbac answers
    "rbac": {"PRINCIPAL": [ACTION, ...]},
                                     # absent (default): no RBAC, every valid
                                     # token may do everything. Present: only
                                     # listed data actions are allowed.
                                     # PRINCIPAL = the token's appid (client
                                     # id; IMDS: imds.client_id) or its oid.
                                     # ACTION = a data action
                                     # ("Microsoft.KeyVault/vaults/keys/
                                     # unwrap/action", wildcards "*" as in
                                     # role definitions), a short form
                                     # ("keys/unwrap", "keys/get",
                                     # "secrets/getSecret") or a built-in role
                                     # name ("Key Vault Crypto Service
                                     # Encryption User", "Key Vault Secrets
                                     # User", ...). Covers secrets and keys.
    "secrets": {
      "NAME": {"versions": [
        {"id": "32 lowercase hex (random if absent)", "value": "...",
         "enabled": true, "created": 1700000000, "updated": 1700000000,
         "nbf": null, "exp": null, "contentType": null, "tags": {}}
      ]}                             # the LAST entry is the current version
    },                               # ("NAME": "value" is one version)
    "keys": {
      "NAME": {"versions": [
        {"id": "32 hex", "kty": "RSA"|"RSA-HSM", "size": 2048|3072|4096,
         "enabled": true, "created", "updated", "nbf", "exp",
         "key_ops": ["encrypt", "decrypt", "sign", "verify", "wrapKey",
                     "unwrapKey"], "tags": {},
         "pem": "PEM RSA private key (optional; else one is generated)"}
      ], "deleted": false}           # the LAST entry is the current version
    },
    "faults": [FAULT, ...]
  }
RSA keys are generated on first use (config keys in the background at start)
and cached per run by (key name, version): /_emulator/reset keeps them.

FAULT (applies to the next "count" requests whose method and path match;
"count": -1 = forever; checked before authentication):
  {"path": "regex searched in the URL path (not the query)",
   "method": "GET" (any if absent), "server": "https"|"http" (any if absent),
   "count": 1, "action": ACTION, "delay": seconds before acting, ...}
  ACTION: "429" / "503"   status with Retry-After: "retry_after" (default 1)
          "slow"          wait "delay" seconds, then answer normally
          "drop"          close the connection without any response
          "truncate"      send headers and half the body, then close
          "redirect"      "status" (307) to "location" (default: the same
                          path on https://localhost:PORT, or on 127.0.0.1 when
                          the request already named localhost)
          "unauthorized"  401 with the challenge, even with a valid token
          "status"        "status", "body" (JSON or text), "headers"

Admin API (both ports; never logged, never authenticated):
  GET  /_emulator/health                 {"ok": true}
  GET  /_emulator/state                  settings, secrets, keys, rbac, ...
  POST /_emulator/reset                  reload the config file
  POST /_emulator/settings               merge {"page_size": 2, ...}
  POST /_emulator/secrets/{name}         add a version {"value", "id",
                                         "enabled", "nbf", "exp", ...};
                                         answers {"version": id}
  POST /_emulator/secrets/{name}/{ver}   change attributes or value
  DELETE /_emulator/secrets/{name}[/{ver}]
  POST /_emulator/keys/{name}            add a version {"kty", "size",
                                         "enabled", "nbf", "exp", "key_ops",
                                         "id", "tags", "pem"} -> {"name",
                                         "version": id} (409 if deleted)
  GET  /_emulator/keys/{name}            {"name", "state", "versions"}
  GET  /_emulator/keys/{name}/{ver}      the version, with "private_pem" and
                                         "public_pem" (PKCS#8 / SPKI)
  POST /_emulator/keys/{name}/{ver}      change "enabled", "nbf", "exp",
                                         "key_ops", "tags", "created",
                                         "updated"
  DELETE /_emulator/keys/{name}          soft-delete now (no delete_delay)
  POST /_emulator/keys/{name}/recover    recover now
  POST /_emulator/keys/{name}/purge      forget the key
  DELETE /_emulator/keys/{name}/{ver}    drop one version
  GET|POST /_emulator/rbac               {"enabled", "assignments"} /
                                         {"principal": "...", "actions":
                                         [...]} assigns (turns RBAC on;
                                         "actions": [] removes the
                                         assignment), {"enabled": false|true}
  POST|DELETE /_emulator/certificates/{client_id}   add {"pem"} / remove all
  POST|DELETE /_emulator/federated/{client_id}      add {"issuer", "subject",
                                         "audience", "jwks"} / remove all
  GET|POST|DELETE /_emulator/faults      list / add one or a list / clear
  POST /_emulator/tokens                 mint {"audience", "lifetime" (may
                                         be negative), "appid", "oid"} ->
                                         {"access_token", ...}
  POST /_emulator/tokens/expire          every issued token expires now
  GET|DELETE /_emulator/log              request log / clear it (and --log)
  POST /_emulator/shutdown

Client assertions (client_assertion_type=urn:ietf:params:oauth:
client-assertion-type:jwt-bearer, client_assertion=JWT):
  certificate  iss = sub = client_id; header "x5t#S256" (base64url SHA-256
               of the certificate's DER) or "x5t" (SHA-1); alg RS256/384/512
               or PS256/384/512; "aud" the token endpoint (this emulator's
               https://HOST:PORT/{tenant}/oauth2/v2.0/token, or the same path
               under authority_host; v1 /oauth2/token too); nbf/exp checked
               with assertion_clock_skew; no limit on exp (Entra sets none).
  federated    iss = an https:// issuer of a "federated" record of the
               client, sub and aud (one of) matching it, signed by one of its
               "jwks" keys (by "kid" when the JWKS names them).
  Errors as Entra sends them: AADSTS50027 malformed (400 invalid_request),
  90014 missing iss/sub/aud (400), 5002738 unsupported alg, 5002723 no
  thumbprint, 700021 iss/sub not the client_id, 700023 wrong aud, 700027
  unknown thumbprint / expired certificate / bad signature, 700024 outside
  nbf..exp (401 invalid_client), 70021 no matching federated identity record
  (400 invalid_request).

Log (--log, JSON lines, one per request, written just before the answer
goes out, so it is complete once a client has its answer):
  {"ts", "server": "https"|"http", "kind": "kv"|"token"|"imds"|"other",
   "method", "path", "query" (secrets redacted), "host", "auth" (whether an
   Authorization header was present; the token itself is never logged),
   "metadata" (IMDS: Metadata header present), "status" (null if dropped),
   "fault", "client_request_id" (x-ms-client-request-id, when sent),
   "appid" (kv: the caller's, when its token is valid), "rbac" (the data
   action RBAC refused), "client_id" and "credential" ("secret" |
   "certificate" | "federated") for token requests; client_assertion and
   client_secret never appear}

Fidelity notes (from Microsoft's REST reference, its API spec examples and
SDK recordings): 401 answers always carry WWW-Authenticate; an unauthenticated
request is the normal first step of the SDKs' challenge flow; a nextLink is
absolute, names an explicit port, and carries api-version, $skiptoken and
maxresults; the last page has "nextLink": null; a version-less GET may end
with "/"; the current version is the most recently created one even when it
is disabled (then 403 for a secret); nbf/exp are reported but not enforced on
secret reads. Keys: GET of a disabled key's bundle succeeds (SDK live tests
disable a key, then get it); crypto operations on it are refused. nbf/exp ARE
enforced on keys, but only for wrapKey/encrypt: Microsoft's "Date-time
controlled operations" say that outside nbf..exp decrypt, unwrap and verify
still work and the rest answers 403. With RBAC, authorization is checked
after the token and before the key is looked up (so 403 even for a missing
key); wrapKey/encrypt with an RSA key are also allowed to holders of
keys/read, as Microsoft's data action reference says. Deleting/recovering is
immediate unless delete_delay/recover_delay are set (real vaults take
seconds: the SDKs poll). Not implemented: EC/oct keys, sign/verify, import,
backup/restore, release, rotation policies, secret soft-delete.
"""

import argparse
import base64
import datetime
import ipaddress
import json
import os
import re
import secrets as pysecrets
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:                        # Debian's python3-cryptography: RSA keys, JWTs
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    HAVE_CRYPTO = True
except ImportError:         # secrets, client secrets and IMDS still work
    HAVE_CRYPTO = False

KV_RESOURCE = "https://vault.azure.net"
KV_AUDIENCES = (KV_RESOURCE, KV_RESOURCE + "/")
LATEST_API = "2025-07-01"
DATE_APIS = {"2016-10-01", "2025-07-01"}
API_7X = re.compile(r"^7\.[0-9]+(-preview(\.[0-9]+)?)?$")
NAME_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
# Resources the emulated directory knows (a token for another one is refused).
KNOWN_RESOURCES = {KV_RESOURCE, "https://management.azure.com",
                   "https://graph.microsoft.com", "https://storage.azure.com"}
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
SENSITIVE_QUERY = {"client_secret", "client_assertion", "access_token",
                   "code", "password", "refresh_token"}
MAX_BODY = 1 << 20
MAX_DELAY = 300.0
DEFAULT_TENANT = "11111111-2222-3333-4444-555555555555"

AKV_MISSING = "AKV10000: Request is missing a Bearer or PoP token."
AKV_EXPIRED = "[TokenExpired] Error validating token: 'S2S12086'."
THROTTLED = ("Request was not processed because too many requests were "
             "received. Reason: VaultRequestTypeLimitReached")
NOT_FOUND_TAIL = (" was not found in this key vault. If you recently deleted "
                  "this secret you may be able to recover it using the "
                  "correct recovery command. For help resolving this issue, "
                  "please see https://go.microsoft.com/fwlink/?linkid=2125182")


KEY_NOT_FOUND_TAIL = NOT_FOUND_TAIL.replace("this secret", "this key")
RSA_KTYS = ("RSA", "RSA-HSM")
RSA_SIZES = (2048, 3072, 4096)
RSA_OPS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey")
WRAP_ALGS = ("RSA-OAEP-256", "RSA-OAEP", "RSA1_5")
# URL segment -> (key operation, Key Vault data action)
CRYPTO_OPS = {"wrapkey": ("wrapKey", "keys/wrap/action"),
              "unwrapkey": ("unwrapKey", "keys/unwrap/action"),
              "encrypt": ("encrypt", "keys/encrypt/action"),
              "decrypt": ("decrypt", "keys/decrypt/action")}
KV_ACTIONS = "Microsoft.KeyVault/vaults/"
# Azure built-in roles (data actions only), as Microsoft's built-in roles
# reference lists them; usable in place of actions in "rbac".
BUILTIN_ROLES = {
    "Key Vault Administrator": ["Microsoft.KeyVault/vaults/*"],
    "Key Vault Reader": ["Microsoft.KeyVault/vaults/*/read",
                         "Microsoft.KeyVault/vaults/secrets/readMetadata/action"],
    "Key Vault Crypto Officer": ["Microsoft.KeyVault/vaults/keys/*",
                                 "Microsoft.KeyVault/vaults/keyrotationpolicies/*"],
    "Key Vault Crypto User": ["Microsoft.KeyVault/vaults/keys/" + a for a in (
        "read", "update/action", "backup/action", "encrypt/action", "decrypt/action",
        "wrap/action", "unwrap/action", "sign/action", "verify/action")],
    "Key Vault Crypto Service Encryption User": [
        "Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action",
        "Microsoft.KeyVault/vaults/keys/unwrap/action"],
    "Key Vault Secrets Officer": ["Microsoft.KeyVault/vaults/secrets/*"],
    "Key Vault Secrets User": ["Microsoft.KeyVault/vaults/secrets/getSecret/action",
                               "Microsoft.KeyVault/vaults/secrets/readMetadata/action"],
}
# Short forms accepted in "rbac" (access-policy style names).
ACTION_ALIASES = {"keys/get": "keys/read", "keys/list": "keys/read",
                  "keys/wrapkey": "keys/wrap", "keys/unwrapkey": "keys/unwrap",
                  "secrets/get": "secrets/getSecret", "secrets/list": "secrets/readMetadata",
                  "secrets/set": "secrets/setSecret"}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CERT_DOC = ("Review the documentation at https://docs.microsoft.com/azure/"
            "active-directory/develop/active-directory-certificate-credentials .")
FIC_AUDIENCE = "api://AzureADTokenExchange"
JWT_HASHES = {"256": "SHA256", "384": "SHA384", "512": "SHA512"}

_MATERIAL = {}              # (key name, version) -> RSA private key, per run
_MATERIAL_LOCK = threading.Lock()


class ConfigError(Exception):
    pass


class KeyConflict(Exception):
    """Creating a key whose name is soft-deleted (or being deleted)."""

    def __init__(self, key):
        super().__init__(key.name)
        self.key = key


def need_crypto(what):
    if not HAVE_CRYPTO:
        raise ConfigError("%s needs python3-cryptography (not installed)" % what)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def opt_int(obj, key, where):
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError("%s: %s must be an integer (epoch seconds)" % (where, key))
    return value


class Version:
    def __init__(self, spec, where, default_created):
        if isinstance(spec, str):
            spec = {"value": spec}
        if not isinstance(spec, dict):
            raise ConfigError("%s: a version is an object or a string" % where)
        value = spec.get("value")
        if not isinstance(value, str):
            raise ConfigError("%s: value must be a string" % where)
        vid = spec.get("id") or pysecrets.token_hex(16)
        if not isinstance(vid, str) or not HEX32.match(vid):
            raise ConfigError("%s: id must be 32 lowercase hex characters" % where)
        self.id = vid
        self.value = value
        self.enabled = spec.get("enabled")
        if self.enabled is None:
            self.enabled = True
        if not isinstance(self.enabled, bool):
            raise ConfigError("%s: enabled must be true or false" % where)
        self.created = opt_int(spec, "created", where) or default_created
        self.updated = opt_int(spec, "updated", where) or self.created
        self.nbf = opt_int(spec, "nbf", where)
        self.exp = opt_int(spec, "exp", where)
        self.content_type = spec.get("contentType")
        self.tags = spec.get("tags") or {}
        if not isinstance(self.tags, dict):
            raise ConfigError("%s: tags must be an object" % where)

    def attributes(self, settings):
        attrs = {"enabled": self.enabled}
        if self.nbf is not None:
            attrs["nbf"] = self.nbf
        if self.exp is not None:
            attrs["exp"] = self.exp
        attrs["created"] = self.created
        attrs["updated"] = self.updated
        attrs["recoveryLevel"] = settings["recovery_level"]
        if settings.get("recoverable_days") is not None:
            attrs["recoverableDays"] = settings["recoverable_days"]
        return attrs

    def dump(self):
        return {"id": self.id, "value": self.value, "enabled": self.enabled,
                "created": self.created, "updated": self.updated,
                "nbf": self.nbf, "exp": self.exp,
                "contentType": self.content_type, "tags": self.tags}


class Secret:
    def __init__(self, name):
        self.name = name
        self.versions = []      # creation order; the last one is current

    def find(self, vid):
        vid = vid.lower()
        for v in self.versions:
            if v.id == vid:
                return v
        return None


def api_has_exportable(api):
    """Key attributes carry "exportable" from api-version 7.3 on."""
    m = re.match(r"^7\.([0-9]+)", api or "")
    return not m or int(m.group(1)) >= 3


def int_b64url(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def check_key_ops(ops, where):
    if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
        raise ConfigError("%s: key_ops must be a list of strings" % where)
    bad = [o for o in ops if o not in RSA_OPS]
    if bad:
        raise ConfigError("Unsupported key operation(s): %s. Supported values are %s."
                          % (", ".join('"%s"' % o for o in bad),
                             ", ".join('"%s"' % o for o in RSA_OPS)))
    return list(ops)


class KeyVersion:
    """One version of an RSA key. The private key is made on first use (or
    taken from "pem") and cached for the run under (key name, version)."""

    def __init__(self, spec, where, default_created, name):
        if not isinstance(spec, dict):
            raise ConfigError("%s: a key version is an object" % where)
        need_crypto("keys")
        vid = spec.get("id") or pysecrets.token_hex(16)
        if not isinstance(vid, str) or not HEX32.match(vid):
            raise ConfigError("%s: id must be 32 lowercase hex characters" % where)
        self.id = vid
        self.kty = spec.get("kty") or "RSA"
        if self.kty not in RSA_KTYS:
            raise ConfigError("%s: kty must be RSA or RSA-HSM" % where)
        size = spec.get("size", spec.get("key_size"))
        self._priv = None
        pem = spec.get("pem")
        if pem is not None:
            try:
                self._priv = serialization.load_pem_private_key(pem.encode(), None)
            except (ValueError, TypeError, AttributeError) as e:
                raise ConfigError("%s: pem is not an unencrypted PEM private key: %s"
                                  % (where, e))
            if not isinstance(self._priv, rsa.RSAPrivateKey):
                raise ConfigError("%s: pem is not an RSA key" % where)
            if size is not None and size != self._priv.key_size:
                raise ConfigError("%s: size %s but pem has %d bits"
                                  % (where, size, self._priv.key_size))
            size = self._priv.key_size
        self.size = 2048 if size is None else size
        if self.size not in RSA_SIZES:
            raise ConfigError("%s: size must be one of %s" % (where, list(RSA_SIZES)))
        self.enabled = spec.get("enabled")
        if self.enabled is None:
            self.enabled = True
        if not isinstance(self.enabled, bool):
            raise ConfigError("%s: enabled must be true or false" % where)
        self.created = opt_int(spec, "created", where) or default_created
        self.updated = opt_int(spec, "updated", where) or self.created
        self.nbf = opt_int(spec, "nbf", where)
        self.exp = opt_int(spec, "exp", where)
        ops = spec.get("key_ops")
        self.key_ops = list(RSA_OPS) if ops is None else check_key_ops(ops, where)
        self.tags = spec.get("tags") or {}
        if not isinstance(self.tags, dict):
            raise ConfigError("%s: tags must be an object" % where)
        self.cache_key = (name.lower(), self.id)
        self._lock = threading.Lock()

    def private_key(self):
        with self._lock:
            if self._priv is None:
                with _MATERIAL_LOCK:
                    cached = _MATERIAL.get(self.cache_key)
                if cached is not None and cached.key_size == self.size:
                    self._priv = cached
                else:
                    self._priv = rsa.generate_private_key(65537, self.size)
                    with _MATERIAL_LOCK:
                        _MATERIAL[self.cache_key] = self._priv
            return self._priv

    def jwk(self, kid):
        nums = self.private_key().public_key().public_numbers()
        return {"kid": kid, "kty": self.kty, "key_ops": list(self.key_ops),
                "n": int_b64url(nums.n), "e": int_b64url(nums.e)}

    attributes_base = Version.attributes

    def attributes(self, settings, api=None):
        attrs = self.attributes_base(settings)
        if api_has_exportable(api):
            attrs["exportable"] = False
        return attrs

    def dump(self, with_pem=False):
        d = {"id": self.id, "kty": self.kty, "size": self.size, "enabled": self.enabled,
             "created": self.created, "updated": self.updated, "nbf": self.nbf,
             "exp": self.exp, "key_ops": list(self.key_ops), "tags": self.tags}
        if with_pem:
            priv = self.private_key()
            d["private_pem"] = priv.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode()
            d["public_pem"] = priv.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        return d


class Key:
    def __init__(self, name):
        self.name = name
        self.versions = []      # creation order; the last one is current
        self.deleted_date = None        # soft-deleted when set
        self.purge_date = None
        self.visible_at = 0.0           # listed under /deletedkeys from then on
        self.active_at = 0.0            # after a recover: served from then on

    find = Secret.find

    def current(self):
        return self.versions[-1] if self.versions else None

    def state(self, now=None):
        now = time.time() if now is None else now
        if self.deleted_date is not None:
            return "deleted" if now >= self.visible_at else "deleting"
        return "active" if now >= self.active_at else "recovering"


def rsa_padding(alg):
    if alg == "RSA1_5":
        return padding.PKCS1v15()
    h = hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def parse_action(action):
    """A data action, role name or short form -> list of action patterns."""
    if not isinstance(action, str) or not action.strip():
        raise ConfigError("an rbac action is a non-empty string")
    action = action.strip()
    if action in BUILTIN_ROLES:
        return list(BUILTIN_ROLES[action])
    if action == "*" or action.lower().startswith("microsoft."):
        return [action]
    short = ACTION_ALIASES.get(action.lower(), action)
    if not (short.endswith("/action") or short.endswith("*")
            or short.rsplit("/", 1)[-1] in ("read", "delete")):
        short += "/action"
    return [KV_ACTIONS + short]


def action_allowed(patterns, action):
    for p in patterns:
        rx = "^" + ".*".join(re.escape(x) for x in p.split("*")) + "$"
        if re.match(rx, action, re.IGNORECASE):
            return True
    return False


def load_public_keys(spec, where):
    """PEM public key, PEM certificate, JWKS {"keys": [...]}, or a list of
    them -> [(kid or None, public key)]."""
    need_crypto(where)
    out = []
    items = spec if isinstance(spec, list) else [spec]
    for item in items:
        if isinstance(item, dict):
            for jwk in item.get("keys", [item]):
                try:
                    pub = rsa.RSAPublicNumbers(
                        int.from_bytes(b64url_decode(jwk["e"]), "big"),
                        int.from_bytes(b64url_decode(jwk["n"]), "big")).public_key()
                except (KeyError, ValueError, TypeError) as e:
                    raise ConfigError("%s: bad RSA JWK: %s" % (where, e))
                out.append((jwk.get("kid"), pub))
        elif isinstance(item, str):
            try:
                if "CERTIFICATE" in item:
                    pub = x509.load_pem_x509_certificate(item.encode()).public_key()
                else:
                    pub = serialization.load_pem_public_key(item.encode())
            except ValueError as e:
                raise ConfigError("%s: not a PEM public key or certificate: %s" % (where, e))
            out.append((None, pub))
        else:
            raise ConfigError("%s: jwks is PEM text, a JWKS object or a list" % where)
    if not out:
        raise ConfigError("%s: no key" % where)
    return out


class ClientCert:
    def __init__(self, pem, where):
        need_crypto("certificates")
        try:
            self.cert = x509.load_pem_x509_certificate(pem.encode())
        except (ValueError, AttributeError) as e:
            raise ConfigError("%s: not a PEM certificate: %s" % (where, e))
        der = self.cert.public_bytes(serialization.Encoding.DER)
        h1, h256 = hashes.Hash(hashes.SHA1()), hashes.Hash(hashes.SHA256())
        h1.update(der)
        h256.update(der)
        self.sha1, self.sha256 = h1.finalize(), h256.finalize()

    def window(self):
        c = self.cert
        utc = datetime.timezone.utc
        if hasattr(c, "not_valid_after_utc"):      # cryptography >= 42
            return c.not_valid_before_utc.timestamp(), c.not_valid_after_utc.timestamp()
        return (c.not_valid_before.replace(tzinfo=utc).timestamp(),
                c.not_valid_after.replace(tzinfo=utc).timestamp())


def jwt_split(token):
    """-> (header, claims, signing input, signature) or None if malformed."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims, (parts[0] + "." + parts[1]).encode(), sig


def jwt_verify(pub, alg, signing_input, sig):
    h = getattr(hashes, JWT_HASHES[alg[2:]])()
    if alg.startswith("PS"):
        pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
    else:
        pad = padding.PKCS1v15()
    try:
        pub.verify(sig, signing_input, pad, h)
        return True
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return False


def aad_time(ts):
    dt = datetime.datetime.fromtimestamp(max(ts, 0), datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%07dZ" % (dt.microsecond * 10)


class Fault:
    ACTIONS = {"429", "503", "slow", "drop", "truncate", "redirect",
               "unauthorized", "status"}

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
        self.count = int(spec.get("count", 1))
        self.delay = min(float(spec.get("delay", 0)), MAX_DELAY)
        self.server = spec.get("server")   # "https", "http" or any

    def matches(self, method, path, server):
        if self.method and self.method.upper() != method:
            return False
        if self.server and self.server != server:
            return False
        return self.path.search(path) is not None

    def dump(self):
        d = dict(self.spec)
        d["remaining"] = self.count
        return d


class State:
    def __init__(self, config_path, log_path):
        self.lock = threading.RLock()
        self.config_path = config_path
        self.log_path = log_path
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.log_mem = []
        self.tokens = {}
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
        imds = {"enabled": True,
                "client_id": "22222222-3333-4444-5555-666666666666",
                "object_id": "33333333-4444-5555-6666-777777777777",
                "msi_res_id": None, "token_lifetime": 86399}
        imds.update(config.get("imds") or {})
        settings = {
            "tenant": config.get("tenant", DEFAULT_TENANT),
            "clients": config.get("clients",
                                  {"cmkfs-test-client": "cmkfs-test-secret"}),
            "authority_host": config.get("authority_host",
                                         "https://login.microsoftonline.com"),
            "token_lifetime": int(config.get("token_lifetime", 3599)),
            "imds": imds,
            "page_size": int(config.get("page_size", 25)),
            "empty_last_page": bool(config.get("empty_last_page", False)),
            "versions_order": config.get("versions_order", "id"),
            "recovery_level": config.get("recovery_level", "Recoverable+Purgeable"),
            "recoverable_days": config.get("recoverable_days", 90),
            "region": config.get("region", "emulator"),
            "vault_name": config.get("vault_name", "cmkfs-emulator"),
            "subscription_id": config.get("subscription_id",
                                          "00000000-0000-0000-0000-000000000000"),
            "resource_group": config.get("resource_group", "cmkfs-test"),
            "delete_delay": float(config.get("delete_delay", 0)),
            "recover_delay": float(config.get("recover_delay", 0)),
            "assertion_clock_skew": int(config.get("assertion_clock_skew", 300)),
        }
        self.check_settings(settings)
        secrets_map = {}
        raw = config.get("secrets") or {}
        if not isinstance(raw, dict):
            raise ConfigError("secrets must be an object")
        now = int(time.time())
        for name, spec in raw.items():
            if not NAME_RE.match(name):
                raise ConfigError("secret name %r is not valid in Key Vault" % name)
            if isinstance(spec, dict):
                vlist = spec.get("versions", [])
            elif isinstance(spec, list):
                vlist = spec
            else:
                vlist = [spec]
            s = Secret(name)
            for i, vspec in enumerate(vlist):
                v = Version(vspec, "secrets.%s[%d]" % (name, i),
                            now - 60 * (len(vlist) - i))
                if s.find(v.id):
                    raise ConfigError("secrets.%s: version %s twice" % (name, v.id))
                s.versions.append(v)
            secrets_map[name.lower()] = s
        keys_map = {}
        raw = config.get("keys") or {}
        if not isinstance(raw, dict):
            raise ConfigError("keys must be an object")
        for name, spec in raw.items():
            if not NAME_RE.match(name):
                raise ConfigError("key name %r is not valid in Key Vault" % name)
            if isinstance(spec, list):
                spec = {"versions": spec}
            if not isinstance(spec, dict):
                raise ConfigError("keys.%s: an object {\"versions\": [...]}" % name)
            vlist = spec.get("versions", [])
            k = Key(name)
            for i, vspec in enumerate(vlist):
                v = KeyVersion(vspec, "keys.%s[%d]" % (name, i),
                               now - 60 * (len(vlist) - i), name)
                if k.find(v.id):
                    raise ConfigError("keys.%s: version %s twice" % (name, v.id))
                k.versions.append(v)
            if spec.get("deleted"):
                k.deleted_date = now
                k.purge_date = now + 86400 * int(settings["recoverable_days"] or 90)
            keys_map[name.lower()] = k
        rbac = config.get("rbac")
        assignments = {}
        if rbac is not None:
            if not isinstance(rbac, dict):
                raise ConfigError('rbac is an object {"principal": [actions]}')
            for principal, actions in rbac.items():
                assignments[principal] = self.parse_actions(actions, "rbac." + principal)
        certs = {}
        for cid, pems in (config.get("certificates") or {}).items():
            pems = pems if isinstance(pems, list) else [pems]
            certs[cid] = [ClientCert(p, "certificates.%s[%d]" % (cid, i))
                          for i, p in enumerate(pems)]
        federated = {}
        for cid, records in (config.get("federated") or {}).items():
            records = records if isinstance(records, list) else [records]
            federated[cid] = [self.parse_fic(r, "federated.%s[%d]" % (cid, i))
                              for i, r in enumerate(records)]
        faults = [Fault(f) for f in (config.get("faults") or [])]
        static = {}
        for t in config.get("tokens") or []:
            static[t["token"]] = {"aud": t.get("audience", KV_RESOURCE),
                                  "exp": t.get("expires_on"), "static": True,
                                  "appid": t.get("appid", "static-token"),
                                  "oid": t.get("oid") or self.oid_for(t.get("appid", ""))}
        with self.lock:
            self.settings = settings
            self.secrets = secrets_map
            self.keys = keys_map
            self.rbac = {"enabled": rbac is not None, "assignments": assignments}
            self.certificates = certs
            self.federated = federated
            self.faults = faults
            self.tokens = {k: v for k, v in self.tokens.items()
                           if not v.get("static")}
            self.tokens.update(static)
        self.pregenerate([v for k in keys_map.values() for v in k.versions])

    @staticmethod
    def pregenerate(versions):
        """Makes the RSA keys of the config in the background (the GIL is
        released meanwhile), so that first requests rarely wait."""
        if versions:
            threading.Thread(target=lambda: [v.private_key() for v in versions],
                             daemon=True).start()

    @staticmethod
    def parse_actions(actions, where):
        if not isinstance(actions, list):
            raise ConfigError("%s: a list of data actions or role names" % where)
        out = []
        for a in actions:
            out.extend(parse_action(a))
        return out

    @staticmethod
    def parse_fic(rec, where):
        if not isinstance(rec, dict):
            raise ConfigError("%s: an object {issuer, subject, audience, jwks}" % where)
        for field in ("issuer", "subject", "jwks"):
            if not rec.get(field):
                raise ConfigError("%s: %s is required" % (where, field))
        auds = rec.get("audiences", rec.get("audience", FIC_AUDIENCE))
        auds = auds if isinstance(auds, list) else [auds]
        return {"issuer": rec["issuer"], "subject": rec["subject"], "audiences": auds,
                "keys": load_public_keys(rec["jwks"], where)}

    @staticmethod
    def oid_for(appid):
        """The service principal's object id: stable per application."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "kv-emulator-sp:" + (appid or "")))

    @staticmethod
    def check_settings(s):
        for k in ("delete_delay", "recover_delay"):
            if not 0 <= float(s[k]) <= MAX_DELAY:
                raise ConfigError("%s must be 0..%d seconds" % (k, MAX_DELAY))
        if not 0 <= int(s["assertion_clock_skew"]) <= 3600:
            raise ConfigError("assertion_clock_skew must be 0..3600 seconds")
        if not (1 <= s["page_size"] <= 25):
            raise ConfigError("page_size must be 1..25")
        if s["versions_order"] not in ("id", "created"):
            raise ConfigError('versions_order must be "id" or "created"')
        if not isinstance(s["clients"], dict):
            raise ConfigError("clients must be an object {client_id: secret}")

    # -- faults --------------------------------------------------------------
    def take_fault(self, method, path, server):
        with self.lock:
            for f in self.faults:
                if f.count != 0 and f.matches(method, path, server):
                    if f.count > 0:
                        f.count -= 1
                    self.faults = [x for x in self.faults if x.count != 0]
                    return f
        return None

    # -- tokens ----------------------------------------------------------------
    def mint(self, audience, lifetime, appid, oid=None):
        now = int(time.time())
        oid = oid or self.oid_for(appid)
        tenant = self.settings["tenant"]
        header = {"typ": "JWT", "alg": "RS256", "kid": "kv-emulator"}
        payload = {"aud": audience, "iss": "https://sts.windows.net/%s/" % tenant,
                   "iat": now, "nbf": now, "exp": now + lifetime,
                   "appid": appid, "idtyp": "app", "oid": oid,
                   "sub": oid, "tid": tenant,
                   "uti": b64url(os.urandom(16)), "ver": "1.0"}
        compact = {"separators": (",", ":")}
        token = ".".join([b64url(json.dumps(header, **compact).encode()),
                          b64url(json.dumps(payload, **compact).encode()),
                          b64url(os.urandom(64))])
        with self.lock:
            self.tokens[token] = {"aud": audience, "exp": now + lifetime,
                                  "nbf": now, "appid": appid, "oid": oid}
        return token, now, now + lifetime

    def token_check(self, authorization):
        """(None, token record) if the Authorization header holds a valid Key
        Vault token, else (message of the 401 answer, None)."""
        if not authorization:
            return AKV_MISSING, None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "pop") or not token:
            return AKV_MISSING, None
        with self.lock:
            rec = self.tokens.get(token)
        if rec is None:
            return AKV_MISSING, None
        if rec["exp"] is not None and rec["exp"] <= time.time():
            return AKV_EXPIRED, None
        if rec["aud"] not in KV_AUDIENCES:
            return ("AKV10022: Invalid audience. Expected %s, found: %s."
                    % (KV_RESOURCE, rec["aud"])), None
        return None, rec

    def token_problem(self, authorization):
        return self.token_check(authorization)[0]

    # -- RBAC ----------------------------------------------------------------
    def rbac_allows(self, rec, action):
        """True when RBAC is off or the caller holds the data action."""
        with self.lock:
            if not self.rbac["enabled"]:
                return True
            patterns = []
            for who in (rec.get("appid"), rec.get("oid")):
                patterns.extend(self.rbac["assignments"].get(who) or [])
        return action_allowed(patterns, action)

    def expire_tokens(self):
        now = int(time.time())
        with self.lock:
            for rec in self.tokens.values():
                rec["exp"] = now

    # -- secrets -------------------------------------------------------------
    def secret(self, name):
        return self.secrets.get(name.lower())

    def add_version(self, name, spec):
        if not NAME_RE.match(name):
            raise ConfigError("secret name %r is not valid in Key Vault" % name)
        with self.lock:
            s = self.secrets.get(name.lower())
            if s is None:
                s = self.secrets[name.lower()] = Secret(name)
            now = int(time.time())
            v = Version(spec, "secret %s" % name, now)
            if s.find(v.id):
                raise ConfigError("version %s exists" % v.id)
            s.versions.append(v)
            return s, v

    def sorted_versions(self, s):
        if self.settings["versions_order"] == "created":
            return list(s.versions)
        return sorted(s.versions, key=lambda v: v.id)

    # -- keys ------------------------------------------------------------------
    def key(self, name, states=("active",)):
        """The key if it is in one of states (active, deleting, deleted,
        recovering), else None."""
        k = self.keys.get(name.lower())
        if k is None or k.state() not in states:
            return None
        return k

    def add_key_version(self, name, spec):
        """Adds a version; ConfigError if the name is invalid, or a
        (status, code, message, inner) tuple in KeyConflict if deleted."""
        if not NAME_RE.match(name):
            raise ConfigError("key name %r is not valid in Key Vault" % name)
        with self.lock:
            k = self.keys.get(name.lower())
            if k is not None and k.state() in ("deleted", "deleting"):
                raise KeyConflict(k)
            now = int(time.time())
            v = KeyVersion(spec, "key %s" % name, now, name)
            if k is None:
                k = self.keys[name.lower()] = Key(name)
            if k.find(v.id):
                raise ConfigError("version %s exists" % v.id)
            k.versions.append(v)
            return k, v

    def delete_key(self, k, delay):
        now = time.time()
        with self.lock:
            k.deleted_date = int(now)
            k.purge_date = int(now) + 86400 * int(self.settings["recoverable_days"] or 90)
            k.visible_at = now + delay

    def recover_key(self, k, delay):
        with self.lock:
            k.deleted_date = k.purge_date = None
            k.active_at = time.time() + delay

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
            return {"settings": self.settings,
                    "secrets": {s.name: [v.dump() for v in s.versions]
                                for s in self.secrets.values()},
                    "keys": {k.name: {"state": k.state(), "deleted_date": k.deleted_date,
                                      "versions": [v.dump() for v in k.versions]}
                             for k in self.keys.values()},
                    "rbac": self.rbac,
                    "certificates": {c: [x.sha256.hex() for x in xs]
                                     for c, xs in self.certificates.items()},
                    "federated": {c: [{"issuer": r["issuer"], "subject": r["subject"],
                                       "audiences": r["audiences"]} for r in rs]
                                  for c, rs in self.federated.items()},
                    "faults": [f.dump() for f in self.faults],
                    "tokens_issued": len(self.tokens),
                    "ports": self.ports}


class Dropped(Exception):
    """The connection was closed on purpose; send nothing more."""


def aad_error(status, error, code, description):
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    return status, {
        "error": error,
        "error_description": "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s"
                             "\r\nTimestamp: %s" % (code, description, trace, corr, stamp),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    }


def kv_error(status, code, message, inner=None):
    err = {"code": code, "message": message}
    if inner:
        err["innererror"] = {"code": inner}
    return status, {"error": err}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kv-emulator"
    sys_version = ""
    timeout = 60            # idle keep-alive connections are closed after this

    def version_string(self):
        return self.server_version

    # quiet: the JSON log replaces the default stderr lines
    def log_message(self, fmt, *args):
        pass

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
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body=None, headers=None, content_type=None):
        if isinstance(body, (dict, list)):
            data = json.dumps(body, separators=(",", ":")).encode()
            content_type = content_type or "application/json; charset=utf-8"
        elif isinstance(body, str):
            data = body.encode()
            content_type = content_type or "text/plain; charset=utf-8"
        else:
            data = body or b""
        self.entry["status"] = status
        self.log_entry()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if content_type and data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def log_entry(self):
        """Logs the request once, before its answer goes out, so the log is
        complete by the time a client has the answer."""
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
        host = self.headers.get("Host")
        if not host:
            host = "127.0.0.1:%d" % self.server.server_address[1]
        return host

    def host_port(self):
        """hostname:port with the port always explicit, as in nextLink."""
        parsed = urllib.parse.urlsplit("//" + self.host())
        port = parsed.port or self.server.server_address[1]
        hostname = parsed.hostname or "127.0.0.1"
        if ":" in hostname:
            hostname = "[%s]" % hostname
        return "%s:%d" % (hostname, port)

    def kv_headers(self):
        h = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "-1",
             "x-ms-keyvault-region": self.state.settings["region"],
             "x-ms-request-id": str(uuid.uuid4()),
             "x-ms-keyvault-service-version": "1.9.0.0",
             "x-ms-keyvault-network-info":
                 "conn_type=Ipv4;addr=%s;act_addr_fam=InterNetwork;" % self.client_address[0],
             "Strict-Transport-Security": "max-age=31536000;includeSubDomains",
             "X-Content-Type-Options": "nosniff"}
        crid = self.headers.get("x-ms-client-request-id")
        if crid:
            h["x-ms-client-request-id"] = crid
        return h

    def challenge_headers(self):
        h = self.kv_headers()
        s = self.state.settings
        h["WWW-Authenticate"] = 'Bearer authorization="%s/%s", resource="%s"' % (
            s["authority_host"].rstrip("/"), s["tenant"], KV_RESOURCE)
        return h

    def kv_send(self, result, headers=None):
        status, body = result
        h = self.kv_headers()
        h.update(headers or {})
        self.send(status, body, h)

    # -- dispatch ------------------------------------------------------------
    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        server = self.server.kind
        if path.startswith("/metadata/"):
            kind = "imds"
        elif re.match(r"^/[^/]+/oauth2/", path):
            kind = "token"
        elif (path.startswith("/secrets") or path.startswith("/keys")
              or path.startswith("/deletedkeys") or server == "https"):
            kind = "kv"
        else:
            kind = "other"
        redacted = "&".join(
            "%s=%s" % (k, "REDACTED" if k.lower() in SENSITIVE_QUERY else v)
            for k, vs in query.items() for v in vs)
        self.entry = {
            "ts": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "server": server, "kind": kind, "method": method, "path": path,
            "query": redacted, "host": self.headers.get("Host"),
            "auth": bool(self.headers.get("Authorization")),
            "status": None, "fault": None}
        if kind == "imds":
            self.entry["metadata"] = self.headers.get("Metadata") is not None
        crid = self.headers.get("x-ms-client-request-id")
        if crid is not None:
            self.entry["client_request_id"] = crid
        admin = path == "/_emulator" or path.startswith("/_emulator/")
        self.admin_call = admin
        self.logged = False
        try:
            try:
                body = self.read_body()
            except (ValueError, OSError):
                self.close_connection = True
                self.send(413, {"error": "request body too large or malformed"})
                return
            if admin:
                self.admin(method, path, body)
                return
            fault = self.state.take_fault(method, path, server)
            if fault and self.apply_fault(fault, method, url):
                return
            if kind == "imds":
                self.imds(method, path, query)
            elif kind == "token":
                self.token(method, path, body)
            elif kind == "kv":
                self.vault(method, path, query, body)
            else:
                self.send(404, {"error": "not_found",
                                "error_description": "Unknown path on this port"})
        except Dropped:
            pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception:           # an emulator bug: say so loudly, answer 500
            traceback.print_exc()
            self.close_connection = True
            if not self.logged:
                try:
                    self.send(500, {"error": {"code": "InternalServerError",
                                              "message": "kv_emulator bug, see its stderr"}})
                except OSError:
                    pass
        finally:
            self.log_entry()

    def apply_fault(self, f, method, url):
        """Returns True when the fault produced the whole answer."""
        self.entry["fault"] = f.action
        if f.delay > 0:
            time.sleep(f.delay)
        a = f.action
        if a == "slow":
            return False
        if a == "drop":
            self.log_entry()
            self.drop()
        kv_like = self.entry["kind"] == "kv"
        if a in ("429", "503"):
            retry = f.spec.get("retry_after", 1)
            h = self.kv_headers() if kv_like else {}
            h["Retry-After"] = str(retry)
            if a == "429":
                body = (kv_error(429, "Throttled", THROTTLED)[1] if kv_like else
                        {"error": "temporarily_unavailable",
                         "error_description": "Too many requests"})
            else:
                body = (kv_error(503, "ServiceUnavailable",
                                 "The service is temporarily unavailable. "
                                 "Please retry later.")[1] if kv_like else
                        {"error": "temporarily_unavailable",
                         "error_description": "Service unavailable"})
            self.send(int(a), body, h)
            return True
        if a == "truncate":
            data = json.dumps({"value": "x" * 64, "id": "truncated"}).encode()
            self.entry["status"] = 200
            self.log_entry()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.drop()
        if a == "redirect":
            loc = f.spec.get("location")
            if not loc:
                hostname = urllib.parse.urlsplit("//" + self.host()).hostname
                other = "127.0.0.1" if hostname == "localhost" else "localhost"
                loc = "https://%s:%d%s" % (other, self.server.server_address[1],
                                           url.path + ("?" + url.query if url.query else ""))
            self.send(int(f.spec.get("status", 307)), b"", {"Location": loc})
            return True
        if a == "unauthorized":
            self.send(*kv_error(401, "Unauthorized", AKV_MISSING),
                      headers=self.challenge_headers())
            return True
        if a == "status":
            body = f.spec.get("body", "")
            self.send(int(f.spec.get("status", 500)), body,
                      dict(f.spec.get("headers") or {}))
            return True
        return False

    # -- Microsoft identity platform: client credentials ---------------------
    def token(self, method, path, body):
        s = self.state.settings
        m = re.match(r"^/([^/]+)/oauth2/v2\.0/token$", path)
        if not m:
            self.send(404, {"error": "not_found"})
            return
        if method != "POST":
            self.send(*aad_error(400, "invalid_request", 900561,
                                 "The endpoint only accepts POST requests. "
                                 "Received a %s request." % method))
            return
        tenant = urllib.parse.unquote(m.group(1))
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        form = {}
        if ctype == "application/x-www-form-urlencoded":
            form = {k: v[0] for k, v in urllib.parse.parse_qs(
                body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache",
                   "Expires": "-1", "X-Content-Type-Options": "nosniff",
                   "x-ms-request-id": str(uuid.uuid4())}
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):       # client_secret_basic
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
                form.setdefault("client_id", urllib.parse.unquote_plus(user))
                form.setdefault("client_secret", urllib.parse.unquote_plus(pw))
            except (ValueError, UnicodeDecodeError):
                pass
        self.entry["client_id"] = form.get("client_id")

        def fail(result):
            status, obj = result
            self.send(status, obj, headers)

        if tenant != s["tenant"]:
            return fail(aad_error(400, "invalid_request", 90002,
                                  "Tenant '%s' not found. Check to make sure you have "
                                  "the correct tenant ID and are signing into the "
                                  "correct cloud." % tenant))
        for field in ("grant_type", "client_id"):
            if not form.get(field):
                return fail(aad_error(400, "invalid_request", 900144,
                                      "The request body must contain the following "
                                      "parameter: '%s'." % field))
        if form["grant_type"] != "client_credentials":
            return fail(aad_error(400, "unsupported_grant_type", 70003,
                                  "The app requested an unsupported grant type '%s'."
                                  % form["grant_type"]))
        client_id = form["client_id"]
        with self.state.lock:
            known = (client_id in s["clients"] or client_id in self.state.certificates
                     or client_id in self.state.federated)
        if not known:
            return fail(aad_error(400, "unauthorized_client", 700016,
                                  "Application with identifier '%s' was not found in "
                                  "the directory '%s'. This can happen if the "
                                  "application has not been installed by the "
                                  "administrator of the tenant or consented to by any "
                                  "user in the tenant. You may have sent your "
                                  "authentication request to the wrong tenant."
                                  % (client_id, tenant)))
        if not form.get("client_secret") and not form.get("client_assertion"):
            return fail(aad_error(401, "invalid_client", 7000218,
                                  "The request body must contain the following "
                                  "parameter: 'client_assertion' or 'client_secret'."))
        if form.get("client_assertion"):
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                if not form.get("client_assertion_type"):
                    return fail(aad_error(400, "invalid_request", 900144,
                                          "The request body must contain the following "
                                          "parameter: 'client_assertion_type'."))
                return fail(aad_error(400, "invalid_request", 90014,
                                      "The required field 'client_assertion_type' is "
                                      "missing or invalid. Ensure that you have all the "
                                      "necessary parameters for the login request."))
            problem, credential = self.check_assertion(form["client_assertion"],
                                                       client_id, tenant)
            if problem:
                return fail(problem)
            self.entry["credential"] = credential
        elif form.get("client_secret") != s["clients"].get(client_id):
            return fail(aad_error(401, "invalid_client", 7000215,
                                  "Invalid client secret provided. Ensure the secret "
                                  "being sent in the request is the client secret "
                                  "value, not the client secret ID, for a secret added "
                                  "to app '%s'." % client_id))
        else:
            self.entry["credential"] = "secret"
        if not form.get("scope"):
            return fail(aad_error(400, "invalid_request", 900144,
                                  "The request body must contain the following "
                                  "parameter: 'scope'."))
        resources = [x for x in form["scope"].split() if x not in OIDC_SCOPES]
        if len(resources) != 1 or not resources[0].endswith("/.default"):
            return fail(aad_error(400, "invalid_scope", 1002012,
                                  "The provided value for scope %s is not valid. Client "
                                  "credential flows must have a scope value with "
                                  "/.default suffixed to the resource identifier "
                                  "(application ID URI)." % form["scope"]))
        resource = resources[0][:-len("/.default")]
        if resource.rstrip("/") not in KNOWN_RESOURCES:
            return fail(aad_error(400, "invalid_resource", 500011,
                                  "The resource principal named %s was not found in "
                                  "the tenant named %s. This can happen if the "
                                  "application has not been installed by the "
                                  "administrator of the tenant or consented to by any "
                                  "user in the tenant. You might have sent your "
                                  "authentication request to the wrong tenant."
                                  % (resource, tenant)))
        lifetime = s["token_lifetime"]
        token, _, _ = self.state.mint(resource, lifetime, client_id)
        self.send(200, {"token_type": "Bearer", "expires_in": lifetime,
                        "ext_expires_in": lifetime, "access_token": token}, headers)

    def token_endpoints(self, tenant):
        """The "aud" values a client assertion may carry: this endpoint under
        the host the client used and under authority_host (v2.0 and v1)."""
        hosts = {"https://" + self.host(), "https://" + self.host_port(),
                 self.state.settings["authority_host"].rstrip("/")}
        return {("%s/%s/oauth2/%stoken" % (h, tenant, v)).lower()
                for h in hosts for v in ("v2.0/", "")}

    def check_assertion(self, assertion, client_id, tenant):
        """-> (aad_error result or None, "certificate" | "federated")."""
        if not HAVE_CRYPTO:
            return aad_error(400, "invalid_request", 50027,
                             "JWT token is invalid or malformed. (kv_emulator: "
                             "python3-cryptography is not installed)"), None
        parsed = jwt_split(assertion)
        if parsed is None:
            return aad_error(400, "invalid_request", 50027,
                             "JWT token is invalid or malformed."), None
        header, claims, signing_input, sig = parsed
        for field in ("iss", "sub", "aud"):
            if not claims.get(field):
                return aad_error(400, "invalid_request", 90014,
                                 "The required field '%s' is missing from the "
                                 "credential. Ensure that you have all the necessary "
                                 "parameters for the login request." % field), None
        alg = header.get("alg")
        if alg not in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
            return aad_error(401, "invalid_client", 5002738,
                             "Invalid JWT token. '%s' is not a supported signature "
                             "algorithm. Supported signing algorithms are: "
                             "'RS256,RS384,RS512'" % alg), None
        if claims["iss"] == client_id:
            return self.check_cert_assertion(header, claims, signing_input, sig,
                                             alg, client_id, tenant), "certificate"
        if str(claims["iss"]).startswith("https://"):
            return self.check_federated(claims, signing_input, sig, alg,
                                        header.get("kid"), client_id), "federated"
        return aad_error(401, "invalid_client", 700021,
                         "Client assertion application identifier doesn't match "
                         "'client_id' parameter. " + CERT_DOC), None

    def assertion_time(self, claims):
        """aad_error for an assertion outside nbf..exp (with clock skew)."""
        now = time.time()
        skew = self.state.settings["assertion_clock_skew"]
        nbf = claims.get("nbf", 0)
        exp = claims.get("exp")
        bad = not isinstance(exp, (int, float)) or not isinstance(nbf, (int, float))
        if bad or nbf - skew > now or exp + skew <= now:
            return aad_error(401, "invalid_client", 700024,
                             "Client assertion is not within its valid time range. "
                             "Current time: %s, assertion valid from %s, expiry time "
                             "of assertion %s. %s" % (
                                 aad_time(now), aad_time(nbf if not bad else 0),
                                 aad_time(exp if isinstance(exp, (int, float)) else 0),
                                 CERT_DOC))
        return None

    def check_cert_assertion(self, header, claims, signing_input, sig, alg,
                             client_id, tenant):
        if claims["sub"] != client_id:
            return aad_error(401, "invalid_client", 700021,
                             "Client assertion application identifier doesn't match "
                             "'client_id' parameter. " + CERT_DOC)
        auds = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        ok = self.token_endpoints(tenant)
        if not any(isinstance(a, str) and a.lower() in ok for a in auds):
            return aad_error(401, "invalid_client", 700023,
                             "Client assertion audience claim does not match Realm "
                             "issuer. " + CERT_DOC)
        x5t256, x5t = header.get("x5t#S256"), header.get("x5t")
        if not x5t256 and not x5t:
            return aad_error(401, "invalid_client", 5002723,
                             "Invalid JWT token. No certificate SHA-1 thumbprint, "
                             "certificate SHA-256 thumbprint, nor keyId specified in "
                             "token header.")
        try:
            thumb = b64url_decode(x5t256 or x5t)
        except (ValueError, TypeError):
            thumb = b""
        with self.state.lock:
            certs = list(self.state.certificates.get(client_id) or [])
        cert = next((c for c in certs
                     if thumb == (c.sha256 if x5t256 else c.sha1)), None)
        if cert is None:
            return aad_error(401, "invalid_client", 700027,
                             "Client assertion contains an invalid signature. [Reason "
                             "- The key was not found., Thumbprint of key used by "
                             "client: '%s', Please visit the Azure Portal, Graph "
                             "Explorer or directly use MS Graph to see configured "
                             "keys for app Id '%s'. Review the documentation at "
                             "https://docs.microsoft.com/en-us/graph/deployments to "
                             "determine the corresponding service endpoint and "
                             "https://docs.microsoft.com/en-us/graph/api/application-"
                             "get?view=graph-rest-1.0&tabs=http to build a query "
                             "request URL, such as 'https://graph.microsoft.com/beta/"
                             "applications/%s']" % (thumb.hex().upper(), client_id,
                                                    client_id))
        start, end = cert.window()
        if time.time() >= end:
            fmt = "%m/%d/%Y %H:%M:%S"
            utc = datetime.timezone.utc
            return aad_error(401, "invalid_client", 700027,
                             "Client assertion contains an invalid signature. [Reason "
                             "- The key used is expired., Thumbprint of key used by "
                             "client: '%s', Found key 'Start=%s, End=%s']" % (
                                 thumb.hex().upper(),
                                 datetime.datetime.fromtimestamp(start, utc).strftime(fmt),
                                 datetime.datetime.fromtimestamp(end, utc).strftime(fmt)))
        if not jwt_verify(cert.cert.public_key(), alg, signing_input, sig):
            return aad_error(401, "invalid_client", 700027,
                             "Client assertion failed signature validation.")
        return self.assertion_time(claims)

    def check_federated(self, claims, signing_input, sig, alg, kid, client_id):
        auds = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        with self.state.lock:
            records = list(self.state.federated.get(client_id) or [])
        match = [r for r in records
                 if r["issuer"] == claims["iss"] and r["subject"] == claims["sub"]
                 and any(a in r["audiences"] for a in auds)]
        if not match:
            return aad_error(400, "invalid_request", 70021,
                             "No matching federated identity record found for presented "
                             "assertion. Assertion Issuer: '%s'. Assertion Subject: "
                             "'%s'. Assertion Audience: '%s'." % (
                                 claims["iss"], claims["sub"], ",".join(map(str, auds))))
        keys = [pub for r in match for k, pub in r["keys"] if kid is None or k in (None, kid)]
        if not any(jwt_verify(pub, alg, signing_input, sig) for pub in keys):
            return aad_error(401, "invalid_client", 700027,
                             "Client assertion failed signature validation.")
        return self.assertion_time(claims)

    # -- IMDS ------------------------------------------------------------------
    def imds(self, method, path, query):
        s = self.state.settings["imds"]
        headers = {}
        if path != "/metadata/identity/oauth2/token":
            self.send(404, {"error": "not_found",
                            "error_description": "The requested path is not found"},
                      headers)
            return
        if method != "GET":
            self.send(405, {"error": "invalid_request",
                            "error_description": "Method not allowed"}, headers)
            return
        if self.headers.get("Metadata") != "true":
            self.send(400, {"error": "invalid_request",
                            "error_description": "Required metadata header not specified"},
                      headers)
            return
        if self.headers.get("X-Forwarded-For"):
            self.send(400, {"error": "invalid_request",
                            "error_description": "Request contains X-Forwarded-For header"},
                      headers)
            return
        q = {k: v[0] for k, v in query.items()}
        for field in ("api-version", "resource"):
            if not q.get(field):
                self.send(400, {"error": "invalid_request",
                                "error_description": "Required query variable '%s' is "
                                                     "missing" % field}, headers)
                return
        picked = [(k, q[k]) for k in ("client_id", "object_id", "msi_res_id") if q.get(k)]
        if not s.get("enabled") or any(s.get(k) != v for k, v in picked):
            self.send(400, {"error": "invalid_request",
                            "error_description": "Identity not found"}, headers)
            return
        resource = q["resource"]
        if resource.rstrip("/") not in KNOWN_RESOURCES:
            self.send(400, {"error": "invalid_resource",
                            "error_description": "AADSTS500011: The resource principal "
                                                 "named %s was not found in the tenant "
                                                 "named %s." % (resource,
                                                                self.state.settings["tenant"])},
                      headers)
            return
        lifetime = int(s.get("token_lifetime", 86399))
        token, now, exp = self.state.mint(resource, lifetime, s["client_id"],
                                          s.get("object_id"))
        self.send(200, {"access_token": token, "client_id": s["client_id"],
                        "expires_in": str(lifetime), "expires_on": str(exp),
                        "ext_expires_in": str(lifetime), "not_before": str(now),
                        "resource": resource, "token_type": "Bearer"}, headers)

    # -- Key Vault data plane ----------------------------------------------------
    def vault(self, method, path, query, body):
        if self.server.kind != "https":
            self.send(404, {"error": "not_found"})
            return
        problem, rec = self.state.token_check(self.headers.get("Authorization"))
        if problem:
            self.send(*kv_error(401, "Unauthorized", problem),
                      headers=self.challenge_headers())
            return
        self.caller = rec
        self.entry["appid"] = rec.get("appid")
        api = (query.get("api-version") or [""])[0]
        if not api:
            return self.kv_send(kv_error(400, "BadParameter",
                                         "The api-version query parameter is missing."))
        if not (API_7X.match(api) or api in DATE_APIS):
            return self.kv_send(kv_error(
                400, "BadParameter", "The specified version (%s) is not recognized. "
                "Consider using the latest supported version (%s)." % (api, LATEST_API)))
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        # ['secrets'] | ['secrets', ''] | ['secrets', name] | ['secrets', name, '']
        # | ['secrets', name, 'versions'] | ['secrets', name, version]
        if parts and parts[-1] == "" and len(parts) in (2, 3):
            parts = parts[:-1]
        if parts[0] == "secrets" and len(parts) <= 3:
            return self.secrets_api(method, parts, query, body, api)
        if parts[0].lower() == "keys" and len(parts) <= 4:
            return self.keys_api(method, parts, query, body, api)
        if parts[0].lower() == "deletedkeys" and len(parts) <= 3:
            return self.deleted_keys_api(method, parts, query, api)
        return self.not_a_resource()

    def not_a_resource(self):
        return self.kv_send(kv_error(404, "NotFound",
                                     "The requested URI does not represent any "
                                     "resource on the server."))

    def method_not_allowed(self, method):
        return self.kv_send(kv_error(405, "MethodNotAllowed",
                                     "The requested resource does not support http "
                                     "method '%s'." % method))

    def denied(self, action, suffix, alternatives=()):
        """Answers 403 ForbiddenByRbac (and returns True) when RBAC is on and
        the caller holds none of action and alternatives."""
        full = KV_ACTIONS + action
        st = self.state
        if any(st.rbac_allows(self.caller, KV_ACTIONS + a) for a in (action,) + alternatives):
            return False
        s = st.settings
        vault = s["vault_name"].lower()
        resource = ("/subscriptions/%s/resourcegroups/%s/providers/microsoft.keyvault/"
                    "vaults/%s%s" % (s["subscription_id"], s["resource_group"], vault,
                                     suffix or "")).lower()
        message = ("Caller is not authorized to perform action on resource.\r\n"
                   "If role assignments, deny assignments or role definitions were "
                   "changed recently, please observe propagation time.\r\n"
                   "Caller: appid=%s;oid=%s;iss=https://sts.windows.net/%s/\r\n"
                   "Action: '%s'\r\n"
                   "Resource: '%s'\r\n"
                   "Assignment: (not found)\r\n"
                   "DenyAssignmentId: null\r\n"
                   "DecisionReason: 'DeniedWithNoValidRBAC' \r\n"
                   "Vault: %s;location=%s\r\n" % (
                       self.caller.get("appid"), self.caller.get("oid"), s["tenant"],
                       full, resource, vault, s["region"]))
        self.entry["rbac"] = full
        self.kv_send(kv_error(403, "Forbidden", message, inner="ForbiddenByRbac"))
        return True

    def secrets_api(self, method, parts, query, body, api):
        allowed = {1: ("GET",), 2: ("GET", "PUT"), 3: ("GET", "PATCH")}[len(parts)]
        if method not in allowed:
            return self.method_not_allowed(method)
        if len(parts) == 1:
            if self.denied("secrets/readMetadata/action", None):
                return None
            return self.list_secrets(query, api)
        name = parts[1]
        suffix = "/secrets/" + name
        if method == "PUT":
            if self.denied("secrets/setSecret/action", suffix):
                return None
            return self.set_secret(name, body)
        if len(parts) == 3 and parts[2] == "versions" and method == "GET":
            if self.denied("secrets/readMetadata/action", suffix):
                return None
            return self.list_versions(name, query, api)
        version = parts[2] if len(parts) == 3 else ""
        if method == "PATCH":
            if self.denied("secrets/update/action", suffix):
                return None
            return self.update_secret(name, version, body)
        if self.denied("secrets/getSecret/action", suffix):
            return None
        with self.state.lock:
            s = self.state.secret(name)
            v = None
            if s and s.versions:
                v = s.find(version) if version else s.versions[-1]
            if v is None:
                nid = "%s/%s" % (name, version) if version else name
                return self.kv_send(kv_error(404, "SecretNotFound",
                                             "A secret with (name/id) %s%s"
                                             % (nid, NOT_FOUND_TAIL)))
            if not v.enabled:
                return self.kv_send(kv_error(403, "Forbidden",
                                             "Operation get is not allowed on a "
                                             "disabled secret.", inner="SecretDisabled"))
            self.kv_send((200, self.bundle(s, v, True)))

    # -- keys ----------------------------------------------------------------------
    def keys_api(self, method, parts, query, body, api):
        """Routes /keys...: (operation, data action, allowed method)."""
        n = len(parts)
        if n == 1:
            if method != "GET":
                return self.method_not_allowed(method)
            if self.denied("keys/read", None):
                return None
            return self.list_keys(query, api)
        name = parts[1]
        seg = parts[2].lower() if n >= 3 else None
        version = ""
        if n == 2:
            routes = {"GET": ("get", "keys/read"), "DELETE": ("delete", "keys/delete"),
                      "PATCH": ("update", "keys/update/action")}
        elif n == 3 and seg == "versions":
            routes = {"GET": ("versions", "keys/read")}
        elif n == 3 and seg == "create":
            routes = {"POST": ("create", "keys/create/action")}
        elif n == 3 and seg == "rotate":
            routes = {"POST": ("rotate", "keys/rotate/action")}
        elif n == 3 and seg in CRYPTO_OPS:
            routes = {"POST": (seg, CRYPTO_OPS[seg][1])}
        elif n == 3 and HEX32.match(seg):
            version = seg
            routes = {"GET": ("get", "keys/read"), "PATCH": ("update", "keys/update/action")}
        elif n == 4 and (seg == "" or HEX32.match(seg)) and parts[3].lower() in CRYPTO_OPS:
            version = seg       # "" (keys/{name}//wrapkey, as the SDKs send a
            #                     version-less key id): the current version
            op = parts[3].lower()
            routes = {"POST": (op, CRYPTO_OPS[op][1])}
        else:
            return self.not_a_resource()
        if method not in routes:
            return self.method_not_allowed(method)
        op, action = routes[method]
        # wrap/encrypt with an asymmetric key: principals with read access
        # may do it too (Microsoft's data action reference says so).
        alt = ("keys/read",) if op in ("wrapkey", "encrypt") else ()
        if self.denied(action, "/keys/" + name, alt):
            return None
        if op == "get":
            return self.get_key(name, version, api)
        if op == "versions":
            return self.list_key_versions(name, query, api)
        if op == "create":
            return self.create_key(name, body, api)
        if op == "update":
            return self.update_key(name, version, body, api)
        if op == "rotate":
            return self.rotate_key(name, api)
        if op == "delete":
            return self.delete_key(name, api)
        return self.key_crypto(name, version, op, body, api)

    def deleted_keys_api(self, method, parts, query, api):
        n = len(parts)
        if n == 1:
            routes = {"GET": ("list", "keys/read")}
        elif n == 2:
            routes = {"GET": ("get", "keys/read"), "DELETE": ("purge", "keys/purge/action")}
        elif n == 3 and parts[2].lower() == "recover":
            routes = {"POST": ("recover", "keys/recover/action")}
        else:
            return self.not_a_resource()
        if method not in routes:
            return self.method_not_allowed(method)
        op, action = routes[method]
        if self.denied(action, "/keys/" + parts[1] if n > 1 else None):
            return None
        if op == "list":
            return self.list_deleted_keys(query, api)
        name = parts[1]
        with self.state.lock:
            k = self.state.key(name, ("deleted",))
        if k is None:
            return self.kv_send(kv_error(404, "KeyNotFound",
                                         "Deleted Key not found: %s" % name))
        if op == "get":
            return self.kv_send((200, self.deleted_bundle(k, api)))
        if op == "purge":
            with self.state.lock:
                self.state.keys.pop(k.name.lower(), None)
            return self.kv_send((204, None))
        self.state.recover_key(k, self.state.settings["recover_delay"])
        return self.kv_send((200, self.key_bundle(k, k.current(), api)))

    def key_not_found(self, name, version=""):
        nid = "%s/%s" % (name, version) if version else name
        return self.kv_send(kv_error(404, "KeyNotFound", "A key with (name/id) %s%s"
                                     % (nid, KEY_NOT_FOUND_TAIL)))

    def find_key(self, name, version):
        """(key, version) of an active key, or None after answering 404."""
        with self.state.lock:
            k = self.state.key(name)
            v = None
            if k is not None:
                v = k.find(version) if version else k.current()
        if v is None:
            self.key_not_found(name, version)
            return None
        return k, v

    def kid(self, k, v=None):
        kid = "https://%s/keys/%s" % (self.host(), k.name)
        return kid + "/" + v.id if v is not None else kid

    def key_bundle(self, k, v, api):
        b = {"key": v.jwk(self.kid(k, v)),
             "attributes": v.attributes(self.state.settings, api)}
        if v.tags:
            b["tags"] = v.tags
        return b

    def deleted_bundle(self, k, api):
        b = {"recoveryId": "https://%s/deletedkeys/%s" % (self.host(), k.name),
             "deletedDate": k.deleted_date, "scheduledPurgeDate": k.purge_date}
        b.update(self.key_bundle(k, k.current(), api))
        return b

    def get_key(self, name, version, api):
        # A disabled key's bundle is still served: only crypto operations
        # refuse it (SDK live tests disable a key, then get it).
        found = self.find_key(name, version)
        if found:
            self.kv_send((200, self.key_bundle(found[0], found[1], api)))

    def key_item(self, k, v, api, with_version):
        item = {"kid": self.kid(k, v if with_version else None),
                "attributes": v.attributes(self.state.settings, api)}
        if v.tags:
            item["tags"] = v.tags
        return item

    def list_key_versions(self, name, query, api):
        with self.state.lock:
            k = self.state.key(name)
            items = []
            if k:
                for v in self.state.sorted_versions(k):
                    key = v.id if self.state.settings["versions_order"] == "id" else \
                        "%012d%s" % (k.versions.index(v), v.id)
                    items.append((key, self.key_item(k, v, api, True)))
            base = "/keys/%s/versions" % (k.name if k else name)
        self.paged(items, query, api, base)

    def list_keys(self, query, api):
        with self.state.lock:
            items = [(k.name.lower(), self.key_item(k, k.current(), api, False))
                     for k in sorted(self.state.keys.values(), key=lambda x: x.name.lower())
                     if k.versions and k.state() == "active"]
        self.paged(items, query, api, "/keys")

    def list_deleted_keys(self, query, api):
        with self.state.lock:
            items = []
            for k in sorted(self.state.keys.values(), key=lambda x: x.name.lower()):
                if k.versions and k.state() == "deleted":
                    item = {"recoveryId": "https://%s/deletedkeys/%s" % (self.host(), k.name),
                            "deletedDate": k.deleted_date,
                            "scheduledPurgeDate": k.purge_date}
                    item.update(self.key_item(k, k.current(), api, False))
                    items.append((k.name.lower(), item))
        self.paged(items, query, api, "/deletedkeys")

    def key_attrs_spec(self, obj, spec):
        """Copies attributes/key_ops/tags of a create or update body into
        spec; answers 400 and returns False when one is not valid."""
        attrs = obj.get("attributes")
        if attrs is not None and not isinstance(attrs, dict):
            self.kv_send(kv_error(400, "BadParameter", "Property attributes has invalid "
                                  "value\r\n"))
            return False
        for k in ("enabled", "nbf", "exp"):
            if attrs and attrs.get(k) is not None:
                val = attrs[k]
                if (k == "enabled") != isinstance(val, bool) or not isinstance(val, int):
                    self.kv_send(kv_error(400, "BadParameter", "Property %s has invalid "
                                          "value\r\n" % k))
                    return False
                spec[k] = val
        if obj.get("key_ops") is not None:
            try:
                spec["key_ops"] = check_key_ops(obj["key_ops"], "key_ops")
            except ConfigError as e:
                self.kv_send(kv_error(400, "BadParameter", str(e)))
                return False
        if obj.get("tags") is not None:
            if not isinstance(obj["tags"], dict):
                self.kv_send(kv_error(400, "BadParameter", "Property tags has invalid "
                                      "value\r\n"))
                return False
            spec["tags"] = obj["tags"]
        return True

    def create_key(self, name, body, api, rotate_from=None):
        if not NAME_RE.match(name):
            return self.kv_send(kv_error(400, "BadParameter",
                                         "The request URI contains an invalid name: %s" % name))
        if rotate_from is None:
            obj = self.json_body(body)
            if obj is None:
                return None
            kty = obj.get("kty")
            if kty not in RSA_KTYS:
                return self.kv_send(kv_error(
                    400, "BadParameter",
                    "Property kty has invalid value\r\n" if kty not in (
                        "EC", "EC-HSM", "oct", "oct-HSM") else
                    "kv_emulator implements RSA and RSA-HSM keys only, not %s." % kty))
            size = obj.get("key_size") or 2048
            if size not in RSA_SIZES:
                return self.kv_send(kv_error(400, "BadParameter",
                                             "Unsupported key size (%s). Supported sizes "
                                             "are [2048, 3072, 4096]" % size))
            if obj.get("public_exponent") not in (None, 65537):
                return self.kv_send(kv_error(400, "BadParameter",
                                             "Unsupported public exponent (%s). Supported "
                                             "values are [65537]" % obj["public_exponent"]))
            spec = {"kty": kty, "size": size}
            if not self.key_attrs_spec(obj, spec):
                return None
        else:
            spec = {"kty": rotate_from.kty, "size": rotate_from.size,
                    "key_ops": list(rotate_from.key_ops), "tags": dict(rotate_from.tags)}
        try:
            k, v = self.state.add_key_version(name, spec)
        except KeyConflict as e:
            if e.key.state() == "deleting":
                return self.kv_send(kv_error(
                    409, "Conflict", "Key %s is currently being deleted and cannot be "
                    "re-created; retry later." % e.key.name, inner="ObjectIsBeingDeleted"))
            return self.kv_send(kv_error(
                409, "Conflict", "Key %s is currently in a deleted but recoverable state, "
                "and its name cannot be reused; in this state, the key can only be "
                "recovered or purged." % e.key.name, inner="ObjectIsDeletedButRecoverable"))
        except ConfigError as e:
            return self.kv_send(kv_error(400, "BadParameter", str(e)))
        return self.kv_send((200, self.key_bundle(k, v, api)))

    def rotate_key(self, name, api):
        found = self.find_key(name, "")
        if found:
            return self.create_key(found[0].name, b"", api, rotate_from=found[1])
        return None

    def update_key(self, name, version, body, api):
        obj = self.json_body(body)
        if obj is None:
            return None
        spec = {}
        if not self.key_attrs_spec(obj, spec):
            return None
        found = self.find_key(name, version)
        if not found:
            return None
        k, v = found
        with self.state.lock:
            for key, val in spec.items():
                setattr(v, key, val)
            v.updated = int(time.time())
        return self.kv_send((200, self.key_bundle(k, v, api)))

    def delete_key(self, name, api):
        found = self.find_key(name, "")
        if not found:
            return None
        k = found[0]
        self.state.delete_key(k, self.state.settings["delete_delay"])
        return self.kv_send((200, self.deleted_bundle(k, api)))

    def key_crypto(self, name, version, seg, body, api):
        op = CRYPTO_OPS[seg][0]
        obj = self.json_body(body)
        if obj is None:
            return None
        alg, value = obj.get("alg"), obj.get("value")
        problems = ""
        if alg not in WRAP_ALGS:
            problems += "Property alg has invalid value\r\n"
        data = None
        if isinstance(value, str) and re.match(r"^[A-Za-z0-9_-]*={0,2}$", value):
            data = b64url_decode(value.rstrip("="))
        elif value is not None:
            problems += "Content of 'value' is not base64url.\r\n"
        if data is None:
            problems += "Property 'value' is required.\r\n"
        if problems:
            return self.kv_send(kv_error(400, "BadParameter", problems))
        found = self.find_key(name, version)
        if not found:
            return None
        k, v = found
        if not v.enabled:
            return self.kv_send(kv_error(403, "Forbidden", "Operation %s is not allowed on "
                                         "a disabled key." % op, inner="KeyDisabled"))
        if op not in v.key_ops:
            return self.kv_send(kv_error(403, "Forbidden", "Operation %s is not permitted "
                                         "on this key." % op, inner="KeyOperationForbidden"))
        now = time.time()
        if op in ("wrapKey", "encrypt"):
            # Outside nbf..exp only decrypt, unwrap and verify still work
            # ("Date-time controlled operations" in Microsoft's key docs).
            if v.nbf is not None and now < v.nbf:
                return self.kv_send(kv_error(403, "Forbidden", "Operation %s is not allowed "
                                             "on a not yet valid key." % op,
                                             inner="KeyNotYetValid"))
            if v.exp is not None and now >= v.exp:
                return self.kv_send(kv_error(403, "Forbidden", "Operation %s is not allowed "
                                             "on a expired key." % op, inner="KeyExpired"))
        priv = v.private_key()
        try:
            if op in ("wrapKey", "encrypt"):
                out = priv.public_key().encrypt(data, rsa_padding(alg))
            else:
                if len(data) != (priv.key_size + 7) // 8:
                    raise ValueError("The length of the data to decrypt is not valid for "
                                     "the size of this key.")
                out = priv.decrypt(data, rsa_padding(alg))
        except ValueError as e:
            if op in ("wrapKey", "encrypt"):
                msg = ("The message exceeds the maximum allowable length for the chosen "
                       "options (%d)." % (len(data)))
            elif str(e).startswith("The length"):
                msg = str(e)
            elif alg == "RSA1_5":
                msg = "Error occurred while decoding PKCS1 padding."
            else:
                msg = "Error occurred while decoding OAEP padding."
            return self.kv_send(kv_error(400, "BadParameter", msg))
        return self.kv_send((200, {"kid": self.kid(k, v), "value": b64url(out)}))

    def bundle(self, s, v, with_value):
        b = {}
        if with_value:
            b["value"] = v.value
        if v.content_type is not None:
            b["contentType"] = v.content_type
        b["id"] = "https://%s/secrets/%s/%s" % (self.host(), s.name, v.id)
        b["attributes"] = v.attributes(self.state.settings)
        if v.tags:
            b["tags"] = v.tags
        return b

    def page_size(self, query):
        raw = (query.get("maxresults") or [None])[0]
        size = self.state.settings["page_size"]
        if raw is None or raw == "":
            return size, None
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if not 1 <= n <= 25:
            return None, raw
        return min(n, size), n

    def paged(self, items, query, api, base):
        """items: [(sort_key, json_item)] sorted. Answers one page."""
        size, given = self.page_size(query)
        if size is None:
            return self.kv_send(kv_error(400, "BadParameter",
                                         "The value of maxresults must be between 1 and "
                                         "25, but was %s." % given))
        marker = None
        tok = (query.get("$skiptoken") or [None])[0]
        if tok:
            try:
                marker = json.loads(b64url_decode(tok))["NextMarker"].split("!", 2)[2]
            except (ValueError, KeyError, IndexError, TypeError):
                return self.kv_send(kv_error(400, "BadParameter",
                                             "The skip token is not valid."))
        rest = [it for k, it in items if marker is None or k > marker]
        keys = [k for k, it in items if marker is None or k > marker]
        chunk = rest[:size]
        more = len(rest) > size
        if not more and chunk and self.state.settings["empty_last_page"]:
            more = True
        next_link = None
        if more:
            last = keys[len(chunk) - 1]
            token = b64url(json.dumps({"NextMarker": "2!%d!%s" % (len(last), last),
                                       "TargetLocation": 0},
                                      separators=(",", ":")).encode())
            next_link = "https://%s%s?api-version=%s&$skiptoken=%s" % (
                self.host_port(), base, api, token)
            if given is not None:
                next_link += "&maxresults=%d" % given
        self.kv_send((200, {"value": chunk, "nextLink": next_link}))

    def list_versions(self, name, query, api):
        with self.state.lock:
            s = self.state.secret(name)
            items = []
            if s:
                for v in self.state.sorted_versions(s):
                    item = self.bundle(s, v, False)
                    key = v.id if self.state.settings["versions_order"] == "id" else \
                        "%012d%s" % (s.versions.index(v), v.id)
                    items.append((key, item))
            base = "/secrets/%s/versions" % (s.name if s else name)
        self.paged(items, query, api, base)

    def list_secrets(self, query, api):
        with self.state.lock:
            items = []
            for s in sorted(self.state.secrets.values(), key=lambda x: x.name.lower()):
                if not s.versions:
                    continue
                cur = s.versions[-1]
                item = {}
                if cur.content_type is not None:
                    item["contentType"] = cur.content_type
                item["id"] = "https://%s/secrets/%s" % (self.host(), s.name)
                item["attributes"] = cur.attributes(self.state.settings)
                if cur.tags:
                    item["tags"] = cur.tags
                items.append((s.name.lower(), item))
        self.paged(items, query, api, "/secrets")

    def json_body(self, body):
        try:
            obj = json.loads(body.decode("utf-8") or "null")
        except (ValueError, UnicodeDecodeError):
            obj = None
        if not isinstance(obj, dict):
            self.kv_send(kv_error(400, "BadParameter", "The request body is not valid JSON."))
            return None
        return obj

    def set_secret(self, name, body):
        if not NAME_RE.match(name):
            return self.kv_send(kv_error(400, "BadParameter",
                                         "The request URI contains an invalid name: %s" % name))
        obj = self.json_body(body)
        if obj is None:
            return
        if not isinstance(obj.get("value"), str):
            return self.kv_send(kv_error(400, "BadParameter",
                                         "Property value is required."))
        attrs = obj.get("attributes") or {}
        spec = {"value": obj["value"], "enabled": attrs.get("enabled", True),
                "nbf": attrs.get("nbf"), "exp": attrs.get("exp"),
                "contentType": obj.get("contentType"), "tags": obj.get("tags")}
        try:
            s, v = self.state.add_version(name, spec)
        except ConfigError as e:
            return self.kv_send(kv_error(400, "BadParameter", str(e)))
        self.kv_send((200, self.bundle(s, v, True)))

    def update_secret(self, name, version, body):
        obj = self.json_body(body)
        if obj is None:
            return
        with self.state.lock:
            s = self.state.secret(name)
            v = None
            if s and s.versions:
                v = s.find(version) if version else s.versions[-1]
            if v is None:
                nid = "%s/%s" % (name, version) if version else name
                return self.kv_send(kv_error(404, "SecretNotFound",
                                             "A secret with (name/id) %s%s"
                                             % (nid, NOT_FOUND_TAIL)))
            attrs = obj.get("attributes") or {}
            if "enabled" in attrs and attrs["enabled"] is not None:
                v.enabled = bool(attrs["enabled"])
            for key in ("nbf", "exp"):
                if key in attrs:
                    setattr(v, key, attrs[key])
            if "contentType" in obj:
                v.content_type = obj["contentType"]
            if "tags" in obj:
                v.tags = obj["tags"] or {}
            v.updated = int(time.time())
            self.kv_send((200, self.bundle(s, v, False)))

    # -- admin -------------------------------------------------------------
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
            if parts == ["settings"] and method == "POST":
                with st.lock:
                    new = dict(st.settings)
                    for k, v in obj.items():
                        if k not in new:
                            raise ConfigError("unknown setting %r" % k)
                        new[k] = v
                    st.check_settings(new)
                    st.settings = new
                return self.send(200, new)
            if parts[:1] == ["secrets"] and len(parts) in (2, 3):
                return self.admin_secret(method, parts[1:], obj)
            if parts[:1] == ["keys"] and len(parts) in (2, 3):
                return self.admin_key(method, parts[1:], obj)
            if parts == ["rbac"]:
                return self.admin_rbac(method, obj)
            if parts[:1] in (["certificates"], ["federated"]) and len(parts) == 2:
                return self.admin_credential(method, parts[0], parts[1], obj)
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
            if parts == ["tokens"] and method == "POST":
                lifetime = int(obj.get("lifetime", st.settings["token_lifetime"]))
                token, now, exp = st.mint(obj.get("audience", KV_RESOURCE), lifetime,
                                          obj.get("appid", "kv-emulator-admin"),
                                          obj.get("oid"))
                return self.send(200, {"access_token": token, "expires_on": exp,
                                       "not_before": now})
            if parts == ["tokens", "expire"] and method == "POST":
                st.expire_tokens()
                return self.send(200, {"ok": True})
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
        except (ValueError, TypeError, KeyError) as e:
            return self.send(400, {"error": "bad request: %s" % e})
        return self.send(404, {"error": "no such admin call: %s %s" % (method, path)})

    def admin_secret(self, method, rest, obj):
        st = self.state
        name = rest[0]
        if method == "POST" and len(rest) == 1:
            s, v = st.add_version(name, obj)
            return self.send(200, {"name": s.name, "version": v.id})
        with st.lock:
            s = st.secret(name)
            if s is None:
                return self.send(404, {"error": "no secret %s" % name})
            if method == "DELETE":
                if len(rest) == 1:
                    del st.secrets[name.lower()]
                else:
                    v = s.find(rest[1])
                    if v is None:
                        return self.send(404, {"error": "no version %s" % rest[1]})
                    s.versions.remove(v)
                return self.send(200, {"ok": True})
            if method in ("POST", "PATCH") and len(rest) == 2:
                v = s.find(rest[1])
                if v is None:
                    return self.send(404, {"error": "no version %s" % rest[1]})
                for key, attr in (("value", "value"), ("enabled", "enabled"),
                                  ("nbf", "nbf"), ("exp", "exp"),
                                  ("contentType", "content_type"), ("tags", "tags"),
                                  ("created", "created"), ("updated", "updated")):
                    if key in obj:
                        setattr(v, attr, obj[key])
                return self.send(200, v.dump())
        return self.send(404, {"error": "no such admin call"})


    def admin_key(self, method, rest, obj):
        st = self.state
        name = rest[0]
        if method == "POST" and len(rest) == 1:
            try:
                k, v = st.add_key_version(name, obj)
            except KeyConflict:
                return self.send(409, {"error": "key %s is deleted; recover it first" % name})
            return self.send(200, {"name": k.name, "version": v.id})
        with st.lock:
            k = st.keys.get(name.lower())
        if k is None:
            return self.send(404, {"error": "no key %s" % name})
        if method == "GET" and len(rest) == 1:
            with st.lock:
                return self.send(200, {"name": k.name, "state": k.state(),
                                       "versions": [v.dump() for v in k.versions]})
        if method == "DELETE" and len(rest) == 1:
            if k.state() != "active":
                return self.send(409, {"error": "key %s is %s" % (name, k.state())})
            st.delete_key(k, 0)
            return self.send(200, {"ok": True, "state": k.state()})
        if method == "POST" and rest[1] == "recover":
            if k.deleted_date is None:
                return self.send(409, {"error": "key %s is not deleted" % name})
            st.recover_key(k, 0)
            return self.send(200, {"ok": True, "state": k.state()})
        if method == "POST" and rest[1] == "purge":
            with st.lock:
                st.keys.pop(k.name.lower(), None)
            return self.send(200, {"ok": True})
        v = k.find(rest[1])
        if v is None:
            return self.send(404, {"error": "no version %s" % rest[1]})
        if method == "GET":
            return self.send(200, v.dump(with_pem=True))
        if method == "DELETE":
            with st.lock:
                k.versions.remove(v)
            return self.send(200, {"ok": True})
        if method in ("POST", "PATCH"):
            if "key_ops" in obj:
                obj["key_ops"] = check_key_ops(obj["key_ops"], "key_ops")
            with st.lock:
                for key in ("enabled", "nbf", "exp", "key_ops", "tags", "created",
                            "updated"):
                    if key in obj:
                        setattr(v, key, obj[key])
            return self.send(200, v.dump())
        return self.send(404, {"error": "no such admin call"})

    def admin_rbac(self, method, obj):
        st = self.state
        if method == "GET":
            with st.lock:
                return self.send(200, st.rbac)
        if method != "POST":
            return self.send(404, {"error": "GET or POST /_emulator/rbac"})
        with st.lock:
            if "principal" in obj:
                actions = st.parse_actions(obj.get("actions"), "actions")
                if actions:
                    st.rbac["assignments"][obj["principal"]] = actions
                else:
                    st.rbac["assignments"].pop(obj["principal"], None)
                st.rbac["enabled"] = bool(obj.get("enabled", True))
            elif "enabled" in obj:
                st.rbac["enabled"] = bool(obj["enabled"])
            else:
                raise ConfigError('{"principal", "actions"} or {"enabled": bool}')
            return self.send(200, st.rbac)

    def admin_credential(self, method, kind, client_id, obj):
        st = self.state
        table = st.certificates if kind == "certificates" else st.federated
        if method == "DELETE":
            with st.lock:
                table.pop(client_id, None)
            return self.send(200, {"ok": True})
        if method != "POST":
            return self.send(404, {"error": "POST or DELETE /_emulator/%s/CLIENT_ID" % kind})
        if kind == "certificates":
            item = ClientCert(obj.get("pem"), "pem")
        else:
            item = st.parse_fic(obj, "federated")
        with st.lock:
            table.setdefault(client_id, []).append(item)
            return self.send(200, {kind: len(table[client_id])})


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
        # Clients that go away mid-request are normal in fault tests.
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
    ap = argparse.ArgumentParser(description=__doc__.split(" (")[0])
    ap.add_argument("--config", help="JSON state file (see the file header)")
    ap.add_argument("--cert", required=True, help="server certificate (PEM)")
    ap.add_argument("--key", required=True, help="server private key (PEM)")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--imds-port", type=int, default=0)
    ap.add_argument("--imds-port-file")
    ap.add_argument("--log", help="request log, JSON lines")
    args = ap.parse_args()

    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            ap.error("--host must be a loopback address")
    except ValueError:
        ap.error("--host must be an IP address")
    try:
        state = State(args.config, args.log)
    except ConfigError as e:
        print("kv_emulator: bad config: %s" % e, file=sys.stderr)
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
    http = Server((args.host, args.imds_port), "http", state, None, stop_all)
    servers.append(http)
    state.ports = {"https": https.server_address[1], "http": http.server_address[1]}
    for srv in servers:
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, https.server_address[1])
    if args.imds_port_file:
        write_port_file(args.imds_port_file, http.server_address[1])
    print("kv_emulator: https=%d imds=%d" % (https.server_address[1],
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
