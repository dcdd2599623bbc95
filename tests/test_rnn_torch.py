"""The recurrent nets against PyTorch (Debian's python3-torch): each cell (nn.RNN with tanh and
relu, nn.LSTM, nn.GRU, + nn.Linear read-out) x 1 and 2 stacked layers x each target kind
(class at the last step, class per step with unscored steps, real values) x full and truncated
BPTT, on the same weights and sequences, in float32: the loss and every gradient tensor must
agree to a relative error below 1e-4 (||a - b|| / max(||a||, ||b||), as tests/test_torch.py).

Truncated BPTT is checked against its definition: the sequence run chunk by chunk, the carried
state detached every K steps (h = h.detach(), and c), one backward of the whole loss. For one
layer, the recorded sum over the batch of ||dloss/dh_t||^2 is checked against the gradient
PyTorch gives each step's h_t when the net is unrolled one step at a time. A few training
steps (SGD with momentum and weight decay, Adam) are replayed against torch.optim.

Usage: test_rnn_torch.py PATH/TO/vgsweep PATH/TO/rnn_driver
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vgtest import check, failures  # noqa: E402

DRIVER = os.path.abspath(sys.argv[2])
TOLERANCE = 1e-4
CELLS = {"rnn": 0, "lstm": 1, "gru": 2}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
ACT = {"tanh": 1, "relu": 2}  # vg_activation: sigmoid 0, tanh 1, relu 2
CLASS, STEP_CLASS, REAL = 0, 1, 2
XENT, MSE = 0, 1
OPT = {"sgd": 0, "momentum": 1, "adam": 2}


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return np.linalg.norm(a - b) / scale if scale > 0 else 0.0


class Net(torch.nn.Module):
    def __init__(self, cell, act, n_in, hidden, depth, n_out):
        super().__init__()
        if cell == "rnn":
            self.rnn = torch.nn.RNN(n_in, hidden, depth, nonlinearity=act, batch_first=True)
        elif cell == "lstm":
            self.rnn = torch.nn.LSTM(n_in, hidden, depth, batch_first=True)
        else:
            self.rnn = torch.nn.GRU(n_in, hidden, depth, batch_first=True)
        self.out = torch.nn.Linear(hidden, n_out)
        self.cell, self.depth = cell, depth

    def tensors(self):
        """Parameters in vgsweep's layout: per layer W_ih, W_hh, b_ih, b_hh; then W_out, b_out."""
        ts = []
        for l in range(self.depth):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                ts.append(getattr(self.rnn, f"{name}_l{l}"))
        return ts + [self.out.weight, self.out.bias]

    def sequence(self, x, bptt):
        """All steps' top-layer outputs (B, T, H), the state detached every bptt steps."""
        T = x.shape[1]
        if bptt == 0 or bptt >= T:
            return self.rnn(x)[0]
        outs, state = [], None
        for c0 in range(0, T, bptt):
            if state is not None:
                state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            o, state = self.rnn(x[:, c0:c0 + bptt], state)
            outs.append(o)
        return torch.cat(outs, 1)


def loss_of(net, out, target, loss, y, t):
    V = net.out.out_features
    if target == STEP_CLASS:
        logits = net.out(out).reshape(-1, V)
        yy = y.reshape(-1)
        if loss == XENT:
            return F.cross_entropy(logits, yy, ignore_index=-1)
        mask = yy >= 0
        return F.mse_loss(logits[mask], F.one_hot(yy[mask], V).float())
    logits = net.out(out[:, -1])
    if target == REAL:
        return F.mse_loss(logits, t)
    if loss == XENT:
        return F.cross_entropy(logits, y)
    return F.mse_loss(logits, F.one_hot(y, V).float())


