"""Progress and the final summary (src/cli/progress.c, main.c).

When stderr is not a terminal: one line per finished run (id, settings, status, loss, seconds)
that match the record, a status line on the running runs every VGSWEEP_STATUS_EVERY seconds,
--quiet silences them but not the summary, whose fields match the output (runs, statuses, kept
from before, file size). Under a pseudo-terminal: the live display redrawn in place with ANSI
cursor movement, runs done/total, ETA, lines cut to the terminal's width, then the summary.
Usage: test_progress.py PATH/TO/vgsweep
"""
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time

import h5py

from vgtest import VGSWEEP, check, failures  # noqa: E402

SWEEP = """\
name: progress
seed: 2
data: {train_size: 400, test_size: 100, features: 16, classes: 4}
model: {width: 32}
train: {epochs: 4, batch_size: 20}
record: {probe: 32}
grid:
  model.depth: [2, 4]
  model.activation: [tanh, relu]
  train.lr: [0.05, 1000]
"""
N = 8

# Runs of about a second each with the AVX-512 core on an idle machine (more on a loaded or
# older one): long enough to be seen running.
SLOW = """\
name: slow
seed: 4
data: {train_size: 6000, test_size: 200, features: 32, classes: 4}
model: {width: 320}
train: {epochs: 8, batch_size: 16, lr: 0.05}
record: {probe: 32, tensors: none}
grid:
  model.depth: [4, 6]
  model.activation: [tanh, relu]
"""

FINISHED = re.compile(r"^\[ *(\d+)/(\d+)\] ([0-9a-f]+) (model\.depth=\d+ model\.activation=\w+ train\.lr=[\d.e+]+): "
                      r"(ok|diverged|failed)( \(.*\))?, loss (\S+)(, test accuracy [\d.]+)?, (\d+\.\d)s$")
SUMMARY = re.compile(r"^vgsweep: (\d+) runs? recorded \((\d+) ok, (\d+) diverged, (\d+) failed, (\d+) kept from before\); "
                     r"(\d+) trained by this invocation; wall time ([\d.]+)s; output (.+) \(([\d.]+) ([kMG]?)B\)$")


def run(args, cwd, **kw):
    return subprocess.run([VGSWEEP] + args, cwd=cwd, capture_output=True, text=True, timeout=600, **kw)


def summary_of(stderr, what):
    lines = [m for m in (SUMMARY.match(l) for l in stderr.splitlines()) if m]
    check(len(lines) == 1, f"{what}: one summary line, got {len(lines)}: {stderr!r}")
    return lines[0] if lines else None


def check_size(m, path, what):
    unit = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(10)]
    size = os.path.getsize(path)
    check(abs(float(m.group(9)) * unit - size) <= 0.06 * size + 1,
          f"{what}: summary's size {m.group(9)} {m.group(10)}B against {size} bytes")


