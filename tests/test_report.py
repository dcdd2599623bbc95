"""`vgsweep report` (docs/REPORT.md):
- runs built to show each diagnosis (healthy, vanishing, exploding, diverged, dead, saturated,
  stalled) get it, with the figures recomputed here from the record with h5py;
- every output format parses back and the four agree; --where, --sort and --pivot;
- the mean-field prediction against the measured attenuation at initialization for
  sigmoid/standard, tanh/xavier_uniform, relu/he_normal and selu/lecun_normal (width 256,
  depth 10; tolerances below), and against an independent Python quadrature;
- the dry run shows the same prediction and warns of float32 underflow;
- an interrupted output (<output>.tmp) is read; the record is never changed;
- bad input (not HDF5, not a vgsweep record, unknown format version, truncated or damaged
  files, unknown columns): one line naming the file or column, exit 2, never a crash.
Usage: test_report.py PATH/TO/vgsweep
"""
import csv
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from vgtest import VGSWEEP, check, failures, run_sweep  # noqa: E402

DIAG_SWEEP = """\
name: diag
seed: 3
data: {train_size: 512, test_size: 128, features: 16, classes: 4, separation: 6, seed: 2}
model: {width: 32, depth: 2, activation: relu, init: he_normal}
train: {epochs: 3, batch_size: 32, lr: 0.05}
record: {probe: 128, tensors: none, weights: none}
include:
  - {model.activation: relu, model.depth: 2}                                       # healthy
  - {model.activation: sigmoid, model.init: standard, model.depth: 12}              # vanishing
  - {model.activation: relu, model.init_gain: 1.6, model.depth: 12, train.lr: 1.0e-7}  # exploding
  - {model.activation: relu, model.depth: 3, train.loss: mse, train.lr: 1000}       # diverged
  - {model.activation: relu, model.depth: 6, model.bias_init: -2}                   # dead
  - {model.activation: tanh, model.init: normal, model.init_std: 1.0, model.depth: 4}  # saturated
  - {model.activation: relu, model.depth: 2, train.lr: 1.0e-6}                      # stalled
"""
# (selector on the run's settings, diagnoses that must be present, that must be absent)
EXPECTED = [
    (lambda a: a["model.depth"] == 2 and a["train.lr"] == 0.05, {"healthy"}, {"vanishing", "stalled"}),
    (lambda a: a["model.activation"] == "sigmoid", {"vanishing"}, {"exploding", "dead"}),
    (lambda a: a["model.init_gain"] == 1.6, {"exploding"}, {"vanishing"}),
    (lambda a: a["train.lr"] == 1000, {"diverged"}, {"healthy"}),
    (lambda a: a["model.bias_init"] == -2, {"dead"}, {"saturated"}),
    (lambda a: a["model.activation"] == "tanh", {"saturated"}, {"dead"}),
    (lambda a: a["train.lr"] == 1e-6, {"stalled"}, {"healthy"}),
]

WIDTH, FEATURES, SEP = 256, 64, 5.0
THEORY_SWEEP = f"""\
name: theory
seed: 5
data: {{train_size: 512, test_size: 0, features: {FEATURES}, classes: 10, separation: {SEP}}}
model: {{width: {WIDTH}, depth: 10, activation: sigmoid, init: standard}}
train: {{epochs: 0}}
record: {{probe: 512, tensors: none, weights: none}}
include:
  - {{model.activation: tanh, model.init: xavier_uniform}}
  - {{model.activation: relu, model.init: he_normal}}
  - {{model.activation: selu, model.init: lecun_normal}}
"""
# |predicted - measured| in decades of delta_rms(hidden 1) / delta_rms(hidden 10)
THEORY_TOL = {"sigmoid": 0.3, "tanh": 0.1, "relu": 0.1, "selu": 0.1}


