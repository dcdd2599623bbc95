"""What the Python tests share: the binary under test (argv[1]), checks that collect failures,
and a file's datasets as bytes for bit-for-bit comparisons."""
import os
import sys

import h5py

VGSWEEP = os.path.abspath(sys.argv[1])
failures = []


def check(cond, what):
    """Records a failure (and prints it) when cond is false; returns cond."""
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def datasets(path, run_attrs=False):
    """Every dataset of an HDF5 file as {name: (dtype, shape, bytes)}; with run_attrs, also every
    attribute of every run except its wall time (what must not depend on -j or interruptions)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.str, obj.shape, obj[()].tobytes())
        f.visititems(visit)
        if run_attrs:
            for rid, g in f["runs"].items():
                for k, v in g.attrs.items():
                    if k != "wall_seconds":
                        out[f"runs/{rid}@{k}"] = repr(v)
    return out


def run_sweep(tmp, name, text, *args):
    """Writes text to tmp/name.yaml and runs vgsweep -q on it into tmp/name.h5; returns the
    output's path, or None (with the failure recorded) when vgsweep did not exit 0."""
    import subprocess
    path, out = os.path.join(tmp, name + ".yaml"), os.path.join(tmp, name + ".h5")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([VGSWEEP, "-q", "-o", out, *args, path], capture_output=True, text=True)
    return out if check(r.returncode == 0, f"vgsweep {name}: exit {r.returncode}: {r.stderr.strip()}") else None


PART_TYPES = {1: "header", 2: "layout", 3: "chunk", 4: "raw", 5: "result", 6: "end"}
RUN_STATUSES = ["pending", "ok", "diverged", "failed"]


def read_part(path):
    """A run's part file (docs/FORMAT.md, "Part files") read through and its checksum checked:
    {"id", "status", "records": [type names]}. Raises ValueError when it is damaged."""
    import struct
    import zlib
    with open(path, "rb") as f:
        data = f.read()
    at, crc, out = 0, 1, {"records": []}
    while True:
        if len(data) - at < 24:
            raise ValueError(f"{path}: ends without an END record")
        typ, a, b, c, n = struct.unpack_from("<IIIIQ", data, at)
        padded = n + (-n & 7)
        payload = data[at + 24:at + 24 + n]
        if len(payload) != n or at + 24 + padded > len(data):
            raise ValueError(f"{path}: record at {at} runs past the end")
        name = PART_TYPES.get(typ)
        if name is None:
            raise ValueError(f"{path}: unknown record type {typ}")
        out["records"].append(name)
        if name == "end":
            got_crc, got_bytes = struct.unpack("<IQ", payload)
            if got_crc != crc or got_bytes != at or at + 24 + padded != len(data):
                raise ValueError(f"{path}: checksum or length mismatch")
            return out
        crc = zlib.adler32(data[at:at + 24 + padded], crc)
        if name == "header":
            k = struct.unpack_from("<I", payload, 0)[0]
            k2 = struct.unpack_from("<I", payload, 4 + k + 8)[0]
            out["id"] = payload[4 + k + 8 + 4:4 + k + 8 + 4 + k2].decode()
        elif name == "result":
            out["status"] = RUN_STATUSES[struct.unpack_from("<I", payload, 0)[0]]
        at += 24 + padded
