"""Recurrent nets end to end (issue 20): rnn, lstm and gru trained from a sweep file on the
adding, copy and temporal_order tasks, with full and truncated BPTT, and what their record holds.

  - every run ends ok, and records grad_h_norm (E+1, depth, T), grad_c_norm for the LSTM only,
    gate_saturated and gate_grad_norm (E+1, depth, G), grad_norm and delta_rms (E+1, depth+1),
    the tensors layers/NN/grad_W_ih, grad_W_hh, grad_b, grad_b_hh and the read-out's grad_W,
    grad_b with their shapes, and the probe's targets (probe/y (P), (P, T) for copy's class per step,
    probe/t (P, 1) for adding);
  - truncated BPTT (train.bptt 4, T 12, loss at the last step) leaves exactly zero gradient on
    the states before the last cut, and full BPTT none;
  - decay through time: a tanh RNN with recurrent gain 0.5 has grad_h_norm rising along t, its
    first step under 1e-6 of its last; an LSTM at init is flatter (above 1e-3, and 1e4 times the
    RNN's);
  - each run rebuilt in PyTorch from its record (tools/vgsweep_torch.py) gives the recorded probe
    loss and gradient tensors at initialization (full and truncated BPTT);
  - xarray opens every group of a recurrent record, every dimension with its scale;
  - -j 1 and -j 2 give bit-identical datasets (also for one run, helped by the second thread); kill -9 during a recurrent sweep then --resume
    gives the datasets of an uninterrupted run;
  - runs that explode (relu RNN, identity recurrent weights times 3, T 100: h overflows float
    at initialization; a tanh RNN of gain 2 under SGD at lr 100, while training) are recorded as
    diverged, and the runs beside them end ok;
  - vgsweep report and tools/vgplot on a recurrent record.

Usage: test_recurrent.py PATH/TO/vgsweep"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

from vgtest import VGSWEEP, check, datasets, failures, run_sweep

TASKS = {
    # data settings, loss, T (steps), probe target dataset and its shape after P
    "adding": ("kind: adding, length: 12", "mse", 12, "probe/t", (1,)),
    "copy": ("kind: copy, length: 4", "cross_entropy", 4 + 20, "probe/y", (24,)),
    "temporal_order": ("kind: temporal_order, length: 14", "cross_entropy", 14, "probe/y", ()),
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
E, P, H, D = 2, 16, 8, 2

SWEEP = """name: rec_{task}
seed: 4
data: {{{data}, train_size: 96, test_size: 32, seed: 5}}
model: {{depth: {D}, width: {H}}}
train: {{loss: {loss}, epochs: {E}, batch_size: 16, optimizer: adam, lr: 0.01, clip: {{norm: 1}}}}
record: {{probe: {P}, tensors: all}}
grid:
  model.kind: [rnn, lstm, gru]
  train.bptt: [0, 4]
