"""End to end: a small sweep through the vgsweep binary, its HDF5 record read back with h5py.

Checks every dataset's shape, that -j 1 and -j 2 write bit-identical datasets, the physics of
vanishing gradients at initialization, the CLI's exit codes on bad input, and that a sweep
without a probe batch (record.probe: 0) records the losses and weights and nothing of a probe.
Usage: test_e2e.py PATH/TO/vgsweep
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from vgtest import VGSWEEP, check, datasets, failures, run_sweep  # noqa: E402


SWEEP = """\
name: e2e
seed: 3
data:
  train_size: 300
  test_size: 100
  features: 32
  classes: 5
model:
  width: 128
train:
  epochs: 2
  batch_size: 50
  lr: 0.05
record:
  probe: 128
grid:
  model.depth: [2, 10]
  model.activation: [sigmoid, relu]
  model.init: [standard, he_normal]
"""
DEPTHS, ACTS, INITS = [2, 10], ["sigmoid", "relu"], ["standard", "he_normal"]
E, FEATURES, CLASSES, WIDTH = 2, 32, 5, 128


def run(args, cwd, env=None):
    return subprocess.run([VGSWEEP] + args, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=env)


def check_record(path, sweep_text):
    with h5py.File(path, "r") as f:
        check(f.attrs["format"] == "vgsweep", "root attribute format")
        check(int(f.attrs["format_version"]) >= 1, "root attribute format_version")
        check("program_version" in f.attrs, "root attribute program_version")
        check(f.attrs["sweep_text"] == sweep_text, "sweep_text holds the sweep file verbatim")
        runs = f["runs"]
        check(len(runs) == len(DEPTHS) * len(ACTS) * len(INITS), f"{len(runs)} runs in /runs")
        by_setting = {}
        for rid, g in runs.items():
            check(len(rid) == 12 and all(c in "0123456789abcdef" for c in rid), f"run id {rid!r}")
            check(g.attrs["status"] == "ok", f"{rid}: status {g.attrs['status']!r}")
            depth = int(g.attrs["model.depth"])
            act, init = g.attrs["model.activation"], g.attrs["model.init"]
            by_setting[(depth, act, init)] = g
            L = depth + 1
            for name in ("loss", "accuracy", "test_loss", "test_accuracy"):
                check(g[name].shape == (E,), f"{rid}/{name} shape {g[name].shape}")
                check(np.all(np.isfinite(g[name][()])), f"{rid}/{name} finite")
            for name in ("grad_norm", "delta_rms"):
                check(g[name].shape == (E + 1, L), f"{rid}/{name} shape {g[name].shape}")
            for l in range(L):
                fan_in = FEATURES if l == 0 else WIDTH
                fan_out = CLASSES if l == L - 1 else WIDTH
                lg = g[f"layers/{l + 1:02d}"]
                check(lg["grad_W"].shape == (E + 1, fan_out, fan_in), f"{rid} layer {l + 1} grad_W shape")
                check(lg["grad_b"].shape == (E + 1, fan_out), f"{rid} layer {l + 1} grad_b shape")
                check(lg["grad_W"].dtype == np.float32, f"{rid} layer {l + 1} grad_W float32")
                # grad_norm is the Frobenius norm of the recorded tensor, at every checkpoint
                norms = np.sqrt((lg["grad_W"][()].astype(np.float64) ** 2).sum(axis=(1, 2)))
                check(np.allclose(norms, g["grad_norm"][:, l], rtol=1e-5, atol=0),
                      f"{rid} layer {l + 1}: grad_norm matches the tensor's norm")
        check(sorted(by_setting) == sorted((d, a, i) for d in DEPTHS for a in ACTS for i in INITS),
              "every grid point present once")

        # Physics at initialization (checkpoint 0): Glorot & Bengio 2010.
        sig = by_setting[(10, "sigmoid", "standard")]
        gn = sig["grad_norm"][0]
        ratio = gn[0] / gn[-1]
        print(f"sigmoid/standard depth 10: grad_norm layer 1 / layer 11 = {ratio:.3g}")
        check(ratio < 1e-3, f"sigmoid standard depth 10: first/last grad_norm {ratio:.3g} < 1e-3")
        relu = by_setting[(10, "relu", "he_normal")]
        dr = relu["delta_rms"][0]
        ratio = dr[0] / dr[-2]  # layer 1 against the last hidden layer
        print(f"relu/he_normal depth 10: delta_rms layer 1 / layer 10 = {ratio:.3g}")
        check(1 / 3 < ratio < 3, f"relu he_normal depth 10: delta_rms ratio {ratio:.3g} within 3x")


# What only a probe batch produces (docs/FORMAT.md: "only when `record.probe` > 0").
PROBE_SERIES = ("probe", "probe/x", "probe/y", "probe/loss", "probe/accuracy", "grad_norm", "delta_rms",
                "act_mean", "act_std", "act_saturated", "act_dead", "grad_hist", "grad_hist_edges")


def check_no_probe(tmp):
    """record.probe: 0 (and record.tensors: all, which it overrides): losses, weight norms and
    the initial weights, no probe series and no gradient tensor."""
    text = SWEEP.replace("probe: 128", "probe: 0").replace("  model.init: [standard, he_normal]\n", "")
    path = run_sweep(tmp, "noprobe", text, "-j", "2")
    if not path:
        return
    with h5py.File(path, "r") as f:
        check(len(f["runs"]) == len(DEPTHS) * len(ACTS), f"record.probe: 0: {len(f['runs'])} runs")
        for rid, g in f["runs"].items():
            L = int(g.attrs["model.depth"]) + 1
            check(g.attrs["status"] == "ok" and int(g.attrs["record.probe"]) == 0,
                  f"record.probe: 0 run {rid}: status {g.attrs['status']!r}")
            for name in ("loss", "accuracy", "test_loss", "test_accuracy", "lr"):
                check(g[name].shape == (E,) and np.all(np.isfinite(g[name][()])),
                      f"record.probe: 0 run {rid}: {name} has E finite values")
            check(np.all(np.isfinite(g["train/loss"][()])), f"record.probe: 0 run {rid}: train/loss finite")
            check(g["weight_norm"].shape == (E + 1, L) and np.all(np.isfinite(g["weight_norm"][()])),
                  f"record.probe: 0 run {rid}: weight_norm (E+1, L) finite")
            check(list(g["divergence"][()]) == [-1, -1, -1], f"record.probe: 0 run {rid}: divergence")
            present = [n for n in PROBE_SERIES if n in g]
            check(not present, f"record.probe: 0 run {rid}: has probe datasets {present}")
            names = []
            g.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            grads = [n for n in names if n.split("/")[-1].startswith("grad_") and n.startswith("layers/")]
            check(not grads, f"record.probe: 0 run {rid}: gradient tensors {grads[:3]}")
            check(all(f"layers/{l + 1:02d}/W" in g for l in range(L)),
                  f"record.probe: 0 run {rid}: the initial weights (record.weights: init)")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check_no_probe(tmp)

        sweep_path = os.path.join(tmp, "e2e.yaml")
        with open(sweep_path, "w") as f:
            f.write(SWEEP)

        r1 = run(["-j", "1", "-o", "one.h5", "e2e.yaml"], tmp)
        check(r1.returncode == 0, f"-j 1 exit {r1.returncode}: {r1.stderr}")
        r2 = run(["-j", "2", "-q", "-o", "two.h5", "e2e.yaml"], tmp)
        check("on 1 thread " in r1.stderr, f"-j 1 runs on 1 thread: {r1.stderr.splitlines()[:1]}")
        # without -j: OMP_NUM_THREADS decides
        r3 = run(["-o", "three.h5", "e2e.yaml"], tmp, env=dict(os.environ, OMP_NUM_THREADS="1"))
        check(r3.returncode == 0 and "on 1 thread " in r3.stderr,
              f"OMP_NUM_THREADS=1 respected: {r3.returncode} {r3.stderr.splitlines()[:1]}")
        check(r2.returncode == 0, f"-j 2 exit {r2.returncode}: {r2.stderr}")
        if r1.returncode == 0 and r2.returncode == 0:
            check_record(os.path.join(tmp, "one.h5"), SWEEP)
            a, b = datasets(os.path.join(tmp, "one.h5")), datasets(os.path.join(tmp, "two.h5"))
            check(sorted(a) == sorted(b), "same datasets for -j 1 and -j 2")
            differing = [k for k in a if k in b and a[k] != b[k]]
            check(not differing, f"datasets differ between -j 1 and -j 2: {differing[:5]}")
            print(f"{len(a)} datasets bit-identical for -j 1 and -j 2")
            check(not os.path.exists(os.path.join(tmp, "one.h5.tmp")), "no temporary file left")

        # Default output: results/<base name>.h5, relative to the working directory.
        r = run(["-q", "e2e.yaml"], tmp)
        check(r.returncode == 0, f"default output exit {r.returncode}: {r.stderr}")
        check(os.path.exists(os.path.join(tmp, "results", "e2e.h5")), "results/e2e.h5 written")
        # ... and never overwritten without --force
        r = run(["-q", "e2e.yaml"], tmp)
        check(r.returncode == 2 and "--force" in r.stderr, f"existing output refused: {r.returncode} {r.stderr}")
        r = run(["-q", "--force", "e2e.yaml"], tmp)
        check(r.returncode == 0, f"--force overwrites: {r.returncode} {r.stderr}")

        # Usage and config errors: exit 2, one clear line, nothing written.
        with open(os.path.join(tmp, "bad.yaml"), "w") as f:
            f.write(SWEEP.replace("lr: 0.05", "lr: -1"))
        r = run(["-o", "bad.h5", "bad.yaml"], tmp)
        check(r.returncode == 2, f"bad sweep exit {r.returncode}")
        check("bad.yaml:13:7" in r.stderr and "train.lr" in r.stderr, f"bad sweep message: {r.stderr!r}")
        check(not os.path.exists(os.path.join(tmp, "bad.h5")), "nothing written for a bad sweep")
        for args, what in ((["--help"], 0), (["--version"], 0), (["-j", "0", "e2e.yaml"], 2),
                           (["--bogus", "e2e.yaml"], 2), ([], 2), (["missing.yaml"], 2),
                           (["-o", "e2e.yaml/x.h5", "e2e.yaml"], 2)):
            r = run(args, tmp)
            check(r.returncode == what, f"vgsweep {' '.join(args)}: exit {r.returncode}, expected {what}")
            if what:
                check(r.stderr.strip() and len(r.stderr.strip().splitlines()) <= 2,
                      f"vgsweep {' '.join(args)}: one clear error line, got {r.stderr!r}")
        r = run(["--help"], tmp)
        check("usage: vgsweep" in r.stdout, "--help prints usage")
        r = run(["--version"], tmp)
        check(r.stdout.startswith("vgsweep "), "--version prints the version")

    n = len(failures)
    print(f"test_e2e: {n} failed")
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