def report(*args, ok=True):
    r = subprocess.run([VGSWEEP, "report", *args], capture_output=True, text=True)
    if ok:
        check(r.returncode == 0, f"report {args}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def last_finite(ds, e):
    k = min(e, ds.shape[0] - 1)
    while k >= 0 and not np.all(np.isfinite(ds[k])):
        k -= 1
    return k


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is None and b is None
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def check_values(out, rows):
    """The report's figures against the record read with h5py."""
    with h5py.File(out, "r") as f:
        for row in rows:
            run = f["runs"][row["id"]]
            e = int(run.attrs["epochs_done"])
            C = int(run.attrs["data.classes"])

            def final(name):
                v = float(run[name][e - 1]) if e >= 1 else float("nan")
                return None if math.isnan(v) else v
            for name in ("loss", "accuracy", "test_loss", "test_accuracy"):
                check(close(row[name], final(name)), f"{row['id']} {name}: {row[name]} vs {final(name)}")
            check(close(row["chance_accuracy"], 1 / C), f"{row['id']} chance accuracy")
            chance = (C - 1) / C ** 2 if run.attrs["train.loss"] == "mse" else math.log(C)
            check(close(row["chance_loss"], chance), f"{row['id']} chance loss")
            d, g = run["delta_rms"][()], run["grad_norm"][()]
            k = last_finite(d, e)
            L = d.shape[1]
            for tag, kk in (("init", 0), ("end", k)):
                with np.errstate(divide="ignore"):
                    want = float(np.log10(d[kk, 0]) - np.log10(d[kk, -1]))
                check(close(row[f"log10_delta_{tag}"], want, 1e-9),
                      f"{row['id']} log10_delta_{tag}: {row[f'log10_delta_{tag}']} vs {want}")
                if math.isfinite(want):
                    check(close(row[f"factor_{tag}"], 10 ** (want / (L - 1)), 1e-9), f"{row['id']} factor_{tag}")
                if g[kk, 0] > 0 and g[kk, -1] > 0:
                    want = float(np.log10(g[kk, 0] / g[kk, -1]))
                    check(close(row[f"log10_grad_{tag}"], want, 1e-9), f"{row['id']} log10_grad_{tag}")
            dead = max(float(np.mean(run["act_dead"][0])), float(np.mean(run["act_dead"][k])))
            sat = max(float(np.mean(run["act_saturated"][0])), float(np.mean(run["act_saturated"][k])))
            check(close(row["dead"], dead, 1e-9), f"{row['id']} dead {row['dead']} vs {dead}")
            check(close(row["saturated"], sat, 1e-9), f"{row['id']} saturated {row['saturated']} vs {sat}")


def parse_table(text):
    lines = text.rstrip("\n").split("\n")
    names = lines[0].split()
    return [dict(zip(names, line.split(None, len(names) - 1))) for line in lines[1:]]


def parse_markdown(text):
    lines = [ln for ln in text.rstrip("\n").split("\n")]
    names = [c.strip() for c in lines[0].strip("|").split(" | ")]
    check(set(lines[1].replace("|", "").replace("-", "").replace(":", "")) <= set(), "markdown rule line")
    return [dict(zip(names, [c.strip() for c in ln.strip().strip("|").split(" | ")])) for ln in lines[2:]]


def check_formats(out):
    """Every format parses back; ids, diagnoses and a number agree across them."""
    js = json.loads(report("-f", "json", out).stdout)
    cs = list(csv.DictReader(io.StringIO(report("-f", "csv", out).stdout)))
    tb = parse_table(report(out).stdout)
    md = parse_markdown(report("-f", "markdown", out).stdout)
    rows = js["rows"]
    check(js["columns"][0] == "id" and "diagnosis" in js["columns"], "json columns")
    for name, other in (("csv", cs), ("table", tb), ("markdown", md)):
        check(len(other) == len(rows), f"{name}: {len(other)} rows, json {len(rows)}")
        for a, b in zip(rows, other):
            check(a["id"] == b["id"] and a["diagnosis"] == b["diagnosis"],
                  f"{name}: row {b.get('id')} {b.get('diagnosis')} vs json {a['id']} {a['diagnosis']}")
            if a["loss"] is not None and math.isfinite(a["loss"]):
                got = float(b["loss"])
                tol = 1e-12 if name == "csv" else 5e-4
                check(abs(got - a["loss"]) <= tol * max(1, abs(a["loss"])), f"{name}: loss {got} vs {a['loss']}")
    return rows


def check_selection(out, rows):
    r = report("-f", "json", "--where", "model.activation=relu,model.depth>=3", out)
    sel = json.loads(r.stdout)["rows"]
    want = [x["id"] for x in rows if x.get("model.activation") == "relu" and x["model.depth"] >= 3]
    check([x["id"] for x in sel] == want, f"--where: {[x['id'] for x in sel]} vs {want}")
    s = json.loads(report("-f", "json", "--sort", "-log10_delta_init", out).stdout)["rows"]
    vals = [x["log10_delta_init"] for x in s]
    finite = [v for v in vals if v is not None]
    check(finite == sorted(finite, reverse=True) and vals[:len(finite)] == finite,
          f"--sort -log10_delta_init: {vals}")
    s = json.loads(report("-f", "json", "--sort", "model.activation", out).stdout)["rows"]
    acts = [x["model.activation"] for x in s]   # enum order: sigmoid, tanh, relu, ...
    order = ["sigmoid", "tanh", "relu"]
    check(acts == sorted(acts, key=order.index), f"--sort model.activation: {acts}")
    p = json.loads(report("-f", "json", "--pivot", "model.depth,model.activation", out).stdout)
    check(p["columns"] == ["model.depth \\ model.activation", "sigmoid", "tanh", "relu"],
          f"pivot columns {p['columns']}")
    check([r["model.depth \\ model.activation"] for r in p["rows"]] == ["2", "3", "4", "6", "12"],
          f"pivot rows {p['rows']}")
    pc = list(csv.DictReader(io.StringIO(report("-f", "csv", "--pivot", "model.depth,model.activation", out).stdout)))
    pm = parse_markdown(report("-f", "markdown", "--pivot", "model.depth,model.activation", out).stdout)
    check(pc == [{k: str(v) for k, v in r.items()} for r in p["rows"]] and
          pm == [{k: str(v) for k, v in r.items()} for r in p["rows"]], f"pivot csv/markdown vs json: {pc} {pm}")
    r = subprocess.run([VGSWEEP, "report", "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--pivot" in r.stdout, "vgsweep report --help")
    r = subprocess.run([VGSWEEP, "--help"], capture_output=True, text=True)
    check("vgsweep report" in r.stdout, "vgsweep --help mentions report")
    cell = [r for r in p["rows"] if r["model.depth \\ model.activation"] == "12"][0]["sigmoid"]
    check(cell.startswith("vanishing") and cell.endswith(" 1/1"), f"pivot cell {cell}")
    # thresholds on the command line change the verdict
    strict = json.loads(report("-f", "json", "--vanish", "0.1", out).stdout)["rows"]
    healthy = [x for x in strict if x["log10_delta_init"] is not None and x["log10_delta_init"] <= -0.1]
    check(all("vanishing" in x["diagnosis"] for x in healthy) and healthy, "--vanish 0.1")


def gauss_expect(f, mean, q):
    # the trapezoid rule on a fine grid: independent of the C code's midpoint rule, and
    # accurate for the kinks of relu and selu (Gauss-Hermite is not)
    t = np.linspace(-12, 12, 240001)
    w = np.exp(-0.5 * t * t)
    return float(np.sum(w * f(mean + np.sqrt(q) * t)) / np.sum(w))


PHI = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "selu": (lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(np.minimum(z, 0))),
             lambda z: 1.0507009873554805 * np.where(z > 0, 1.0, 1.6732632423543772 * np.exp(np.minimum(z, 0)))),
}
VAR = {"standard": lambda i, o: 1 / (3 * i), "xavier_uniform": lambda i, o: 2 / (i + o),
       "he_normal": lambda i, o: 2 / i, "lecun_normal": lambda i, o: 1 / i}


