"""Nothing recorded is dropped implicitly (issue 17): --resume keeps every recorded run, also
those outside the current sweep file or --only filter, from the old output, from the parts
directory, or from both; --prune drops them and says how many; --force starts over.

Every time: the run counts of the message, of /runs and /index; the kept runs' datasets and
attributes bit-identical to before (their row number, attribute `index`, aside); /index marks
them with in_sweep false and fills their settings columns from their own settings.
Usage: test_keep.py PATH/TO/vgsweep
"""
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

import h5py

from vgtest import VGSWEEP, check, datasets, failures  # noqa: E402

SWEEP = """\
name: keep
seed: 9
data: {train_size: 200, test_size: 50, features: 12, classes: 3}
model: {width: 24}
train: {epochs: 3, batch_size: 50, lr: 0.05}
record: {probe: 32}
grid:
  model.depth: [2, 4, 6]
  model.activation: [tanh, relu, sigmoid]
"""
# A setting that did not vary before changes for every run: all 9 old runs leave the sweep.
EDITED = SWEEP.replace("lr: 0.05", "lr: 0.1")


def run(args, cwd, fsize=None):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.run([VGSWEEP, "-q", "-j", "2"] + args, cwd=cwd, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit if fsize else None)


def runs_only(d):
    """Datasets and run attributes of the runs, without their row number (attribute index)."""
    return {k: v for k, v in d.items() if k.startswith("runs/") and not k.endswith("@index")}


def index_of(path):
    with h5py.File(path, "r") as f:
        idx = f["index"][()]
        attrs = {rid: dict(g.attrs) for rid, g in f["runs"].items()}
        return idx, attrs, int(f.attrs["n_runs"])


def check_output(path, ref_runs, n_in, n_total, what):
    """n_in runs in the sweep then n_total - n_in kept; every run identical to ref_runs'."""
    idx, attrs, n_runs = index_of(path)
    check(len(idx) == n_total and len(attrs) == n_total and n_runs == n_total,
          f"{what}: {len(idx)} rows, {len(attrs)} runs, n_runs {n_runs}; expected {n_total}")
    check(list(idx["in_sweep"]) == [True] * n_in + [False] * (n_total - n_in),
          f"{what}: in_sweep column {list(idx['in_sweep'])}")
    check(list(idx["id"][n_in:]) == sorted(idx["id"][n_in:]), f"{what}: kept rows in id order")
    for i, row in enumerate(idx):
        a = attrs[row["id"].decode()]
        check(a["index"] == i, f"{what}: row {i} is run {row['id']} whose index is {a['index']}")
        for col in idx.dtype.names:
            if "." in col:
                want = a[col].encode() if isinstance(a[col], str) else a[col]
                check(row[col] == want, f"{what}: row {i} {col} = {row[col]!r}, its run has {want!r}")
    got = runs_only(datasets(path, run_attrs=True))
    diff = sorted(k for k in set(got) | set(ref_runs) if got.get(k) != ref_runs.get(k))
    check(not diff, f"{what}: runs differ from before: {diff[:5]}")
    return idx


