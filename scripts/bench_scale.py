#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Helper of scripts/bench-scale.sh (not run on its own): makes, renames and
# counts the files, and writes the report (a plain-text table and a CSV)
# and its plot (a PNG, with matplotlib).
#
#   create DIR N SIZE LAYOUT PER_DIR SYNCDIR...   N files of SIZE bytes
#   rename DIR SYNCDIR...                          every file f -> f.r
#   report TSV TXT CSV                             the tables
#   plot CSV... PNG                                the plot of the CSVs
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_workloads import syncfs  # noqa: E402  (one syncfs for both)


def file_dir(root, i, layout, per_dir):
    if layout == "flat":
        return root
    return os.path.join(root, "d%05d" % (i // per_dir))


def cmd_create(root, n, size, layout, per_dir, *syncdirs):
    n, size, per_dir = int(n), int(size), int(per_dir)
    data = b"x" * size
    os.makedirs(root, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    for i in range(n):
        d = file_dir(root, i, layout, per_dir)
        if layout != "flat" and i % per_dir == 0:
            os.mkdir(d)
        fd = os.open(os.path.join(d, "f%07d" % i), flags, 0o644)
        try:
            if size:
                os.write(fd, data)
        finally:
            os.close(fd)
    for d in syncdirs:
        syncfs(d)


def cmd_rename(root, *syncdirs):
    n = 0
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            os.rename(p, p + ".r")
            n += 1
    for d in syncdirs:
        syncfs(d)
    print(n)


# --- report -------------------------------------------------------------------
OPS = [  # (op, label, unit): per file unless the unit says otherwise
    ("create", "create + syncfs", "us/file"),
    ("ls_lR", "ls -lR, cold", "us/file"),
    ("stat", "find -type f | xargs stat, cold", "us/file"),
    ("rename", "rename every file + syncfs", "us/file"),
    ("rewrap", "cmkfs rewrap, cold", "us/file"),
    ("rewrap_rate", "cmkfs rewrap", "files/s"),
    ("status", "cmkfs status, cold", "s"),
    ("rm_rf", "rm -rf + syncfs", "us/file"),
    ("fds_peak", "daemon descriptors, peak", "fds"),
    ("fds_after_ls", "daemon descriptors after ls -lR", "fds"),
    ("rss_after_ls", "daemon VmHWM after ls -lR", "MiB"),
    ("rss_peak", "daemon VmHWM, peak of all its mounts", "MiB"),
]


def cmd_report(tsv, txt, csv_path):
    rows = {}  # (system, op) -> {n: value or "FAIL: why"}
    ns, systems, notes = set(), [], []
    with open(tsv) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "note":
                notes.append(parts[1])
                continue
            system, n, op, value = parts[0], int(parts[1]), parts[2], parts[3]
            ns.add(n)
            if system not in systems:
                systems.append(system)
            rows.setdefault((system, op), {})[n] = value
    ns = sorted(ns)

    def cell(v):
        if v is None:
            return "-"
        if v.startswith("FAIL"):
            return "FAIL"  # the reason goes under the table
        x = float(v)
        return "%.1f" % x if x < 100 else "%.0f" % x

    def growth(vals):
        a, b = vals.get(ns[0]), vals.get(ns[-1])
        try:
            a, b = float(a), float(b)
        except (TypeError, ValueError):
            return "-"
        return "%.2fx" % (b / a) if a > 0 and len(ns) > 1 else "-"

    header = ["system", "operation", "unit"] + ["N=%d" % n for n in ns]
    header.append("growth %d->%d" % (ns[0], ns[-1]))
    table = []
    for system in systems:
        for op, label, unit in OPS:
            vals = rows.get((system, op))
            if not vals:
                continue
            table.append([system, label, unit] +
                         [cell(vals.get(n)) for n in ns] + [growth(vals)])
    widths = [max(len(str(r[i])) for r in [header] + table)
              for i in range(len(header))]
    with open(txt, "w") as out:
        for r in [header] + table:
            out.write("  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w)
                                for i, (c, w) in enumerate(zip(r, widths)))
                      .rstrip() + "\n")
        # Failures are not figures: say why under the table.
        for (system, op), vals in rows.items():
            for n, v in sorted(vals.items()):
                if v.startswith("FAIL"):
                    out.write("%s N=%d %s: %s\n" % (system, n, op, v))
        for note in notes:
            out.write(note + "\n")
    with open(csv_path, "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["system", "operation", "unit", "files", "value"])
        for system in systems:
            for op, label, unit in OPS:
                for n, v in sorted(rows.get((system, op), {}).items()):
                    w.writerow([system, op, unit, n, v])


# --- plot ---------------------------------------------------------------------
PANELS = [  # (title, [(op, line label or None for the system's name)])
    ("create + syncfs", [("create", None)]),
    ("ls -lR, cold", [("ls_lR", None)]),
    ("find | xargs stat, cold", [("stat", None)]),
    ("rename every file + syncfs", [("rename", None)]),
    ("rm -rf + syncfs", [("rm_rf", None)]),
    ("cmkfs rewrap and status, cold", [("rewrap", "rewrap"),
                                       ("status", "status")]),
]


def cmd_plot(*args):
    """One panel per operation: microseconds per file (log) against the
    number of files (log), one line per system, from one or more CSVs of
    cmd_report. Failures are named in their panel, never drawn."""
    *csvs, png = args
    points = {}  # (system, op) -> {n: us per file}
    fails = {}  # op -> ["system N=n"]
    systems, ns = [], set()
    for path in csvs:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                system, op = row["system"], row["operation"]
                n, v = int(row["files"]), row["value"]
                if system not in systems:
                    systems.append(system)
                if v.startswith("FAIL"):
                    fails.setdefault(op, []).append("%s N=%d" % (system, n))
                    continue
                if row["unit"] == "us/file":
                    us = float(v)
                elif row["unit"] == "s":  # cmkfs status: seconds in all
                    us = float(v) * 1e6 / n
                else:
                    continue
                ns.add(n)
                points.setdefault((system, op), {})[n] = us
    if not points:
        raise SystemExit("no figures to plot in " + " ".join(csvs))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = dict(zip(systems, cycle))
    fig, axes = plt.subplots(2, 3, figsize=(12, 7), sharex=True)
    for ax, (title, lines) in zip(axes.flat, PANELS):
        ys = []
        for system in systems:
            for op, label in lines:
                pts = points.get((system, op))
                if not pts:
                    continue
                xs = sorted(pts)
                style = "-o" if label in (None, "rewrap") else "--s"
                name = system if label is None else system + " " + label
                ax.plot(xs, [pts[x] for x in xs], style,
                        color=colours[system], label=name)
                ys += pts.values()
        failed = [f for op, _ in lines for f in fails.get(op, [])]
        if failed:
            ax.text(0.02, 0.02, "FAIL: " + ", ".join(failed), fontsize=8,
                    color="firebrick", transform=ax.transAxes)
        ax.set_title(title, fontsize=10)
        ax.set_xscale("log")
        if ys:
            # At least a decade, so that the axis has labelled powers of 10.
            lo, hi = min(ys), max(ys)
            pad = max(1.3, (10 * lo / hi) ** 0.5)
            ax.set_yscale("log")
            ax.set_ylim(lo / pad, hi * pad)
            ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: "%g" % y))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xticks(sorted(ns))
        ax.set_xticklabels(["{:,}".format(n) for n in sorted(ns)])
        ax.xaxis.set_minor_formatter(NullFormatter())
    for ax in axes[-1]:
        ax.set_xlabel("files")
    for ax in axes[:, 0]:
        ax.set_ylabel("µs per file")
    fig.suptitle("scripts/bench-scale.sh: cost per file against the number "
                 "of files", fontsize=11)
    fig.tight_layout()
    fig.savefig(png, dpi=80)


COMMANDS = {"create": cmd_create, "rename": cmd_rename, "report": cmd_report,
            "plot": cmd_plot}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: bench_scale.py create|rename|report|plot ...")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