def python_prediction(act, init, depth):
    phi, dphi = PHI[act]
    q = FEATURES * VAR[init](FEATURES, WIDTH) * (1 + SEP ** 2 / (2 * FEATURES))
    s = 0.0
    for _ in range(depth - 1):
        s += 0.5 * math.log10(WIDTH * VAR[init](WIDTH, WIDTH) * gauss_expect(lambda z: dphi(z) ** 2, 0, q))
        q = WIDTH * VAR[init](WIDTH, WIDTH) * gauss_expect(lambda z: phi(z) ** 2, 0, q)
    return s


def check_theory(tmp):
    out = run_sweep(tmp, "theory", THEORY_SWEEP)
    if not out:
        return
    rows = json.loads(report("-f", "json", out).stdout)["rows"]
    check(len(rows) == 4, f"theory: {len(rows)} rows")
    for row in rows:
        act = row["model.activation"]
        init = row["model.init"]
        pred, meas = row["predicted"], row["measured"]
        py = python_prediction(act, init, 10)
        ok = abs(pred - meas) <= THEORY_TOL[act]
        print(f"theory {act:8s} {init:15s}: predicted {pred:+.3f}, measured {meas:+.3f} decades, "
              f"python {py:+.3f}, chi* {row['chi']:.4f} {row['phase']} "
              f"{'ok' if ok else 'FAIL'} (within {THEORY_TOL[act]})")
        check(ok, f"theory {act}/{init}: predicted {pred} vs measured {meas}")
        check(abs(pred - py) <= 0.01, f"theory {act}: C quadrature {pred} vs Python {py}")
        want_phase = {"sigmoid": "ordered", "tanh": "critical", "relu": "critical", "selu": None}[act]
        if want_phase:
            check(row["phase"] == want_phase, f"theory {act}: phase {row['phase']}, expected {want_phase}")
    # the dry run shows the same prediction, before anything trains
    yaml = os.path.join(tmp, "theory.yaml")
    r = subprocess.run([VGSWEEP, "--dry-run", yaml], capture_output=True, text=True)
    check(r.returncode == 0, f"dry run: {r.stderr}")
    for row in rows:
        line = [ln for ln in r.stdout.splitlines() if ln.strip().startswith(row["id"]) and "decades" in ln]
        check(line and f"{row['predicted']:+.2f}" in line[0], f"dry run line for {row['id']}: {line}")
    # float32 underflow warned: a deep sigmoid net
    deep = os.path.join(tmp, "deep.yaml")
    with open(deep, "w") as f:
        f.write("model: {depth: 60, activation: sigmoid, init: standard}\n")
    r = subprocess.run([VGSWEEP, "--dry-run", deep], capture_output=True, text=True)
    check(r.returncode == 0 and "underflow" in r.stdout and "warning:" in r.stdout,
          f"dry run of a depth-60 sigmoid net warns of underflow: {r.stdout[-400:]}")


