#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Workload helper for scripts/bench.sh (a benchmark, not a test).

Every timed workload here loads its input data before the clock starts and
prints one number on stdout (the measurement). Data comes from a random
"pool" file made once per run, so every system gets the very same bytes.

  pool PATH MIB SEED                 write MIB MiB of seeded random bytes
  manifest POOL OUT N SEED           plan the corpus: N files of 20-500 KiB in
                                     20 directories, with their sha256
  seqwrite POOL FILE MIB [SYNCDIR..] write FILE in 1 MiB writes, fsync, then
                                     syncfs(SYNCDIR...): prints MiB/s
  seqread POOL FILE MIB              read FILE in 1 MiB reads, compare with
                                     the pool: prints MiB/s
  corpuswrite MANIFEST POOL ROOT [SYNCDIR...]
                                     write the corpus, then syncfs(SYNCDIR...)
                                     once: prints files/s
  corpusread MANIFEST POOL ROOT      read every file back, check its sha256:
                                     prints files/s
  fioiops JSON rw                    IOPS from fio --output-format=json
  report TSV META OUT                the Markdown report
"""

import ctypes
import hashlib
import json
import os
import random
import statistics
import sys
import time

MIB = 1 << 20
_libc = ctypes.CDLL(None, use_errno=True)


def syncfs(path):
    """syncfs(2) on the file system holding PATH."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "syncfs " + path + ": " + os.strerror(err))
    finally:
        os.close(fd)


def load_pool(path):
    with open(path, "rb") as f:
        return f.read()


def write_all(fd, view):
    while view:
        n = os.write(fd, view)
        view = view[n:]


def cmd_pool(path, mib, seed):
    rng = random.Random(int(seed))
    with open(path, "wb") as f:
        for _ in range(int(mib)):
            f.write(rng.randbytes(MIB))