def grad_h_unrolled(net, x, bptt, target, loss, y, t):
    """One layer: the net run one step at a time; returns (T,) sum over the batch of the squared
    total gradient reaching each h_t (read-out plus the next step, unless detached)."""
    T = x.shape[1]
    outs, states, state = [], [], None
    for s in range(T):
        if state is not None and bptt and s % bptt == 0:
            state = tuple(v.detach() for v in state) if isinstance(state, tuple) else state.detach()
        o, state = net.rnn(x[:, s:s + 1], state)
        o.retain_grad()
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        outs.append(o)
        states.append(h)
    out = torch.cat(outs, 1)
    loss_of(net, out, target, loss, y, t).backward()
    g2 = []
    for o, h in zip(outs, states):
        g = o.grad[:, 0].clone()
        if h.grad is not None:
            g += h.grad[0]
        g2.append(float((g.double() ** 2).sum()))
    return np.array(g2)


def run_driver(case, params, x, y, t, steps, opt, hyper):
    cell, act, n_in, hidden, depth, n_out, T, B, loss, target, bptt = case
    head = struct.pack("<13i", CELLS[cell], ACT.get(act, 1), n_in, hidden, depth, n_out, T, B, loss,
                       target, bptt, steps, OPT[opt])
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        with open(fin, "wb") as f:
            f.write(head + struct.pack("<6d", *hyper))
            f.write(params.astype("<f4").tobytes() + x.astype("<f4").tobytes())
            f.write(t.astype("<f4").tobytes() if target == REAL else y.astype("<i4").tobytes())
        subprocess.run([DRIVER, fin, fout], check=True)
        data = open(fout, "rb").read()
    n = params.size
    at = 0

    def take(dtype, count):
        nonlocal at
        a = np.frombuffer(data, dtype, count, at)
        at += a.nbytes
        return a

    res = {"loss": take("<f8", 1)[0], "grads": take("<f4", n), "grad_h2": take("<f8", depth * T)}
    if cell == "lstm":
        res["grad_c2"] = take("<f8", depth * T)
    res["losses"] = take("<f8", steps)
    res["final"] = take("<f4", n)
    return res


def make_problem(case, seed):
    cell, act, n_in, hidden, depth, n_out, T, B, loss, target, bptt = case
    torch.manual_seed(seed)
    net = Net(cell, act if cell == "rnn" else "tanh", n_in, hidden, depth, n_out)
    # larger than PyTorch's default, so the recurrence matters; near the edge of chaos for the
    # long sequences (std sqrt(H) ~ 1: a chaotic tanh RNN at T = 60 has gradients no float32
    # computation reproduces to 1e-4, PyTorch's no more than ours)
    std = 0.45 if hidden <= 8 else 1.0 / np.sqrt(hidden)
    with torch.no_grad():
        for p in net.tensors():
            p.normal_(0, std)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, n_in)).astype(np.float32)
    if target == CLASS:
        y = rng.integers(0, n_out, B).astype(np.int32)
    elif target == STEP_CLASS:
        y = rng.integers(0, n_out, (B, T)).astype(np.int32)
        y[rng.random((B, T)) < 0.3] = -1
    else:
        y = None
    tt = rng.standard_normal((B, n_out)).astype(np.float32) if target == REAL else None
    return net, x, y, tt


