#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What test_gluster_shared.sh runs on one "host" (one cmkfs -o shared
mount) while the other runs its twin: concurrent creates, interleaved
writes of one file, a reader that checks every file in a loop, a writer
that is killed. Each piece's bytes say where they belong, so that the
checker needs no record of who won.

  creates DIR TAG N            N files DIR/TAG-i, each holding "TAG-i\\n"
  pieces FILE PARITY COUNT SIZE
                               pieces PARITY, PARITY+2, ... of COUNT pieces
                               of SIZE bytes, each written and fsync'd in
                               turn with the other host's
  expect-pieces FILE COUNT SIZE  FILE holds every piece (exit 1 if not)
  readloop DIR REFDIR STOPFILE read every file of REFDIR through DIR until
                               STOPFILE exists; prints "pass N" after
                               each pass, then "reads N wrong M"
  writeloop FILE               rewrites FILE's first MiB until killed
"""
import os
import sys


def piece(i, size):
    stamp = b"piece %06d|" % i
    return (stamp * (size // len(stamp) + 1))[:size]


def creates(d, tag, n):
    for i in range(int(n)):
        name = "%s-%d" % (tag, i)
        fd = os.open(os.path.join(d, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.write(fd, (name + "\n").encode())
        os.close(fd)


def race(d, n, who):
    dirs = files = 0
    for i in range(int(n)):
        try:
            os.mkdir(os.path.join(d, "d-%d" % i))
            dirs += 1
        except FileExistsError:
            pass
        try:
            fd = os.open(os.path.join(d, "f-%d" % i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.write(fd, who.encode())
            os.close(fd)
            files += 1
        except FileExistsError:
            pass
    print("%d %d" % (dirs, files))


def pieces(path, parity, count, size):
    parity, count, size = int(parity), int(count), int(size)
    fd = os.open(path, os.O_RDWR)
    for i in range(parity, count, 2):
        os.pwrite(fd, piece(i, size), i * size)
        os.fsync(fd)
    os.close(fd)


def expect_pieces(path, count, size):
    count, size = int(count), int(size)
    with open(path, "rb") as f:
        data = f.read()
    bad = [i for i in range(count) if data[i * size:(i + 1) * size] != piece(i, size)]
    if len(data) != count * size or bad:
        print("%s: %d bytes (want %d); wrong pieces: %s" %
              (path, len(data), count * size, bad[:20]), file=sys.stderr)
        sys.exit(1)


def readloop(d, ref, stop):
    names = sorted(os.listdir(ref))
    want = {}
    for n in names:
        with open(os.path.join(ref, n), "rb") as f:
            want[n] = f.read()
    reads = wrong = passes = 0
    while True:
        for n in names:
            try:
                with open(os.path.join(d, n), "rb") as f:
                    got = f.read()
            except OSError as e:
                got = ("error: %s" % e).encode()
            reads += 1
            if got != want[n]:
                wrong += 1
                if wrong <= 5:
                    print("wrong read of %s: %r" % (n, got[:60]), file=sys.stderr)
        passes += 1
        # Said after each pass: the test starts the rewrap once reads run.
        sys.stdout.write("pass %d\n" % passes)
        sys.stdout.flush()
        if os.path.exists(stop):
            break
    print("reads %d wrong %d" % (reads, wrong))
    sys.exit(1 if wrong else 0)


def writeloop(path):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
    block = os.urandom(64 * 1024)
    i = 0
    while True:
        os.pwrite(fd, block, (i % 16) * len(block))
        i += 1
        if i == 16:
            # A whole MiB written: the test may kill the daemon now.
            sys.stdout.write("writing\n")
            sys.stdout.flush()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"creates": creates, "race": race, "pieces": pieces, "expect-pieces": expect_pieces,
     "readloop": readloop, "writeloop": writeloop}[cmd](*args)


if __name__ == "__main__":
    main()