def chunk_off(pool, i):
    """Where in the pool the 1 MiB block number I of a sequential file
    comes from (it cycles the pool)."""
    return (i % (len(pool) // MIB)) * MIB


def cmd_seqwrite(pool_path, path, mib, *syncdirs):
    pool = load_pool(pool_path)
    mib = int(mib)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(mib):
            off = chunk_off(pool, i)
            write_all(fd, memoryview(pool)[off:off + MIB])
        os.fsync(fd)
    finally:
        os.close(fd)
    for d in syncdirs:
        syncfs(d)
    dt = time.perf_counter() - t0
    print(f"{mib / dt:.2f}")


def cmd_seqread(pool_path, path, mib):
    pool = load_pool(pool_path)
    mib = int(mib)
    buf = bytearray(MIB)
    view = memoryview(buf)
    bad = None
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        for i in range(mib):
            got = 0
            while got < MIB:
                n = os.readv(fd, [view[got:]])
                if n == 0:
                    break
                got += n
            # bytearray == bytes is a memcmp (a memoryview compare is slow)
            off = chunk_off(pool, i)
            if got != MIB or buf != pool[off:off + MIB]:
                bad = i
                break
        extra = os.read(fd, 1)
    finally:
        os.close(fd)
    dt = time.perf_counter() - t0
    if bad is not None:
        sys.exit(f"seqread: {path}: MiB {bad} differs from what was written")
    if extra:
        sys.exit(f"seqread: {path}: longer than {mib} MiB")
    print(f"{mib / dt:.2f}")


def cmd_manifest(pool_path, out, n, seed):
    pool = load_pool(pool_path)
    rng = random.Random(int(seed))
    files = []
    for i in range(int(n)):
        size = rng.randint(20 * 1024, 500 * 1024)
        off = rng.randrange(0, len(pool) - size)
        name = f"d{i % 20:02d}/img{i:05d}.jpg"
        digest = hashlib.sha256(pool[off:off + size]).hexdigest()
        files.append({"name": name, "off": off, "size": size,
                      "sha256": digest})
    with open(out, "w") as f:
        json.dump(files, f)


def cmd_corpuswrite(manifest, pool_path, root, *syncdirs):
    with open(manifest) as f:
        files = json.load(f)
    pool = memoryview(load_pool(pool_path))
    dirs = sorted({e["name"].split("/")[0] for e in files})
    t0 = time.perf_counter()
    for d in dirs:
        os.mkdir(os.path.join(root, d))
    for e in files:
        fd = os.open(os.path.join(root, e["name"]),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_all(fd, pool[e["off"]:e["off"] + e["size"]])
        finally:
            os.close(fd)
    for d in syncdirs:
        syncfs(d)
    dt = time.perf_counter() - t0
    print(f"{len(files) / dt:.2f}")


def cmd_corpusread(manifest, pool_path, root):
    del pool_path  # the manifest's sha256 is the reference
    with open(manifest) as f:
        files = json.load(f)
    buf = bytearray(MIB)
    view = memoryview(buf)
    bad = []
    t0 = time.perf_counter()
    for e in files:
        h = hashlib.sha256()
        fd = os.open(os.path.join(root, e["name"]), os.O_RDONLY)
        try:
            while True:
                n = os.readv(fd, [view])
                if n == 0:
                    break
                h.update(view[:n])
        finally:
            os.close(fd)
        if h.hexdigest() != e["sha256"]:
            bad.append(e["name"])
    dt = time.perf_counter() - t0
    if bad:
        sys.exit(f"corpusread: {len(bad)} files differ, e.g. {bad[0]}")
    print(f"{len(files) / dt:.2f}")


def cmd_fioiops(path, rw):
    with open(path) as f:
        text = f.read()
    # fio may print notes before the JSON object.
    data = json.loads(text[text.index("{"):])
    job = data["jobs"][0]
    if job.get("error"):
        sys.exit(f"fio reported error {job['error']}")
    print(f"{job[rw]['iops']:.0f}")


# --- report ---------------------------------------------------------------

# (key, label, unit, higher_is_better)
METRICS = [
    ("seq_write", "Sequential write {SEQ_MB} MiB, 1 MiB writes + fsync", "MiB/s", True),
    ("seq_read", "Sequential read {SEQ_MB} MiB, cold, 1 MiB reads", "MiB/s", True),
    ("corpus_write", "Corpus write, {CORPUS_FILES} files + syncfs", "files/s", True),
    ("corpus_read", "Corpus read, cold, sha256 checked", "files/s", True),
    ("fio_randread", "fio 4 KiB random read, 2 jobs, {FIO_RUNTIME} s", "IOPS", True),
    ("fio_randwrite", "fio 4 KiB random write, 2 jobs, {FIO_RUNTIME} s", "IOPS", True),
    ("untar", "Untar {TREE_FILES} files + syncfs", "s", False),
    ("ls_lR", "ls -lR of the tree, cold", "s", False),
    ("rm_rf", "rm -rf of the tree + syncfs", "s", False),
    ("mount", "Mount time (all mounts)", "s", False),
]


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "s":
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}"


def read_meta(path):
    """META is tab-separated lines: header KEY VALUE | param NAME VALUE |
    system NAME | rounds N | note TEXT."""
    meta = {"header": [], "params": {}, "systems": [], "notes": [],
            "rounds": "?"}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            kind = parts[0]
            if kind == "header":
                meta["header"].append((parts[1], parts[2]))
            elif kind == "param":
                meta["params"][parts[1]] = parts[2]
            elif kind == "system":
                meta["systems"].append(parts[1])
            elif kind == "rounds":
                meta["rounds"] = parts[1]
            elif kind == "note":
                meta["notes"].append(parts[1])
    return meta


def cmd_report(tsv, meta_path, out):
    meta = read_meta(meta_path)
    systems = meta["systems"]
    samples = {}   # (sys, metric) -> [(round, value)]
    fails = []     # (round, sys, workload, note)
    rss = {}       # round -> max VmHWM kB
    with open(tsv) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            rnd, sysname, metric, value = parts[:4]
            if metric == "FAIL":
                fails.append((rnd, sysname, value))
            elif metric == "cmkfs_vmhwm_kb":
                rss[rnd] = max(rss.get(rnd, 0), int(value))
            else:
                samples.setdefault((sysname, metric), []).append(
                    (int(rnd), float(value)))

    def med(sysname, key):
        vals = [v for _, v in samples.get((sysname, key), [])]
        return statistics.median(vals) if vals else None

    lines = []
    add = lines.append
    add("# cmkfs benchmark")
    add("")
    for k, v in meta["header"]:
        add(f"- **{k}**: {v}")
    add("")
    add("## Medians")
    add("")
    add(f"Medians over {meta['rounds']} round(s) (mount time: over every "
        "mount of every round). Higher is better for MiB/s, files/s and "
        "IOPS; lower is better for seconds.")
    add("")
    add("| Workload | Unit | " + " | ".join(systems) + " |")
    add("|---|---|" + "---:|" * len(systems))
    for key, label, unit, _ in METRICS:
        label = label.format(**meta["params"])
        cells = [fmt(med(s, key), unit) for s in systems]
        add(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    add("")

    others = [o for o in ("passthrough_ll", "passthrough_ll_perm",
                          "gocryptfs", "cmkfs_plainnames",
                          "cmkfs_xattr")
              if o in systems]
    if "cmkfs" in systems and others:
        add("## Ratios: cmkfs against " + ", ".join(others))
        add("")
        add("**> 1 means cmkfs is better** in every row: for MiB/s, files/s "
            "and IOPS the ratio is cmkfs / other; for seconds it is "
            "other / cmkfs (the inverse).")
        add("")
        add("| Workload | " + " | ".join(
            f"cmkfs vs {o}" for o in others) + " |")
        add("|---|" + "---:|" * len(others))
        for key, label, unit, higher in METRICS:
            label = label.format(**meta["params"])
            c = med("cmkfs", key)
            cells = []
            for o in others:
                v = med(o, key)
                if c is None or v is None or c == 0 or v == 0:
                    cells.append("—")
                else:
                    r = c / v if higher else v / c
                    cells.append(f"{r:.2f}")
            add(f"| {label} | " + " | ".join(cells) + " |")
        add("")

    if rss:
        add("## cmkfs daemon peak RSS")
        add("")
        add("VmHWM of the cmkfs mount process, read just before each "
            "unmount; the largest per round:")
        add("")
        for rnd in sorted(rss, key=int):
            add(f"- round {rnd}: {rss[rnd] / 1024:.1f} MiB")
        add(f"- **max: {max(rss.values()) / 1024:.1f} MiB**")
        add("")

    add("## Failures")
    add("")
    if fails:
        for rnd, sysname, note in fails:
            what = "making a fresh volume" if note == "prepare" else note
            add(f"- round {rnd}, {sysname}: {what} failed (see the log "
                "on stderr)")
    else:
        add("None: every system completed every workload (all reads "
            "were checked against what was written).")
    add("")

    if meta["notes"]:
        add("## Method")
        add("")
        for note in meta["notes"]:
            add(f"- {note}")
        add("")

    add("## All samples")
    add("")
    add("Per-round values (round numbers in brackets; mount lists every "
        "mount).")
    add("")
    add("| Workload | System | Samples |")
    add("|---|---|---|")
    for key, _, unit, _ in METRICS:
        for s in systems:
            vals = samples.get((s, key))
            if not vals:
                continue
            if key == "mount":
                text = ", ".join(fmt(v, unit) for _, v in vals)
            else:
                text = ", ".join(f"[{r}] {fmt(v, unit)}" for r, v in vals)
            add(f"| {key} | {s} | {text} |")
    text = "\n".join(lines) + "\n"
    with open(out, "w") as f:
        f.write(text)
    sys.stdout.write(text)


COMMANDS = {
    "pool": cmd_pool,
    "manifest": cmd_manifest,
    "seqwrite": cmd_seqwrite,
    "seqread": cmd_seqread,
    "corpuswrite": cmd_corpuswrite,
    "corpusread": cmd_corpusread,
    "fioiops": cmd_fioiops,
    "report": cmd_report,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
