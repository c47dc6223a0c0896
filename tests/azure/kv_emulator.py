#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Azure Key Vault emulator for the cmkfs tests (Python standard library only).

It serves, on loopback only:

  HTTPS port (--port, 0 = pick one; --port-file gets the number):
    POST /{tenant}/oauth2/v2.0/token      Microsoft identity platform, client
                                          credentials grant (form-encoded)
    GET  /metadata/identity/oauth2/token  IMDS managed identity (also on the
                                          plain-HTTP port below, as in Azure)
    GET  /secrets                         list secrets (paged)
    GET  /secrets/{name}[/]               current version of a secret
    GET  /secrets/{name}/{version}        one version
    GET  /secrets/{name}/versions         list versions (paged, nextLink)
    PUT  /secrets/{name}                  set secret (adds a version)
    PATCH /secrets/{name}/{version}       update attributes
    /_emulator/...                        admin API (below)
  plain-HTTP port (--imds-port, 0 = pick one; --imds-port-file gets it):
    GET  /metadata/identity/oauth2/token  and /_emulator/... only.

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
    "authority_host": "https://login.microsoftonline.com",  # in the challenge
                                     # (recordings of real vaults also show
                                     # https://login.windows.net)
    "token_lifetime": 3599,          # client-credentials tokens (seconds)
    "imds": {"enabled": true, "client_id": "...", "object_id": "...",
             "msi_res_id": "...", "token_lifetime": 86399},
    "tokens": [{"token": "static-token", "audience": "https://vault.azure.net",
                "expires_on": null}],            # extra accepted tokens
    "page_size": 25,                 # server-side page size cap (<= 25)
    "empty_last_page": false,        # true: last full page still has a
                                     # nextLink that leads to an empty page
    "versions_order": "id",          # "id" (Key Vault lists versions in an
                                     # order that is not chronological) or
                                     # "created"
    "recovery_level": "Recoverable+Purgeable", "recoverable_days": 90,
    "secrets": {
      "NAME": {"versions": [
        {"id": "32 lowercase hex (random if absent)", "value": "...",
         "enabled": true, "created": 1700000000, "updated": 1700000000,
         "nbf": null, "exp": null, "contentType": null, "tags": {}}
      ]}                             # the LAST entry is the current version
    },                               # ("NAME": "value" is one version)
    "faults": [FAULT, ...]
  }

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
  GET  /_emulator/state                  settings, secrets, faults
  POST /_emulator/reset                  reload the config file
  POST /_emulator/settings               merge {"page_size": 2, ...}
  POST /_emulator/secrets/{name}         add a version {"value", "id",
                                         "enabled", "nbf", "exp", ...};
                                         answers {"version": id}
  POST /_emulator/secrets/{name}/{ver}   change attributes or value
  DELETE /_emulator/secrets/{name}[/{ver}]
  GET|POST|DELETE /_emulator/faults      list / add one or a list / clear
  POST /_emulator/tokens                 mint {"audience", "lifetime" (may
                                         be negative)} -> {"access_token", ...}
  POST /_emulator/tokens/expire          every issued token expires now
  GET|DELETE /_emulator/log              request log / clear it (and --log)
  POST /_emulator/shutdown

Log (--log, JSON lines, one per request, written just before the answer
goes out, so it is complete once a client has its answer):
  {"ts", "server": "https"|"http", "kind": "kv"|"token"|"imds"|"other",
   "method", "path", "query" (secrets redacted), "host", "auth" (whether an
   Authorization header was present; the token itself is never logged),
   "metadata" (IMDS: Metadata header present), "status" (null if dropped),
   "fault", "client_id" (token requests)}

Fidelity notes (from Microsoft's REST reference, its API spec examples and
SDK recordings): 401 answers always carry WWW-Authenticate; an unauthenticated
request is the normal first step of the SDKs' challenge flow; a nextLink is
absolute, names an explicit port, and carries api-version, $skiptoken and
maxresults; the last page has "nextLink": null; a version-less GET may end
with "/"; the current version is the most recently created one even when it
is disabled (then 403); nbf/exp are reported but not enforced on reads.
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


