"""The training core against PyTorch: for a matrix of configurations covering every activation,
normalization, residual variant, initializer and loss, vgsweep records its weights at
initialization, the probe batch, the probe loss and every gradient tensor; PyTorch (Debian's
python3-torch), given the same weights and batch, must produce the same loss and every gradient
to a relative error below 1e-4 in float32.
Usage: test_torch.py PATH/TO/vgsweep
"""
import os
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import vgsweep_torch  # noqa: E402
from vgtest import run_sweep  # noqa: E402

TOLERANCE = 1e-4

BASE = """\
seed: 11
data: {train_size: 64, test_size: 0, features: 12, classes: 5}
model: {depth: 4, width: 16, leaky_slope: 0.1, elu_alpha: 1.3, bias_init: 0.05}
train: {epochs: 0, batch_size: 16}
record: {probe: 32, tensors: all, weights: init}
"""
SWEEPS = {
    # every activation x normalization x residual variant
    "arch": BASE + """grid:
  model.activation: [sigmoid, tanh, relu, leaky_relu, elu, selu, gelu, softsign, swish, linear]
  model.norm: [none, batch, layer]
  model.skip.every: [0, 1, 2]
""",
    # every initializer, both losses, a branch scale
    "init": BASE + """model.activation: tanh
model.skip.every: 1
model.skip.scale: 0.5
grid:
  model.init: [standard, normal, uniform, xavier_uniform, xavier_normal, he_uniform, he_normal, lecun_normal, orthogonal]
  train.loss: [cross_entropy, mse]
""",
}


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return np.linalg.norm(a - b) / scale if scale > 0 else 0.0


def check_run(rid, run):
    """Worst relative error of this run's loss and gradients against PyTorch."""
    net = vgsweep_torch.build(run)
    net.train()
    x, y = vgsweep_torch.probe_batch(run)
    logits = net(x)
    loss = vgsweep_torch.loss(run, logits, y)
    loss.backward()
    worst = abs(loss.item() - run["probe/loss"][0]) / abs(loss.item())
    names = sorted(run["layers"])
    total = np.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in net.parameters()))
    for l, name in enumerate(names):
        g = run["layers"][name]
        pairs = [("grad_W", net.dense[l].weight.grad), ("grad_b", net.dense[l].bias.grad)]
        if net.norms is not None and l < len(names) - 1:
            pairs += [("grad_gamma", net.norms[l].weight.grad), ("grad_beta", net.norms[l].bias.grad)]
        for key, tgrad in pairs:
            ours = np.asarray(g[key][0], np.float64)
            theirs = tgrad.numpy().astype(np.float64)
            if max(np.linalg.norm(ours), np.linalg.norm(theirs)) < 1e-4 * total:
                # zero in exact arithmetic (a bias before batch norm; with a linear activation
                # the next batch norm also cancels gamma and beta): both sides hold float32
                # rounding noise, so compare absolutely against the whole gradient
                err = np.linalg.norm(ours - theirs) / (1e-6 * total) * TOLERANCE
            else:
                err = rel_err(ours, theirs)
            if err > TOLERANCE:
                print(f"  {rid} layer {l + 1} {key}: relative error {err:.3g}", file=sys.stderr)
            worst = max(worst, err)
    return worst


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    failures, checked, worst_all = 0, 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in SWEEPS.items():
            out = run_sweep(tmp, name, text)
            if out is None:
                failures += 1
                continue
            with h5py.File(out, "r") as f:
                for rid, run in f["runs"].items():
                    err = check_run(rid, run)
                    checked += 1
                    worst_all = max(worst_all, err)
                    if not err < TOLERANCE:
                        failures += 1
                        print(f"FAIL {rid} ({run.attrs['model.activation']}, norm {run.attrs['model.norm']}, "
                              f"skip {run.attrs['model.skip.every']}, init {run.attrs['model.init']}, "
                              f"loss {run.attrs['train.loss']}): worst relative error {err:.3g}",
                              file=sys.stderr)
    print(f"{checked} configurations against PyTorch {torch.__version__}: worst relative error {worst_all:.2e}")
    if checked < 108:
        print(f"expected 108 configurations, checked {checked}", file=sys.stderr)
        failures += 1
    print(f"test_torch: {checked - failures if failures <= checked else 0} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
