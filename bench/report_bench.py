#!/usr/bin/python3
"""`vgsweep report` on a 1,000-run record, and tools/vgplot on a 500-run one (issue 19's
targets: the report under 2 s, the plots under a minute). The record is made by vgsweep
itself: 1,000 tiny runs (`train.epochs: 1`, depth 2-10 x 4 activations x 5 widths x 5 lrs,
probe statistics on, no tensors), cached in bench/out/report_1000.h5 (`--fresh` remakes it).
Then the report is timed in every format, with --where/--sort and with --pivot, `--rounds`
times each (median and max); vgplot is timed once on the first 500 runs (--where).
Usage: bench/report_bench.py [--build DIR] [--rounds N] [--fresh] [--no-plot]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = """\
name: report_1000
seed: 1
data: {train_size: 64, test_size: 32, features: 8, classes: 4, seed: 1}
model: {width: 8}
train: {epochs: 1, batch_size: 32}
record: {probe: 16, tensors: none, weights: none}
grid:
  model.depth: [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
  model.activation: [sigmoid, tanh, relu, selu]
  model.width: [4, 8, 12, 16, 24]
  train.lr: [0.001, 0.01, 0.05, 0.1, 0.5]
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("VG_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--no-plot", action="store_true")
    a = ap.parse_args()
    vgsweep = os.path.join(a.build, "vgsweep")
    outdir = os.path.join(ROOT, "bench", "out")
    os.makedirs(outdir, exist_ok=True)
    rec = os.path.join(outdir, "report_1000.h5")
    if a.fresh or not os.path.exists(rec):
        yaml = os.path.join(outdir, "report_1000.yaml")
        with open(yaml, "w") as f:
            f.write(SWEEP)
        t = time.perf_counter()
        subprocess.run([vgsweep, "-q", "--force", "-j", "2", "-o", rec, yaml], check=True)
        print(f"made {rec}: 1000 runs in {time.perf_counter() - t:.1f} s, "
              f"{os.path.getsize(rec) / 1e6:.1f} MB", file=sys.stderr)
    cases = [("table", []), ("csv", ["-f", "csv"]), ("json", ["-f", "json"]),
             ("markdown", ["-f", "markdown"]),
             ("--where + --sort", ["--where", "model.activation=relu", "--sort", "-log10_delta_init"]),
             ("--pivot", ["--pivot", "model.depth,model.activation"])]
    # wall time, and CPU time (user + system of the command and its child): on a shared,
    # loaded machine the CPU time is what the command costs, the wall time what one waited
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n", file=sys.stderr)
    print("| `vgsweep report` on 1,000 runs | wall s, median | wall s, max | CPU s, median |")
    print("|---|---:|---:|---:|")
    for name, args in cases:
        times, cpus = [], []
        for _ in range(a.rounds):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([vgsweep, "report", *args, rec], check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        print(f"| {name} | {statistics.median(times):.3f} | {max(times):.3f} | {statistics.median(cpus):.3f} |")
    if not a.no_plot:
        with tempfile.TemporaryDirectory() as tmp:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "vgplot"), rec, "-o", tmp,
                            "--vgsweep", vgsweep, "--where", "model.depth<=6"],
                           check=True, stdout=subprocess.DEVNULL)
            n = len([x for x in os.listdir(tmp) if x.endswith(".png")])
            wall = time.perf_counter() - t
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
            print(f"\n`tools/vgplot` on 500 runs (`--where model.depth<=6`): {wall:.1f} s wall, {cpu:.1f} s CPU, {n} PNGs")


if __name__ == "__main__":
    main()
