"""docs/FORMAT.md against a produced file, both ways.

Runs a small sweep that switches on every optional part of the record (normalization,
clipping, residual blocks, weights at every checkpoint), then walks the file: every group,
dataset and attribute must match a row of FORMAT.md's tables (path patterns with <id>, <NN>,
<setting>, * and **), with the documented type; every row must match something in the file;
the /index columns must be the documented ones; the h5py examples of the page must run on the
file; and the dry run's size estimate must be within 25 % of the file's size. Then the same
sweep with record.probe: 0: every object documented, none of the rows marked "only when
`record.probe` > 0", every other row the first file matched, and the size estimate. A second
file of recurrent runs (an LSTM on adding, a GRU on copy) is walked beside the first: together
they match every row.
Usage: test_format.py PATH/TO/vgsweep
"""
import os
import platform
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from vgtest import VGSWEEP, check, failures  # noqa: E402

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "FORMAT.md")


SWEEP = """\
name: format
seed: 4
data: {train_size: 120, test_size: 40, features: 6, classes: 3, seed: 3}
model: {width: 8, depth: 2}
train: {epochs: 2, batch_size: 40, lr: 0.1}
record: {probe: 16, weights: all, tensor_every: 2}
grid:
  model.norm: [none, batch]
  train.clip: [none, {norm: 0.5}]
  model.skip.every: [0, 1]
"""

# Recurrent nets (issue 20): their own series and tensors, real targets (probe/t) and a class per
# step (probe/y (P, T)); walked beside the first file.
SWEEP_REC = """\
name: format_rec
seed: 4
data: {kind: adding, length: 6, train_size: 64, test_size: 16, seed: 3}
model: {kind: lstm, width: 4, depth: 2}
train: {loss: mse, epochs: 2, batch_size: 16, lr: 0.1}
record: {probe: 8, weights: all, tensor_every: 2}
include:
  - {model.kind: gru, data.kind: copy, data.length: 3, train.loss: cross_entropy}
"""

# The same sweep without a probe batch (record.tensors: all is then ignored).
SWEEP_NO_PROBE = SWEEP.replace("record: {probe: 16,", "record: {probe: 0,")
PROBE_ONLY = "only when `record.probe` > 0"  # marks a FORMAT.md row absent without a probe

PLACEHOLDERS = {"<id>": "[0-9a-f]{12}", "<NN>": "[0-9]{2,}", "<setting>": "[a-z0-9_]+(?:\\.[a-z0-9_]+)+"}


def pattern(text):
    """A FORMAT.md path or name pattern as a regex."""
    out, i = "", 0
    while i < len(text):
        for ph, rx in PLACEHOLDERS.items():
            if text.startswith(ph, i):
                out += rx
                i += len(ph)
                break
        else:
            if text.startswith("**", i):
                out, i = out + ".+", i + 2
            elif text[i] == "*":
                out, i = out + "[^/]+", i + 1
            else:
                out, i = out + re.escape(text[i]), i + 1
    return re.compile(out + r"\Z")


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def ticked(cell):
    m = re.match(r"`([^`]+)`", cell)
    return m.group(1) if m else None


def parse_doc(text):
    """Objects (path, type, only with a probe), attributes (name, on, type) and /index columns
    of FORMAT.md."""
    objects, attrs, columns = [], [], []
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        c = cells(line)
        if header is None:
            header = c
            continue
        if set(line) <= set("|-: "):
            continue
        if header[0] == "Path" and ticked(c[0]):
            objects.append((ticked(c[0]), c[2].split()[0], PROBE_ONLY in line))
        elif header[:2] == ["Attribute", "On"] and ticked(c[0]):
            attrs.append((ticked(c[0]), ticked(c[1]), c[2].split()[0]))
        elif header[0] == "Column":
            names = re.findall(r"`([^`]+)`", c[0]) or ["<setting>"]
            columns += names
    return objects, attrs, columns


def dataset_type(obj):
    if obj.dtype.names:
        return "compound"
    return {"<f8": "float64", "<f4": "float32", "<i8": "int64", "<i4": "int32", "<u8": "uint64"}.get(obj.dtype.str, obj.dtype.str)


def attr_type(obj, name):
    dt = obj.attrs.get_id(name).dtype
    if h5py.check_string_dtype(dt):
        return "string"
    if dt == np.bool_ or h5py.check_enum_dtype(dt):
        return "bool"
    return {"<f8": "float64", "<i8": "int64", "<u8": "uint64", "<i4": "int32"}.get(dt.str, dt.str)


