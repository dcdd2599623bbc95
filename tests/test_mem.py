"""Memory: each run's estimated peak (--dry-run, per run and at -j), the --mem budget, refusals
before training (a run that can never fit, absurd sizes, a batch larger than the data), a dry
run that allocates no run's record, a run that cannot get its memory recorded as failed while
the sweep goes on, -j beyond the thread limits, and the estimate against measured peaks.

Limits are set in the child only (resource.setrlimit in preexec_fn).
Usage: test_mem.py PATH/TO/vgsweep
"""
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

from vgtest import VGSWEEP, check, datasets, failures  # noqa: E402

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")
# Under AddressSanitizer (.ci/run's second pass) the process reserves terabytes of address
# space and its memory is not the program's: no RLIMIT_AS and no measured peaks then.
with open(VGSWEEP, "rb") as _f:
    SANITIZED = b"__asan_init" in _f.read()
UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50}


def run(args, cwd, as_limit=None, nproc=None, as_user=None, timeout=600):
    """vgsweep with args in cwd, with RLIMIT_AS / RLIMIT_NPROC set in the child (and as
    another user, for RLIMIT_NPROC, which does not bind root). Returns (result, seconds)."""
    def limits():
        if as_user is not None:
            os.setgid(as_user)
            os.setuid(as_user)
        if as_limit:
            resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        if nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    t0 = time.monotonic()
    r = subprocess.run([VGSWEEP] + args, cwd=cwd, capture_output=True, text=True, env=ENV,
                       timeout=timeout, preexec_fn=limits if (as_limit or nproc) else None)
    return r, time.monotonic() - t0


def write(tmp, name, text):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_memory(stdout):
    """{run id: estimated bytes} from a dry run's listing."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"([0-9a-f]{12}) .*\(memory ([\d.]+) (\w+)\)$", line)
        if m:
            out[m.group(1)] = float(m.group(2)) * UNITS[m.group(3)]
    return out


# Forks and execs argv[1:], then prints the child's exit code and peak RSS. ru_maxrss keeps
# the high-water mark of the process image exec replaced, so vgsweep is started from this
# small process, not from the test (whose h5py and numpy are larger than a tiny run).
LAUNCH = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def max_rss(args, cwd):
    """Exit code and peak resident bytes (VmHWM) of one vgsweep process."""
    r = subprocess.run([sys.executable, "-S", "-c", LAUNCH, VGSWEEP] + args, cwd=cwd,
                       capture_output=True, text=True, env=ENV)
    rc, kib = r.stdout.split()
    return int(rc), int(kib) * 1024


SMALL = """\
name: small
seed: 3
data: {train_size: 300, test_size: 60, features: 16, classes: 3}
train: {epochs: 2, batch_size: 30}
record: {probe: 32}
grid:
  model.width: [160, 192]
  model.depth: [2, 3]
