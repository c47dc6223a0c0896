#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Keystone v3 emulator for the cmkfs Barbican tests (standard library only).

It plays two parts of an OpenStack cloud on loopback, with TLS from the test
CA (tests/azure/make_ca.sh):

1. The Identity (Keystone v3) token endpoint, application-credential method
   only (https, "identity port"). KS_URL in barbican_lib.sh is the identity
   base WITH /v3, e.g. https://127.0.0.1:P/v3; tokens are at $KS_URL/auth/tokens.

   POST /v3/auth/tokens[?nocatalog]
       {"auth": {"identity": {"methods": ["application_credential"],
         "application_credential": {"id": ID, "secret": SECRET}}}}
       (or {"name": NAME, "user": {"id": UID}} instead of "id", as Keystone
       allows). A "scope" in the request is ignored here: the token is
       always scoped to the credential's project (Keystone's application
       credentials are bound to one project too).
     201, header X-Subject-Token: <token>, body
       {"token": {"methods": ["application_credential"], "user": {...},
        "audit_ids": [...], "expires_at": "...Z", "issued_at": "...Z",
        "project": {"id", "name", "domain": {"id", "name"}}, "is_domain": false,
        "roles": [{"id", "name"}], "catalog": [...],
        "application_credential": {"id", "name", "restricted"}}}
       The catalog holds "key-manager" (barbican) with public, internal and
       admin endpoints = the proxy below (no /v1), and "identity" (keystone)
       = the identity base without /v3; region RegionOne.
     400 bad JSON / missing fields, 401 unknown credential or wrong secret or
     another method: {"error": {"code": 401, "title": "Unauthorized",
       "message": "The request you have made requires authentication."}} with
       WWW-Authenticate: Keystone uri="https://127.0.0.1:P" (as Keystone).
   GET /v3/auth/tokens  (X-Auth-Token: any valid token, X-Subject-Token: the
       token to check) 200 + body as above, 404 unknown/expired subject,
       401 bad X-Auth-Token.   DELETE /v3/auth/tokens: revoke, 204.
   GET / and GET /v3: minimal version documents.

   Tokens look like Fernet tokens ("gAAAAA" + 192 url-safe characters) but
   are random; they live in memory only. Lifetime: --token-lifetime seconds
   (default 3600), changeable at run time (admin API).