def walk(path, obj_rx, attr_rx):
    """Checks every object and attribute of the file against the documented ones; returns the
    rows (paths) and attributes (name, on) matched, and the number of objects."""
    used_obj, used_attr = set(), set()
    with h5py.File(path, "r") as f:
        items = [("/", f)]
        f.visititems(lambda name, obj: items.append(("/" + name, obj)))
        for name, obj in items:
            is_group = isinstance(obj, h5py.Group)
            kind = "group" if is_group else dataset_type(obj)
            hits = [(p, t) for rx, p, t in obj_rx if rx.match(name)]
            if check(hits, f"{path}: {name}: not documented in FORMAT.md"):
                used_obj.update(p for p, _ in hits)
                check(any(t == kind for _, t in hits), f"{name}: documented as {hits[0][1]}, is {kind}")
            for a in obj.attrs:
                ah = [(n, on, t) for nrx, onrx, n, on, t in attr_rx if nrx.match(a) and onrx.match(name)]
                if not check(ah, f"{path}: {name}: attribute {a} not documented in FORMAT.md"):
                    continue
                used_attr.update((n, on) for n, on, _ in ah)
                want = ah[0][2]
                if want not in ("setting", "HDF5"):
                    check(want == attr_type(obj, a), f"{name}: attribute {a} documented as {want}, is {attr_type(obj, a)}")
    return used_obj, used_attr, len(items)


def size_estimate(tmp, sweep, path):
    """The dry run's size estimate of sweep against the file it wrote."""
    r = subprocess.run([VGSWEEP, "-n", "-o", "g.h5", sweep], cwd=tmp, capture_output=True, text=True)
    m = re.search(r"estimated output: ([\d.]+) ([kMG]?B)", r.stdout)
    if m:
        est = float(m.group(1)) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[m.group(2)]
        real = os.path.getsize(path)
        print(f"{sweep}: size estimated {est:.0f} B, file {real} B ({100 * (est / real - 1):+.1f}%)")
        check(abs(est / real - 1) < 0.25, f"{sweep}: size estimate {est:.0f} B vs {real} B")
    else:
        print("the dry run prints no size estimate: not checked")