"""


def test_dry_run(tmp):
    path = write(tmp, "small", SMALL)
    r, _ = run(["-n", "-j", "2", path], tmp)
    mem = run_memory(r.stdout)
    check(r.returncode == 0 and len(mem) == 4, f"dry run lists 4 runs with memory: {r.stdout}{r.stderr}")
    check(all(m > 1 << 20 for m in mem.values()), f"every run needs over 1 MiB: {mem}")
    m = re.search(r"estimated memory: ([\d.]+) (\w+) for the largest run, ([\d.]+) (\w+) at -j 2",
                  r.stdout)
    if check(m is not None, f"dry run states the largest run and the peak at -j 2: {r.stdout}"):
        largest = float(m.group(1)) * UNITS[m.group(2)]
        peak = float(m.group(3)) * UNITS[m.group(4)]
        two = sorted(mem.values())[-2:]
        check(abs(largest - two[1]) <= 0.05 * largest, f"largest {largest} is the largest run's {two[1]}")
        check(abs(peak - sum(two)) <= 0.05 * peak, f"peak at -j 2 {peak} is the 2 largest {sum(two)}")
    # --mem in the dry run: shown, and a run above it is flagged, exit 0
    r, _ = run(["-n", "--mem", "1M", path], tmp)
    check(r.returncode == 0 and "budget 1.0 MiB (--mem)" in r.stdout and
          "a real run would be refused" in r.stdout, f"dry run with --mem 1M: {r.stdout}{r.stderr}")
    return mem


def test_mem_option(tmp):
    path = write(tmp, "small", SMALL)
    for bad in ["1.5x", "-1G", "", "G", "1 G", "0", "4GG", "1e9", "5Gi", ".", "12MiBs"]:
        r, _ = run(["-n", "--mem", bad, path], tmp)
        check(r.returncode == 2 and "--mem expects a size" in r.stderr,
              f"--mem {bad!r}: exit {r.returncode}, {r.stderr.strip()}")
    for good, shown in [("512M", "512.0 MiB"), ("4G", "4.0 GiB"), ("1.5GiB", "1.5 GiB"),
                        ("2048KB", "2.0 MiB"), ("3t", "3.0 TiB"), ("1048576", "1.0 MiB")]:
        r, _ = run(["-n", "--mem", good, path], tmp)
        check(r.returncode == 0 and f"budget {shown} (--mem)" in r.stdout,
              f"--mem {good}: exit {r.returncode}, expected budget {shown}: {r.stdout[-400:]}{r.stderr}")
    # a run that can never fit: refused before training, naming the run and its bytes
    out = os.path.join(tmp, "refused.h5")
    r, _ = run(["-q", "-o", out, "--mem", "1M", path], tmp)
    check(r.returncode == 2 and re.search(r"run [0-9a-f]{12} needs about [\d.]+ MiB of memory "
                                          r"\(\d+ bytes, estimated\), more than the 1.0 MiB "
                                          r"allowed \(--mem\)", r.stderr) is not None,
          f"--mem 1M refuses a run by name and bytes, exit 2: {r.returncode} {r.stderr.strip()}")
    check(not os.path.exists(out) and not os.path.exists(out + ".parts"),
          "a refused sweep writes nothing")


def test_budget_one_at_a_time(tmp, mem):
    """A budget that admits one run at a time at -j 2 completes with the datasets of an
    unconstrained run."""
    path = write(tmp, "small", SMALL)
    sizes = sorted(mem.values())
    budget = int(sizes[-1] * 1.02)
    if not check(sizes[0] + sizes[1] > budget, f"no two runs fit in {budget}: {sizes}"):
        return
    free = os.path.join(tmp, "free.h5")
    one = os.path.join(tmp, "one.h5")
    r1, _ = run(["-q", "-j", "2", "-o", free, path], tmp)
    r2, _ = run(["-j", "2", "-o", one, "--mem", str(budget), path], tmp)
    check(r1.returncode == 0, f"unconstrained -j 2: {r1.stderr}")
    check(r2.returncode == 0 and "4 ok" in r2.stderr, f"-j 2 --mem {budget}: {r2.returncode} {r2.stderr}")
    if r1.returncode == 0 and r2.returncode == 0:
        a, b = datasets(free, run_attrs=True), datasets(one, run_attrs=True)
        check(a.keys() == b.keys() and all(a[k] == b[k] for k in a),
              "a budget of one run at a time gives bit-identical datasets")


BIG = """\
name: big
seed: 5
data: {train_size: 256, test_size: 64, features: 32, classes: 4}
model: {depth: 3}
train: {epochs: 1, batch_size: 64, optimizer: adam}
record: {probe: 64, tensors: none}
grid:
  model.width: [1500, 1536]
  model.init: [he_normal, xavier_uniform]
