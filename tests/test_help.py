"""Idle threads help the runs still going (src/sched, vgsweep/team.h): a sweep of runs of
different widths, so that near its end fewer runs remain than threads, run at -j 1, -j 2 and
-j 3 and with its grid in another order, writes bit-identical datasets; a sweep of one run at
-j 2 and -j 3 (helped from its start) writes the same bits as at -j 1. Helping must actually
have happened: the hidden VGSWEEP_DEBUG_HELP=1 makes vgsweep print how many blocks (panels of
32 output columns of a matrix product) helper threads ran. The widest run costs ~17 times
the others, so at -j 2 and -j 3 they end early and their threads help it. The widths give
panels with a column tail (100, 170; and the 40 inputs) and a transposed op(A) wide enough
to be packed (704).
Usage: test_help.py PATH/TO/vgsweep
"""
import os
import re
import subprocess
import sys
import tempfile

from vgtest import VGSWEEP, check, datasets, failures

SWEEP = """\
name: help
seed: 5
data:
  train_size: 512
  test_size: 64
  features: 40
  classes: 6
model:
  depth: 3
  norm: batch
train:
  epochs: 2
  batch_size: 64
  optimizer: adam
  lr: 0.001
record:
  probe: 64
  tensors: all
  weights: init
grid:
  model.width: {widths}
"""

ONE = """\
name: help_one
seed: 6
data:
  train_size: 256
  test_size: 64
  features: 24
  classes: 4
model:
  depth: 2
  width: 576
  activation: tanh
train:
  epochs: 2
  batch_size: 128
  optimizer: momentum
  lr: 0.05
record:
  probe: 48
"""


def sweep(tmp, name, text, jobs):
    """Runs the sweep text at -j jobs; returns (its datasets, blocks run by helpers)."""
    path, out = os.path.join(tmp, name + ".yaml"), os.path.join(tmp, name + ".h5")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([VGSWEEP, "-q", "-j", str(jobs), "-o", out, path], capture_output=True,
                       text=True, timeout=900, env=dict(os.environ, VGSWEEP_DEBUG_HELP="1"))
    if not check(r.returncode == 0, f"{name} -j {jobs}: exit {r.returncode}: {r.stderr.strip()}"):
        return None, 0
    m = re.search(r"helpers ran (\d+) blocks", r.stderr)
    check(m is not None, f"{name} -j {jobs}: VGSWEEP_DEBUG_HELP reports the helped blocks: {r.stderr!r}")
    return datasets(out), int(m.group(1)) if m else 0


def runs_only(d):
    """The runs' datasets (the index lists the runs in grid order)."""
    return {k: v for k, v in d.items() if k.startswith("runs/")}


def same(a, b, what):
    if a is None or b is None:
        return
    check(sorted(a) == sorted(b), f"{what}: same datasets")
    differing = [k for k in a if k in b and a[k] != b[k]]
    check(not differing, f"{what}: datasets differ: {differing[:5]}")
    if not differing:
        print(f"{what}: {len(a)} datasets bit-identical")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        text = SWEEP.format(widths="[100, 170, 704]")
        ref, helped = sweep(tmp, "j1", text, 1)
        check(helped == 0, f"-j 1: no helper, yet {helped} blocks helped")
        for jobs in (2, 3):
            d, helped = sweep(tmp, f"j{jobs}", text, jobs)
            same(ref, d, f"-j 1 and -j {jobs}")
            check(helped > 0, f"-j {jobs}: helpers ran no block (fewer runs than threads at the end)")
            print(f"-j {jobs}: helpers ran {helped} blocks")
        d, helped = sweep(tmp, "reordered", SWEEP.format(widths="[704, 100, 170]"), 2)
        if ref is not None and d is not None:
            same(runs_only(ref), runs_only(d), "grid in another order, -j 2")

        ref, _ = sweep(tmp, "one_j1", ONE, 1)
        for jobs in (2, 3):
            d, helped = sweep(tmp, f"one_j{jobs}", ONE, jobs)
            same(ref, d, f"one run, -j 1 and -j {jobs}")
            check(helped > 0, f"one run at -j {jobs}: helpers ran no block")
            print(f"one run at -j {jobs}: helpers ran {helped} blocks")

    print(f"test_help: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