def check_interrupted(tmp, out, rows):
    """A partially assembled output: runs only, no root attributes, no /index."""
    part = os.path.join(tmp, "part.h5")
    keep = [r["id"] for r in rows[:3]]
    with h5py.File(out, "r") as src, h5py.File(part + ".tmp", "w") as dst:
        g = dst.create_group("runs")
        for rid in keep:
            src.copy(src["runs"][rid], g, name=rid)
        # a run still being written: no status yet, skipped
        h = g.create_group("0123456789ab")
        h.attrs["id"] = "0123456789ab"
    r = report("-f", "json", part)
    js = json.loads(r.stdout or "{}")
    check(js.get("interrupted") is True and [x["id"] for x in js.get("rows", [])] == keep,
          f"interrupted output: {js.get('interrupted')} {[x['id'] for x in js.get('rows', [])]}")
    check("still being assembled" in r.stderr, f"interrupted output noted: {r.stderr}")


KILL_SWEEP = """\
name: killed
seed: 1
data: {train_size: 4000, test_size: 64, features: 16, classes: 4}
model: {width: 128}
train: {epochs: 4}
record: {probe: 64, tensors: none, weights: none}
grid:
  model.depth: [2, 3, 4, 5, 6, 7, 8, 9]
"""


def check_killed(tmp):
    """A real <output>.tmp: a sweep killed with SIGKILL once some runs are in it (the file is
    still marked open for writing in its superblock)."""
    import time
    yaml, out = os.path.join(tmp, "killed.yaml"), os.path.join(tmp, "killed.h5")
    with open(yaml, "w") as f:
        f.write(KILL_SWEEP)
    p = subprocess.Popen([VGSWEEP, "-q", "-j", "1", "-o", out, yaml])
    parts = out + ".parts"
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        done = [x for x in (os.listdir(parts) if os.path.isdir(parts) else []) if x.endswith(".part")]
        if len(done) >= 3 and os.path.exists(out + ".tmp"):
            break
        time.sleep(0.2)
    if p.poll() is not None:
        print("check_killed: the sweep finished before it could be killed; nothing to check")
        return
    p.kill()
    p.wait()
    digest = hashlib.sha256(open(out + ".tmp", "rb").read()).hexdigest()
    r = report("-f", "json", out)
    js = json.loads(r.stdout or "{}")
    check(js.get("interrupted") is True and len(js.get("rows", [])) >= 1,
          f"killed sweep's .tmp: {js.get('interrupted')}, {len(js.get('rows', []))} runs; {r.stderr.strip()}")
    check(hashlib.sha256(open(out + ".tmp", "rb").read()).hexdigest() == digest, "the .tmp is not changed")