"""


def test_budget_measured(tmp):
    """The budget holds for real memory: at -j 2 with a budget of one run at a time the
    process peaks at about one run's memory, without it at about two."""
    path = write(tmp, "big", BIG)
    r, _ = run(["-n", "-j", "2", path], tmp)
    sizes = sorted(run_memory(r.stdout).values())
    if not check(len(sizes) == 4, f"big sweep: {r.stdout}{r.stderr}"):
        return
    budget = int(sizes[-1] * 1.02)
    rc1, free = max_rss(["-q", "-j", "2", "-o", os.path.join(tmp, "big_free.h5"), path], tmp)
    rc2, one = max_rss(["-q", "-j", "2", "-o", os.path.join(tmp, "big_one.h5"), "--mem", str(budget),
                        path], tmp)
    print(f"-j 2, 4 runs of {sizes[0] / 2**20:.0f}-{sizes[-1] / 2**20:.0f} MiB (estimated): peak "
          f"{free / 2**20:.0f} MiB without a budget, {one / 2**20:.0f} MiB with --mem {budget}")
    check(rc1 == 0 and rc2 == 0, f"big sweep: exits {rc1}, {rc2}")
    check(one < free - 0.5 * sizes[0] and one < budget + (40 << 20),
          f"one run at a time: peak {one} vs {free} without the budget of {budget}")


def test_absurd(tmp):
    # width 65536 x depth 10000: over a PiB; refused from the settings alone, under a 300 MB
    # address-space limit, fast
    path = write(tmp, "absurd", "name: absurd\nmodel: {width: 65536, depth: 10000}\n")
    limit = None if SANITIZED else 300 << 20
    r, dt = run(["-q", "-o", os.path.join(tmp, "absurd.h5"), path], tmp, as_limit=limit)
    check(r.returncode == 2 and dt < (5 if SANITIZED else 1) and re.search(r"needs about [\d.]+ PiB of memory", r.stderr),
          f"absurd width/depth: exit {r.returncode} in {dt:.2f}s: {r.stderr.strip()}")
    # width 10^6 is outside the setting's bounds
    path = write(tmp, "wide", "name: wide\nmodel: {width: 1000000, depth: 10000}\n")
    r, dt = run(["-q", "-o", os.path.join(tmp, "wide.h5"), path], tmp, as_limit=limit)
    check(r.returncode == 2 and dt < (5 if SANITIZED else 1) and "model.width: expected an integer in [1, 65536]" in r.stderr,
          f"width 10^6: exit {r.returncode} in {dt:.2f}s: {r.stderr.strip()}")
    # a batch larger than the data
    path = write(tmp, "batch", "name: batch\ndata: {train_size: 100}\ntrain: {batch_size: 1000}\n"
                 "record: {probe: 10}\n")
    r, dt = run(["-q", "-o", os.path.join(tmp, "batch.h5"), path], tmp)
    check(r.returncode == 2 and "train.batch_size: expected at most data.train_size = 100" in r.stderr,
          f"batch larger than the data: exit {r.returncode}: {r.stderr.strip()}")


def test_long_dry_run(tmp):
    """A dry run of a long-trained sweep sizes it without allocating its runs' records."""
    path = write(tmp, "long", "name: long\nmodel: {width: 64}\ntrain: {epochs: 100000}\n"
                 "grid:\n  model.depth: [5, 20]\n")
    r, dt = run(["-n", path], tmp, as_limit=300 << 20)
    mem = run_memory(r.stdout)
    check(r.returncode == 0 and dt < 5 and len(mem) == 2 and min(mem.values()) > 1 << 30,
          f"dry run of 100000 epochs under a 300 MB limit: exit {r.returncode} in {dt:.2f}s, "
          f"{mem}: {r.stderr.strip()}")
    # the real run is refused before training: the runs can never fit in 300 MB
    r, dt = run(["-q", "-o", os.path.join(tmp, "long.h5"), path], tmp, as_limit=300 << 20)
    check(r.returncode == 2 and "RLIMIT_AS" in r.stderr and dt < 5,
          f"the long sweep under a 300 MB limit is refused: {r.returncode} {r.stderr.strip()}")


