#!/usr/bin/python3
"""bench/sweep.yaml done the PyTorch way: the same 24 runs (same data sizes, nets, optimizer,
epochs, probe checkpoints), two worker processes, gradient tensors caught with hooks and
written with h5py: per run the epoch losses and accuracies, the per-step loss and global
gradient norm, per-layer gradient norms, and every layer's grad_W and grad_b on the probe
batch at every checkpoint (k = 0 and after each epoch), plus the initial W and b.

    /usr/bin/python3 bench/torch_sweep.py OUT_DIR     -> OUT_DIR/torch_<worker>.h5
Prints `wall_s=... peak_rss_kb=...` (peak RSS summed over the parent and both workers).

The data are Gaussian clusters of the same sizes as vgsweep's (not the same numbers: the work
per step is what is compared, not the results).
"""
import itertools
import multiprocessing as mp
import os
import resource
import sys
import time

SWEEP = dict(train=4000, test=1000, features=64, classes=10, width=64, epochs=10, batch=32,
             lr=0.05, probe=128, seed=7)
GRID = list(itertools.product([5, 10, 20], ["sigmoid", "tanh", "relu", "gelu"],
                              ["standard", "he_normal"]))
WORKERS = 2


def make_data(np):
    s = SWEEP
    rng = np.random.default_rng(s["seed"])
    centres = rng.normal(0, 5 / np.sqrt(2 * s["features"]), (s["classes"], s["features"]))
    def draw(n):
        y = rng.permutation(np.arange(n) % s["classes"])
        return (centres[y] + rng.normal(size=(n, s["features"]))).astype(np.float32), y
    return draw(s["train"]), draw(s["test"])


def run_one(idx, depth, act, init, data, h5):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from vgsweep_torch import VgMLP

    s = SWEEP
    torch.manual_seed(idx)
    (xtr, ytr), (xte, yte) = data
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr).long()
    xte, yte = torch.from_numpy(xte), torch.from_numpy(yte).long()
    net = VgMLP(s["features"], depth, s["width"], s["classes"], act)
    with torch.no_grad():
        for lin in net.dense:
            if init == "standard":
                a = 1 / lin.in_features ** 0.5
                torch.nn.init.uniform_(lin.weight, -a, a)
            else:
                torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            lin.bias.zero_()
    opt = torch.optim.SGD(net.parameters(), lr=s["lr"])
    L, E = depth + 1, s["epochs"]
    g = h5.create_group(f"runs/{idx:02d}")
    steps = (s["train"] + s["batch"] - 1) // s["batch"]
    series = {k: g.create_dataset(k, (E,), "f8") for k in
              ("loss", "accuracy", "test_loss", "test_accuracy")}
    step_loss = g.create_dataset("train/loss", (E * steps,), "f8")
    step_norm = g.create_dataset("train/grad_norm", (E * steps,), "f8")
    grad_norm = g.create_dataset("grad_norm", (E + 1, L), "f8")
    gw, gb = [], []
    for l, lin in enumerate(net.dense):
        lg = g.create_group(f"layers/{l + 1:02d}")
        fo, fi = lin.weight.shape
        gw.append(lg.create_dataset("grad_W", (E + 1, fo, fi), "f4", chunks=(1, fo, fi),
                                    shuffle=True, compression="gzip"))
        gb.append(lg.create_dataset("grad_b", (E + 1, fo), "f4", chunks=(1, fo)))
        lg.create_dataset("W", data=lin.weight.detach().numpy()[None])
        lg.create_dataset("b", data=lin.bias.detach().numpy()[None])

    caught = {}  # the hooks store each layer's gradient during a probe backward
    probing = [False]
    def hook(key):
        def f(grad):
            if probing[0]:
                caught[key] = grad.detach().clone()
        return f
    for l, lin in enumerate(net.dense):
        lin.weight.register_hook(hook(("W", l)))
        lin.bias.register_hook(hook(("b", l)))

    px, py = xtr[: s["probe"]], ytr[: s["probe"]]
    def checkpoint(k):
        probing[0] = True
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(px), py).backward()
        probing[0] = False
        for l in range(L):
            w = caught[("W", l)]
            gw[l][k] = w.numpy()
            gb[l][k] = caught[("b", l)].numpy()
            grad_norm[k, l] = float(w.norm())

    checkpoint(0)
    t = 0
    for e in range(E):
        order = torch.randperm(s["train"])
        loss_sum, correct = 0.0, 0
        for i in range(0, s["train"], s["batch"]):
            idx_b = order[i: i + s["batch"]]
            xb, yb = xtr[idx_b], ytr[idx_b]
            opt.zero_grad(set_to_none=True)
            out = net(xb)
            loss = F.cross_entropy(out, yb)
            loss.backward()
            norm = torch.norm(torch.stack([p.grad.norm() for p in net.parameters()]))
            opt.step()
            step_loss[t], step_norm[t] = loss.item(), norm.item()
            loss_sum += loss.item() * len(idx_b)
            correct += int((out.argmax(1) == yb).sum())
            t += 1
        with torch.no_grad():
            out = net(xte)
            series["test_loss"][e] = float(F.cross_entropy(out, yte))
            series["test_accuracy"][e] = float((out.argmax(1) == yte).float().mean())
        series["loss"][e] = loss_sum / s["train"]
        series["accuracy"][e] = correct / s["train"]
        checkpoint(e + 1)


def worker(args):
    w, out_dir = args
    import h5py
    import numpy as np
    import torch
    torch.set_num_threads(1)
    data = make_data(np)
    with h5py.File(os.path.join(out_dir, f"torch_{w}.h5"), "w") as h5:
        for idx in range(w, len(GRID), WORKERS):
            run_one(idx, *GRID[idx], data, h5)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(WORKERS) as pool:
        rss = pool.map(worker, [(w, out_dir) for w in range(WORKERS)])
    wall = time.perf_counter() - t0
    peak = sum(rss) + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"wall_s={wall:.3f} peak_rss_kb={peak}")


if __name__ == "__main__":
    main()
