#!/usr/bin/python3
"""The benchmark sweep (bench/sweep.yaml, 24 runs) three ways, each pair measured alternately in
this one run (medians over rounds):

  1. vgsweep -j 2 against the PyTorch way (bench/torch_sweep.py: two processes, hooks, h5py
     writing the same per-layer, per-epoch gradient tensors): wall time and peak memory;
  2. recording overhead: full recording (probe checkpoints with their per-layer statistics,
     every gradient tensor, the initial weights) against the same sweep recording only the
     per-epoch and per-step losses (record.probe: 0, record.tensors: none, record.weights:
     none: no probe forward/backward, statistics or tensors at all). Each round runs both,
     in alternating order (so that a drift of the shared machine or an after-effect of one
     run on the next does not fall on one side); the overhead is the median of the rounds'
     ratios, shown with their quartiles, in wall time and in CPU time (user + system);
  3. parallel efficiency: -j 1 against -j 2.

    /usr/bin/python3 bench/sweep_bench.py [--rounds 9] [--overhead-rounds 15] [--torch-rounds 1]
                                          [--skip-torch]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from common import ROOT, find_binary, machine, median, table

SWEEP = os.path.join(ROOT, "bench", "sweep.yaml")


def timed(cmd, env=None, cpu=None):
    """Wall seconds and peak RSS (KB) of a child process and its children; appends its CPU
    seconds (user + system) to the list cpu when given."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    out, err = p.stdout.read(), p.stderr.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}): {err.strip()[-500:]}")
    if cpu is not None:
        cpu.append(ru.ru_utime + ru.ru_stime)
    return wall, ru.ru_maxrss, out


def quartiles(xs):
    """The lower and upper quartiles (medians of the halves below and above the median)."""
    xs = sorted(xs)
    h = len(xs) // 2
    return median(xs[:h] or xs), median(xs[len(xs) - h:] or xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--overhead-rounds", type=int, default=15)
    ap.add_argument("--torch-rounds", type=int, default=1)
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--build", help="build directory (default $VG_BUILD or build/)")
    a = ap.parse_args()
    vgsweep = find_binary("vgsweep", a.build)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    tmp = tempfile.mkdtemp(prefix="vgbench-")
    lossonly = os.path.join(tmp, "bench_losses.yaml")
    with open(SWEEP) as f:
        text = f.read()
    losses_text = text
    for full, losses in (("probe: 128", "probe: 0"), ("tensors: all", "tensors: none"),
                         ("weights: init", "weights: none")):
        if full not in losses_text:
            sys.exit(f"bench: {SWEEP} has no '{full}' to turn into '{losses}'")
        losses_text = losses_text.replace(full, losses)
    with open(lossonly, "w") as f:
        f.write(losses_text)

    def vg(jobs, sweep=SWEEP, cpu=None):
        # The previous round's output is deleted before the clock starts: deleting 50 MB is
        # not part of recording this sweep (--force would do it inside the timed run).
        out = os.path.join(tmp, "out.h5")
        if os.path.exists(out):
            os.remove(out)
        return timed([vgsweep, "-q", "-j", str(jobs), "-o", out, sweep], env, cpu)[:2]

    print(f"# The benchmark sweep (bench/sweep.yaml, 24 runs)\n# {machine()}")
    vg(2)  # warm the page cache and the binary

    if not a.skip_torch:
        vw, vm, tw, tm = [], [], [], []
        for _ in range(a.torch_rounds):
            w, m = vg(2)
            vw.append(w), vm.append(m)
            _, _, out = timed(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_sweep.py"), tmp],
                              env)
            kv = dict(x.split("=") for x in out.split())
            tw.append(float(kv["wall_s"])), tm.append(int(kv["peak_rss_kb"]))
        print("\n## Whole sweep: vgsweep -j 2 against the PyTorch way (2 processes)\n")
        print(table(["", "wall s", "peak memory MB"],
                    [["vgsweep -j 2", f"{median(vw):.2f}", f"{median(vm) / 1024:.0f}"],
                     ["PyTorch + h5py, 2 processes", f"{median(tw):.2f}", f"{median(tm) / 1024:.0f}"],
                     ["ratio", f"{median(tw) / median(vw):.1f}x faster",
                      f"{median(vm) / median(tm):.2f} of the memory"]]))

    full, lo, r, fc, lc, rc = [], [], [], [], [], []
    for i in range(a.overhead_rounds):
        if i % 2 == 0:
            f, _ = vg(2, cpu=fc)
            l, _ = vg(2, lossonly, cpu=lc)
        else:
            l, _ = vg(2, lossonly, cpu=lc)
            f, _ = vg(2, cpu=fc)
        full.append(f), lo.append(l), r.append(f / l - 1), rc.append(fc[-1] / lc[-1] - 1)
    pct = lambda x: f"{100 * x:.1f} %"
    (r1, r3), (c1, c3) = quartiles(r), quartiles(rc)
    print(f"\n## Recording overhead (-j 2, {a.overhead_rounds} rounds)\n")
    print(table(["recording", "wall s", "CPU s"],
                [["full (every gradient tensor, every checkpoint)", f"{median(full):.2f}",
                  f"{median(fc):.2f}"],
                 ["losses only (probe: 0, tensors: none, weights: none)", f"{median(lo):.2f}",
                  f"{median(lc):.2f}"],
                 ["overhead (median of the rounds)", pct(median(r)), pct(median(rc))],
                 ["overhead, quartiles of the rounds", f"{pct(r1)} .. {pct(r3)}",
                  f"{pct(c1)} .. {pct(c3)}"]]))

    j1, j2, s = [], [], []
    for _ in range(a.rounds):
        one, _ = vg(1)
        two, _ = vg(2)
        j1.append(one), j2.append(two), s.append(one / two)
    print("\n## Parallel efficiency (full recording)\n")
    print(table(["threads", "wall s"],
                [["-j 1", f"{median(j1):.2f}"], ["-j 2", f"{median(j2):.2f}"],
                 ["speed-up", f"{median(s):.2f}x ({50 * median(s):.0f} % efficiency)"]]))


if __name__ == "__main__":
    main()