FAIL = """\
name: fail
data: {train_size: 200, test_size: 50, features: 16, classes: 2}
model: {depth: 20}
record: {probe: 16, tensors: none}
grid:
  model.width: [8, 8192]
  train.epochs: [1, 100000]
exclude:
  - {model.width: 8192, train.epochs: 100000}
"""


def test_allocation_fails(tmp):
    """With --mem set high, runs that need more than RLIMIT_AS allows fail alone (their net,
    or their series), are recorded as failed with the bytes they needed, and the rest runs."""
    import h5py
    path = write(tmp, "fail", FAIL)
    out = os.path.join(tmp, "fail.h5")
    r, _ = run(["-j", "1", "-o", out, "--mem", "100G", path], tmp, as_limit=800 << 20)
    check(r.returncode == 1 and "1 ok, 0 diverged, 2 failed" in r.stderr,
          f"two runs fail for memory, one runs: exit {r.returncode}: {r.stderr.strip()}")
    check(re.search(r"vgsweep: run [0-9a-f]{12}: out of memory .*\(\d+ bytes", r.stderr) is not None,
          f"the error names the run and the bytes: {r.stderr.strip()}")
    if not check(os.path.exists(out), "the output is assembled with the failed runs"):
        return
    with h5py.File(out, "r") as f:
        status = {k: (g.attrs["status"], g.attrs["message"], g.attrs["model.width"],
                      g.attrs["train.epochs"]) for k, g in f["runs"].items()}
    for rid, (st, msg, width, epochs) in status.items():
        if width == 8 and epochs == 1:
            check(st == "ok", f"the small run is ok: {st} {msg}")
        else:
            check(st == "failed" and re.search(r"\(\d+ bytes", msg) is not None and
                  (f"width {width}" in msg if width == 8192 else "series need" in msg),
                  f"run {rid} (width {width}, epochs {epochs}) failed with its bytes: {st} {msg!r}")
            check(re.search(rf"{rid} .*: failed \(out of memory", r.stderr) is not None,
                  f"the progress line names run {rid}")
    # no memory for the data set: failed with its bytes
    path = write(tmp, "data", "name: data\ndata: {train_size: 10000000, features: 1000}\n"
                 "train: {epochs: 1, batch_size: 10000}\nrecord: {tensors: none}\n")
    r, _ = run(["-q", "-o", os.path.join(tmp, "data.h5"), "--mem", "100G", path], tmp,
               as_limit=800 << 20)
    check(r.returncode == 1 and re.search(r"run [0-9a-f]{12}: (\w+: )?out of memory for 10000500 x 1000 "
                                          r"samples \(\d+ bytes\)", r.stderr) is not None,
          f"a data set that does not fit: exit {r.returncode}: {r.stderr.strip()}")


def test_threads(tmp):
    path = write(tmp, "many", "name: many\nrepeats: 1000\n"
                 "data: {train_size: 50, test_size: 10, features: 4, classes: 2}\n"
                 "model: {width: 4, depth: 1}\ntrain: {epochs: 1}\nrecord: {probe: 8}\n")
    out = os.path.join(tmp, "many.h5")
    r, _ = run(["-q", "-j", "1000", "-o", out, path], tmp, as_limit=2 << 30)
    check(r.returncode == 2 and "-j 1000: cannot start 1000 worker threads" in r.stderr and
          "RLIMIT_AS" in r.stderr and not os.path.exists(out + ".parts"),
          f"-j 1000 under a 2 GiB address space: exit {r.returncode}: {r.stderr.strip()}")
    # RLIMIT_NPROC does not bind root: run as nobody then (the files must be readable)
    user = 65534 if os.getuid() == 0 else None
    os.chmod(tmp, 0o755)
    os.chmod(path, 0o644)
    try:
        r, _ = run(["-q", "-j", "1000", "-o", out, path], tmp, nproc=50, as_user=user)
    except PermissionError:  # the build lies where nobody may not go (a checkout under /root)
        print("-j 1000 under RLIMIT_NPROC: skipped, user nobody cannot run " + VGSWEEP)
        return
    check(r.returncode == 2 and "-j 1000: cannot start 1000 worker threads" in r.stderr and
          "RLIMIT_NPROC" in r.stderr,
          f"-j 1000 under RLIMIT_NPROC 50: exit {r.returncode}: {r.stderr.strip()}")


