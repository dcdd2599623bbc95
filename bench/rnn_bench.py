#!/usr/bin/python3
"""Recurrent training steps: vgsweep's core (bench/rnn_bench) against PyTorch, one thread,
float32, same cell, same sizes (issue #20 item 9): nn.RNN (tanh), nn.LSTM, nn.GRU with hidden
128, batch 64, 32 inputs per step, T = 100 and 400, one layer, a linear read-out of the last
step's h with cross-entropy over 10 classes; a step is zero_grad + forward + backward (full
BPTT) + SGD on one fixed batch.

The two sides are measured alternately, round after round, in this one run; the ratio is the
median over rounds of (vgsweep sequences/s) / (PyTorch sequences/s) of the same round. GFLOP/s
count the same multiply-adds for both (vg_rnn_f32_step_flops: input projection, recurrence,
dW_ih, dh, dW_hh, read-out), against the FMA peak of one core (bench/fma.c).

    /usr/bin/python3 bench/rnn_bench.py [--rounds 5] [--seconds 1] [--cell lstm] [--steps 100]
"""
import argparse
import os
import sys
import time

from common import find_binary, machine, median, run_kv, single_thread_env, table

HIDDEN, BATCH, INPUTS, OUTPUTS = 128, 64, 32, 10
CELLS = ["rnn", "lstm", "gru"]
STEPS = [100, 400]
TARGET_RATIO = {100: 2.0, 400: 4.0}
TARGET_PEAK = 0.45  # LSTM and GRU


def torch_stepper(cell, T):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(1)
    mod = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    rnn = mod(INPUTS, HIDDEN, 1, batch_first=True)
    out = torch.nn.Linear(HIDDEN, OUTPUTS)
    params = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.SGD(params, lr=1e-3)
    x = torch.randn(BATCH, T, INPUTS)
    y = torch.randint(0, OUTPUTS, (BATCH,))

    def step():
        opt.zero_grad(set_to_none=True)
        h = rnn(x)[0]
        loss = F.cross_entropy(out(h[:, -1]), y)
        loss.backward()
        opt.step()
        return loss

    return step


def time_torch(step, seconds):
    """(sequences per wall second, per CPU second of this thread)"""
    step()
    n, t0, c0 = 0, time.perf_counter(), time.thread_time()
    t = t0
    while n < 2 or t - t0 < seconds:
        step()
        n += 1
        t = time.perf_counter()
    return BATCH * n / (t - t0), BATCH * n / (time.thread_time() - c0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    ap.add_argument("--cell", action="append", choices=CELLS, help="repeatable; default all")
    ap.add_argument("--steps", type=int, action="append", help="T (repeatable; default 100, 400)")
    ap.add_argument("--build", help="build directory (default $VG_BUILD or build/)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: sequences per second; cpu: per second of the thread's CPU time, "
                         "both sides (for a machine other processes share)")
    a = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    binary = find_binary("rnn_bench", a.build)
    env = single_thread_env()
    peak = float(run_kv([binary, "--cell", "rnn", "--hidden", "8", "--batch", "2", "--inputs", "2",
                         "--steps", "2", "--seconds", "0.01"], env)["peak_gflops"])
    print(f"# Recurrent training step vs PyTorch {torch.__version__}, 1 thread, float32\n# {machine()}"
          f"\n# hidden {HIDDEN}, batch {BATCH}, inputs {INPUTS}, 1 layer; FMA peak {peak:.1f} GFLOP/s;"
          f" {a.clock} clock; load average {os.getloadavg()[0]:.1f}")
    rows, verdicts = [], []
    for cell in a.cell or CELLS:
        for T in a.steps or STEPS:
            step = torch_stepper(cell, T)
            cmd = [binary, "--cell", cell, "--hidden", str(HIDDEN), "--batch", str(BATCH),
                   "--inputs", str(INPUTS), "--outputs", str(OUTPUTS), "--steps", str(T),
                   "--seconds", str(a.seconds), "--no-peak"]
            vg, th, rr, gf = [], [], [], []
            flops = None
            for _ in range(a.rounds):
                kv = run_kv(cmd, env)
                cpu = a.clock == "cpu"
                v = float(kv["seq_per_cpu_s" if cpu else "seq_per_s"])
                g_ = float(kv["gflops_cpu" if cpu else "gflops"])
                flops = g_ / v  # GFLOP per sequence
                t = time_torch(step, a.seconds)[1 if cpu else 0]
                vg.append(v), th.append(t), rr.append(v / t), gf.append(g_)
            r, g = median(rr), median(gf)
            tg = flops * median(th)
            rows.append([cell, T, f"{median(vg):.0f}", f"{median(th):.0f}", f"{r:.2f}x",
                         f"{g:.1f}", f"{g / peak:.0%}" if peak else "-", f"{tg:.1f}",
                         f"{tg / peak:.0%}" if peak else "-"])
            print(f"  {cell} T={T}: vgsweep {median(vg):.0f}, torch {median(th):.0f} seq/s, "
                  f"ratio {r:.2f}, {g:.1f} GFLOP/s", file=sys.stderr)
            ok = r >= TARGET_RATIO[T]
            line = f"{cell} T={T}: ratio {r:.2f}x (target {TARGET_RATIO[T]:.0f}x) {'met' if ok else 'NOT met'}"
            if cell != "rnn" and peak:
                okp = g / peak >= TARGET_PEAK
                line += f"; {g / peak:.0%} of peak (target {TARGET_PEAK:.0%}) {'met' if okp else 'NOT met'}"
            verdicts.append(line)
    print(table(["cell", "T", "vgsweep seq/s", "PyTorch seq/s", "ratio", "vgsweep GFLOP/s",
                 "of peak", "PyTorch GFLOP/s", "of peak"], rows))
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
