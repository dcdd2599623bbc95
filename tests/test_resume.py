"""Crash safety: kill -9 a sweep at random instants, then --resume it.

Every time: the output under its final name is either absent or complete, every finished part
file opens, and after --resume the output passes h5dump and holds exactly the datasets (and
run attributes, wall time aside) of an uninterrupted sweep. Also: resuming with a changed sweep
file reuses the runs whose ids remain, keeps the others as they are (outside the sweep), and
says so (tests/test_keep.py covers keeping in depth); --resume with nothing to resume starts
the sweep.
Usage: test_resume.py PATH/TO/vgsweep   (VG_SEED=n fixes the random instants)
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from vgtest import VGSWEEP, check, datasets, failures, read_part  # noqa: E402

KILLS = 10


SWEEP = """\
name: resume
seed: 5
data: {train_size: 400, test_size: 100, features: 16, classes: 4}
model: {width: 48}
train: {epochs: 6, batch_size: 20, lr: 0.05}
record: {probe: 64}
grid:
  model.depth: [2, 4, 6]
  model.activation: [tanh, relu, sigmoid]
"""
# The same sweep with one activation replaced: 6 runs stay, 3 go, 3 are new.
CHANGED = SWEEP.replace("[tanh, relu, sigmoid]", "[tanh, relu, elu]")


def run(args, cwd, **kw):
    return subprocess.run([VGSWEEP] + args, cwd=cwd, capture_output=True, text=True, timeout=300, **kw)


def h5dump_ok(path):
    if not shutil.which("h5dump"):
        return True
    r = subprocess.run(["h5dump", "-H", path], capture_output=True, text=True)
    return r.returncode == 0


def check_state(tmp, ref, what):
    """Invariants at any instant after a kill."""
    out = os.path.join(tmp, "out.h5")
    if os.path.exists(out):  # killed after the final rename: it must be complete
        check(datasets(out, run_attrs=True) == ref, f"{what}: the output under its final name is complete")
    parts = os.path.join(tmp, "out.h5.parts")
    if os.path.isdir(parts):
        for name in os.listdir(parts):
            if not name.endswith(".part"):
                continue
            try:
                part = read_part(os.path.join(parts, name))
                check(part["id"] == name[:-5] and part.get("status") in ("ok", "diverged", "failed"),
                      f"{what}: part {name}: run {part.get('id')} status {part.get('status')}")
            except Exception as e:  # noqa: BLE001 - any failure to read is the bug
                check(False, f"{what}: finished part {name} unreadable: {e}")


def start_and_kill(args, tmp, delay):
    """Starts vgsweep and kills it with SIGKILL after delay seconds; True if it was still running."""
    p = subprocess.Popen([VGSWEEP] + args, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    alive = p.poll() is None
    if alive:
        p.send_signal(signal.SIGKILL)
    p.wait()
    return alive


def main():
    seed = int(os.environ.get("VG_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    print(f"test_resume: VG_SEED={seed}")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "s.yaml"), "w") as f:
            f.write(SWEEP)
        t_ref = 1e9
        for _ in range(2):  # the first one pays for cold caches: time the second
            t0 = time.monotonic()
            r = run(["-q", "-j", "2", "--force", "-o", "ref.h5", "s.yaml"], tmp)
            t_ref = min(t_ref, time.monotonic() - t0)
            if not check(r.returncode == 0, f"reference sweep: exit {r.returncode}: {r.stderr}"):
                return 1
        ref = datasets(os.path.join(tmp, "ref.h5"), run_attrs=True)
        print(f"reference sweep: {len(ref)} datasets and attributes, {t_ref:.2f}s")

        interrupted, i = 0, 0
        # KILLS rounds; more (up to twice as many) while fewer than half the kills have hit a
        # running sweep, with the delays shrunk each time a sweep ended before its kill: the
        # machine may run faster than when t_ref was measured (a shared one swings 2x).
        while i < KILLS or (interrupted < KILLS // 2 and i < 2 * KILLS):
            # Kill a fresh sweep, then kill the resumed one too, then let a resume finish.
            d1 = rng.uniform(0.0, 1.1 * t_ref)
            d2 = rng.uniform(0.0, 0.8 * t_ref)
            a = start_and_kill(["-q", "-j", "2", "--force", "-o", "out.h5", "s.yaml"], tmp, d1)
            check_state(tmp, ref, f"kill {i} at {d1:.3f}s")
            b = start_and_kill(["-q", "-j", "2", "--resume", "-o", "out.h5", "s.yaml"], tmp, d2)
            check_state(tmp, ref, f"kill {i} of the resume at {d2:.3f}s")
            interrupted += a + b
            if not a:
                t_ref *= 0.8
            r = run(["-q", "-j", "2", "--resume", "-o", "out.h5", "s.yaml"], tmp)
            if check(r.returncode == 0, f"kill {i}: --resume exit {r.returncode}: {r.stderr}"):
                out = os.path.join(tmp, "out.h5")
                check(h5dump_ok(out), f"kill {i}: h5dump -H passes")
                got = datasets(out, run_attrs=True)
                diff = sorted(k for k in set(ref) | set(got) if ref.get(k) != got.get(k))
                check(not diff, f"kill {i} at {d1:.3f}s/{d2:.3f}s: differs from the uninterrupted sweep: {diff[:5]}")
                check(not os.path.exists(out + ".parts") and not os.path.exists(out + ".tmp"),
                      f"kill {i}: no parts or temporary file left")
            i += 1
        print(f"{2 * i} kills, {interrupted} of them while vgsweep ran; every resume matched")
        check(interrupted >= KILLS // 2, f"only {interrupted} kills hit a running sweep")

        # An existing, complete output: --resume with a changed sweep file reuses 6, runs 3 and
        # keeps the 3 it no longer holds.
        with open(os.path.join(tmp, "c.yaml"), "w") as f:
            f.write(CHANGED)
        r = run(["-q", "-j", "2", "-o", "changed_ref.h5", "c.yaml"], tmp)
        check(r.returncode == 0, f"changed sweep from scratch: {r.stderr}")
        r = run(["-q", "-j", "2", "--resume", "-o", "out.h5", "c.yaml"], tmp)
        check(r.returncode == 0, f"--resume with a changed sweep: exit {r.returncode}: {r.stderr}")
        check("6 of 9 runs already recorded" in r.stderr and
              "3 recorded runs kept from before, outside this sweep/filter" in r.stderr,
              f"--resume says what it reused and kept: {r.stderr!r}")
        if r.returncode == 0:
            a = datasets(os.path.join(tmp, "out.h5"), run_attrs=True)
            b = datasets(os.path.join(tmp, "changed_ref.h5"), run_attrs=True)
            b.update({k: v for k, v in ref.items() if k.startswith("runs/")})  # the kept runs
            # /index and each run's row number (attribute index) differ by construction
            skip = lambda k: k == "index" or k.endswith("@index")  # noqa: E731
            diff = sorted(k for k in set(a) | set(b) if not skip(k) and a.get(k) != b.get(k))
            check(not diff, f"changed sweep resumed == changed sweep from scratch + the old runs: {diff[:5]}")

        # --resume with nothing there starts the sweep.
        r = run(["-q", "--resume", "-o", "fresh.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "nothing recorded yet" in r.stderr, f"--resume from nothing: {r.returncode} {r.stderr!r}")
        if r.returncode == 0:
            check(datasets(os.path.join(tmp, "fresh.h5"), run_attrs=True) == ref, "--resume from nothing == reference")

    print(f"test_resume: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
