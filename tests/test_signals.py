"""Signals stop a sweep resumably (src/cli/main.c, the scheduler's stop flag, training's check at
every step, vg_run_writer_discard).

SIGINT, SIGTERM and SIGHUP after at least one run finished: exit 130, 143 and 129, the finished
runs kept as complete part files, the stopped runs' unfinished parts gone, no output assembled,
and a printed resume command (--resume added, --force removed, shell-quoted) that, run as
printed, completes an output whose datasets and run attributes (wall time aside) are
bit-identical to an uninterrupted sweep's. A second SIGINT exits at once, and a --resume after it
completes the sweep too. A signal before training starts exits with its code.
Usage: test_signals.py PATH/TO/vgsweep
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from vgtest import VGSWEEP, check, datasets, failures, read_part  # noqa: E402

# Six runs of about a second or two each at -j 2 (more on a loaded machine).
SWEEP = """\
name: signals
seed: 3
data: {train_size: 5000, test_size: 200, features: 32, classes: 4}
model: {width: 128}
train: {epochs: 10, batch_size: 16, lr: 0.05}
record: {probe: 64}
grid:
  model.depth: [3, 6]
  model.activation: [tanh, relu, sigmoid]
"""
N = 6
OUT = "it's out.h5"  # a quote and a space: the resume command must quote it


def run(args, cwd):
    return subprocess.run([VGSWEEP] + args, cwd=cwd, capture_output=True, text=True, timeout=600)


def start(args, cwd):
    return subprocess.Popen([VGSWEEP] + args, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, bufsize=1)


def wait_for_finished_run(p):
    """Reads p's stderr until a run has finished; returns the lines read."""
    lines = []
    for line in p.stderr:
        lines.append(line)
        if re.match(r"^\[ *\d+/\d+\] [0-9a-f]+ .*: (ok|diverged|failed)", line):  # not a status line
            break
    return lines


def wait_handlers(p):
    """Waits until p catches SIGINT (its handlers are installed, first thing in main): a signal
    before that, while the dynamic loader runs, would kill it the default way."""
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                caught = int(next(l for l in f if l.startswith("SigCgt:")).split()[1], 16)
        except (OSError, StopIteration):
            caught = 0
        if caught >> (signal.SIGINT - 1) & 1:
            return
        time.sleep(0.001)


def wait_delivered(p, sig):
    """Waits until p has taken sig (no longer pending for the process): a second one sent before
    that would merge with it."""
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                pending = int(next(l for l in f if l.startswith("ShdPnd:")).split()[1], 16)
        except (OSError, StopIteration):
            return
        if not pending >> (sig - 1) & 1:
            return


def parts_state(tmp):
    parts = os.path.join(tmp, OUT + ".parts")
    names = os.listdir(parts) if os.path.isdir(parts) else []
    finished = [n for n in names if n.endswith(".part")]
    for n in finished:
        try:
            part = read_part(os.path.join(parts, n))
            check(part["id"] == n[:-5] and part.get("status") == "ok", f"part {n} complete")
        except ValueError as e:
            check(False, f"finished part {n} unreadable: {e}")
    return finished, [n for n in names if n.endswith(".tmp")]