2. keystonemiddleware (auth_token) in front of the real Barbican (https,
   "proxy port"; KS_BARBICAN_URL). Every path under /v1 needs X-Auth-Token
   (or X-Storage-Token): missing, unknown, revoked or expired -> 401
   {"error": {"code": 401, "title": "Unauthorized", "message": "The request
   you have made requires authentication."}} with WWW-Authenticate:
   Keystone uri="https://127.0.0.1:P" (the identity base), as
   keystonemiddleware does. Otherwise the identity headers a client sent
   (X-Identity-Status, X-Project-*, X-User-*, X-Domain-*, X-Roles,
   X-Service-*, X-Tenant*, ...) are removed and set from the token:
   X-Identity-Status: Confirmed, X-Project-Id, X-Project-Name,
   X-Project-Domain-Id/-Name, X-User-Id, X-User-Name, X-User-Domain-Id/-Name,
   X-Roles (comma separated role names). The request (method, path, query,
   Accept, Content-Type, OpenStack-API-Version, X-Openstack-Request-Id,
   body) is forwarded to Barbican (--barbican URL, trusting --barbican-ca);
   the token itself is not forwarded. Barbican's status, headers (minus
   hop-by-hop ones, Server and Date) and body come back unchanged (so secret_ref is built
   from Barbican's host_href: start Barbican with host_href = this proxy to
   get refs that point here). Paths outside /v1 (Barbican's version
   document "/") are forwarded without a token, as in Barbican's paste
   pipeline. No upstream configured: 503. Upstream unreachable: 502.

3. Admin API, plain HTTP on loopback ("admin port", KS_ADMIN), JSON:
   GET    /_emulator/health            {"ok": true, "upstream", "tokens",
                                        "token_lifetime", "credentials"}
   POST   /_emulator/credentials       {"id", "secret", "name"?, "project_id"?,
            "project_name"?, "domain_id"?, "domain_name"?, "user_id"?,
            "user_name"?, "roles"? (names, default ["creator"]),
            "restricted"? (default true)}   -> 201 (without the secret)
   DELETE /_emulator/credentials/ID    204; its tokens are revoked too (as
                                        Keystone does)
   POST   /_emulator/token-lifetime    {"seconds": N} (float ok) for new tokens
   POST   /_emulator/expire-tokens     every token issued so far expires now
   POST   /_emulator/upstream          {"url": "https://127.0.0.1:P"} Barbican
   POST   /_emulator/fault             {"target": "token"|"proxy",
            "status": 503, "count": 1} answer the next COUNT requests there
            with STATUS and a Keystone-style error body, instead of working
   GET    /_emulator/requests          the request log (JSON list)
   DELETE /_emulator/requests          clear it (and truncate --log)

Request log (--log, JSON lines, and /_emulator/requests): one object per
request on the identity and proxy ports: {"ts", "port": "identity"|"proxy",
"method", "path", "query", "token_sent" (X-Auth-Token present; the token is
never logged), "token": "valid"|"missing"|"unknown"|"expired"|null (proxy),
"credential_id" (token requests), "auth": "ok"|"unknown_credential"|
"bad_secret"|"bad_request"|"bad_method" (token requests), "upstream_status",
"fault", "stripped_headers" (identity headers the client sent, removed;
names only), "status"}. Secrets, tokens and bodies are never logged.

The default project (--project-id, --project-name) is used for credentials
added without one. Ports are ephemeral (0) unless given; each is written to
its port file (atomically) once all three listen.
"""
import argparse
import base64
import datetime
import http.client
import http.server
import json
import os
import secrets
import signal
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

UNAUTHORIZED_MSG = "The request you have made requires authentication."

# Identity headers keystonemiddleware removes from incoming requests before
# setting its own (lower-case); prefixes are matched too.
STRIP_EXACT = {
    "x-identity-status", "x-service-identity-status", "x-roles",
    "x-service-roles", "x-service-catalog", "x-domain-id", "x-domain-name",
    "x-project-id", "x-project-name", "x-project-domain-id",
    "x-project-domain-name", "x-user-id", "x-user-name", "x-user-domain-id",
    "x-user-domain-name", "x-tenant-id", "x-tenant-name", "x-tenant",
    "x-user", "x-role", "x-is-admin-project", "x-system-scope",
    "x-trust-id", "x-trustor-id", "x-trustee-id",
}
STRIP_PREFIXES = ("x-service-", "x-identity-")
FORWARD = ("accept", "content-type", "openstack-api-version",
           "x-openstack-request-id")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate",
              "proxy-authorization", "te", "trailers", "transfer-encoding",
              "upgrade", "content-length", "server", "date"}


def iso(ts):
    return (datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def hexid():
    return uuid.uuid4().hex


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.credentials = {}
        self.tokens = {}
        self.token_lifetime = args.token_lifetime
        self.project_id = args.project_id
        self.project_name = args.project_name
        self.upstream = args.barbican.rstrip("/") if args.barbican else None
        self.upstream_ca = args.barbican_ca
        self.log_path = args.log
        self.log = []
        self.faults = {}          # target -> [status, count]
        self.identity_base = None  # https://127.0.0.1:P (no /v3)
        self.proxy_base = None
        self.role_ids = {}

    def role_id(self, name):
        with self.lock:
            return self.role_ids.setdefault(name, hexid())

    def add_credential(self, d):
        if not isinstance(d, dict) or not d.get("id") or not d.get("secret"):
            raise ValueError("need id and secret")
        roles = d.get("roles", ["creator"])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError("roles: a list of role names")
        domain = {"id": d.get("domain_id", "default"),
                  "name": d.get("domain_name", "Default")}
        cred = {
            "id": str(d["id"]),
            "secret": str(d["secret"]),
            "name": str(d.get("name", "cmkfs-" + str(d["id"])[:8])),
            "restricted": bool(d.get("restricted", True)),
            "roles": roles,
            "project": {"id": str(d.get("project_id", self.project_id)),
                        "name": str(d.get("project_name", self.project_name)),
                        "domain": domain},
            "user": {"id": str(d.get("user_id", hexid())),
                     "name": str(d.get("user_name", "cmkfs-user")),
                     "domain": domain, "password_expires_at": None},
        }
        with self.lock:
            self.credentials[cred["id"]] = cred
        out = {k: v for k, v in cred.items() if k != "secret"}
        return out

    def delete_credential(self, cid):
        with self.lock:
            if self.credentials.pop(cid, None) is None:
                return False
            for tok in [t for t, v in self.tokens.items() if v["cred"]["id"] == cid]:
                del self.tokens[tok]
            return True

    def issue(self, cred):
        now = time.time()
        tok = "gAAAAA" + secrets.token_urlsafe(144)
        rec = {"cred": cred, "issued": now, "expires": now + self.token_lifetime,
               "audit_id": base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")}
        with self.lock:
            self.tokens[tok] = rec
        return tok, rec

    def lookup(self, tok):
        """-> (state, record): state is missing, unknown, expired or valid."""
        if not tok:
            return "missing", None
        with self.lock:
            rec = self.tokens.get(tok)
        if rec is None:
            return "unknown", None
        if time.time() >= rec["expires"]:
            return "expired", rec
        return "valid", rec

    def revoke(self, tok):
        with self.lock:
            return self.tokens.pop(tok, None) is not None

    def expire_all(self):
        now = time.time()
        with self.lock:
            for rec in self.tokens.values():
                rec["expires"] = min(rec["expires"], now - 1)
            return len(self.tokens)

    def take_fault(self, target):
        with self.lock:
            f = self.faults.get(target)
            if not f or f[1] <= 0:
                return None
            f[1] -= 1
            return f[0]

    def record(self, entry):
        entry = dict(entry)
        entry["ts"] = round(time.time(), 3)
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            self.log.append(entry)
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(line + "\n")

    def clear_log(self):
        with self.lock:
            self.log = []
            if self.log_path:
                open(self.log_path, "w").close()

    def token_body(self, rec, catalog=True):
        cred = rec["cred"]
        body = {
            "methods": ["application_credential"],
            "user": cred["user"],
            "audit_ids": [rec["audit_id"]],
            "expires_at": iso(rec["expires"]),
            "issued_at": iso(rec["issued"]),
            "project": cred["project"],
            "is_domain": False,
            "roles": [{"id": self.role_id(r), "name": r} for r in cred["roles"]],
            "application_credential": {"id": cred["id"], "name": cred["name"],
                                       "restricted": cred["restricted"]},
        }
        if catalog:
            body["catalog"] = self.catalog()
        return {"token": body}

    def catalog(self):
        def endpoints(url, seed):
            return [{"id": uuid.uuid5(uuid.NAMESPACE_URL, seed + i).hex,
                     "interface": i, "region": "RegionOne",
                     "region_id": "RegionOne", "url": url}
                    for i in ("public", "internal", "admin")]
        return [
            {"id": uuid.uuid5(uuid.NAMESPACE_URL, "key-manager").hex,
             "type": "key-manager", "name": "barbican",
             "endpoints": endpoints(self.proxy_base, "barbican")},
            {"id": uuid.uuid5(uuid.NAMESPACE_URL, "identity").hex,
             "type": "identity", "name": "keystone",
             "endpoints": endpoints(self.identity_base, "keystone")},
        ]


def error_body(code, title, message):
    return {"error": {"code": code, "title": title, "message": message}}


TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
          404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error",
          502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cmkfs-keystone-emulator"
    sys_version = ""
    state = None      # set per server class
    role = None       # identity | proxy | admin

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s - %s\n" % (self.role, self.address_string(), fmt % args))

    def address_string(self):
        return self.client_address[0]

    # -- plumbing --
    def read_body(self):
        """The request body (read once; handle_any reads it up front so a
        kept-alive connection stays in step whatever the answer)."""
        if getattr(self, "_body", None) is None:
            self._body = self._read_body()
        return self._body

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > 1 << 20:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def send(self, status, body=b"", headers=(), ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        sent = set()
        for k, v in headers:
            self.send_header(k, v)
            sent.add(k.lower())
        if body and ctype and "content-type" not in sent:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        return status

    def www_auth(self):
        return ("WWW-Authenticate", 'Keystone uri="%s"' % self.state.identity_base)

    def unauthorized(self):
        return self.send(401, error_body(401, "Unauthorized", UNAUTHORIZED_MSG),
                         [self.www_auth(), ("Vary", "X-Auth-Token")])

    def fail(self, status, message):
        return self.send(status, error_body(status, TITLES.get(status, "Error"), message))

    def split(self):
        u = urllib.parse.urlsplit(self.path)
        return u.path, u.query

    def handle_any(self):
        entry = {"port": self.role, "method": self.command}
        path, query = self.split()
        entry["path"] = path
        entry["query"] = query
        entry["token_sent"] = bool(self.headers.get("X-Auth-Token")
                                   or self.headers.get("X-Storage-Token"))
        self._body = None
        try:
            self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            entry["status"] = self.fail(400, "Invalid request body")
            if self.role != "admin":
                self.state.record(entry)
            return
        try:
            entry["status"] = getattr(self, "do_" + self.role)(path, query, entry)
        except (ValueError, KeyError, TypeError) as e:
            entry["status"] = self.fail(400, "Invalid request: %s" % e)
        except Exception as e:  # noqa: BLE001 - report, keep serving
            sys.stderr.write("%s: internal error: %r\n" % (self.role, e))
            entry["status"] = self.fail(500, "emulator error")
        if self.role != "admin":
            self.state.record(entry)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any

    # -- identity --
    def do_identity(self, path, query, entry):
        st = self.state
        path = path.rstrip("/") or "/"
        fault = st.take_fault("token") if path.startswith("/v3/auth") else None
        if fault:
            entry["fault"] = fault
            self.read_body()
            return self.fail(fault, "injected fault")
        if path == "/" and self.command in ("GET", "HEAD"):
            return self.send(300, {"versions": {"values": [self.v3_doc()]}})
        if path == "/v3" and self.command in ("GET", "HEAD"):
            return self.send(200, {"version": self.v3_doc()})
        if path != "/v3/auth/tokens":
            return self.fail(404, "The resource could not be found.")
        nocatalog = "nocatalog" in urllib.parse.parse_qs(query, keep_blank_values=True)
        if self.command == "POST":
            return self.auth_tokens(nocatalog, entry)
        if self.command in ("GET", "HEAD", "DELETE"):
            caller, _ = st.lookup(self.headers.get("X-Auth-Token"))
            if caller != "valid":
                return self.unauthorized()
            subject = self.headers.get("X-Subject-Token")
            sstate, rec = st.lookup(subject)
            if sstate != "valid":
                return self.fail(404, "Could not find token: %s." % ("<redacted>"))
            if self.command == "DELETE":
                st.revoke(subject)
                return self.send(204)
            return self.send(200, st.token_body(rec, not nocatalog),
                             [("X-Subject-Token", subject)])
        return self.fail(405, "The method is not allowed for the requested URL.")

    def v3_doc(self):
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": self.state.identity_base + "/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def auth_tokens(self, nocatalog, entry):
        st = self.state
        raw = self.read_body()
        try:
            req = json.loads(raw.decode("utf-8"))
            ident = req["auth"]["identity"]
            methods = ident["methods"]
            if not isinstance(methods, list):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            entry["auth"] = "bad_request"
            return self.fail(400, "Expecting to find auth in request body. The "
                                  "server could not comply with the request "
                                  "since it is either malformed or otherwise "
                                  "incorrect. The client is assumed to be in error.")
        if methods != ["application_credential"]:
            entry["auth"] = "bad_method"
            return self.unauthorized()
        ac = ident.get("application_credential")
        if not isinstance(ac, dict) or not isinstance(ac.get("secret"), str):
            entry["auth"] = "bad_request"
            return self.fail(400, "Invalid input for field 'identity/"
                                  "application_credential': 'secret' is a "
                                  "required property")
        cred = None
        with st.lock:
            if ac.get("id") is not None:
                entry["credential_id"] = str(ac["id"])
                cred = st.credentials.get(str(ac["id"]))
            elif ac.get("name") is not None and isinstance(ac.get("user"), dict):
                u = ac["user"]
                for c in st.credentials.values():
                    if c["name"] == ac["name"] and (
                            u.get("id") == c["user"]["id"] or
                            u.get("name") == c["user"]["name"]):
                        cred = c
                        entry["credential_id"] = c["id"]
                        break
            else:
                entry["auth"] = "bad_request"
                cred = False
        if cred is False:
            return self.fail(400, "Could not find application credential: "
                                  "need id, or name and user.")
        if cred is None:
            entry["auth"] = "unknown_credential"
            return self.unauthorized()
        if not secrets.compare_digest(cred["secret"].encode(), ac["secret"].encode()):
            entry["auth"] = "bad_secret"
            return self.unauthorized()
        entry["auth"] = "ok"
        tok, rec = st.issue(cred)
        return self.send(201, st.token_body(rec, not nocatalog),
                         [("X-Subject-Token", tok), ("Vary", "X-Auth-Token"),
                          ("x-openstack-request-id", "req-" + str(uuid.uuid4()))])

    # -- proxy (keystonemiddleware + Barbican) --
    def do_proxy(self, path, query, entry):
        st = self.state
        body = self.read_body()
        fault = st.take_fault("proxy")
        if fault:
            entry["fault"] = fault
            return self.fail(fault, "injected fault")
        protected = path == "/v1" or path.startswith("/v1/")
        headers = {}
        if protected:
            tok = self.headers.get("X-Auth-Token") or self.headers.get("X-Storage-Token")
            tstate, rec = st.lookup(tok)
            entry["token"] = tstate
            if tstate != "valid":
                return self.unauthorized()
            cred = rec["cred"]
            headers.update({
                "X-Identity-Status": "Confirmed",
                "X-Project-Id": cred["project"]["id"],
                "X-Project-Name": cred["project"]["name"],
                "X-Project-Domain-Id": cred["project"]["domain"]["id"],
                "X-Project-Domain-Name": cred["project"]["domain"]["name"],
                "X-User-Id": cred["user"]["id"],
                "X-User-Name": cred["user"]["name"],
                "X-User-Domain-Id": cred["user"]["domain"]["id"],
                "X-User-Domain-Name": cred["user"]["domain"]["name"],
                "X-Roles": ",".join(cred["roles"]),
            })
        else:
            entry["token"] = None
        stripped = []
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in FORWARD:
                headers[k] = v
            elif lk in STRIP_EXACT or lk.startswith(STRIP_PREFIXES):
                stripped.append(lk)
            # anything else (Authorization, cookies, ...) is not forwarded
        if stripped:
            entry["stripped_headers"] = sorted(set(stripped))
        if not st.upstream:
            return self.fail(503, "no Barbican upstream configured")
        u = urllib.parse.urlsplit(st.upstream)
        ctx = ssl.create_default_context(cafile=st.upstream_ca) if u.scheme == "https" else None
        target = path + ("?" + query if query else "")
        try:
            if ctx:
                conn = http.client.HTTPSConnection(u.hostname, u.port or 443,
                                                   context=ctx, timeout=60)
            else:
                conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, target, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            rheaders = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            conn.close()
        except (OSError, http.client.HTTPException) as e:
            sys.stderr.write("proxy: upstream error: %r\n" % (e,))
            entry["upstream_status"] = None
            return self.fail(502, "Barbican is unreachable")
        entry["upstream_status"] = resp.status
        return self.send(resp.status, data, rheaders, ctype=None)

    # -- admin --
    def do_admin(self, path, query, entry):
        st = self.state
        body = self.read_body()
        data = json.loads(body.decode()) if body.strip() else {}
        if not path.startswith("/_emulator/"):
            return self.fail(404, "admin paths are under /_emulator/")
        op = path[len("/_emulator/"):].rstrip("/")
        m = self.command
        if op == "health" and m == "GET":
            with st.lock:
                n = len(st.tokens)
                ncred = len(st.credentials)
            return self.send(200, {"ok": True, "upstream": st.upstream, "tokens": n,
                                   "credentials": ncred,
                                   "token_lifetime": st.token_lifetime,
                                   "identity": st.identity_base, "proxy": st.proxy_base})
        if op == "credentials" and m == "POST":
            return self.send(201, st.add_credential(data))
        if op.startswith("credentials/") and m == "DELETE":
            ok = st.delete_credential(urllib.parse.unquote(op.split("/", 1)[1]))
            return self.send(204) if ok else self.fail(404, "no such credential")
        if op == "token-lifetime" and m == "POST":
            secs = float(data["seconds"])
            if secs <= 0:
                raise ValueError("seconds must be > 0")
            st.token_lifetime = secs
            return self.send(200, {"token_lifetime": secs})
        if op == "expire-tokens" and m == "POST":
            return self.send(200, {"expired": st.expire_all()})
        if op == "upstream" and m == "POST":
            url = str(data["url"]).rstrip("/")
            if urllib.parse.urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError("upstream must be on loopback")
            st.upstream = url
            return self.send(200, {"upstream": url})
        if op == "fault" and m == "POST":
            target = data["target"]
            if target not in ("token", "proxy"):
                raise ValueError("target: token or proxy")
            with st.lock:
                st.faults[target] = [int(data.get("status", 503)), int(data.get("count", 1))]
            return self.send(200, {"target": target, "status": st.faults[target][0],
                                   "count": st.faults[target][1]})
        if op == "requests" and m == "GET":
            with st.lock:
                return self.send(200, list(st.log))
        if op == "requests" and m == "DELETE":
            st.clear_log()
            return self.send(204)
        return self.fail(404, "unknown admin call %s %s" % (m, op))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    tls = None

    def finish_request(self, request, client_address):
        if self.tls is not None:
            try:
                request.settimeout(30)
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as e:
                sys.stderr.write("TLS handshake from %s failed: %s\n" % (client_address[0], e))
                request.close()
                return
        try:
            super().finish_request(request, client_address)
        finally:
            try:
                request.close()
            except OSError:
                pass

    def shutdown_request(self, request):
        try:
            request.close()
        except OSError:
            pass


def make_server(host, port, role, state, tls):
    cls = type("H_" + role, (Handler,), {"state": state, "role": role})
    srv = Server((host, port), cls)
    srv.tls = tls
    return srv


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description="Keystone v3 emulator + auth proxy")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="identity (https)")
    p.add_argument("--proxy-port", type=int, default=0, help="Barbican proxy (https)")
    p.add_argument("--admin-port", type=int, default=0, help="admin (plain http)")
    p.add_argument("--port-file", required=True)
    p.add_argument("--proxy-port-file", required=True)
    p.add_argument("--admin-port-file", required=True)
    p.add_argument("--log", help="JSON-lines request log")
    p.add_argument("--barbican", help="Barbican base URL (https://127.0.0.1:P)")
    p.add_argument("--barbican-ca", help="CA file trusted for --barbican")
    p.add_argument("--token-lifetime", type=float, default=3600.0)
    p.add_argument("--project-id", default="7c1e4f0a2b3d4e5f8a9b0c1d2e3f4a5b")
    p.add_argument("--project-name", default="cmkfs-test")
    p.add_argument("--credential", action="append", default=[],
                   metavar="ID=SECRET", help="add an application credential")
    args = p.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        p.error("loopback only")

    state = State(args)
    for c in args.credential:
        cid, _, sec = c.partition("=")
        state.add_credential({"id": cid, "secret": sec})
    if args.log:
        open(args.log, "w").close()

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(args.cert, args.key)

    ident = make_server(args.host, args.port, "identity", state, tls)
    proxy = make_server(args.host, args.proxy_port, "proxy", state, tls)
    admin = make_server(args.host, args.admin_port, "admin", state, None)
    state.identity_base = "https://%s:%d" % (args.host, ident.server_address[1])
    state.proxy_base = "https://%s:%d" % (args.host, proxy.server_address[1])

    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                                daemon=True) for s in (ident, proxy, admin)]
    for t in threads:
        t.start()
    write_port(args.port_file, ident.server_address[1])
    write_port(args.proxy_port_file, proxy.server_address[1])
    write_port(args.admin_port_file, admin.server_address[1])
    sys.stderr.write("keystone emulator: identity %s/v3, proxy %s, admin http://%s:%d\n"
                     % (state.identity_base, state.proxy_base, args.host,
                        admin.server_address[1]))
    sys.stderr.flush()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(0.5):
        pass
    for s in (ident, proxy, admin):
        s.shutdown()
        s.server_close()


if __name__ == "__main__":
    main()