"""


def check_task(tmp, task):
    data, loss, T, target, tshape = TASKS[task]
    text = SWEEP.format(task=task, data=data, loss=loss, D=D, H=H, E=E, P=P)
    out = run_sweep(tmp, "rec_" + task, text, "-j", "2")
    if not out:
        return
    with h5py.File(out, "r") as f:
        runs = f["runs"]
        check(len(runs) == 6, f"{task}: {len(runs)} runs, expected 6")
        for rid, r in runs.items():
            kind, bptt = r.attrs["model.kind"], int(r.attrs["train.bptt"])
            what = f"{task} {kind} bptt {bptt} ({rid})"
            check(r.attrs["status"] == "ok", f"{what}: status {r.attrs['status']}: {r.attrs['message']}")
            G = GATES[kind]
            F = r["probe/x"].shape[1] // T
            shapes = {
                "grad_h_norm": (E + 1, D, T), "gate_saturated": (E + 1, D, G),
                "gate_grad_norm": (E + 1, D, G), "grad_norm": (E + 1, D + 1),
                "delta_rms": (E + 1, D + 1), "act_mean": (E + 1, D), "probe/x": (P, T * F),
                target: (P,) + tshape,
                "layers/01/grad_W_ih": (E + 1, G * H, F), "layers/01/grad_W_hh": (E + 1, G * H, H),
                "layers/01/grad_b": (E + 1, G * H), "layers/01/grad_b_hh": (E + 1, G * H),
                "layers/02/grad_W_ih": (E + 1, G * H, H), "layers/01/W_ih": (1, G * H, F),
                "layers/01/W_hh": (1, G * H, H), "layers/01/b": (1, G * H), "layers/01/b_hh": (1, G * H),
            }
            if kind == "lstm":
                shapes["grad_c_norm"] = (E + 1, D, T)
            for name, shape in shapes.items():
                got = r[name].shape if name in r else None
                check(got == shape, f"{what}: {name} shape {got}, expected {shape}")
            check("grad_c_norm" in r or kind != "lstm", f"{what}: no grad_c_norm")
            check("grad_c_norm" not in r or kind == "lstm", f"{what}: grad_c_norm for a {kind}")
            other = "probe/y" if target == "probe/t" else "probe/t"
            check(other not in r, f"{what}: {other} recorded beside {target}")
            ro = r["layers/03/grad_W"].shape if "layers/03/grad_W" in r else None
            V = 1 if task == "adding" else (9 if task == "copy" else 4)
            check(F == {"adding": 2, "copy": 10, "temporal_order": 8}[task], f"{what}: {F} features per step")
            check(ro == (E + 1, V, H), f"{what}: read-out grad_W shape {ro}")
            gh = r["grad_h_norm"][()]
            gn, dr = r["grad_norm"][()], r["delta_rms"][()]
            check(np.all(np.isfinite(gh)) and np.all(gh >= 0), f"{what}: grad_h_norm not finite")
            check(np.all(gn > 0) and np.all(np.isfinite(gn)), f"{what}: grad_norm {gn}")
            check(np.all(dr > 0) and np.all(np.isfinite(dr)), f"{what}: delta_rms {dr}")
            sat = r["gate_saturated"][()]
            check(np.all((sat >= 0) & (sat <= 1)), f"{what}: gate_saturated outside [0, 1]")
            # the per-gate norms add up to the recurrent layer's gradient norm (weights and biases)
            gg = r["gate_grad_norm"][()]
            full = np.sqrt(sum(np.sum(r[f"layers/01/grad_{n}"][()].astype(np.float64) ** 2, axis=(1, 2) if n.startswith("W") else 1)
                               for n in ("W_ih", "W_hh", "b", "b_hh")))
            check(np.allclose(np.sqrt(np.sum(gg[:, 0, :] ** 2, axis=1)), full, rtol=1e-4),
                  f"{what}: gate_grad_norm does not add up to layer 1's gradient norm")
            if task == "adding":
                y = r["probe/t"][()]
                check(np.all((y >= 0) & (y <= 2)), f"{what}: probe/t outside [0, 2]")
                if bptt == 4:  # loss at step 12, cuts at 4 and 8: nothing reaches the first 8
                    check(np.all(gh[:, :, :8] == 0) and np.all(gh[:, :, 8:] > 0),
                          f"{what}: truncated grad_h_norm {gh[0]}")
                else:
                    check(np.all(gh > 0), f"{what}: full BPTT grad_h_norm has zeros: {gh[0]}")
            if task == "copy":
                y = r["probe/y"][()]
                # a class at every step: blank (0), then the 10 symbols (1..8) to reproduce
                check(np.all(y[:, :T - 10] == 0) and np.all((y[:, T - 10:] >= 1) & (y[:, T - 10:] <= 8)),
                      f"{what}: probe/y of copy: blanks, then the last 10 steps' symbols: {y[0]}")


def check_torch(paths):
    """Each run rebuilt in PyTorch from its record (tools/vgsweep_torch.py: nn.RNN / LSTM / GRU
    from layers/NN/W_ih, W_hh, b, b_hh at initialization, the state detached every K steps):
    its loss on probe/x is probe/loss[0], its gradients the recorded grad_* at checkpoint 0."""
    try:
        import torch
    except ImportError:
        print("torch: not installed, the rebuild is not checked")
        return
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import vgsweep_torch
    torch.set_num_threads(1)
    worst, n = 0.0, 0
    for path in paths:
        with h5py.File(path, "r") as f:
            for rid, run in f["runs"].items():
                what = f"torch rebuild of {run.attrs['model.kind']} bptt {run.attrs['train.bptt']} ({rid})"
                net = vgsweep_torch.build_recurrent(run)
                x, y = vgsweep_torch.recurrent_probe_batch(run)
                loss = vgsweep_torch.recurrent_loss(run, net(x), y)
                loss.backward()
                rec = float(run["probe/loss"][0])
                check(abs(loss.item() - rec) <= 1e-5 * max(1.0, abs(rec)), f"{what}: loss {loss.item()} vs {rec}")
                D = int(run.attrs["model.depth"])
                pairs = [(f"layers/{l + 1:02d}/grad_{m}", getattr(net.cell, f"{t}_l{l}").grad)
                         for l in range(D) for m, t in (("W_ih", "weight_ih"), ("W_hh", "weight_hh"),
                                                        ("b", "bias_ih"), ("b_hh", "bias_hh"))]
                pairs += [(f"layers/{D + 1:02d}/grad_W", net.readout.weight.grad),
                          (f"layers/{D + 1:02d}/grad_b", net.readout.bias.grad)]
                for name, g in pairs:
                    a, b = run[name][0].astype(np.float64), g.numpy().astype(np.float64)
                    err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)
                    worst, n = max(worst, err), n + 1
                    check(err < 1e-4, f"{what}: {name} differs from PyTorch's by {err:.2e} (relative to its largest)")
    print(f"torch rebuild: {n} gradient tensors, worst relative error {worst:.2e}")


def check_xarray(path):
    """xarray opens every group of a recurrent record, each dimension with its coordinate (the
    record's dimension scales: recurrent_layer, time, gate, hidden, layers/NN/unit, ...)."""
    try:
        import xarray as xr
    except ImportError:
        print("xarray: not installed, not checked")
        return
    n = 0
    with h5py.File(path, "r") as f:
        groups = []
        for rid, g in f["runs"].items():
            groups.append(f"runs/{rid}")
            g.visititems(lambda name, obj, rid=rid: groups.append(f"runs/{rid}/{name}")
                         if isinstance(obj, h5py.Group) else None)
    for group in groups:
        try:
            ds = xr.open_dataset(path, group=group, engine="h5netcdf")
        except Exception as e:  # noqa: BLE001 - any failure is what is checked
            check(False, f"xarray cannot open {group}: {type(e).__name__}: {e}")
            continue
        n += 1
        with ds:
            for dim in ds.dims if group.count("/") == 1 else ():
                check(dim in ds.coords, f"{group}: dimension {dim} has no coordinate")
            if group.count("/") == 1:
                check(ds["grad_h_norm"].dims == ("checkpoint", "recurrent_layer", "time") and
                      list(ds["recurrent_layer"].values) == [1, 2],
                      f"{group}: grad_h_norm dims {ds['grad_h_norm'].dims}")
    print(f"xarray: {n} groups of {os.path.basename(path)} opened")


def check_decay(tmp):
    text = """name: decay
seed: 3
data: {kind: adding, length: 30, train_size: 256, test_size: 64, seed: 2}
model: {kind: rnn, depth: 1, width: 32}
train: {loss: mse, epochs: 1, batch_size: 32, optimizer: adam, lr: 0.001}
record: {probe: 64, tensors: none}
include:
  - {model.kind: rnn, model.recurrent_gain: 0.5}
  - {model.kind: lstm}
"""
    out = run_sweep(tmp, "decay", text)
    if not out:
        return
    ratio = {}
    with h5py.File(out, "r") as f:
        for r in f["runs"].values():
            if r.attrs["model.kind"] == "mlp" or (r.attrs["model.kind"] == "rnn" and r.attrs["model.recurrent_gain"] != 0.5):
                continue
            g = r["grad_h_norm"][0, 0]
            ratio[r.attrs["model.kind"]] = g[0] / g[-1]
            if r.attrs["model.kind"] == "rnn":
                check(np.all(np.diff(g) > 0), f"decay: the tanh RNN's grad_h_norm does not rise along t: {g}")
    print(f"decay: grad_h_norm[t=0] / grad_h_norm[t=T-1] at init, T = 30: {ratio}")
    # vgsweep report on the record: the attenuation through time and its diagnosis
    r = subprocess.run([VGSWEEP, "report", "--format", "json", out], capture_output=True, text=True)
    if check(r.returncode == 0, f"report: exit {r.returncode}: {r.stderr}"):
        import json
        rows = {(x["model.kind"], x.get("model.recurrent_gain")): x for x in json.loads(r.stdout)["rows"]}
        rnn = [x for (k, g), x in rows.items() if k == "rnn" and g == 0.5]
        lstm = [x for (k, _), x in rows.items() if k == "lstm"]
        if check(len(rnn) == 1 and len(lstm) == 1, f"report rows: {list(rows)}"):
            check(abs(rnn[0]["log10_h_init"] - np.log10(ratio.get("rnn", 1))) < 1e-6 and
                  "vanishing" in rnn[0]["diagnosis"] and rnn[0]["predicted"] is None and
                  abs(rnn[0]["chance_loss"] - 1 / 6) < 1e-12,
                  f"report of the tanh RNN: {rnn[0]}")
            check("vanishing" not in lstm[0]["diagnosis"], f"report of the LSTM: {lstm[0]['diagnosis']}")
    # tools/vgplot draws the decay through time (grad_h.png) and copes with a regression record
    vgplot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "vgplot")
    figs = os.path.join(tmp, "decay_figs")
    r = subprocess.run([sys.executable, vgplot, out, "-o", figs, "--vgsweep", VGSWEEP],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0 and os.path.exists(os.path.join(figs, "grad_h.png")),
          f"vgplot on a recurrent record: exit {r.returncode}: {r.stderr[-500:]}")
    if check(set(ratio) == {"rnn", "lstm"}, f"decay: runs {ratio}"):
        check(ratio["rnn"] < 1e-6, f"decay: tanh RNN, gain 0.5: ratio {ratio['rnn']:.3g}, expected < 1e-6")
        check(ratio["lstm"] > 1e-3 and ratio["lstm"] > 1e4 * ratio["rnn"],
              f"decay: LSTM ratio {ratio['lstm']:.3g} not flatter than the RNN's {ratio['rnn']:.3g}")


