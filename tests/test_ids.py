"""Run ids survive new settings (docs/SWEEP-FORMAT.md, "Run identity"): every id that the shipped
sweeps and tests/sweeps/ids_fixture.yaml had in record format 2 (tests/ids_golden.txt, made by
vgsweep 2eb74ce) is still made, and the fixture's runs keep their seeds. A setting added to the
table at its default must move none of them.
Usage: test_ids.py PATH/TO/vgsweep
"""
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

import h5py

from vgtest import VGSWEEP, check, failures, run_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dry_run_ids(path):
    r = subprocess.run([VGSWEEP, "-n", path], capture_output=True, text=True)
    check(r.returncode == 0, f"vgsweep -n {path}: exit {r.returncode}: {r.stderr.strip()}")
    return {line.split()[0] for line in r.stdout.splitlines()
            if line and len(line.split()[0]) == 12 and all(c in "0123456789abcdef" for c in line.split()[0])}


golden, seeds = defaultdict(set), {}
with open(os.path.join(ROOT, "tests", "ids_golden.txt")) as f:
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        a, b, c = (line.split() + [None])[:3]
        if a == "seed":
            seeds[b] = int(c)
        else:
            golden[a].add(b)

check(sum(len(v) for v in golden.values()) >= 170, "tests/ids_golden.txt lists the ids")
for rel, ids in sorted(golden.items()):
    now = dry_run_ids(os.path.join(ROOT, rel))
    missing = ids - now
    check(not missing, f"{rel}: {len(missing)} of {len(ids)} format-2 ids no longer made, e.g. {sorted(missing)[:3]}")
    if rel.startswith("tests/"):  # the fixture is frozen: exactly its ids
        check(now == ids, f"{rel}: {len(now - ids)} ids that format 2 did not make")

# the settings added with the recurrent nets (model.kind, data.sequence, ...), written out at
# their defaults on top of the format-2 fixture, make exactly its ids: they enter no id
with tempfile.TemporaryDirectory() as tmp:
    child = os.path.join(tmp, "child.yaml")
    with open(child, "w") as f:
        f.write(f"extends: {os.path.join(ROOT, 'tests', 'sweeps', 'ids_fixture.yaml')}\n"
                "model: {kind: mlp}\n"
                "data: {sequence: none, permute: false, target: class}\n")
    fixture = golden["tests/sweeps/ids_fixture.yaml"]
    now = dry_run_ids(child)
    check(now == fixture, f"explicit defaults of the new settings moved {len(now ^ fixture)} ids")
    # an rnn's activation defaults to tanh: written out or not, the same runs
    for name, extra in [("implicit", ""), ("explicit", "  activation: tanh\n")]:
        with open(os.path.join(tmp, name + ".yaml"), "w") as f:
            f.write("data: {kind: adding, length: 12, train_size: 256, test_size: 16}\n"
                    "train: {loss: mse}\nmodel:\n  kind: rnn\n" + extra)
    a, b = dry_run_ids(os.path.join(tmp, "implicit.yaml")), dry_run_ids(os.path.join(tmp, "explicit.yaml"))
    check(a == b and len(a) == 1, f"rnn with default and explicit tanh: {a} vs {b}")

# the fixture's runs of two activations, trained: the same seeds as in format 2
with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(ROOT, "tests", "sweeps", "ids_fixture.yaml")) as f:
        text = f.read()
    out = run_sweep(tmp, "ids", text, "--only", "model.activation=relu|tanh")
    if out:
        with h5py.File(out, "r") as f:
            got = {rid: int(g.attrs["seed"]) for rid, g in f["runs"].items()}
        check(got == seeds, f"seeds of the fixture's relu/tanh runs differ from format 2's: "
                            f"{len(set(got.items()) ^ set(seeds.items()))} differences")

if failures:
    print(f"test_ids: {len(failures)} failures", file=sys.stderr)
    sys.exit(1)
print("test_ids: every format-2 id and seed is still made")