def check_case(case, seed, opt=None, steps=0):
    cell, act, n_in, hidden, depth, n_out, T, B, loss, target, bptt = case
    name = f"{cell}{'/' + act if cell == 'rnn' else ''} depth {depth} target {target} loss {loss} bptt {bptt} T {T}"
    net, x, y, tt = make_problem(case, seed)
    params = np.concatenate([p.detach().numpy().ravel() for p in net.tensors()])
    hyper = {None: (0, 0, 0, 0, 0, 0), "momentum": (0.05, 0.9, 0, 0, 0, 1e-3),
             "adam": (0.01, 0, 0.9, 0.999, 1e-8, 0)}[opt]
    ours = run_driver(case, params, x, y, tt, steps, opt or "sgd", hyper)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y).long() if y is not None else None
    ttt = torch.from_numpy(tt) if tt is not None else None
    lt = loss_of(net, net.sequence(xt, bptt), target, loss, yt, ttt)
    net.zero_grad()
    lt.backward()
    theirs = np.concatenate([p.grad.numpy().ravel() for p in net.tensors()])
    worst = abs(ours["loss"] - lt.item()) / abs(lt.item())
    at = 0
    for p in net.tensors():
        n = p.numel()
        worst = max(worst, rel_err(ours["grads"][at:at + n], theirs[at:at + n]))
        at += n
    check(worst < TOLERANCE, f"{name}: loss/gradient rel err {worst:.3g}")
    h_err = 0.0
    if depth == 1:
        net.zero_grad()
        g2 = grad_h_unrolled(net, xt, bptt, target, loss, yt, ttt)
        h_err = rel_err(ours["grad_h2"], g2)
        check(h_err < TOLERANCE, f"{name}: grad_h2 rel err {h_err:.3g}")
        if bptt and bptt < T and target != STEP_CLASS:  # nothing reaches the steps before the last cut
            last_cut = (T - 1) // bptt * bptt
            check(np.all(ours["grad_h2"][:last_cut] == 0), f"{name}: gradient past a cut")
    if steps:
        lr, mom, b1, b2, eps, wd = hyper
        ps = net.tensors()
        o = (torch.optim.SGD(ps, lr=lr, momentum=mom, weight_decay=wd) if opt == "momentum"
             else torch.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd))
        losses = []
        for _ in range(steps):
            o.zero_grad()
            l2 = loss_of(net, net.sequence(xt, bptt), target, loss, yt, ttt)
            l2.backward()
            o.step()
            losses.append(l2.item())
        final = np.concatenate([p.detach().numpy().ravel() for p in ps])
        l_err = rel_err(ours["losses"], losses)
        p_err = rel_err(ours["final"] - params, final - params)
        check(l_err < TOLERANCE and p_err < 1e-3,
              f"{name} {opt}: {steps} steps, losses rel err {l_err:.3g}, updates rel err {p_err:.3g}")
        print(f"  {opt}, {steps} steps: losses rel err {l_err:.2e}, parameter updates rel err {p_err:.2e}")
    print(f"{name:55s} rel err {worst:.2e}" + (f", grad_h2 {h_err:.2e}" if depth == 1 else ""))
    return worst


def main():
    torch.set_num_threads(1)
    seed, worst, n = 1, 0.0, 0
    for cell, act in [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)]:
        for depth in (1, 2):
            for target, loss in [(CLASS, XENT), (CLASS, MSE), (STEP_CLASS, XENT), (REAL, MSE)]:
                for bptt in (0, 3):
                    case = (cell, act, 5, 8, depth, 4, 10, 6, loss, target, bptt)
                    worst = max(worst, check_case(case, seed))
                    seed, n = seed + 1, n + 1
        # longer sequences, wider: the vector kernels' full tiles and edges. (Seeds 1000 on: with
        # seed 82 one of the 45,600 ReLU pre-activations of the depth-2 net lands within float
        # rounding of 0, where ours and PyTorch's derivative may differ: 1.2e-3, every other
        # seed tried 4e-7 to 8e-7.)
        case = (cell, act, 20, 40, 1, 3, 60, 19, XENT, CLASS, 0)
        worst = max(worst, check_case(case, seed + 1000))
        case = (cell, act, 20, 40, 2, 3, 60, 19, XENT, STEP_CLASS, 25)
        worst = max(worst, check_case(case, seed + 1001))
        seed, n = seed + 2, n + 2
        for opt in ("momentum", "adam"):
            case = (cell, act, 5, 8, 1, 4, 10, 6, XENT, CLASS, 0)
            check_case(case, seed, opt, 3)
            seed, n = seed + 1, n + 1
    print(f"{n} configurations against PyTorch {torch.__version__}: worst relative error {worst:.2e}")
    print(f"test_rnn_torch: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