RESUME = """name: rec_resume
seed: 8
data: {kind: adding, length: 60, train_size: 1024, test_size: 64, seed: 1}
model: {depth: 1, width: 48}
train: {loss: mse, epochs: 4, batch_size: 32, optimizer: adam, lr: 0.003}
record: {probe: 32, tensors: ends}
grid:
  model.kind: [rnn, lstm, gru]
  train.bptt: [0, 10]
"""


def check_jobs_and_resume(tmp):
    a = run_sweep(tmp, "j1", RESUME, "-j", "1")
    b = run_sweep(tmp, "j2", RESUME, "-j", "2")
    if not a or not b:
        return
    ref = datasets(a, run_attrs=True)
    check(datasets(b, run_attrs=True) == ref, "-j 1 and -j 2 records differ")
    # one run at -j 2: the second thread helps it (its products shared, vgsweep/team.h)
    only = ("--only", "model.kind=lstm,train.bptt=0")
    a1 = run_sweep(tmp, "one_j1", RESUME, "-j", "1", *only)
    a2 = run_sweep(tmp, "one_j2", RESUME, "-j", "2", *only)
    if a1 and a2:
        check(datasets(a1, run_attrs=True) == datasets(a2, run_attrs=True),
              "one LSTM run: -j 1 and -j 2 (a helper thread) records differ")
    yaml = os.path.join(tmp, "j1.yaml")
    out = os.path.join(tmp, "killed.h5")
    rng = random.Random(int(os.environ.get("VG_SEED", "20")))
    hits = 0
    for i in range(3):
        delay = rng.uniform(0.2, 1.5)
        p = subprocess.Popen([VGSWEEP, "-q", "-j", "2", "--force", "-o", out, yaml],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            hits += 1
        p.wait()
        r = subprocess.run([VGSWEEP, "-q", "-j", "2", "--resume", "-o", out, yaml],
                           capture_output=True, text=True, timeout=300)
        if check(r.returncode == 0, f"resume {i}: exit {r.returncode}: {r.stderr}"):
            got = datasets(out, run_attrs=True)
            diff = sorted(k for k in set(ref) | set(got) if ref.get(k) != got.get(k))
            check(not diff, f"kill at {delay:.2f}s then --resume differs from an uninterrupted run: {diff[:5]}")
    print(f"kill -9 + --resume: {hits} of 3 kills hit a running sweep; every resume matched")


def check_divergence(tmp):
    text = """name: rec_diverge
seed: 2
data: {kind: adding, length: 100, train_size: 64, test_size: 32, seed: 1}
model: {kind: rnn, depth: 1, width: 16}
train: {loss: mse, epochs: 4, batch_size: 16, optimizer: sgd, lr: 0.01}
record: {probe: 16}
include:
  - {model.activation: relu, model.recurrent_init: identity, model.recurrent_gain: 3}
  - {model.kind: lstm}
  - {model.recurrent_gain: 2, train.lr: 100}
"""
    out = run_sweep(tmp, "rec_diverge", text)
    if not out:
        return
    with h5py.File(out, "r") as f:
        st = {(r.attrs["model.kind"], r.attrs["model.activation"], float(r.attrs["model.recurrent_gain"])):
              (r.attrs["status"], r.attrs["message"], r["divergence"][()], r["loss"][0])
              for r in f["runs"].values() if r.attrs["model.kind"] != "mlp"}
    print(f"divergence: {st}")
    s = st.get(("rnn", "relu", 3.0))
    check(s is not None and s[0] == "diverged" and "non-finite" in s[1] and s[2][0] == 0,
          f"relu IRNN x3 over 100 steps, at initialization: {s}")
    s = st.get(("rnn", "tanh", 2.0))
    check(s is not None and s[0] == "diverged" and "non-finite gradient" in s[1] and s[2][0] >= 1 and np.isfinite(s[3]),
          f"tanh RNN, gain 2, SGD lr 100: diverged while training, epoch 1 recorded: {s}")
    check(st.get(("rnn", "tanh", 1.0), ("?",))[0] == "ok" and st.get(("lstm", "tanh", 1.0), ("?",))[0] == "ok",
          f"the runs beside the diverged ones: {st}")


def check_rows(tmp):
    """Images as sequences of rows: the 2 x 3 fixture images are 2 steps of 3 pixels."""
    fix = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    text = f"""name: rows
seed: 1
data: {{kind: idx, path: {fix}/idx_good, features: 6, classes: 3, train_size: -1, test_size: -1, sequence: rows}}
model: {{kind: gru, depth: 1, width: 4}}
train: {{epochs: 1, batch_size: 2}}
record: {{probe: 2}}
"""
    out = run_sweep(tmp, "rows", text)
    if out:
        with h5py.File(out, "r") as f:
            r = next(iter(f["runs"].values()))
            check(r["grad_h_norm"].shape[2] == 2 and r["layers/01/grad_W_ih"].shape[2] == 3,
                  f"rows: grad_h_norm {r['grad_h_norm'].shape}, W_ih {r['layers/01/grad_W_ih'].shape}")
    # pixels: 6 steps of 1 pixel, in order, and permuted (pMNIST): the permuted probe inputs are
    # the same pixels of each image, reordered by one fixed permutation
    probes = {}
    for permute in ("false", "true"):
        name = f"pixels_{permute}"
        out = run_sweep(tmp, name, text.replace("name: rows", f"name: {name}")
                        .replace("sequence: rows", f"sequence: pixels, permute: {permute}"))
        if out:
            with h5py.File(out, "r") as f:
                r = next(iter(f["runs"].values()))
                check(r["grad_h_norm"].shape[2] == 6 and r["layers/01/grad_W_ih"].shape[2] == 1,
                      f"{name}: grad_h_norm {r['grad_h_norm'].shape}, W_ih {r['layers/01/grad_W_ih'].shape}")
                probes[permute] = r["probe/x"][...].reshape(-1, 6)
    if len(probes) == 2:
        plain, perm = probes["false"], probes["true"]
        check(np.array_equal(np.sort(plain, axis=1), np.sort(perm, axis=1)) and not np.array_equal(plain, perm),
              f"pixels: the permuted probe is not a reordering of the plain one: {plain} {perm}")
        # one permutation for every image: the column order that maps row 0 maps every row
        match = [next((j for j in range(6) if np.array_equal(perm[:, i], plain[:, j])), -1) for i in range(6)]
        check(-1 not in match, f"pixels: no single permutation maps the images: {match}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for task in TASKS:
            check_task(tmp, task)
        check_torch([os.path.join(tmp, f"rec_{task}.h5") for task in TASKS])
        check_xarray(os.path.join(tmp, "rec_copy.h5"))
        check_decay(tmp)
        check_divergence(tmp)
        check_rows(tmp)
        check_jobs_and_resume(tmp)
    print(f"test_recurrent: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
