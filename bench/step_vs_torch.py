#!/usr/bin/python3
"""Training steps per second: vgsweep's core (bench/vgbench step) against PyTorch, one thread,
float32, on identical workloads: an MLP 784 -> D hidden layers of width W -> 10, batch B,
cross-entropy, SGD; a step is zero_grad + forward + backward + SGD update on one fixed batch.

The two sides are measured alternately, round after round, in this one process's run; the
ratio is the median over rounds of (vgsweep steps/s) / (PyTorch steps/s) of the same round.

    /usr/bin/python3 bench/step_vs_torch.py [--rounds 5] [--seconds 0.3] [--quick] [--width W]
"""
import argparse
import sys
import time

from common import find_binary, machine, median, run_kv, single_thread_env, table

SHAPES = [(10, 64, 64), (50, 64, 64), (100, 32, 32), (20, 256, 128), (20, 1024, 128)]
ACTS = ["sigmoid", "relu"]
# residual: a shortcut around every hidden layer, h_l = h_{l-1} + 0.1 a_l (at scale 1 the deep
# nets overflow at this initialization, and both sides would time NaNs)
VARIANTS = [("plain", "none", 0), ("batch-norm", "batch", 0), ("residual", "none", 1)]
SKIP_SCALE = 0.1
INPUTS, OUTPUTS = 784, 10


def torch_stepper(depth, width, batch, act, norm, skip):
    import torch
    import torch.nn.functional as F
    from vgsweep_torch import VgMLP

    torch.manual_seed(1)
    net = VgMLP(INPUTS, depth, width, OUTPUTS, act, norm, skip_every=skip, skip_scale=SKIP_SCALE)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(batch, INPUTS)
    y = torch.randint(0, OUTPUTS, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def time_torch(step, seconds):
    for _ in range(2):
        step()
    n, t0 = 0, time.perf_counter()
    t = t0
    while n < 3 or t - t0 < seconds:
        step()
        n += 1
        t = time.perf_counter()
    return n / (t - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.3, help="per measurement")
    ap.add_argument("--quick", action="store_true", help="relu, plain only")
    ap.add_argument("--width", type=int, action="append",
                    help="only the shapes of this width (repeatable; default all)")
    ap.add_argument("--build", help="build directory (default $VG_BUILD or build/)")
    a = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    vgbench = find_binary("vgbench", a.build)
    env = single_thread_env()
    print(f"# Training step vs PyTorch {torch.__version__}, 1 thread, float32\n# {machine()}")
    rows, ratios = [], {}
    for depth, width, batch in SHAPES:
        if a.width and width not in a.width:
            continue
        for act in ACTS[1:] if a.quick else ACTS:
            for vname, norm, skip in VARIANTS[:1] if a.quick else VARIANTS:
                step = torch_stepper(depth, width, batch, act, norm, skip)
                cmd = [vgbench, "step", "--inputs", str(INPUTS), "--outputs", str(OUTPUTS),
                       "--depth", str(depth), "--width", str(width), "--batch", str(batch),
                       "--act", act, "--norm", norm, "--skip", str(skip),
                       "--skip-scale", str(SKIP_SCALE),
                       "--seconds", str(a.seconds)]
                vg, th, rr = [], [], []
                for _ in range(a.rounds):
                    v = float(run_kv(cmd, env)["steps_per_s"])
                    t = time_torch(step, a.seconds)
                    vg.append(v), th.append(t), rr.append(v / t)
                r = median(rr)
                ratios[(depth, width, batch, act, vname)] = r
                rows.append([depth, width, batch, act, vname, f"{median(vg):.1f}",
                             f"{median(th):.1f}", f"{r:.2f}x"])
                print(f"  D={depth} W={width} B={batch} {act} {vname}: vgsweep {median(vg):.1f}, "
                      f"torch {median(th):.1f} steps/s, ratio {r:.2f}", file=sys.stderr)
    print(table(["D", "W", "B", "activation", "variant", "vgsweep steps/s", "PyTorch steps/s",
                 "ratio"], rows))
    # the targets: >= 5x for W <= 64, 1.5x at W = 256, 1.2x at W = 1024
    target = lambda w: 5.0 if w <= 64 else 1.5 if w <= 256 else 1.2
    worst = {}
    for (d, w, b, act, v), r in ratios.items():
        worst[w] = min(worst.get(w, r), r)
    print()
    for w in sorted(worst):
        print(f"W={w}: worst ratio {worst[w]:.2f}x (target {target(w):.1f}x): "
              f"{'met' if worst[w] >= target(w) else 'NOT met'}")


if __name__ == "__main__":
    main()