class ConfigError(Exception):
    pass


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
        faults = [Fault(f) for f in (config.get("faults") or [])]
        static = {}
        for t in config.get("tokens") or []:
            static[t["token"]] = {"aud": t.get("audience", KV_RESOURCE),
                                  "exp": t.get("expires_on"), "static": True}
        with self.lock:
            self.settings = settings
            self.secrets = secrets_map
            self.faults = faults
            self.tokens = {k: v for k, v in self.tokens.items()
                           if not v.get("static")}
            self.tokens.update(static)

    @staticmethod
    def check_settings(s):
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
    def mint(self, audience, lifetime, appid):
        now = int(time.time())
        tenant = self.settings["tenant"]
        header = {"typ": "JWT", "alg": "RS256", "kid": "kv-emulator"}
        payload = {"aud": audience, "iss": "https://sts.windows.net/%s/" % tenant,
                   "iat": now, "nbf": now, "exp": now + lifetime,
                   "appid": appid, "idtyp": "app", "oid": str(uuid.uuid4()),
                   "sub": str(uuid.uuid4()), "tid": tenant,
                   "uti": b64url(os.urandom(16)), "ver": "1.0"}
        compact = {"separators": (",", ":")}
        token = ".".join([b64url(json.dumps(header, **compact).encode()),
                          b64url(json.dumps(payload, **compact).encode()),
                          b64url(os.urandom(64))])
        with self.lock:
            self.tokens[token] = {"aud": audience, "exp": now + lifetime,
                                  "nbf": now}
        return token, now, now + lifetime

    def token_problem(self, authorization):
        """None if the Authorization header holds a valid Key Vault token,
        else the message of the 401 answer."""
        if not authorization:
            return AKV_MISSING
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "pop") or not token:
            return AKV_MISSING
        with self.lock:
            rec = self.tokens.get(token)
        if rec is None:
            return AKV_MISSING
        if rec["exp"] is not None and rec["exp"] <= time.time():
            return AKV_EXPIRED
        if rec["aud"] not in KV_AUDIENCES:
            return ("AKV10022: Invalid audience. Expected %s, found: %s."
                    % (KV_RESOURCE, rec["aud"]))
        return None

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
        elif path.startswith("/secrets") or server == "https":
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
        if client_id not in s["clients"]:
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
        if form.get("client_secret") != s["clients"][client_id]:
            return fail(aad_error(401, "invalid_client", 7000215,
                                  "Invalid client secret provided. Ensure the secret "
                                  "being sent in the request is the client secret "
                                  "value, not the client secret ID, for a secret added "
                                  "to app '%s'." % client_id))
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
        token, now, exp = self.state.mint(resource, lifetime, s["client_id"])
        self.send(200, {"access_token": token, "client_id": s["client_id"],
                        "expires_in": str(lifetime), "expires_on": str(exp),
                        "ext_expires_in": str(lifetime), "not_before": str(now),
                        "resource": resource, "token_type": "Bearer"}, headers)

    # -- Key Vault data plane ----------------------------------------------------
    def vault(self, method, path, query, body):
        if self.server.kind != "https":
            self.send(404, {"error": "not_found"})
            return
        problem = self.state.token_problem(self.headers.get("Authorization"))
        if problem:
            self.send(*kv_error(401, "Unauthorized", problem),
                      headers=self.challenge_headers())
            return
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
        if parts[0] != "secrets" or len(parts) > 3:
            return self.kv_send(kv_error(404, "NotFound",
                                         "The requested URI does not represent any "
                                         "resource on the server."))
        allowed = {1: ("GET",), 2: ("GET", "PUT"), 3: ("GET", "PATCH")}[len(parts)]
        if method not in allowed:
            return self.kv_send(kv_error(405, "MethodNotAllowed",
                                         "The requested resource does not support http "
                                         "method '%s'." % method))
        if len(parts) == 1:
            return self.list_secrets(query, api)
        name = parts[1]
        if method == "PUT":
            return self.set_secret(name, body)
        if len(parts) == 3 and parts[2] == "versions" and method == "GET":
            return self.list_versions(name, query, api)
        version = parts[2] if len(parts) == 3 else ""
        if method == "PATCH":
            return self.update_secret(name, version, body)
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
                                          obj.get("appid", "kv-emulator-admin"))
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
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