def interrupt(tmp, ref, sig, code, twice=False):
    what = f"{signal.Signals(sig).name}{' twice' if twice else ''}"
    shutil.rmtree(os.path.join(tmp, OUT + ".parts"), ignore_errors=True)
    p = start(["-j", "2", "--force", "-o", OUT, "s.yaml"], tmp)
    lines = wait_for_finished_run(p)
    if twice:
        # A second signal keeps the runs whose parts are durable: a run reported finished is
        # made durable by the recorder's committer a moment later (fsync, rename), and one caught
        # in that moment is run again by --resume (README, "Interrupting a sweep"). Wait for it.
        deadline = time.monotonic() + 60
        while not parts_state(tmp)[0] and time.monotonic() < deadline:
            time.sleep(0.01)
    p.send_signal(sig)
    t0 = time.monotonic()
    if twice:  # while the first one's stop is under way
        wait_delivered(p, sig)
        p.send_signal(sig)
    rest = p.stderr.read()
    rc = p.wait()
    took = time.monotonic() - t0
    err = "".join(lines) + rest
    check(rc == code, f"{what}: exit {rc}, expected {code}: {err}")
    check(not os.path.exists(os.path.join(tmp, OUT)), f"{what}: no output assembled")
    finished, tmp_parts = parts_state(tmp)
    check(len(finished) >= 1, f"{what}: the finished runs are kept: {finished}")
    if twice:
        check("second signal: exiting at once" in err, f"{what}: says it exits at once: {rest!r}")
        m = re.search(r"resume with: (.*)$", rest, re.M)
    else:
        check(not tmp_parts, f"{what}: the stopped runs' unfinished parts are deleted: {tmp_parts}")
        m = re.search(r"^vgsweep: (\d+) of 6 runs recorded .*; finished runs kept in (.*)$", rest, re.M)
        if check(m is not None, f"{what}: summary of what is kept: {rest!r}"):
            check(int(m.group(1)) == len(finished), f"{what}: summary says {m.group(1)} recorded, {len(finished)} parts")
            check(m.group(2) == OUT + ".parts", f"{what}: summary names the parts: {m.group(2)!r}")
        m = re.search(rf"^vgsweep: interrupted by {signal.Signals(sig).name}; resume with: (.*)$", rest, re.M)
        check(rest.rstrip("\n").endswith(m.group(0)) if m else False, f"{what}: the resume command is the last line: {rest!r}")
    print(f"{what}: exit {rc} {took:.2f}s after the signal, {len(finished)} runs kept")
    if not check(m is not None, f"{what}: prints the resume command: {rest!r}"):
        return
    argv = shlex.split(m.group(1))
    check(argv[0] == VGSWEEP and "--resume" in argv and "--force" not in argv and OUT in argv,
          f"{what}: resume command {argv}")
    r = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=600)
    if check(r.returncode == 0, f"{what}: the resume command: exit {r.returncode}: {r.stderr}"):
        check(f"{len(finished)} of 6 runs already recorded and kept" in r.stderr, f"{what}: resume keeps them: {r.stderr!r}")
        got = datasets(os.path.join(tmp, OUT), run_attrs=True)
        diff = sorted(k for k in set(ref) | set(got) if ref.get(k) != got.get(k))
        check(not diff, f"{what}: resumed output differs from the uninterrupted sweep: {diff[:5]}")
        check(not os.path.exists(os.path.join(tmp, OUT + ".parts")), f"{what}: parts removed once complete")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "s.yaml"), "w") as f:
            f.write(SWEEP)
        r = run(["-q", "-j", "2", "-o", "ref.h5", "s.yaml"], tmp)
        if not check(r.returncode == 0, f"reference sweep: exit {r.returncode}: {r.stderr}"):
            return 1
        ref = datasets(os.path.join(tmp, "ref.h5"), run_attrs=True)

        interrupt(tmp, ref, signal.SIGINT, 130)
        interrupt(tmp, ref, signal.SIGTERM, 143)
        interrupt(tmp, ref, signal.SIGHUP, 129)
        interrupt(tmp, ref, signal.SIGINT, 130, twice=True)

        # early: while loading (exits at once) or setting up (stops before the first run); the
        # same code either way
        # same code either way; the resume command drops --force in getopt's abbreviations and
        # keeps option values as they are
        for delay in (0, 0.5):
            args = ["-q", "--forc", "-j2", "--output", "--force", "s.yaml"]
            p = subprocess.Popen([VGSWEEP] + args, cwd=tmp, stderr=subprocess.PIPE, text=True)
            wait_handlers(p)
            time.sleep(delay)
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=600)
            check(p.returncode == 130, f"SIGINT after {delay}s: exit {p.returncode}: {err}")
            if delay:
                m = re.search(r"resume with: (.*)$", err, re.M)
                want = [VGSWEEP, "--resume", "-q", "-j2", "--output", "--force", "s.yaml"]
                check(m is not None and shlex.split(m.group(1)) == want,
                      f"SIGINT after {delay}s: resume command {m and shlex.split(m.group(1))}, expected {want}")
            shutil.rmtree(os.path.join(tmp, "--force.parts"), ignore_errors=True)
        # the dry run too
        p = subprocess.Popen([VGSWEEP, "-n", "s.yaml"], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_handlers(p)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=600)
        check(p.returncode in (143, 0), f"SIGTERM to a dry run: exit {p.returncode}")

    print(f"test_signals: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
