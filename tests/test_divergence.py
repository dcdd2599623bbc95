"""Divergence is data, not a crash: a run whose loss or gradient goes non-finite stops with
status "diverged", the epoch, step and first layer recorded, everything before it kept; the
other runs of the sweep go on and the sweep exits 0.
Usage: test_divergence.py PATH/TO/vgsweep
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from vgtest import VGSWEEP, check, failures  # noqa: E402

SWEEP = """\
seed: 1
data: {train_size: 256, test_size: 64, features: 16, classes: 4}
model: {depth: 5, width: 32}
train: {epochs: 4, batch_size: 32, loss: mse}
record: {probe: 64}
grid:
  train.lr: [0.01, 1000]
  model.activation: [relu, tanh]
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "div.yaml")
        with open(path, "w") as f:
            f.write(SWEEP)
        out = os.path.join(tmp, "div.h5")
        r = subprocess.run([VGSWEEP, "-o", out, path], capture_output=True, text=True)
        check(r.returncode == 0, f"a sweep with diverged runs exits 0, got {r.returncode}: {r.stderr}")
        check("diverged" in r.stderr, "progress names the diverged runs")
        with h5py.File(out, "r") as f:
            seen = {"ok": 0, "diverged": 0}
            for rid, run in f["runs"].items():
                status, lr = run.attrs["status"], float(run.attrs["train.lr"])
                seen[status] = seen.get(status, 0) + 1
                where = run["divergence"][()]
                if lr < 1:
                    check(status == "ok", f"{rid}: lr {lr} status {status}")
                    check(list(where) == [-1, -1, -1], f"{rid}: divergence {where} for a healthy run")
                    continue
                check(status == "diverged", f"{rid}: lr {lr} status {status}")
                epoch, step, layer = (int(v) for v in where)
                msg = run.attrs["message"]
                print(f"{rid} ({run.attrs['model.activation']}): {msg}; divergence = {list(where)}")
                check(epoch >= 1 and step >= 0 and 1 <= layer <= 6, f"{rid}: divergence {where}")
                check(f"epoch {epoch}" in msg and f"step {step}" in msg and f"layer {layer}" in msg,
                      f"{rid}: message {msg!r} names epoch, step and layer")
                steps = run["train/loss"][()]
                check(np.all(np.isfinite(steps[:step])), f"{rid}: the steps before divergence are kept")
                check(np.all(np.isnan(steps[step:])), f"{rid}: no values after divergence")
                check(np.isfinite(run["grad_norm"][0]).all(), f"{rid}: checkpoint 0 kept")
                check(int(run.attrs["epochs_done"]) == epoch - 1, f"{rid}: epochs_done {run.attrs['epochs_done']}")
            check(seen.get("ok") == 2 and seen.get("diverged") == 2, f"statuses {seen}")
    print(f"test_divergence: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
