"""Rebuild a vgsweep run in PyTorch from its HDF5 record (docs/MODEL.md states the model).

    import h5py, vgsweep_torch
    with h5py.File("results/x.h5") as f:
        run = f["runs/0a1b2c3d4e5f"]
        net = vgsweep_torch.build(run)              # the net, weights as at initialization
        x, y = vgsweep_torch.probe_batch(run)
        loss = vgsweep_torch.loss(run, net(x), y)   # equals run["probe/loss"][0]

The weights come from `layers/NN/W`, `b` (and `gamma`, `beta`, `running_mean`, `running_var`
with normalization), recorded when `record.weights` is `init` (the default) or `all`.
A recurrent run (model.kind rnn, lstm, gru): build_recurrent(run), recurrent_probe_batch(run),
recurrent_loss(run, logits, y), from layers/NN/W_ih, W_hh, b (= b_ih), b_hh and the read-out.
Needs python3-torch, python3-h5py and python3-numpy (Debian).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _attr(run, name):
    v = run.attrs[name]
    return v.decode() if isinstance(v, bytes) else v


def _activation(name, slope, alpha):
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "leaky_relu": lambda u: F.leaky_relu(u, slope),
        "elu": lambda u: F.elu(u, alpha),
        "selu": F.selu,
        "gelu": F.gelu,  # the exact erf form
        "softsign": F.softsign,
        "swish": F.silu,
        "linear": lambda u: u,
    }[name]


class VgMLP(nn.Module):
    """x -> [dense -> norm -> activation (-> residual add)] x depth -> dense (logits)."""

    def __init__(self, features, depth, width, classes, activation, norm="none", skip_every=0,
                 skip_scale=1.0, leaky_slope=0.01, elu_alpha=1.0, norm_momentum=0.1,
                 norm_eps=1e-5):
        super().__init__()
        self.depth, self.skip_every, self.skip_scale = depth, skip_every, skip_scale
        self.phi = _activation(activation, leaky_slope, elu_alpha)
        fans = [features] + [width] * depth + [classes]
        self.dense = nn.ModuleList(nn.Linear(fans[i], fans[i + 1]) for i in range(depth + 1))
        if norm == "batch":
            self.norms = nn.ModuleList(nn.BatchNorm1d(width, eps=norm_eps, momentum=norm_momentum)
                                       for _ in range(depth))
        elif norm == "layer":
            self.norms = nn.ModuleList(nn.LayerNorm(width, eps=norm_eps) for _ in range(depth))
        else:
            self.norms = None

    def block_start(self, l):
        """0-based first layer of the residual block ending at hidden layer l, or -1."""
        k = self.skip_every
        if k > 0 and 1 <= l < self.depth and l % k == 0 and l - k + 1 >= 1:
            return l - k + 1
        return -1

    def forward(self, x):
        outs = []  # outs[l] = h_l, the output of hidden layer l (0-based)
        h = x
        for l in range(self.depth):
            u = self.dense[l](h)
            if self.norms is not None:
                u = self.norms[l](u)
            a = self.phi(u)
            s = self.block_start(l)
            h = outs[s - 1] + self.skip_scale * a if s >= 0 else a
            outs.append(h)
        return self.dense[self.depth](h)


def build(run, slot=0, dtype=torch.float32):
    """The net of a recorded run with the weights of weight slot `slot` (0: initialization)."""
    a = lambda n: _attr(run, n)
    depth = int(a("model.depth"))
    net = VgMLP(int(a("data.features")), depth, int(a("model.width")), int(a("data.classes")),
                a("model.activation"), a("model.norm"), int(a("model.skip.every")),
                float(a("model.skip.scale")), float(a("model.leaky_slope")),
                float(a("model.elu_alpha")), float(a("model.norm_momentum")),
                float(a("model.norm_eps")))
    layers = run["layers"]
    names = sorted(layers)
    with torch.no_grad():
        for l, name in enumerate(names):
            g = layers[name]
            net.dense[l].weight.copy_(torch.from_numpy(np.asarray(g["W"][slot])))
            net.dense[l].bias.copy_(torch.from_numpy(np.asarray(g["b"][slot])))
            if net.norms is not None and l < depth:
                norm = net.norms[l]
                norm.weight.copy_(torch.from_numpy(np.asarray(g["gamma"][slot])))
                norm.bias.copy_(torch.from_numpy(np.asarray(g["beta"][slot])))
                if "running_mean" in g:
                    norm.running_mean.copy_(torch.from_numpy(np.asarray(g["running_mean"][slot])))
                    norm.running_var.copy_(torch.from_numpy(np.asarray(g["running_var"][slot])))
    return net.to(dtype)


def probe_batch(run, dtype=torch.float32):
    """The probe inputs and targets: class labels (probe/y, int64), or real targets (probe/t)."""
    x = torch.from_numpy(np.asarray(run["probe/x"])).to(dtype)
    if "probe/t" in run:
        return x, torch.from_numpy(np.asarray(run["probe/t"])).to(dtype)
    y = torch.from_numpy(np.asarray(run["probe/y"]).astype(np.int64))
    return x, y


def loss(run, logits, y):
    """The run's loss: mean softmax cross-entropy, or mean squared error to one-hot (or to the
    real targets of probe/t)."""
    if y.is_floating_point():
        return F.mse_loss(logits, y)
    if _attr(run, "train.loss") == "mse":
        return F.mse_loss(logits, F.one_hot(y, logits.shape[1]).to(logits.dtype))
    return F.cross_entropy(logits, y)


class VgRecurrent(nn.Module):
    """A recurrent run (model.kind rnn, lstm, gru; docs/MODEL.md): torch.nn.RNN / LSTM / GRU
    (batch_first) and a Linear read-out at the last step, or at every step for a class per
    step. Truncated BPTT (train.bptt K > 0) as vgsweep defines it: the carried state detached
    every K steps from the start."""

    def __init__(self, kind, features, hidden, depth, outputs, activation="tanh", bptt=0,
                 per_step=False):
        super().__init__()
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        kw = {"nonlinearity": activation} if kind == "rnn" else {}
        self.kind, self.bptt, self.per_step = kind, bptt, per_step
        self.cell = cls(features, hidden, num_layers=depth, batch_first=True, **kw)
        self.readout = nn.Linear(hidden, outputs)

    def forward(self, x):  # x (B, T, features)
        T = x.shape[1]
        K = self.bptt if 0 < self.bptt < T else T
        outs, state = [], None
        for t0 in range(0, T, K):
            if state is not None:  # detached before steps K+1, 2K+1, ...
                state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            o, state = self.cell(x[:, t0:t0 + K], state)
            outs.append(o)
        h = torch.cat(outs, dim=1)  # (B, T, hidden)
        return self.readout(h if self.per_step else h[:, -1])


def build_recurrent(run, slot=0, dtype=torch.float32):
    """The recurrent net of a run with its weights at weight slot `slot` (0: initialization):
    layers/NN/W_ih, W_hh, b (= b_ih), b_hh per recurrent layer, the read-out's W, b."""
    kind, depth = _attr(run, "model.kind"), int(run.attrs["model.depth"])
    hidden = int(run.attrs["model.width"])
    L = depth + 1
    digits = max(2, len(str(L)))
    g = [run[f"layers/{l + 1:0{digits}d}"] for l in range(L)]
    features = g[0]["W_ih"].shape[2]
    outputs = g[depth]["W"].shape[1]
    per_step = "probe/y" in run and run["probe/y"].ndim == 2
    net = VgRecurrent(kind, features, hidden, depth, outputs, _attr(run, "model.activation"),
                      int(run.attrs["train.bptt"]), per_step)
    with torch.no_grad():
        for l in range(depth):
            for mine, theirs in (("W_ih", "weight_ih"), ("W_hh", "weight_hh"), ("b", "bias_ih"),
                                 ("b_hh", "bias_hh")):
                getattr(net.cell, f"{theirs}_l{l}").copy_(torch.from_numpy(np.asarray(g[l][mine][slot])))
        net.readout.weight.copy_(torch.from_numpy(np.asarray(g[depth]["W"][slot])))
        net.readout.bias.copy_(torch.from_numpy(np.asarray(g[depth]["b"][slot])))
    return net.to(dtype)


def recurrent_probe_batch(run, dtype=torch.float32):
    """probe/x as (P, T, features) and the targets (probe/y: (P) or (P, T) classes; probe/t)."""
    x, y = probe_batch(run, dtype)
    digits = max(2, len(str(int(run.attrs["model.depth"]) + 1)))
    features = run[f"layers/{1:0{digits}d}/W_ih"].shape[2]
    return x.reshape(x.shape[0], -1, features), y


def recurrent_loss(run, logits, y):
    """The run's loss: MSE to real targets, cross-entropy (a class per step: over the scored
    steps, -1 ignored), or MSE to one-hot."""
    if y.is_floating_point():
        return F.mse_loss(logits, y)
    if y.ndim == 2:  # (P, T): a class per step
        logits, y = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        keep = y >= 0
        logits, y = logits[keep], y[keep]
    return loss(run, logits, y)
