"""The data loaders through the CLI (tests/data holds the fixtures): well-formed IDX and CSV sets
train; every kind of malformed file stops vgsweep before any run with exit 2, one line naming the
file and nothing written; a short Fashion-MNIST run (Debian's dataset-fashion-mnist) beats a
stated accuracy. Usage: test_data.py VGSWEEP"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vgtest import VGSWEEP, check, failures, run_sweep  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
FASHION = "/usr/share/datasets/fashion-mnist"
# A shallow ReLU MLP after 3 epochs on 20,000 images: 0.833 here; the bound leaves room for
# the seed, not for a broken loader (a wrong scaling or label order stays far below it).
FASHION_ACCURACY_BOUND = 0.80

BASE = """
name: {name}
seed: 1
data: {{{data}}}
model: {{depth: 1, width: 8}}
train: {{epochs: 2, batch_size: 2, lr: 0.05}}
record: {{probe: 2}}
"""

IDX = "kind: idx, features: 6, classes: 3, train_size: -1, test_size: -1"
CSV = "kind: csv, features: 3, classes: 3, label: species, train_size: -1, test_size: -1"

BAD = [
    ("idx_missing", f"{IDX}, path: {FIX}/idx_missing", "idx_missing/t10k-labels-idx1-ubyte.gz: no such file"),
    ("idx_magic", f"{IDX}, path: {FIX}/idx_bad_magic", "train-images-idx3-ubyte: not an IDX file: magic number 0x12345678"),
    ("idx_truncated", f"{IDX}, path: {FIX}/idx_truncated", "train-images-idx3-ubyte: truncated"),
    ("idx_truncated_gz", f"{IDX}, path: {FIX}/idx_truncated_gz", "train-images-idx3-ubyte.gz: corrupt or truncated gzip data"),
    ("idx_count", f"{IDX}, path: {FIX}/idx_count_mismatch", "train-images-idx3-ubyte: 6 images, but"),
    ("idx_empty", f"{IDX}, path: {FIX}/idx_empty", "train-labels-idx1-ubyte: the file is empty"),
    ("idx_features", f"{IDX.replace('features: 6', 'features: 7')}, path: {FIX}/idx_good",
     "images of 2 x 3 = 6 values, but data.features is 7; set data.features: 6"),
    ("idx_train_size", f"{IDX.replace('train_size: -1', 'train_size: 7')}, path: {FIX}/idx_good",
     "data.train_size = 7, but the training split has only 6 samples"),
    ("csv_not_number", f"{CSV}, path: {FIX}/not_number.csv", 'not_number.csv: line 3, column 2 ("x2"): "five" is not a finite number'),
    ("csv_ragged", f"{CSV}, path: {FIX}/ragged.csv", "ragged.csv: line 3 has 3 cells, the header has 4"),
    ("csv_no_label", f"{CSV}, path: {FIX}/no_label.csv", 'no_label.csv: no label column "species" in the header (did you mean "specie"?)'),
    ("csv_empty", f"{CSV}, path: {FIX}/empty.csv", "empty.csv: the file is empty"),
    ("csv_header_only", f"{CSV}, path: {FIX}/header_only.csv", "header_only.csv: a header but no rows"),
    ("csv_missing", f"{CSV}, path: {FIX}/nothere.csv", "nothere.csv: cannot open: No such file or directory"),
    ("csv_features", f"{CSV.replace('features: 3', 'features: 4')}, path: {FIX}/good.csv", "good.csv: 3 feature columns, but data.features is 4"),
    ("csv_test_label", f"{CSV}, path: {FIX}/good.csv, test_path: {FIX}/unknown_test_label.csv",
     'unknown_test_label.csv: data row 1: label "daisy" does not occur in the training file'),
    ("csv_classes", f"{CSV.replace('classes: 3', 'classes: 2')}, path: {FIX}/good.csv", 'holds 3 distinct labels, more than data.classes = 2'),
    ("fashion_features", "kind: fashion-mnist, features: 64", "data.features: fashion-mnist has 28 x 28 = 784 pixels per image; set data.features: 784"),
    ("idx_no_path", "kind: idx, features: 6", "data.kind: idx reads its data from data.path, which is not set"),
]


def bad_cases(tmp):
    for name, data, expect in BAD:
        path, out = os.path.join(tmp, name + ".yaml"), os.path.join(tmp, name + ".h5")
        with open(path, "w") as f:
            f.write(BASE.format(name=name, data=data))
        for args in ([], ["-n"]):
            r = subprocess.run([VGSWEEP, "-q", "-o", out, *args, path], capture_output=True, text=True)
            err = r.stderr.strip()
            check(r.returncode == 2, f"{name} {args}: exit {r.returncode}, expected 2 ({err})")
            check(expect in err, f"{name}: expected {expect!r} in {err!r}")
            check(err.count("\n") == 0, f"{name}: expected one line, got {err!r}")
            check(not os.path.exists(out) and not os.path.exists(out + ".parts"),
                  f"{name}: something was written")


def attrs(out):
    with h5py.File(out, "r") as f:
        return [dict(g.attrs) | {"test_accuracy": g["test_accuracy"][()]} for g in f["runs"].values()]


def good_cases(tmp):
    # relative data.path: against the sweep file's directory
    os.symlink(FIX, os.path.join(tmp, "fixtures"))
    out = run_sweep(tmp, "idx_good", BASE.format(name="idx_good", data=f"{IDX}, path: fixtures/idx_good"))
    if out:
        a = attrs(out)[0]
        check(a["data.train_size"] == 6 and a["data.test_size"] == 4, f"idx sizes: {a}")
        check(a["data.path"] == "fixtures/idx_good", f"data.path attribute: {a['data.path']!r}")
        check(len(a["data_checksum"]) == 16, f"data_checksum: {a.get('data_checksum')!r}")
    # two runs on one data set (a grid over the learning rate): one checksum
    text = BASE.format(name="csv_good", data=f"{CSV}, path: fixtures/good.csv, test_fraction: 0.3")
    text += "grid: {train.lr: [0.05, 0.1]}\n"
    dry_path = os.path.join(tmp, "csv_good_dry.yaml")
    with open(dry_path, "w") as f:
        f.write(text)
    dry = subprocess.run([VGSWEEP, "-n", dry_path], capture_output=True, text=True)
    check(dry.returncode == 0 and "data: 1 shared set in memory" in dry.stdout,
          f"dry run: one shared set counted once: {dry.stdout}{dry.stderr}")
    out = run_sweep(tmp, "csv_good", text)
    if out:
        a = attrs(out)
        check(len(a) == 2 and a[0]["data_checksum"] == a[1]["data_checksum"], "csv: one data set")
        with h5py.File(out, "r") as f:
            sets = f.attrs["data_sets"]
        check(sets == f"{a[0]['data_checksum']} csv fixtures/good.csv train=7 test=3\n",
              f"/ data_sets: {sets!r}")
        check(a[0]["data.train_size"] == 7 and a[0]["data.test_size"] == 3, f"csv split: {a[0]}")
        check(a[0].get("data_class_names") == "setosa\nversicolor\nvirginica",
              f"class names {a[0].get('data_class_names')!r}")
    out = run_sweep(tmp, "csv_test", BASE.format(
        name="csv_test", data=f"{CSV}, path: fixtures/good.csv, test_path: fixtures/good_test.csv, standardize: true"))
    if out:
        check(attrs(out)[0]["data.test_size"] == 2, "csv test file: 2 rows")
    out = run_sweep(tmp, "csv_ints", BASE.format(
        name="csv_ints", data=f"kind: csv, path: {FIX}/ints.csv, features: 2, classes: 2, test_fraction: 0.4, sample: random, train_size: 2, test_size: -1"))
    if out:
        check(attrs(out)[0]["data.test_size"] == 2, "ints.csv: 2 of 5 rows held out")
    # a changed file changes the checksum
    for k, rows in enumerate(["a,label\n1,0\n2,1\n3,0\n", "a,label\n1,0\n2,1\n3.5,0\n"]):
        with open(os.path.join(tmp, f"c{k}.csv"), "w") as f:
            f.write(rows)
    sums = []
    for k in range(2):
        out = run_sweep(tmp, f"chg{k}", BASE.format(
            name=f"chg{k}", data=f"kind: csv, path: c{k}.csv, features: 1, classes: 2, test_fraction: 0, test_size: 0, train_size: -1"))
        if out:
            sums.append(attrs(out)[0]["data_checksum"])
    check(len(sums) == 2 and sums[0] != sums[1], f"changed file, same checksum: {sums}")


def fashion(tmp):
    if not os.path.isdir(FASHION):
        print(f"test_data: {FASHION} missing (apt-get install dataset-fashion-mnist): skipped the "
              "Fashion-MNIST run", file=sys.stderr)
        return
    text = """
