#!/usr/bin/python3
"""Helping: a sweep of ONE run of width 1024 at -j 1 against -j 2, where the second thread has
no run of its own and helps the one run by taking panels of its matrix products
(vgsweep/team.h). Each round runs both, in alternating order; the speed-up is the median of
the rounds' ratios, with their quartiles. Then the same for the core alone, on one thread and
with one helper (vgbench --threads): the products of one step (vgbench gemm) and the whole
step (vgbench step). Target (issue 17): the sweep >= 1.6x at -j 2.

    /usr/bin/python3 bench/help_bench.py [--rounds 7] [--depth 8] [--epochs 2] [--train 4096]
                                         [--kernel-seconds 1]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from common import find_binary, machine, median, run_kv, table

SWEEP = """\
name: help_bench
seed: 1
data:
  kind: clusters
  train_size: {train}
  test_size: 1024
  features: 64
  classes: 10
model:
  width: 1024
  depth: {depth}
train:
  epochs: {epochs}
  batch_size: 128
  lr: 0.05
record:
  probe: 128
  tensors: all
  weights: init
"""


def quartiles(xs):
    xs = sorted(xs)
    h = len(xs) // 2
    return median(xs[:h] or xs), median(xs[len(xs) - h:] or xs)


def timed(cmd, env):
    """Wall and CPU (user + system) seconds of a child process, and the CPU seconds of its
    busiest worker thread (what VGSWEEP_DEBUG_HELP=1 makes vgsweep print per thread)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=dict(env, VGSWEEP_DEBUG_HELP="1"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed: {err.strip()[-500:]}")
    threads = [float(x) for x in re.findall(r"thread \d+: ([0-9.]+) s CPU", err)]
    return round(wall, 3), round(ru.ru_utime + ru.ru_stime, 3), max(threads or [float("nan")])


def alternate(rounds, one, two):
    """Runs one() and two() in each round, in alternating order; their values per round."""
    a, b = [], []
    for i in range(rounds):
        if i % 2 == 0:
            a.append(one()), b.append(two())
        else:
            b.append(two()), a.append(one())
        print(f"  round {i + 1}/{rounds}: {a[-1]} {b[-1]}", file=sys.stderr)
    return a, b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train", type=int, default=4096)
    ap.add_argument("--kernel-seconds", type=float, default=1.0)
    ap.add_argument("--dir", help="where the sweep writes (default /dev/shm when present)")
    ap.add_argument("--build", help="build directory (default $VG_BUILD or build/)")
    a = ap.parse_args()
    vgsweep, vgbench = find_binary("vgsweep", a.build), find_binary("vgbench", a.build)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env.pop("OMP_NUM_THREADS", None)
    # the output on tmpfs when there is one: the shared disk's fsyncs are not what is measured
    tmp = tempfile.mkdtemp(prefix="vghelp-", dir=a.dir or ("/dev/shm" if os.path.isdir("/dev/shm") else None))
    sweep = os.path.join(tmp, "help.yaml")
    with open(sweep, "w") as f:
        f.write(SWEEP.format(train=a.train, depth=a.depth, epochs=a.epochs))
    out = os.path.join(tmp, "out.h5")

    def vg(jobs):
        if os.path.exists(out):
            os.remove(out)
        return timed([vgsweep, "-q", "-j", str(jobs), "-o", out, sweep], env)

    print(f"# Helping: one run of width 1024 at -j 1 and -j 2\n# {machine()}")
    try:
        vg(2)  # warm the page cache and the binary
        one, two = alternate(a.rounds, lambda: vg(1), lambda: vg(2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # ~100 MB, in memory on /dev/shm
    wall = [x[0] / y[0] for x, y in zip(one, two)]
    busiest = [x[2] / y[2] for x, y in zip(one, two)]
    cpu = [y[1] / x[1] for x, y in zip(one, two)]
    (q1, q3), (b1, b3) = quartiles(wall), quartiles(busiest)
    print(f"\n## One run (MLP 64 -> {a.depth} x 1024 -> 10, batch 128, {a.train} samples, "
          f"{a.epochs} epochs, full recording, output in {os.path.dirname(tmp)}), {a.rounds} rounds\n")
    col = lambda xs, k: f"{median([x[k] for x in xs]):.2f}"
    print(table(["", "-j 1", "-j 2", "speed-up (median of the rounds' ratios)", "quartiles"],
                [["wall s", col(one, 0), col(two, 0), f"{median(wall):.2f}x", f"{q1:.2f}x .. {q3:.2f}x"],
                 ["CPU s of the busiest thread", col(one, 2), col(two, 2), f"{median(busiest):.2f}x",
                  f"{b1:.2f}x .. {b3:.2f}x"],
                 ["CPU s, whole process", col(one, 1), col(two, 1),
                  f"(-j 2 uses {median(cpu):.2f}x the CPU)", ""]]))
    print("\nThe busiest thread's CPU time is the run's owner at -j 2 (its helper's time includes"
          " spinning for the next task); on a machine whose cores are busy with other work the"
          " wall time cannot show the split, the owner's CPU time still does.")

    rows = []
    for mode in ("gemm", "step"):
        cmd = [vgbench, mode, "--depth", str(a.depth), "--width", "1024", "--batch", "128",
               "--inputs", "64", "--seconds", str(a.kernel_seconds)]
        r1, r2 = alternate(a.rounds, lambda: float(run_kv(cmd + ["--threads", "1"], env)["steps_per_s"]),
                           lambda: float(run_kv(cmd + ["--threads", "2"], env)["steps_per_s"]))
        ratio = [y / x for x, y in zip(r1, r2)]
        q1, q3 = quartiles(ratio)
        rows.append([f"vgbench {mode}", f"{median(r1):.2f}", f"{median(r2):.2f}",
                     f"{median(ratio):.2f}x", f"{q1:.2f}x .. {q3:.2f}x"])
    print(f"\n## The core alone: one thread, and one thread with one helper ({a.rounds} rounds)\n")
    print(table(["steps/s of", "1 thread", "+ 1 helper", "speed-up", "quartiles"], rows))


if __name__ == "__main__":
    main()
