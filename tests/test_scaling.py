"""Guards against a return of quadratic costs (bench/scaling_bench.py measures them): a sweep
file of 100,000 exclude entries and one of a 100,000-key mapping load and expand (`--dry-run`)
in under 5 s of CPU each, and a run of depth 3,000 (width 2, tiny data) records in under 30 s of
CPU. Each takes well under a second here when linear; the quadratic code took 12-60 s. CPU time
(user + system, all threads), not wall time, so a busy machine does not fail the test.
Usage: test_scaling.py VGSWEEP"""
import os
import subprocess
import sys
import tempfile

HEAD = "data: {train_size: 200, test_size: 0}\nmodel: {depth: 1, width: 2}\ntrain: {epochs: 1}\n"
GRID = "grid:\n  model.bias_init: [" + ", ".join(str(i) for i in range(1, 1001)) + "]\n"
CASES = [  # name, sweep text, vgsweep options, CPU seconds allowed
    ("exclude_100k",
     HEAD + GRID + "exclude:\n" + "".join(f"- {{model.bias_init: {2 * i + 1}}}\n" for i in range(100_000)),
     ["--dry-run", "--quiet"], 5.0),
    ("keys_100k", HEAD + "x-big:\n" + "".join(f"  k{i}: {i}\n" for i in range(100_000)),
     ["--dry-run", "--quiet"], 5.0),
    ("depth_3000",
     "data: {train_size: 8, test_size: 0, features: 2, classes: 2}\n"
     "model: {depth: 3000, width: 2}\ntrain: {epochs: 1, batch_size: 8}\nrecord: {probe: 8}\n",
     ["--quiet", "-j", "1"], 30.0),
]


def cpu_seconds(cmd):
    """CPU seconds of a child (user + system) and its exit status, stderr."""
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        err.seek(0)
        return ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status), err.read()


def main() -> int:
    vgsweep = os.path.abspath(sys.argv[1])
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, text, opts, limit in CASES:
            path = os.path.join(tmp, name + ".yaml")
            with open(path, "w") as f:
                f.write(text)
            cpu, rc, err = cpu_seconds([vgsweep, *opts, "-o", os.path.join(tmp, name + ".h5"), path])
            ok = rc == 0 and cpu < limit
            print(f"{name}: {cpu:.2f} s CPU (limit {limit:g} s), exit {rc}")
            if not ok:
                print(f"FAIL: {name}: {err.strip()}", file=sys.stderr)
                failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
