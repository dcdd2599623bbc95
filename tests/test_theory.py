"""Theory at initialization (mean field): the back-propagated signal dloss/dz shrinks by
chi_l = sigma_w^2 * n * E[phi'(z_l)^2] per hidden layer, with z_l ~ N(0, q_l) from the forward
recursion q_{l+1} = sigma_w^2 * n * E[phi(z)^2]. vgsweep's delta_rms at checkpoint 0, for width
>= 256, must match the predicted ratio between the first and the last hidden layer:
  sigmoid, standard init, depth 10 (about 2e-8) and relu, xavier_uniform, depth 30 (2^-14.5):
  within +-0.3 decades; relu, he_normal (about 1): within 15 %.
Usage: test_theory.py PATH/TO/vgsweep
"""
import math
import sys
import tempfile

import h5py
import numpy as np

from vgtest import run_sweep  # noqa: E402

WIDTH, FEATURES, SEPARATION = 256, 64, 5.0

SWEEP = f"""\
seed: 5
data: {{train_size: 512, test_size: 0, features: {FEATURES}, classes: 10, separation: {SEPARATION}}}
model: {{width: {WIDTH}}}
train: {{epochs: 0}}
record: {{probe: 512, tensors: none, weights: none}}
include:
  - {{model.depth: 10, model.activation: sigmoid, model.init: standard}}
  - {{model.depth: 30, model.activation: relu, model.init: xavier_uniform}}
  - {{model.depth: 10, model.activation: relu, model.init: he_normal}}
"""

# Gauss-Hermite (probabilists') nodes for E over N(0, q)
NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(200)
WEIGHTS = WEIGHTS / WEIGHTS.sum()


def gauss(f, q):
    return float(np.sum(WEIGHTS * f(np.sqrt(q) * NODES)))


PHI = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
}


def weight_var(init, fan_in, fan_out):
    return {"standard": 1 / (3 * fan_in), "xavier_uniform": 2 / (fan_in + fan_out),
            "he_normal": 2 / fan_in}[init]


def predicted_ratio(depth, activation, init):
    """RMS of dloss/dz at hidden layer 1 over hidden layer `depth`, by mean field."""
    phi, dphi = PHI[activation]
    # inputs: class centre N(0, s^2) + noise N(0, 1) per feature, s = separation / sqrt(2F)
    ex2 = 1 + SEPARATION ** 2 / (2 * FEATURES)
    q = FEATURES * weight_var(init, FEATURES, WIDTH) * ex2
    log_ratio = 0.0
    for _ in range(1, depth):
        # from layer l to l+1: chi = n * sigma_w^2 * E[phi'(z_l)^2]
        chi = WIDTH * weight_var(init, WIDTH, WIDTH) * gauss(lambda z: dphi(z) ** 2, q)
        log_ratio += 0.5 * math.log10(chi)
        q = WIDTH * weight_var(init, WIDTH, WIDTH) * gauss(lambda z: phi(z) ** 2, q)
    return 10 ** log_ratio


def main():
    failures = checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = run_sweep(tmp, "theory", SWEEP)
        if out is None:
            print("test_theory: 0 passed, 1 failed")
            return 1
        with h5py.File(out, "r") as f:
            for rid, run in f["runs"].items():
                depth = int(run.attrs["model.depth"])
                act, init = run.attrs["model.activation"], run.attrs["model.init"]
                d = run["delta_rms"][0]
                measured = d[0] / d[depth - 1]
                predicted = predicted_ratio(depth, act, init)
                if init == "he_normal":
                    ok = abs(measured / predicted - 1) <= 0.15
                    bound = "within 15 %"
                else:
                    ok = abs(math.log10(measured / predicted)) <= 0.3
                    bound = "within 0.3 decades"
                print(f"{act:8s} {init:15s} depth {depth:2d}: delta_rms first/last hidden = "
                      f"{measured:.3e}, mean field {predicted:.3e} "
                      f"({math.log10(measured / predicted):+.3f} decades) {'ok' if ok else 'FAIL'} ({bound})")
                failures += not ok
                checked += 1
    print(f"test_theory: {checked - failures} passed, {failures} failed")
    return 1 if failures or checked < 3 else 0


if __name__ == "__main__":
    sys.exit(main())
