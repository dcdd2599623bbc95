"""Regression through the training core against PyTorch: an MLP with real-valued targets and
train.loss mse (the MSE of the net's outputs to the targets, mean over rows and targets, as
torch.nn.MSELoss) built through the model interface in float32 (tests/regression_dump.c prints
its weights, batch, loss and every gradient); PyTorch (Debian's python3-torch), given the same
weights and batch, must produce the same loss and every gradient to a relative error below
1e-4. Regression scores no prediction (accuracy is NaN in a record).
Usage: test_torch_regression.py PATH/TO/vgsweep PATH/TO/regression_dump
"""
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import vgsweep_torch  # noqa: E402

TOLERANCE = 1e-4


def parse(text):
    arrays = {}
    for line in text.splitlines():
        head, _, values = line.partition(":")
        name, *dims = head.split()
        v = np.array([float(s) for s in values.split()], dtype=np.float64)
        arrays[name] = v.reshape([int(d) for d in dims]) if len(dims) > 1 else v
    return arrays


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return np.linalg.norm(a - b) / scale if scale > 0 else 0.0


def check(dump, activation, norm, skip, outputs, seed):
    out = subprocess.run([dump, activation, norm, str(skip), str(outputs), str(seed)],
                         check=True, capture_output=True, text=True).stdout
    a = parse(out)
    depth = 4
    net = vgsweep_torch.VgMLP(6, depth, 12, outputs, activation, norm, skip, 0.5, 0.1, 1.3, 0.1,
                              1e-5)
    with torch.no_grad():
        for l in range(depth + 1):
            net.dense[l].weight.copy_(torch.from_numpy(a[f"{l}.W"]))
            net.dense[l].bias.copy_(torch.from_numpy(a[f"{l}.b"]))
            if net.norms is not None and l < depth:
                net.norms[l].weight.copy_(torch.from_numpy(a[f"{l}.gamma"]))
                net.norms[l].bias.copy_(torch.from_numpy(a[f"{l}.beta"]))
    net = net.float()
    net.train()  # batch norm on batch statistics, as the probe pass
    x = torch.from_numpy(a["x"]).float()
    t = torch.from_numpy(a["t"]).float()
    loss = F.mse_loss(net(x), t)
    loss.backward()
    assert a["scored"][0] == 0, "regression scored predictions"
    worst = rel_err([a["loss"][0]], [loss.item()])
    where = "loss"
    total = np.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in net.parameters()))
    for l in range(depth + 1):
        pairs = [("W", net.dense[l].weight), ("b", net.dense[l].bias)]
        if net.norms is not None and l < depth:
            pairs += [("gamma", net.norms[l].weight), ("beta", net.norms[l].bias)]
        for name, p in pairs:
            ours, theirs = a[f"{l}.grad_{name}"], p.grad.numpy().astype(np.float64)
            if max(np.linalg.norm(ours), np.linalg.norm(theirs)) < 1e-4 * total:
                # zero in exact arithmetic (a bias before batch norm): both sides hold float32
                # rounding noise, so compare absolutely against the whole gradient (as
                # test_torch.py)
                e = np.linalg.norm(ours - theirs) / (1e-6 * total) * TOLERANCE
            else:
                e = rel_err(ours, theirs)
            if e > worst:
                worst, where = e, f"layer {l + 1} grad_{name}"
    return worst, where


def main():
    torch.set_num_threads(1)
    dump = sys.argv[2]
    failures, n, worst_all = 0, 0, 0.0
    seed = 1
    for activation in ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu",
                       "softsign", "swish", "linear"]:
        for norm in ["none", "batch", "layer"]:
            for skip, outputs in [(0, 1), (2, 3)]:
                worst, where = check(dump, activation, norm, skip, outputs, seed)
                seed += 1
                n += 1
                worst_all = max(worst_all, worst)
                if not worst < TOLERANCE:
                    failures += 1
                    print(f"FAIL {activation} norm={norm} skip={skip} outputs={outputs}: "
                          f"{where} rel err {worst:.3g}")
    print(f"{n} regression nets against PyTorch; worst relative error {worst_all:.2e}")
    if failures:
        print(f"test_torch_regression: {failures} failed")
        return 1
    print("test_torch_regression: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