name: fashion_short
seed: 1
data: {kind: fashion-mnist, features: 784, classes: 10, train_size: 20000, test_size: 5000}
model: {depth: 1, width: 128, activation: relu, init: he_normal}
train: {epochs: 3, batch_size: 64, lr: 0.05, optimizer: momentum}
record: {probe: 0}
"""
    out = run_sweep(tmp, "fashion_short", text)
    if out:
        acc = attrs(out)[0]["test_accuracy"][-1]
        print(f"test_data: Fashion-MNIST, depth 1, 3 epochs on 20,000 images: test accuracy {acc:.4f}")
        check(acc > FASHION_ACCURACY_BOUND, f"Fashion-MNIST accuracy {acc:.4f} <= {FASHION_ACCURACY_BOUND}")


def vg(tmp, name, text, *args):
    """Writes a sweep and runs vgsweep on it (no -o file is kept): (exit code, stdout, stderr)."""
    path, out = os.path.join(tmp, name + ".yaml"), os.path.join(tmp, name + ".h5")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([VGSWEEP, "-q", "-o", out, *args, path], capture_output=True, text=True)
    check(not os.path.exists(out) or "-n" not in args, f"{name}: a dry run wrote {out}")
    return r.returncode, r.stdout, r.stderr.strip(), path


# Sequence tasks, image sequences and csv regression targets (issues 20 and 21): the config and
# data side, through --dry-run; regression targets trained through the MLP; one recurrent run
# trained (tests/test_recurrent.py checks their records)
SEQ = """
name: seq
seed: 1
data: {{kind: adding, length: 30, train_size: 200, test_size: 50}}
model: {{kind: lstm, depth: 1, width: 16}}
train: {{loss: mse, epochs: 1, batch_size: 20, bptt: 10}}
record: {{probe: 20}}
{extra}
"""


def sequence_cases(tmp):
    # a grid over cells and lengths: validates, estimates, lists every run
    code, out, err, _ = vg(tmp, "seq_grid", SEQ.format(extra="grid: {model.kind: [rnn, lstm, gru], data.length: [10, 100]}"), "-n")
    check(code == 0, f"seq_grid: exit {code}: {err}")
    check("6 runs" in out and "data.length=100 model.kind=gru" in out, f"seq_grid: {out}")
    # a grid crossing model.kind with batch norm: refused, then run through an exclude entry
    grid = "grid: {model.kind: [mlp, lstm], model.norm: [none, batch]}"
    code, out, err, path = vg(tmp, "seq_norm", SEQ.format(extra=grid).replace(", bptt: 10", ""), "-n")
    check(code == 2 and f"{path}:" in err and "model.norm: batch normalization is for an mlp's "
          "dense layers, but model.kind is lstm" in err and err.count("\n") == 0,
          f"seq_norm: exit {code}: {err}")
    code, out, err, _ = vg(tmp, "seq_norm_ex", SEQ.replace("kind: lstm,", "kind: mlp,").format(
        extra=grid + "\nexclude: [{model.kind: lstm, model.norm: batch}]").replace(", bptt: 10", ""),
        "-n")
    check(code == 0 and "3 runs" in out and "1 excluded" in out, f"seq_norm_ex: exit {code}: {out}{err}")
    # the adding task's real target wants mse: file:line:col and why
    code, out, err, path = vg(tmp, "seq_ce", SEQ.format(extra="").replace("loss: mse", "loss: cross_entropy"), "-n")
    check(code == 2 and f"{path}:6:15: train.loss: cross_entropy, but the targets of data.kind "
          "adding" in err and "set train.loss: mse" in err, f"seq_ce: exit {code}: {err}")
    # copy on an mlp: per-step targets need a recurrent net
    code, out, err, path = vg(tmp, "seq_copy_mlp", SEQ.format(extra="").replace("kind: adding", "kind: copy")
                              .replace("kind: lstm,", "kind: mlp,").replace(", bptt: 10", ""), "-n")
    check(code == 2 and f"{path}:4:14: data.kind: copy has a target at every time step" in err,
          f"seq_copy_mlp: exit {code}: {err}")
    # a real run trains (tests/test_recurrent.py checks what it records)
    code, out, err, path = vg(tmp, "seq_run", SEQ.format(extra=""))
    check(code == 0 and "1 ok" in err + out, f"seq_run: exit {code}: {err}")
    check(os.path.exists(os.path.join(tmp, "seq_run.h5")), "seq_run: nothing was written")
    # a fixed data.seed: one shared set, its inputs and targets counted once in the dry run
    code, out, err, _ = vg(tmp, "seq_shared", SEQ.format(extra="grid: {train.lr: [0.1, 0.2]}")
                           .replace("length: 30,", "length: 30, seed: 4,"), "-n")
    # 250 samples x (30 steps x 2 values + 1 target) x 4 bytes = 61,000 bytes
    check(code == 0 and "data: 1 shared set in memory, 61.0 kB, counted once" in out,
          f"seq_shared: exit {code}: {out}{err}")
    # images as sequences: rows of the 2 x 3 fixture images for an rnn, not for an mlp
    img = f"kind: idx, path: {FIX}/idx_good, features: 6, classes: 3, train_size: -1, test_size: -1"
    text = BASE.format(name="rows", data=img + ", sequence: rows").replace("depth: 1,", "kind: rnn, depth: 1,")
    code, out, err, _ = vg(tmp, "rows", text, "-n")
    check(code == 0 and "1 run" in out, f"rows: exit {code}: {out}{err}")
    code, out, err, path = vg(tmp, "rows_mlp", BASE.format(name="rows_mlp", data=img + ", sequence: rows"), "-n")
    check(code == 2 and "data.sequence: rows feeds the images step by step, which only a recurrent "
          "net reads" in err, f"rows_mlp: exit {code}: {err}")
    # csv regression targets: a value that is not a number is found before any run (dry run too)
    with open(os.path.join(tmp, "reg.csv"), "w") as f:
        f.write("a,y\n1,0.5\n2,1.5\n3,-2\n4,1e1\n5,7\n")
    with open(os.path.join(tmp, "reg_bad.csv"), "w") as f:
        f.write("a,y\n1,0.5\n2,lots\n")
    reg = ("kind: csv, path: {p}, label: y, target: real, features: 1, train_size: -1, "
           "test_size: -1, test_fraction: 0.4")
    text = BASE.format(name="reg", data=reg.format(p="reg.csv")).replace("lr: 0.05", "lr: 0.05, loss: mse")
    code, out, err, _ = vg(tmp, "reg", text, "-n")
    check(code == 0 and "data: 1 shared set" in out, f"reg: exit {code}: {out}{err}")
    # and trained for real: MSE to the target column, accuracy undefined (NaN)
    code, out, err, _ = vg(tmp, "reg", text)
    check(code == 0, f"reg run: exit {code}: {err}")
    if code == 0:
        with h5py.File(os.path.join(tmp, "reg.h5"), "r") as f:
            run = f["runs"][list(f["runs"])[0]]
            loss, acc = run["loss"][...], run["accuracy"][...]
            check(np.all(np.isfinite(loss)) and np.all(np.isnan(acc)),
                  f"reg run: loss {loss}, accuracy {acc}")
    # the adding task flattened into an mlp: a regression run that learns below the 1/6 baseline
    add = SEQ.format(extra="").replace("kind: lstm, depth: 1, width: 16", "depth: 2, width: 64") \
        .replace(", bptt: 10", "").replace("length: 30, train_size: 200", "length: 10, train_size: 2000") \
        .replace("epochs: 1, batch_size: 20", "epochs: 10, batch_size: 20, optimizer: adam, lr: 0.003")
    code, out, err, _ = vg(tmp, "add_mlp", add)
    check(code == 0, f"add_mlp: exit {code}: {err}")
    if code == 0:
        with h5py.File(os.path.join(tmp, "add_mlp.h5"), "r") as f:
            run = f["runs"][list(f["runs"])[0]]
            test_loss = run["test_loss"][...]
            check(test_loss[-1] < 0.5 / 6, f"add_mlp: test loss {test_loss} not below half the 1/6 baseline")
    code, out, err, _ = vg(tmp, "reg_bad", text.replace("reg.csv", "reg_bad.csv"), "-n")
    check(code == 2 and 'reg_bad.csv: line 3, column 2 ("y"): "lots" is not a finite number' in err
          and err.count("\n") == 0, f"reg_bad: exit {code}: {err}")
    code, out, err, path = vg(tmp, "reg_ce", text.replace(", loss: mse", ""), "-n")
    check(code == 2 and "train.loss: cross_entropy, but the targets of data.kind csv (with "
          "data.target: real) are real numbers" in err, f"reg_ce: exit {code}: {err}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        bad_cases(tmp)
        good_cases(tmp)
        sequence_cases(tmp)
        fashion(tmp)
    if failures:
        print(f"test_data: {len(failures)} failures", file=sys.stderr)
        return 1
    print("test_data: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