def cmake_cache(build):
    """The build's CMakeCache.txt as {name: value}."""
    cache = {}
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_]+):[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                cache[m.group(1)] = m.group(2)
    return cache


def provenance(attrs):
    """The root's provenance against the build that made the binary (its CMakeCache.txt next
    to it) and the source tree's git: the revision taken at build time, the real flags."""
    cache = cmake_cache(os.path.dirname(VGSWEEP))
    build_type = cache.get("CMAKE_BUILD_TYPE", "")
    check(attrs["build_type"] == build_type, f"build_type {attrs['build_type']!r}, CMake's {build_type!r}")
    flags = attrs["compiler_flags"].split()
    type_flags = cache.get(f"CMAKE_C_FLAGS_{build_type.upper()}", "").split()
    check(type_flags and all(t in flags for t in type_flags),
          f"compiler_flags {flags} lack the {build_type} flags {type_flags}")
    o_levels = [t for t in type_flags if re.fullmatch(r"-O.?", t)]
    check([t for t in flags if re.fullmatch(r"-O.?", t)][-1:] == o_levels[-1:],
          f"compiler_flags {flags}: the last -O is {build_type}'s {o_levels}")
    if cache.get("VG_NATIVE") == "ON" and cache.get("VG_HAVE_MARCH_NATIVE") == "1":
        check("-march=native" in flags, f"compiler_flags {flags} lack -march=native (VG_NATIVE)")
    want = {"address", "undefined"} if cache.get("VG_SANITIZE") == "ON" else \
        {"thread"} if cache.get("VG_TSAN") == "ON" else set()
    got = set(attrs["sanitizers"].split(",")) - {"none"}
    check(got == want and (attrs["sanitizers"] == "none") == (not want),
          f"sanitizers {attrs['sanitizers']!r}, the build's options want {sorted(want) or 'none'}")
    for s in want:
        check(any(t.startswith("-fsanitize=") and s in t[11:].split(",") for t in flags),
              f"compiler_flags {flags} lack -fsanitize={s}")
    check(re.fullmatch(r"\S+ \d+(\.\d+)+", attrs["compiler"]) is not None,
          f"compiler {attrs['compiler']!r} is id and version")
    # The revision: HEAD of the source tree when it is a git checkout of its own (taken at
    # build time: a binary built before the last commit fails here; rebuild), else unknown.
    src = cache.get("CMAKE_HOME_DIRECTORY", "")
    try:
        top = subprocess.run(["git", "-C", src, "rev-parse", "--show-toplevel", "HEAD"],
                             capture_output=True, text=True)
    except FileNotFoundError:  # no git here: the build could not ask it either
        top = subprocess.CompletedProcess([], 1, "", "")
    lines = top.stdout.split()
    if top.returncode == 0 and len(lines) == 2 and os.path.realpath(lines[0]) == os.path.realpath(src):
        check(attrs["git_revision"] == lines[1],
              f"git_revision {attrs['git_revision']!r}, HEAD of {src} is {lines[1]} (rebuild?)")
        check(attrs["git_dirty"] in (0, 1), f"git_dirty {attrs['git_dirty']} in a git checkout")
        # (whether it was dirty is not checked against today's tree: edits made since the
        # build are not the binary's; tests/test_build.py checks the flag on made-up trees)
    else:
        check(attrs["git_revision"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", attrs["git_revision"]),
              f"git_revision {attrs['git_revision']!r} outside a git checkout")

def main():
    with open(DOC) as f:
        doc = f.read()
    objects, attrs, columns = parse_doc(doc)
    check(len(objects) > 30 and len(attrs) > 30, f"parsed {len(objects)} objects, {len(attrs)} attributes")
    obj_rx = [(pattern(p), p, t) for p, t, _ in objects]
    attr_rx = [(pattern(n), pattern(on), n, on, t) for n, on, t in attrs]
    probe_only = {p for p, _, only in objects if only}
    check(len(probe_only) > 10, f"{len(probe_only)} rows marked '{PROBE_ONLY}'")

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "s.yaml"), "w") as f:
            f.write(SWEEP)
        r = subprocess.run([VGSWEEP, "-q", "-o", "f.h5", "s.yaml"], cwd=tmp, capture_output=True, text=True)
        if not check(r.returncode == 0, f"sweep: exit {r.returncode}: {r.stderr}"):
            return 1
        path = os.path.join(tmp, "f.h5")
        used_obj, used_attr, n_items = walk(path, obj_rx, attr_rx)
        with h5py.File(path, "r") as f:
            # /index: the documented columns, in order, with one per varying setting
            got = list(f["index"].dtype.names)
            fixed = [c for c in columns if c != "<setting>"]
            check([c for c in got if "." not in c] == fixed, f"/index columns {got} vs FORMAT.md {columns}")
            check(set(c for c in got if "." in c) == {"model.norm", "train.clip", "train.clip_threshold", "model.skip.every"},
                  f"/index has one column per varying setting: {got}")
            check(len(f["index"]) == len(f["runs"]) == f.attrs["n_runs"], "one /index row per run")
            # provenance: the architecture, and the kernels its CPU runs (docs/PORTABILITY.md)
            machine, kernel = f.attrs["machine"], f.attrs["kernel_path"]
            for rid in f["runs"]:  # each run says the kernels it trained with
                rk = f["runs"][rid].attrs.get("kernel_path")
                check(rk == kernel, f"run {rid}: kernel_path {rk!r}, file's {kernel!r}")
            check(machine == platform.machine(), f"machine {machine!r}, uname -m says {platform.machine()!r}")
            check(kernel in ("avx512", "generic") and (kernel == "generic" or machine == "x86_64"),
                  f"kernel_path {kernel!r} on {machine!r}")
            provenance(dict(f.attrs))

        with open(os.path.join(tmp, "r.yaml"), "w") as f:
            f.write(SWEEP_REC)
        mlp_obj = set(used_obj)
        r = subprocess.run([VGSWEEP, "-q", "-o", "r.h5", "r.yaml"], cwd=tmp, capture_output=True, text=True)
        if check(r.returncode == 0, f"recurrent sweep: exit {r.returncode}: {r.stderr}"):
            rec_obj, rec_attr, _ = walk(os.path.join(tmp, "r.h5"), obj_rx, attr_rx)
            mlp_obj = set(used_obj)
            used_obj |= rec_obj
            used_attr |= rec_attr
            size_estimate(tmp, "r.yaml", os.path.join(tmp, "r.h5"))

        for p, _, _ in objects:
            check(p in used_obj, f"FORMAT.md documents {p}, which the file does not have")
        for n, on, _ in attrs:
            check((n, on) in used_attr, f"FORMAT.md documents attribute {n} on {on}, which the file does not have")

        # The page's h5py examples run on the file.
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", doc, re.S)):
            code = block.replace("results/sweep.h5", path)
            try:
                exec(compile(code, f"FORMAT.md python block {i + 1}", "exec"), {"print": lambda *a, **k: None})
            except Exception as e:  # noqa: BLE001 - any failure is a doc bug
                check(False, f"FORMAT.md python block {i + 1} fails: {type(e).__name__}: {e}")

        # The dry run's size estimate.
        size_estimate(tmp, "s.yaml", path)

        # Without a probe batch: the rows marked PROBE_ONLY are absent, every other one is there.
        with open(os.path.join(tmp, "p0.yaml"), "w") as f:
            f.write(SWEEP_NO_PROBE)
        r = subprocess.run([VGSWEEP, "-q", "-o", "p0.h5", "p0.yaml"], cwd=tmp, capture_output=True, text=True)
        if check(r.returncode == 0, f"record.probe: 0 sweep: exit {r.returncode}: {r.stderr}"):
            p0 = os.path.join(tmp, "p0.h5")
            used0, used_attr0, _ = walk(p0, obj_rx, attr_rx)
            for p in sorted(used0 & probe_only):
                check(False, f"record.probe: 0 file has {p}, documented as '{PROBE_ONLY}'")
            for p in sorted(mlp_obj - probe_only - used0):
                check(False, f"record.probe: 0 file lacks {p}, which is not marked '{PROBE_ONLY}'")
            check(used_attr0 == used_attr, f"record.probe: 0 file: attributes {sorted(used_attr ^ used_attr0)}")
            size_estimate(tmp, "p0.yaml", p0)

    print(f"{len(objects)} objects and {len(attrs)} attributes documented; "
          f"{n_items} objects in the file")
    print(f"test_format: {len(failures)} failed")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