def check_lines(tmp):
    r = run(["-j", "2", "-o", "p.h5", "p.yaml"], tmp)
    if not check(r.returncode == 0, f"sweep: exit {r.returncode}: {r.stderr}"):
        return
    lines = r.stderr.splitlines()
    check(lines[0].startswith("vgsweep: p.yaml: 8 runs on 2 threads -> p.h5"), f"first line: {lines[0]!r}")
    found = [m for m in (FINISHED.match(l) for l in lines) if m]
    check(len(found) == N, f"{N} finished-run lines, got {len(found)}: {r.stderr}")
    check([int(m.group(1)) for m in found] == list(range(1, N + 1)) and all(m.group(2) == str(N) for m in found),
          "the lines count runs done 1..N of N")
    with h5py.File(os.path.join(tmp, "p.h5"), "r") as f:
        for m in found:
            rid, settings, status, loss = m.group(3), m.group(4), m.group(5), m.group(7)
            if not check(rid in f["runs"], f"line's run {rid} is in the output"):
                continue
            g = f["runs"][rid]
            want = (f"model.depth={g.attrs['model.depth']} model.activation={g.attrs['model.activation']} "
                    f"train.lr={g.attrs['train.lr']:g}")
            check(settings == want, f"{rid}: settings {settings!r}, record says {want!r}")
            check(status == g.attrs["status"], f"{rid}: status {status} against {g.attrs['status']}")
            losses = g["loss"][()]
            last = [x for x in losses if x == x]
            if status == "ok":
                check(abs(float(loss) - last[-1]) <= 1e-3 * abs(last[-1]), f"{rid}: loss {loss} against {last[-1]}")
            else:
                check(m.group(6) is not None, f"{rid}: a {status} line says why")
                check(loss == "nan" if not last else abs(float(loss) - last[-1]) <= 1e-3 * abs(last[-1]),
                      f"{rid}: loss {loss} of a {status} run")
        statuses = [g.attrs["status"] for g in f["runs"].values()]
    m = summary_of(r.stderr, "sweep")
    if m:
        check(m.group(1) == str(N) and m.group(6) == str(N) and m.group(5) == "0", f"summary counts: {m.group(0)}")
        check((int(m.group(2)), int(m.group(3)), int(m.group(4))) ==
              (statuses.count("ok"), statuses.count("diverged"), statuses.count("failed")),
              f"summary statuses {m.group(2, 3, 4)} against the record's {statuses}")
        check(statuses.count("diverged") > 0, "the sweep has diverged runs to count")
        check(m.group(8) == "p.h5", f"summary's output {m.group(8)!r}")
        check_size(m, os.path.join(tmp, "p.h5"), "sweep")
        check(r.stderr.splitlines()[-1] == m.group(0), "the summary is the last line")

    # --quiet: no progress, the summary stays
    r = run(["-q", "-j", "2", "--force", "-o", "p.h5", "p.yaml"], tmp)
    check(r.returncode == 0, f"--quiet: exit {r.returncode}")
    check(len(r.stderr.splitlines()) == 1 and summary_of(r.stderr, "--quiet"), f"--quiet prints only the summary: {r.stderr!r}")

    # runs kept from before: half the sweep, then --resume of all of it
    r = run(["-q", "--only", "model.depth=2", "-o", "half.h5", "p.yaml"], tmp)
    check(r.returncode == 0, f"--only: exit {r.returncode}: {r.stderr}")
    r = run(["-q", "--resume", "-o", "half.h5", "p.yaml"], tmp)
    m = summary_of(r.stderr, "--resume")
    if check(r.returncode == 0 and m, f"--resume: exit {r.returncode}: {r.stderr}"):
        check(m.group(1) == str(N) and m.group(5) == str(N // 2) and m.group(6) == str(N // 2),
              f"--resume summary: {N} recorded, {N // 2} kept, {N // 2} trained: {m.group(0)}")
        check_size(m, os.path.join(tmp, "half.h5"), "--resume")


def check_status_lines(tmp):
    """The periodic line on the running runs (every minute by default; here every 0.5 s)."""
    env = dict(os.environ, VGSWEEP_STATUS_EVERY="0.5")
    r = run(["-j", "2", "-o", "slow.h5", "slow.yaml"], tmp, env=env)
    check(r.returncode == 0, f"slow sweep: exit {r.returncode}: {r.stderr}")
    status = [l for l in r.stderr.splitlines() if "; running: " in l]
    check(status, f"status lines appear: {r.stderr!r}")
    pat = re.compile(r"^\[ *\d+/4\] \S+ elapsed, ETA \S+; running: [0-9a-f]+ model\.depth=\d model\.activation=\w+ "
                     r"\((starting|epoch \d/8, step \d+/\d+(, loss \S+)?)\)")
    check(all(pat.match(l) for l in status), f"status lines: {status[:3]}")


def check_live(tmp):
    """Under a pseudo-terminal 70 columns wide."""
    try:
        pid, fd = pty.fork()
    except OSError as e:  # no /dev/pts (a bare chroot): nothing to draw on
        print(f"live display: skipped, no pseudo-terminal here ({e})")
        return
    if pid == 0:
        os.chdir(tmp)
        os.execv(VGSWEEP, [VGSWEEP, "-j", "2", "-o", "live.h5", "slow.yaml"])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 70, 0, 0))
    out, deadline = b"", time.monotonic() + 600
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out += data
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    check(os.waitstatus_to_exitcode(st) == 0, f"live: exit {os.waitstatus_to_exitcode(st)}")
    check(re.search(r"\x1b\[\d+A", text) is not None, "live: the cursor moves up to redraw")
    check("\x1b[K" in text and "ETA " in text, "live: lines cleared and an ETA")
    done = [int(x) for x in re.findall(r"vgsweep: (\d+)/4 runs done", text)]
    check(len(done) >= 2 and done == sorted(done), f"live: runs done/total redrawn: {done}")
    check(re.search(r"epoch \d/8, step \d+/\d+", text) is not None, "live: the running runs' epoch and step")
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).replace("\r", "")
    rows = [l for l in plain.split("\n") if l]
    summary = [l for l in rows if SUMMARY.match(l)]
    check(len(summary) == 1 and rows[-1] == summary[0], f"live: the summary last: {rows[-3:]}")
    # the live block's lines fit the 70 columns (the summary may wrap: it stays)
    block = [l for l in re.split(r"\x1b\[\d+A|\r?\n", re.sub(r"\x1b\[(K|J)", "", text.replace("\r", "")))
             if l and not SUMMARY.match(l) and not l.startswith("vgsweep: slow.yaml")]
    check(all(len(l) < 70 for l in block), f"live: lines cut to the width: {[l for l in block if len(l) >= 70][:2]}")
    print(f"live display: {len(done)} redraws seen")


def slow_sweep():
    """SLOW, or a tenth of its training set in a sanitizer build (vgsweep --version names the
    sanitizers): there a step is ~100x slower, and a tenth still runs each run for seconds."""
    version = subprocess.run([VGSWEEP, "--version"], capture_output=True, text=True).stdout
    if "no sanitizers" in version:
        return SLOW
    return SLOW.replace("train_size: 6000", "train_size: 600")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (("p", SWEEP), ("slow", slow_sweep())):
            with open(os.path.join(tmp, name + ".yaml"), "w") as f:
                f.write(text)
        check_lines(tmp)
        check_status_lines(tmp)
        check_live(tmp)
    print(f"test_progress: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