MEASURED = {
    "net": "model: {width: 1024, depth: 10}\ntrain: {epochs: 1, optimizer: adam}\n",
    "data": "data: {train_size: 200000, test_size: 50000, features: 256}\nmodel: {width: 64, depth: 3}\n"
            "train: {epochs: 1, batch_size: 500}\n",
    "epochs": "data: {train_size: 1000}\nmodel: {width: 32, depth: 20}\n"
              "train: {epochs: 1500, batch_size: 8}\nrecord: {tensors: none, probe: 64}\n",
    "norm": "model: {width: 512, depth: 12, norm: batch, skip: {every: 2}}\n"
            "train: {epochs: 1, batch_size: 512}\nrecord: {probe: 512, weights: all}\n",
    # recurrent nets (issue 20): the activation arena of T steps dominates
    "lstm": "data: {kind: adding, length: 200, train_size: 512, test_size: 256}\n"
            "model: {kind: lstm, width: 128, depth: 2}\n"
            "train: {loss: mse, epochs: 1, batch_size: 64}\nrecord: {probe: 128}\n",
    "gru": "data: {kind: copy, length: 100, train_size: 256, test_size: 256}\n"
           "model: {kind: gru, width: 96, depth: 1}\n"
           "train: {epochs: 1, batch_size: 32, bptt: 10}\nrecord: {probe: 64}\n",
}
TINY = ("data: {train_size: 200, test_size: 50, features: 8, classes: 2}\n"
        "model: {width: 4, depth: 1}\ntrain: {epochs: 1}\nrecord: {probe: 16}\n")


def test_estimate_vs_peak(tmp):
    """Each run's estimate against its measured peak at -j 1: VmHWM of the process less that of
    a tiny run (libraries, HDF5), against the estimate less the tiny run's."""
    def measure(name, body):
        path = write(tmp, "m_" + name, "name: m\nseed: 1\n" + body)
        r, _ = run(["-n", "-j", "1", path], tmp)
        est = list(run_memory(r.stdout).values())
        rc, rss = max_rss(["-q", "-j", "1", "-o", os.path.join(tmp, "m_" + name + ".h5"), path], tmp)
        check(rc == 0 and len(est) == 1, f"measured run {name}: exit {rc}")
        return est[0] if est else 0, rss
    base_est, base_rss = measure("tiny", TINY)
    for name, body in MEASURED.items():
        est, rss = measure(name, body)
        ratio = (est - base_est) / max(rss - base_rss, 1)
        print(f"{name}: estimated {est / 2**20:.1f} MiB, measured peak {rss / 2**20:.1f} MiB; "
              f"over the tiny run's: {(est - base_est) / 2**20:.1f} vs {(rss - base_rss) / 2**20:.1f} "
              f"MiB, ratio {ratio:.2f}")
        check(0.97 <= ratio <= 1.5, f"{name}: estimate / measured peak {ratio:.2f}, expected 0.97-1.5")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        mem = test_dry_run(tmp)
        test_mem_option(tmp)
        if len(mem) == 4:
            test_budget_one_at_a_time(tmp, mem)
        test_absurd(tmp)
        if SANITIZED:
            print("sanitized build: the address-space limits and measured peaks are not tested")
        else:
            test_budget_measured(tmp)
            test_long_dry_run(tmp)
            test_allocation_fails(tmp)
            test_threads(tmp)
            test_estimate_vs_peak(tmp)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
