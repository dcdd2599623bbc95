"""Every run group of a record, and every group under it, opens in xarray through h5netcdf
without vgsweep's code (docs/FORMAT.md: every dimension of every dataset is a named dimension
scale). A small sweep with every tensor recorded, batch norm, a probe batch and a run without
one (record.probe: 0); each group's variables, their dimensions and the scales' values are
checked against the settings. Also a run copied from an existing output by --resume (its scales
attached again) opens the same way.

Usage: test_xarray.py PATH/TO/vgsweep   (Debian's python3-xarray and python3-h5netcdf)
"""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from vgtest import VGSWEEP, check, failures, run_sweep

try:
    import xarray as xr
except ImportError:
    print("python3-xarray / python3-h5netcdf are not installed (tools/setup installs them)")
    sys.exit(1)

SWEEP = """\
name: xr
seed: 3
data: {train_size: 96, test_size: 32, features: 12, classes: 3, seed: 5}
model: {width: 8, depth: 2}
train: {epochs: 3, batch_size: 16, lr: 0.1}
record: {probe: 16, tensors: all, weights: all, tensor_every: 2}
grid:
  model.norm: [none, batch]
  record.probe: [16, 0]
"""
E, L, W, F, C, P = 3, 3, 8, 12, 3, 16


def groups_of(path):
    """Every run group and every group under it: [(run id, path of the group)]."""
    out = []
    with h5py.File(path, "r") as f:
        for rid, g in f["runs"].items():
            out.append((rid, f"runs/{rid}"))
            g.visititems(lambda name, obj, rid=rid: out.append((rid, f"runs/{rid}/{name}"))
                         if isinstance(obj, h5py.Group) else None)
    return out


def settings(path):
    with h5py.File(path, "r") as f:
        return {rid: (int(g.attrs["record.probe"]), g.attrs["model.norm"]) for rid, g in f["runs"].items()}


def expect(group, probe, norm):
    """{variable: dims} the group must hold (the dimension coordinates aside)."""
    tail = group.split("/", 2)[2] if group.count("/") >= 2 else ""
    if tail == "":
        v = {"loss": ("epoch",), "accuracy": ("epoch",), "test_loss": ("epoch",),
             "test_accuracy": ("epoch",), "lr": ("epoch",), "fan_in": ("layer",),
             "fan_out": ("layer",), "weight_norm": ("checkpoint", "layer"), "divergence": ("field",)}
        if probe:
            v.update({"grad_norm": ("checkpoint", "layer"), "delta_rms": ("checkpoint", "layer"),
                      "act_dead": ("checkpoint", "hidden_layer"), "act_mean": ("checkpoint", "hidden_layer"),
                      "grad_hist": ("checkpoint", "layer", "bin"), "grad_hist_edges": ("edge",)})
        return v
    if tail == "probe":
        return {"loss": ("checkpoint",), "accuracy": ("checkpoint",), "x": ("sample", "feature"),
                "y": ("sample",)}
    if tail == "clip":
        return {"count": ("epoch",), "fraction": ("epoch",)}
    if tail == "train":
        return {"loss": ("step",), "grad_norm": ("step",)}
    if tail == "layers":
        return {}
    layer = int(tail.split("/")[1])
    v = {"W": ("weight_checkpoint", "unit", "input"), "b": ("weight_checkpoint", "unit")}
    if probe:
        v.update({"grad_W": ("grad_checkpoint", "unit", "input"), "grad_b": ("grad_checkpoint", "unit")})
    if norm == "batch" and layer < L:
        v.update({"gamma": ("weight_checkpoint", "unit"), "running_mean": ("weight_checkpoint", "unit")})
        if probe:
            v["grad_gamma"] = ("grad_checkpoint", "unit")
    return v


def check_file(path, what):
    runs = settings(path)
    check(len(runs) == 4, f"{what}: {len(runs)} runs")
    n_groups = 0
    for rid, group in groups_of(path):
        probe, norm = runs[rid]
        try:
            ds = xr.open_dataset(path, group=group, engine="h5netcdf")
        except Exception as e:  # noqa: BLE001 - any failure is what this test is about
            check(False, f"{what}: {group}: xarray cannot open it: {type(e).__name__}: {e}")
            continue
        n_groups += 1
        with ds:
            for name, dims in expect(group, probe, norm).items():
                if check(name in ds.variables, f"{what}: {group}: no variable {name} (has {sorted(ds.variables)})"):
                    check(ds[name].dims == dims, f"{what}: {group}/{name}: dims {ds[name].dims}, expected {dims}")
            # every dimension of the run group has its coordinate (the scale; a subgroup's
            # dimensions may be its parents', netCDF's scoping), of the right values
            for dim in ds.dims if group.count("/") == 1 else ():
                check(dim in ds.coords, f"{what}: {group}: dimension {dim} has no coordinate")
            want = {"checkpoint": np.arange(E + 1), "epoch": np.arange(1, E + 1), "layer": np.arange(1, L + 1),
                    "hidden_layer": np.arange(1, L), "grad_checkpoint": np.array([0, 2, 3]),
                    "weight_checkpoint": np.arange(E + 1), "sample": np.arange(P), "feature": np.arange(F),
                    "field": np.arange(3)}
            for dim, values in want.items():
                if dim in ds.coords:
                    check(np.array_equal(ds[dim].values, values), f"{what}: {group}: {dim} = {ds[dim].values}")
            if group.endswith("layers/01"):
                check(ds.sizes["unit"] == W and ds.sizes["input"] == F, f"{what}: {group}: sizes {dict(ds.sizes)}")
                # the data through xarray are the file's
                with h5py.File(path, "r") as f:
                    check(np.array_equal(ds["W"].values, f[group]["W"][()], equal_nan=True),
                          f"{what}: {group}/W differs from h5py's")
            if group.endswith(f"layers/0{L}"):
                check(ds.sizes["unit"] == C and ds.sizes["input"] == W, f"{what}: {group}: sizes {dict(ds.sizes)}")
            if group.count("/") == 1 and probe:
                sel = ds["grad_norm"].sel(checkpoint=0, layer=1).item()
                with h5py.File(path, "r") as f:
                    check(sel == f[group]["grad_norm"][0, 0], f"{what}: {group}: grad_norm.sel() is the file's")
    # 4 runs: run group, clip, train, layers, 3 layer groups (+ probe for the 2 with a probe)
    check(n_groups == 4 * 7 + 2, f"{what}: {n_groups} groups opened")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = run_sweep(tmp, "xr", SWEEP)
        if not path:
            return 1
        check_file(path, "written")
        # runs copied from an existing output by --resume (H5Ocopy, scales attached again)
        shutil.copy(path, os.path.join(tmp, "again.h5"))
        r = subprocess.run([VGSWEEP, "-q", "--resume", "-o", os.path.join(tmp, "again.h5"),
                            os.path.join(tmp, "xr.yaml")], capture_output=True, text=True)
        if check(r.returncode == 0, f"--resume: exit {r.returncode}: {r.stderr}"):
            check_file(os.path.join(tmp, "again.h5"), "resumed")
    print(f"test_xarray: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