def main():
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "s.yaml"), "w") as f:
            f.write(SWEEP)
        with open(os.path.join(tmp, "e.yaml"), "w") as f:
            f.write(EDITED)
        r = run(["-o", "ref.h5", "s.yaml"], tmp)
        if not check(r.returncode == 0, f"reference sweep: {r.stderr}"):
            return 1
        ref_path = os.path.join(tmp, "ref.h5")
        ref = runs_only(datasets(ref_path, run_attrs=True))
        ref_size = os.path.getsize(ref_path)

        # 1. The old output only, another --only: 3 reused, 6 kept as they are.
        out = os.path.join(tmp, "o1.h5")
        shutil.copy(ref_path, out)
        r = run(["--resume", "--only", "model.depth=2", "-o", "o1.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "3 of 3 runs already recorded" in r.stderr
              and "6 recorded runs kept from before, outside this sweep/filter" in r.stderr,
              f"old output, --only: {r.returncode} {r.stderr!r}")
        idx = check_output(out, ref, 3, 9, "old output, --only")
        check(all(idx["model.depth"][:3] == 2), "old output, --only: the selected runs first")
        # and the default (no --only) takes them all back into the sweep: nothing to run
        r = run(["--resume", "-o", "o1.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "9 of 9 runs already recorded" in r.stderr and "outside this sweep/filter" not in r.stderr,
              f"old output, whole sweep again: {r.stderr!r}")
        check_output(out, ref, 9, 9, "old output, whole sweep again")

        # 2. --prune drops them, and says how many; without --resume it is refused.
        r = run(["--resume", "--prune", "--only", "model.depth=2", "-o", "o1.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "6 recorded runs outside this sweep/filter dropped (--prune)" in r.stderr,
              f"--prune: {r.stderr!r}")
        check_output(out, {k: v for k, v in ref.items() if k.split("/")[1].split("@")[0] in
                           {x.decode() for x in index_of(out)[0]["id"]}}, 3, 3, "--prune")
        r = run(["--prune", "-o", "o9.h5", "s.yaml"], tmp)
        check(r.returncode == 2 and "--prune" in r.stderr and not os.path.exists(os.path.join(tmp, "o9.h5")),
              f"--prune without --resume: {r.returncode} {r.stderr!r}")

        # 3. An edited sweep file: a setting that did not vary changes for every run: 9 run, 9
        # kept; /index gets a train.lr column, the kept rows hold their own 0.05.
        out = os.path.join(tmp, "o2.h5")
        shutil.copy(ref_path, out)
        r = run(["--resume", "-o", "o2.h5", "e.yaml"], tmp)
        check(r.returncode == 0 and "0 of 9 runs already recorded" in r.stderr
              and "9 recorded runs kept from before" in r.stderr, f"edited sweep: {r.stderr!r}")
        r2 = run(["-o", "e_ref.h5", "e.yaml"], tmp)
        check(r2.returncode == 0, f"edited sweep from scratch: {r2.stderr}")
        both = dict(ref)
        both.update(runs_only(datasets(os.path.join(tmp, "e_ref.h5"), run_attrs=True)))
        idx = check_output(out, both, 9, 18, "edited sweep")
        if "train.lr" in idx.dtype.names:
            check(list(idx["train.lr"]) == [0.1] * 9 + [0.05] * 9, f"edited sweep: train.lr {list(idx['train.lr'])}")
        else:
            check(False, f"edited sweep: no train.lr column in {idx.dtype.names}")

        # 4. Parts only (the output could not be assembled: a file-size limit), --only: the 6
        # runs outside the filter are kept from their parts, settings and all.
        r = run(["-o", "p.h5", "s.yaml"], tmp, fsize=int(ref_size * 0.6))
        parts = os.path.join(tmp, "p.h5.parts")
        n_parts = len([n for n in os.listdir(parts) if n.endswith(".part")]) if os.path.isdir(parts) else 0
        check(r.returncode == 1 and n_parts == 9 and not os.path.exists(os.path.join(tmp, "p.h5")),
              f"parts only: exit {r.returncode}, {n_parts} parts: {r.stderr!r}")
        saved = os.path.join(tmp, "saved.parts")
        shutil.copytree(parts, saved)
        r = run(["--resume", "--only", "model.depth=4", "-o", "p.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "3 of 3 runs already recorded" in r.stderr
              and "6 recorded runs kept from before" in r.stderr, f"parts only, --only: {r.stderr!r}")
        check_output(os.path.join(tmp, "p.h5"), ref, 3, 9, "parts only, --only")
        check(not os.path.exists(parts), "parts only: the parts are deleted once assembled")

        # 4b. Parts only, edited sweep file: the 9 old runs are kept from their parts, their
        # settings (train.lr 0.05) from the parts' headers.
        shutil.copytree(saved, os.path.join(tmp, "q.h5.parts"))
        r = run(["--resume", "-o", "q.h5", "e.yaml"], tmp)
        check(r.returncode == 0 and "0 of 9 runs already recorded" in r.stderr
              and "9 recorded runs kept from before" in r.stderr, f"parts only, edited sweep: {r.stderr!r}")
        idx = check_output(os.path.join(tmp, "q.h5"), both, 9, 18, "parts only, edited sweep")
        check("train.lr" in idx.dtype.names and list(idx["train.lr"]) == [0.1] * 9 + [0.05] * 9,
              "parts only, edited sweep: train.lr column from the parts")

        # 5. Both: every run in the parts and in the output (a kill after the output was
        # renamed, before the parts were deleted): each is kept once.
        shutil.copytree(saved, parts)
        r = run(["--resume", "--only", "model.activation=relu", "-o", "p.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "3 of 3 runs already recorded" in r.stderr
              and "6 recorded runs kept from before" in r.stderr, f"parts and output: {r.stderr!r}")
        check_output(os.path.join(tmp, "p.h5"), ref, 3, 9, "parts and output")

        # 6. --prune with both sources: the runs outside the filter go from both.
        shutil.copytree(saved, parts)
        r = run(["--resume", "--prune", "--only", "model.depth=2", "-o", "p.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "6 recorded runs outside this sweep/filter dropped (--prune)" in r.stderr,
              f"parts and output, --prune: {r.stderr!r}")
        check(len(index_of(os.path.join(tmp, "p.h5"))[1]) == 3 and not os.path.exists(parts),
              "parts and output, --prune: 3 runs left, no parts")

        # 7. A damaged part of a run outside the filter (and not in any output): it cannot be
        # run again by this sweep, so it is not dropped silently: refused until --prune.
        idx, _, _ = index_of(ref_path)
        deep = [x.decode() for x, d in zip(idx["id"], idx["model.depth"]) if d == 6]
        dparts = os.path.join(tmp, "d.h5.parts")
        shutil.copytree(saved, dparts)
        with open(os.path.join(dparts, deep[0] + ".part"), "r+b") as f:
            f.truncate(os.path.getsize(f.name) - 30)
        r = run(["--resume", "--only", "model.depth=2", "-o", "d.h5", "s.yaml"], tmp)
        check(r.returncode == 2 and "damaged" in r.stderr and "--prune" in r.stderr and deep[0] in r.stderr,
              f"damaged part outside the filter: {r.returncode} {r.stderr!r}")
        check(len(os.listdir(dparts)) == 10 and not os.path.exists(os.path.join(tmp, "d.h5")),
              "damaged part outside the filter: nothing changed")
        r = run(["--resume", "--prune", "--only", "model.depth=2", "-o", "d.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "6 recorded runs outside this sweep/filter dropped" in r.stderr,
              f"damaged part outside the filter, --prune: {r.stderr!r}")

        # 8. --force starts over: only the selected runs.
        r = run(["--force", "--only", "model.depth=6", "-o", "o1.h5", "s.yaml"], tmp)
        check(r.returncode == 0, f"--force: {r.stderr!r}")
        check(len(index_of(os.path.join(tmp, "o1.h5"))[1]) == 3, "--force: 3 runs")

    print(f"test_keep: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