def bad(args, want_text, what):
    r = subprocess.run([VGSWEEP, "report", *args], capture_output=True, text=True)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 2, f"{what}: exit {r.returncode}, expected 2 ({r.stderr.strip()})")
    check(len(lines) == 1 or (len(lines) == 2 and "Try" in lines[1]), f"{what}: one line, got {lines}")
    check(all(w in r.stderr for w in want_text), f"{what}: {want_text} not in {r.stderr.strip()}")


def check_bad_input(tmp, out):
    junk = os.path.join(tmp, "junk.h5")
    with open(junk, "w") as f:
        f.write("not hdf5\n")
    bad([junk], [junk, "HDF5"], "not an HDF5 file")
    other = os.path.join(tmp, "other.h5")
    with h5py.File(other, "w") as f:
        f["x"] = [1, 2, 3]
    bad([other], [other, "not a vgsweep record"], "an HDF5 file of another kind")
    future = os.path.join(tmp, "future.h5")
    shutil.copy(out, future)
    with h5py.File(future, "r+") as f:
        f.attrs["format_version"] = np.int64(99)
    bad([future], [future, "version 99"], "unknown format version")
    data = open(out, "rb").read()
    for frac in (0.1, 0.5, 0.9, 0.999):
        cut = os.path.join(tmp, f"cut{frac}.h5")
        with open(cut, "wb") as f:
            f.write(data[:int(len(data) * frac)])
        bad([cut], [cut], f"truncated at {frac}")
    rng = np.random.default_rng(1)
    crashes = 0
    for k in range(60):   # damaged: random bytes overwritten; an error or a report, never a crash
        d = bytearray(data)
        for pos in rng.integers(0, len(d), 20):
            d[pos] = int(rng.integers(0, 256))
        path = os.path.join(tmp, "damaged.h5")
        with open(path, "wb") as f:
            f.write(bytes(d))
        r = subprocess.run([VGSWEEP, "report", path], capture_output=True, text=True, errors="replace")
        if r.returncode not in (0, 2) or (r.returncode == 2 and path not in r.stderr):
            crashes += 1
            print(f"damaged file {k}: exit {r.returncode}: {r.stderr[-300:]}", file=sys.stderr)
    check(crashes == 0, f"damaged files: {crashes} of 60 crashed or failed without naming the file")
    bad(["--where", "model.depht>=2", out], ["model.depht", "did you mean"], "unknown --where column")
    bad(["--sort", "nosuch", out], ["nosuch", "--sort"], "unknown --sort column")
    bad(["--pivot", "model.depth,nosuch", out], ["nosuch", "--pivot"], "unknown --pivot column")
    bad(["--pivot", "model.depth", out], ["--pivot"], "--pivot with one column")
    bad(["--format", "xml", out], ["--format"], "unknown format")
    bad(["--vanish", "abc", out], ["--vanish"], "bad threshold")
    bad([os.path.join(tmp, "missing.h5")], ["missing.h5"], "missing file")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        out = run_sweep(tmp, "diag", DIAG_SWEEP)
        if out:
            digest = hashlib.sha256(open(out, "rb").read()).hexdigest()
            mtime = os.stat(out).st_mtime_ns
            rows = check_formats(out)
            with h5py.File(out, "r") as f:
                attrs = {r["id"]: dict(f["runs"][r["id"]].attrs) for r in rows}
            check(len(rows) == 7, f"7 runs, got {len(rows)}")
            for select, present, absent in EXPECTED:
                hit = [r for r in rows if select(attrs[r["id"]])]
                check(len(hit) == 1, f"one run for {present}: {len(hit)}")
                for r in hit:
                    d = set(r["diagnosis"].split("+"))
                    print(f"{r['id']} {r['diagnosis']:24s} {r['evidence']}")
                    check(present <= d and not (absent & d),
                          f"{r['id']}: diagnosis {r['diagnosis']}, expected {present} and none of {absent}")
                    check(r["evidence"] != "", f"{r['id']}: evidence given")
            check_values(out, rows)
            check_selection(out, rows)
            check_interrupted(tmp, out, rows)
            check_killed(tmp)
            check_bad_input(tmp, out)
            check(hashlib.sha256(open(out, "rb").read()).hexdigest() == digest and
                  os.stat(out).st_mtime_ns == mtime, "the report never changes the record")
        check_theory(tmp)
    print(f"test_report: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
