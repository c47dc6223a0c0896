#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stand-in for syslog or journald on a datagram socket, for
test_logging.sh: receives what a daemon sends to PATH and appends one JSON
object per message to OUT ({"raw": ...} for syslog; the fields of the
journal's native protocol for journald). Writes PATH.ready once bound.

usage: log_listener.py syslog|journal PATH OUT
"""
import json
import os
import socket
import struct
import sys


def journal_fields(data):
    """The journal's native protocol: KEY=VALUE lines, or KEY, a newline,
    a 64-bit little-endian length and that many bytes, then a newline."""
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            value = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        fields[key.decode()] = value.decode(errors="replace")
    return fields


def main():
    mode, path, out = sys.argv[1:4]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.path.exists(path):
        os.unlink(path)
    sock.bind(path)
    os.chmod(path, 0o666)
    open(path + ".ready", "w").close()
    while True:
        data = sock.recv(1 << 20)
        if mode == "journal":
            record = journal_fields(data)
        else:
            record = {"raw": data.decode(errors="replace")}
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
