#!/usr/bin/python3
"""Cost against size: that loading a sweep and recording a run grow (near) linearly with their
size, on generated inputs. Prints Markdown tables (progress on stderr):

  1. loading and expanding a sweep (`vgsweep --dry-run`): a mapping of N keys (the YAML loader:
     duplicate keys), N aliases of N anchors, N exclude entries over a 1,000-value grid (rule
     matching), N include entries (deduplication, membership of the product);
  2. recording one run of depth D, width 2, on tiny data (data.train_size 8, 1 epoch): the
     run's HDF5 assembly, against the dry run's own estimate of the run's time.

Each row is the median of --rounds runs: wall seconds, CPU seconds (user + system, of the
process and its threads: the honest figure on a shared machine) and peak memory; "per unit"
is CPU time divided by the size. A quadratic step shows as a per-unit cost that grows with
the size.

    /usr/bin/python3 bench/scaling_bench.py [--rounds 1] [--quick] [--build DIR]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

from common import find_binary, machine, median, table


def measured(cmd, rounds):
    """Median wall and CPU seconds (user + system, all threads) and the largest peak RSS (MB) of
    rounds runs of cmd; its last stdout. Fails loudly."""
    walls, cpus, peaks, out = [], [], [], ""
    for _ in range(rounds):
        with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=fout, stderr=ferr, text=True)
            _, status, ru = os.wait4(p.pid, 0)
            walls.append(time.perf_counter() - t0)
            fout.seek(0), ferr.seek(0)
            out, err = fout.read(), ferr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"scaling_bench: {' '.join(cmd)} failed: {err.strip()}")
        cpus.append(ru.ru_utime + ru.ru_stime)
        peaks.append(ru.ru_maxrss / 1024)
    return median(walls), median(cpus), max(peaks), out


# --- generated sweeps -------------------------------------------------------------------------

HEAD = "data: {train_size: 200, test_size: 0}\nmodel: {depth: 1, width: 2}\ntrain: {epochs: 1}\n"


def sweep_keys(n):
    return HEAD + "x-big:\n" + "".join(f"  k{i}: {i}\n" for i in range(n))


def sweep_aliases(n):
    return (HEAD + "x-anchors:\n" + "".join(f"  k{i}: &a{i} {i}\n" for i in range(n)) +
            "x-aliases:\n" + "".join(f"  - *a{i}\n" for i in range(n)))


# The grid and the entries vary model.bias_init: a setting that leaves each run's plan (which the
# dry run sizes) as cheap as it is, so the rows measure the sweep, not the runs.
GRID = "grid:\n  model.bias_init: [" + ", ".join(str(i) for i in range(1, 1001)) + "]\n"


def sweep_excludes(n):
    return HEAD + GRID + "exclude:\n" + "".join(f"- {{model.bias_init: {2 * i + 1}}}\n" for i in range(n))


def sweep_includes(n):
    return (HEAD + GRID + "include:\n" +
            "".join(f"- {{model.bias_init: {i % (n // 2 + 1) + 1}}}\n" for i in range(n)))


def sweep_depth(d):
    return ("data: {train_size: 8, test_size: 0, features: 2, classes: 2}\n"
            f"model: {{depth: {d}, width: 2}}\ntrain: {{epochs: 1, batch_size: 8}}\n"
            "record: {probe: 8}\n")


LOAD_CASES = [  # (workload, generator, sizes, quick sizes)
    ("mapping keys", sweep_keys, [10_000, 50_000, 200_000], [10_000, 50_000]),
    ("aliases", sweep_aliases, [10_000, 50_000, 200_000], [10_000, 50_000]),
    ("exclude entries", sweep_excludes, [100_000, 400_000], [100_000]),
    ("include entries", sweep_includes, [50_000, 200_000], [50_000]),
]
DEPTHS, QUICK_DEPTHS = [1000, 2000, 5000, 10000], [1000, 2000]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=1, help="runs per row (the median is shown)")
    ap.add_argument("--quick", action="store_true", help="the smaller sizes only")
    ap.add_argument("--build", help="build directory (default: $VG_BUILD or build/)")
    args = ap.parse_args()
    vgsweep = find_binary("vgsweep", args.build)
    print(f"Machine: {machine()}\n")

    with tempfile.TemporaryDirectory(prefix="vg_scaling_") as tmp:
        rows = []
        for name, gen, sizes, quick in LOAD_CASES:
            for n in quick if args.quick else sizes:
                path = os.path.join(tmp, f"s{n}.yaml")
                with open(path, "w") as f:
                    f.write(gen(n))
                mb = os.path.getsize(path) / 1e6
                print(f"loading: {name} {n} ({mb:.1f} MB)", file=sys.stderr)
                cmd = [vgsweep, "--dry-run", "--quiet", "--force", "-o",
                       os.path.join(tmp, "x.h5"), path]
                wall, cpu, peak, _ = measured(cmd, args.rounds)
                rows.append([name, f"{n:,}", f"{mb:.1f}", f"{wall:.2f}", f"{cpu:.2f}",
                             f"{peak:.0f}", f"{cpu / n * 1e6:.1f}"])
        print("Loading and expanding a sweep (`vgsweep --dry-run`):\n")
        print(table(["workload", "size", "file MB", "wall s", "CPU s", "peak MB",
                     "CPU µs per unit"], rows))

        rows = []
        for d in QUICK_DEPTHS if args.quick else DEPTHS:
            path = os.path.join(tmp, f"d{d}.yaml")
            with open(path, "w") as f:
                f.write(sweep_depth(d))
            out_h5 = os.path.join(tmp, f"d{d}.h5")
            dry = subprocess.run([vgsweep, "--dry-run", "-o", out_h5, path], check=True,
                                 capture_output=True, text=True).stdout
            m = re.search(r"about ([0-9.]+) (s|min|h)", dry)
            est = float(m.group(1)) * {"s": 1, "min": 60, "h": 3600}[m.group(2)] if m else float("nan")
            print(f"recording: depth {d}", file=sys.stderr)
            wall, cpu, peak, _ = measured([vgsweep, "--quiet", "--force", "-j", "1", "-o", out_h5,
                                           path], args.rounds)
            rows.append([f"{d:,}", f"{est:g}", f"{wall:.2f}", f"{cpu:.2f}", f"{peak:.0f}",
                         f"{os.path.getsize(out_h5) / 1e6:.1f}", f"{cpu / d * 1e3:.2f}"])
            os.unlink(out_h5)
        print("\nRecording one run of depth D, width 2 (1 epoch, 8 samples), `-j 1`:\n")
        print(table(["depth", "dry-run estimate s", "wall s", "CPU s", "peak MB", "file MB",
                     "CPU ms per layer"], rows))


if __name__ == "__main__":
    main()
