#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Serve the real OpenStack Barbican API (Debian's python3-barbican) over TLS
on loopback, for the cmkfs tests. Run it with Debian's /usr/bin/python3.

    serve_barbican.py --config-file DIR/barbican.conf \
        --paste-ini DIR/barbican-api-paste.ini \
        --cert server.pem --key server.key --port-file DIR/port \
        [--host 127.0.0.1] [--port 0]

How Barbican is pointed at our configuration: barbican has no option or
environment variable naming its configuration file for the API app. Every
barbican module with options (barbican.common.config and each plugin:
store_crypto, simple_crypto, the crypto manager, secret_store, ...) makes its
own oslo.config object and calls barbican.common.config.parse_args(CONF) at
import time, which reads oslo.config's default files (~/.barbican/barbican.conf,
~/barbican.conf, /etc/barbican/barbican.conf, /etc/barbican.conf: the first
found). So before anything else of barbican is imported, this launcher
re-parses barbican.common.config.CONF from --config-file only, and wraps
parse_args so that every later call reads --config-file only (no default
files, no default config dirs). Debian's /etc/barbican is then never read
for options. (oslo.config still honours OS_<GROUP>__<OPTION> environment
variables; this launcher drops any such variables from its environment.)

The WSGI app is loaded with paste.deploy.loadapp from --paste-ini (section
"main") and served by the standard library's wsgiref, one thread per
connection (Debian's uwsgi setup runs Barbican threaded too: 8 processes x
32 threads), TLS done per connection in that thread, HTTP/1.0 (one request
per connection). But the app itself runs one request at a time (unless
--concurrent): with SQLite, concurrent writers fail at once with 500
"(sqlite3.OperationalError) database is locked" (Barbican's deferred
transactions cannot wait for the lock), and even reads may write (Barbican
creates its project row on a project's first request). Connections, TLS and
request parsing stay concurrent. Barbican's policy enforcer is built before
serving: its lazy construction races under concurrent first requests (500
"PolicyNotRegistered: Policy secrets:post has not been registered").

The socket is bound before barbican loads; with --set-host-href the
host_href line of --config-file is first rewritten to https://HOST:PORT
(Barbican builds secret_ref and other links from host_href). The chosen port
is written to --port-file (atomically) once the app is loaded. wsgiref's
access log goes to stderr.
"""
import argparse
import os
import re
import signal
import socketserver
import ssl
import sys
import threading
from wsgiref import simple_server


def parse_cli():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config-file", required=True)
    p.add_argument("--paste-ini", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--concurrent", action="store_true",
                   help="let requests into the app concurrently (SQLite then "
                        "fails concurrent writes with 'database is locked')")
    p.add_argument("--set-host-href", action="store_true",
                   help="rewrite the host_href line of --config-file to "
                        "https://HOST:PORT once the port is bound")
    return p.parse_args()


def point_barbican_at(config_file):
    """Make every barbican oslo.config object read config_file only."""
    for name in list(os.environ):
        if name.startswith("OS_") and "__" in name:
            del os.environ[name]
    from barbican.common import config

    def parse_args(conf, args=None, usage=None, default_config_files=None):
        conf(args=args if args else [],
             project="barbican", prog="barbican",
             usage=usage,
             default_config_files=[config_file],
             default_config_dirs=[])
        conf.pydev_debug_host = None
        conf.pydev_debug_port = None

    config.parse_args = parse_args
    # barbican.common.config.CONF was parsed at import, from the defaults.
    parse_args(config.CONF)
    return config.CONF


def one_at_a_time(app):
    """Run the WSGI app for one request at a time (see the header)."""
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        return [body]
    return serialised


def set_host_href(conf_file, url):
    """Rewrite the first "host_href = ..." line of conf_file."""
    with open(conf_file) as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if re.match(r"\s*host_href\s*=", line):
            lines[i] = "host_href = " + url
            break
    else:
        raise SystemExit("%s: no host_href line" % conf_file)
    tmp = conf_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.chmod(tmp, 0o600)
    os.replace(tmp, conf_file)


class TLSWSGIServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    tls = None

    def finish_request(self, request, client_address):
        # Runs in the connection's own thread: a slow or bad TLS client
        # never blocks accept().
        try:
            request.settimeout(30)
            request = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            sys.stderr.write("TLS handshake from %s failed: %s\n"
                             % (client_address[0], e))
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
        # The TLS socket is closed in finish_request; closing the raw
        # socket again here is harmless.
        try:
            request.close()
        except OSError:
            pass


class Handler(simple_server.WSGIRequestHandler):
    def address_string(self):
        return self.client_address[0]


def main():
    args = parse_cli()
    conf_file = os.path.abspath(args.config_file)
    paste_ini = os.path.abspath(args.paste_ini)

    # Bind first (port 0: the kernel picks), so host_href can name the port.
    server = TLSWSGIServer((args.host, args.port), Handler)
    port = server.server_address[1]
    if args.set_host_href:
        set_host_href(conf_file, "https://%s:%d" % (args.host, port))
    conf = point_barbican_at(conf_file)

    from paste.deploy import loadapp
    app = loadapp("config:" + paste_ini, name="main")
    # Barbican builds its policy enforcer lazily on the first request, and
    # that is not thread-safe: concurrent first requests fail with 500
    # "PolicyNotRegistered: Policy secrets:post has not been registered".
    # Build it now, before any request.
    from barbican.common import policy as barbican_policy
    barbican_policy.init()
    if not args.concurrent:
        app = one_at_a_time(app)
    sys.stderr.write("barbican app loaded; host_href=%s\n" % conf.host_href)

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(args.cert, args.key)

    server.tls = tls
    server.set_app(app)
    server.base_environ["HTTPS"] = "on"  # wsgi.url_scheme = https

    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)
    sys.stderr.write("barbican listening on https://%s:%d\n" % (args.host, port))
    sys.stderr.flush()

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
