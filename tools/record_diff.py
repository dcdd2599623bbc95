#!/usr/bin/python3
"""Compares two vgsweep records of the same sweep, e.g. written on Debian 12 and Debian 13 or on
x86-64 and arm64 (docs/PORTABILITY.md):

    tools/record_diff.py A.h5 B.h5 [--exact] [--new-scales]

Prints the provenance that differs, then every dataset and run attribute whose values differ,
with the largest difference in units in the last place (ulp) for floats. Run ids, the run
groups and the datasets each run holds must be the same (exit 1 otherwise); with --exact the
values must also be bit-identical (NaNs equal when their bits are). With --new-scales, dimension
scales that only B has are allowed (a record from before every dimension had its scale, against
one from after)."""
import sys

import h5py
import numpy as np

# Provenance: what differs between builds and machines by design (docs/FORMAT.md)
PROVENANCE = {"git_revision", "git_dirty", "build_type", "compiler", "compiler_flags", "sanitizers",
              "libraries", "host",
              "machine", "kernel_path", "started", "finished", "command_line", "sweep_file"}
# Per-run attributes that are measurements of the session, not results
SESSION = {"wall_seconds"}


def ulps(a, b):
    """Largest distance in ulp between two float arrays of one dtype (NaN/inf pairs: bits)."""
    if a.dtype.kind != "f" or a.shape != b.shape:
        return None
    ints = {2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]
    ia, ib = a.view(ints).astype(np.int64), b.view(ints).astype(np.int64)
    top = np.int64(1) << (8 * a.dtype.itemsize - 1)
    ia = np.where(ia < 0, -(ia + top), ia)  # sign-magnitude to a monotonic integer line
    ib = np.where(ib < 0, -(ib + top), ib)
    return int(np.max(np.abs(ia - ib))) if a.size else 0


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "O":
        return all(x == y for x, y in zip(a.ravel(), b.ravel()))
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def describe(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" and a.shape == b.shape:
        diff = np.count_nonzero((a != b) & ~(np.isnan(a) & np.isnan(b)))
        with np.errstate(invalid="ignore"):
            rel = np.nanmax(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b)), initial=0)
        return f"{diff} of {a.size} values differ, max {ulps(a, b)} ulp, max rel {rel:.2g}"
    return f"{np.asarray(a).ravel()[:4]} vs {np.asarray(b).ravel()[:4]}"


def main(argv):
    exact = "--exact" in argv
    new_scales = "--new-scales" in argv
    paths = [a for a in argv if a not in ("--exact", "--new-scales")]
    if len(paths) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    fa, fb = (h5py.File(p, "r") for p in paths)
    structural, values = [], []

    for k in sorted(set(fa.attrs) | set(fb.attrs)):
        va, vb = fa.attrs.get(k), fb.attrs.get(k)
        if k in PROVENANCE:
            if va is None or vb is None:
                print(f"provenance {k}: only in {'B' if va is None else 'A'}")
            elif not same_bits(va, vb):
                print(f"provenance {k}: {va!r} | {vb!r}")
        elif va is None or vb is None or not same_bits(va, vb):
            values.append(f"/ attribute {k}: {va!r} vs {vb!r}")

    ia, ib = fa["index"][()], fb["index"][()]
    ids_a, ids_b = list(ia["id"]), list(ib["id"])
    if ids_a != ids_b:
        structural.append(f"run ids differ: {len(set(ids_a) ^ set(ids_b))} not in both, "
                          f"order {'same' if sorted(ids_a) == sorted(ids_b) else 'n/a'}")
    if sorted(fa["runs"]) != sorted(fb["runs"]):
        structural.append("the /runs groups differ")
    for name in ia.dtype.names:
        if name != "wall_seconds" and not same_bits(ia[name], ib[name]):
            values.append(f"/index column {name}: differs")

    n_dsets = 0
    for rid in sorted(set(fa["runs"]) & set(fb["runs"])):
        ga, gb = fa["runs"][rid], fb["runs"][rid]
        for k in sorted(set(ga.attrs) | set(gb.attrs)):
            if k in SESSION:
                continue
            va, vb = ga.attrs.get(k), gb.attrs.get(k)
            if va is None or vb is None:
                structural.append(f"/runs/{rid} attribute {k}: only in one")
            elif not same_bits(va, vb):
                values.append(f"/runs/{rid} attribute {k}: {describe(va, vb)}")
        names_a, names_b = [], []
        ga.visit(lambda n: names_a.append(n) if isinstance(ga[n], h5py.Dataset) else None)
        gb.visit(lambda n: names_b.append(n) if isinstance(gb[n], h5py.Dataset) else None)
        if new_scales:  # B's added scales: datasets of class DIMENSION_SCALE that A lacks
            added = set(names_b) - set(names_a)
            names_b = [n for n in names_b if n not in added or gb[n].attrs.get("CLASS") != b"DIMENSION_SCALE"]
        if sorted(names_a) != sorted(names_b):
            structural.append(f"/runs/{rid}: datasets differ: {sorted(set(names_a) ^ set(names_b))}")
        for n in sorted(set(names_a) & set(names_b)):
            n_dsets += 1
            a, b = ga[n][()], gb[n][()]
            if not same_bits(a, b):
                values.append(f"/runs/{rid}/{n}: {describe(a, b)}")

    for s in structural:
        print("STRUCTURE:", s)
    for v in values:
        print("VALUES:", v)
    print(f"{len(ids_a)} runs, run ids {'equal' if ids_a == ids_b else 'DIFFERENT'}; "
          f"{n_dsets} datasets compared, {sum(v.startswith('/runs/') for v in values)} "
          f"datasets or run attributes differ in value; "
          f"{'bit-identical' if not values else 'not bit-identical'}")
    return 1 if structural or (exact and values) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
