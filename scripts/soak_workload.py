#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The workload and the checker of scripts/soak.sh.

  soak_workload.py run MOUNT JOURNAL SEED   writes until it is killed
  soak_workload.py check MOUNT JOURNAL      checks what a crash left

Every 512-byte block the workload writes is a pattern that names its file,
the file's generation and the block's offset, so that any block read back
after a crash is recognisable: its own pattern, zeros (a hole or an
extension), or garbage. The journal (outside the mount, fsync'd) records
for every file the generation and size fsync'd last, and whether an
operation on it was under way: a file with no operation under way must read
back exactly; any file must hold only patterns of its own generations and
zeros, never garbage.
"""
import hashlib
import json
import os
import random
import sys

BLOCK = 512
FILES = 24


def block(name, gen, off):
    seed = hashlib.sha256(b"%s:%d:%d" % (name.encode(), gen, off)).digest()
    return (seed * (BLOCK // len(seed) + 1))[:BLOCK]


def content(name, gen, size):
    out = bytearray()
    for off in range(0, size, BLOCK):
        out += block(name, gen, off)
    return bytes(out[:size])


def journal_write(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def run(mount, journal, seed):
    rng = random.Random(seed)
    state = json.load(open(journal)) if os.path.exists(journal) else {}
    while True:
        name = "f%d" % rng.randrange(FILES)
        path = os.path.join(mount, name)
        cur = state.get(name)
        gen = (cur["gen"] + 1) if cur else 1
        op = rng.choice(["write", "write", "append", "truncate"])
        size = rng.choice([0, 1, 15, 17, 4095, 4096, 4097, 4111, 9000,
                           20000, 70001, 140000])
        # Under way: the old state or the new one may be found.
        state[name] = {"gen": cur["gen"] if cur else 0,
                       "size": cur["size"] if cur else 0,
                       "busy": True, "new_gen": gen}
        journal_write(journal, state)
        if op == "write" or not cur:
            with open(path, "wb") as f:
                f.write(content(name, gen, size))
                f.flush()
                os.fsync(f.fileno())
            new = {"gen": gen, "size": size}
        elif op == "append":
            # The same generation's blocks continue: readable as either.
            old = cur["size"]
            add = rng.choice([1, 100, 5000])
            data = content(name, cur["gen"], old + add)[old:]
            with open(path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            new = {"gen": cur["gen"], "size": old + add}
        else:
            to = rng.randrange(cur["size"] + 1) if cur["size"] else 0
            os.truncate(path, to)
            fd = os.open(path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            new = {"gen": cur["gen"], "size": to}
        state[name] = dict(new, busy=False)
        journal_write(journal, state)


def check(mount, journal):
    state = json.load(open(journal)) if os.path.exists(journal) else {}
    bad = []
    for name, st in sorted(state.items()):
        path = os.path.join(mount, name)
        try:
            got = open(path, "rb").read()
        except FileNotFoundError:
            if st["gen"] == 0:
                continue            # a create under way
            bad.append("%s: missing" % name)
            continue
        except OSError as e:
            bad.append("%s: %s" % (name, e))
            continue
        if not st["busy"]:
            if got != content(name, st["gen"], st["size"]):
                bad.append("%s: differs from what was fsync'd" % name)
            continue
        gens = {st["gen"], st.get("new_gen", st["gen"])}
        for off in range(0, len(got), BLOCK):
            piece = got[off:off + BLOCK]
            if piece.count(0) == len(piece):
                continue
            if not any(block(name, g, off)[:len(piece)] == piece
                       for g in gens):
                bad.append("%s: garbage at %d" % (name, off))
                break
    for b in bad:
        print("BAD", b)
    print("checked %d files, %d bad" % (len(state), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(check(sys.argv[2], sys.argv[3]))
