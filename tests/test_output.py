"""The output path (issues 17 and 18): what vgsweep refuses before any run trains (exit 2, one
line, nothing written or changed), what it creates (mkdir -p), the lock that makes a second
vgsweep on the same output fail while the first one finishes intact, a lock left by kill -9
that does not block, and a parts directory that lost its manifest.
Usage: test_output.py PATH/TO/vgsweep
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import h5py

from vgtest import VGSWEEP, check, datasets, failures  # noqa: E402

SMALL = """\
name: out
seed: 4
data: {train_size: 100, test_size: 20, features: 8, classes: 3}
model: {width: 8}
train: {epochs: 2, batch_size: 50, lr: 0.1}
record: {probe: 16}
grid:
  model.depth: [1, 2]
"""
# Runs for a while (under a second here, a minute under the sanitizers): the sweep that holds
# the lock. It is stopped (SIGSTOP) while it is looked at, so its speed does not matter.
LONG = """\
name: long
seed: 3
data: {train_size: 1000, test_size: 100, features: 32, classes: 4}
model: {width: 64}
train: {epochs: 20, batch_size: 25, lr: 0.05}
record: {probe: 32, tensors: none}
grid:
  model.depth: [4, 6, 8, 10]
"""


def run(args, cwd, timeout=300):
    return subprocess.run([VGSWEEP, "-q"] + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def one_line(r, *needles):
    lines = r.stderr.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("vgsweep: ") and all(n in r.stderr for n in needles)


def refused(r, what, *needles):
    check(r.returncode == 2 and one_line(r, *needles), f"{what}: exit {r.returncode}, expected 2 and one line with {needles}: {r.stderr!r}")


def content(path):
    with open(path, "rb") as f:
        return f.read()


def wait_for(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def check_paths(tmp):
    # -o into directories that do not exist: made, like results/
    r = run(["-o", "new/sub/x.h5", "s.yaml"], tmp)
    check(r.returncode == 0 and os.path.isfile(os.path.join(tmp, "new/sub/x.h5")), f"-o new/sub/x.h5: {r.stderr!r}")
    # before training: a parent that is a file, an output that is a directory, an empty name
    refused(run(["-o", "s.yaml/x.h5", "s.yaml"], tmp), "parent is a file", "s.yaml/x.h5", "not a directory")
    refused(run(["-o", "new", "s.yaml"], tmp), "output is a directory", "is a directory")
    refused(run(["-o", "new/", "s.yaml"], tmp), "output ends in /", "new/")
    refused(run(["--force", "-o", "new", "s.yaml"], tmp), "--force on a directory", "a directory")
    # over-long paths: refused, never truncated; nothing made
    long_path = "d" * 5000 + ".h5"
    refused(run(["-o", long_path, "s.yaml"], tmp), "a 5000-byte path", "too long")
    refused(run(["-o", "x" * 250 + ".h5", "s.yaml"], tmp), "a 254-byte file name", "too long")
    check(not any(n.startswith(("ddd", "xxx")) for n in os.listdir(tmp)), "nothing made for over-long paths")


def check_force(tmp):
    """--force replaces only a regular file, never what the sweep reads."""
    before = content(os.path.join(tmp, "s.yaml"))
    refused(run(["--force", "-o", "s.yaml", "s.yaml"], tmp), "--force -o the sweep file", "sweep file")
    refused(run(["--resume", "-o", "s.yaml", "s.yaml"], tmp), "--resume -o the sweep file", "sweep file")
    check(content(os.path.join(tmp, "s.yaml")) == before, "the sweep file is unchanged")
    # a file it extends, and a name vgsweep derives from the output (<output>.tmp)
    with open(os.path.join(tmp, "child.yaml"), "w") as f:
        f.write("extends: s.yaml\nname: child\n")
    refused(run(["--force", "-o", "s.yaml", "child.yaml"], tmp), "--force -o an extended file", "s.yaml")
    with open(os.path.join(tmp, "y.h5.tmp"), "w") as f:
        f.write(SMALL)
    refused(run(["--force", "-o", "y.h5", "y.h5.tmp"], tmp), "<output>.tmp is the sweep file", "y.h5.tmp")
    check(content(os.path.join(tmp, "s.yaml")) == before and content(os.path.join(tmp, "y.h5.tmp")) == SMALL.encode(),
          "the sweep files are unchanged")
    # devices, FIFOs, sockets, links to them: refused without opening (a FIFO would block)
    refused(run(["--force", "-o", "/dev/null", "s.yaml"], tmp), "--force -o /dev/null", "character device")
    os.mkfifo(os.path.join(tmp, "fifo"))
    try:
        refused(run(["--force", "-o", "fifo", "s.yaml"], tmp, timeout=20), "--force -o a FIFO", "FIFO")
        refused(run(["--resume", "-o", "fifo", "s.yaml"], tmp, timeout=20), "--resume -o a FIFO", "FIFO")
    except subprocess.TimeoutExpired:
        check(False, "a FIFO output blocked vgsweep")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(tmp, "sock"))
    refused(run(["--force", "-o", "sock", "s.yaml"], tmp), "--force -o a socket", "socket")
    sock.close()
    os.symlink("/dev/null", os.path.join(tmp, "null-link"))
    os.symlink("new", os.path.join(tmp, "dir-link"))
    refused(run(["--force", "-o", "null-link", "s.yaml"], tmp), "--force -o a link to /dev/null", "symbolic link")
    refused(run(["--force", "-o", "dir-link", "s.yaml"], tmp), "--force -o a link to a directory", "directory")
    check(os.path.exists("/dev/null") and os.path.isdir(os.path.join(tmp, "new")), "nothing replaced")
    # a regular file is replaced by --force
    r = run(["--force", "-o", "new/sub/x.h5", "s.yaml"], tmp)
    check(r.returncode == 0, f"--force on a regular file: {r.stderr!r}")


def start_held(tmp, out, until):
    """Starts the long sweep into out and stops it (SIGSTOP) once until() holds: it then holds
    its lock for as long as we look. Returns the stopped process, or None (it ended first)."""
    for _ in range(5):
        p = subprocess.Popen([VGSWEEP, "-q", "-j", "1", "--force", "-o", out, "long.yaml"], cwd=tmp,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: until() or p.poll() is not None, 600)
        p.send_signal(signal.SIGSTOP)
        if p.poll() is None and until():
            return p
        p.send_signal(signal.SIGCONT)
        p.communicate()
    return None


def check_lock(tmp):
    with open(os.path.join(tmp, "long.yaml"), "w") as f:
        f.write(LONG)
    lock = os.path.join(tmp, "L.h5.lock")
    first = start_held(tmp, "L.h5", lambda: os.path.exists(lock) and os.path.getsize(lock) > 0)
    if not check(first is not None, "the first sweep is found holding its lock"):
        return
    for args, what in ((["-o", "L.h5", "long.yaml"], "plain"), (["--resume", "-o", "L.h5", "long.yaml"], "--resume"),
                       (["--force", "-o", "L.h5", "long.yaml"], "--force")):
        r = run(args, tmp)
        refused(r, f"second vgsweep ({what}) while the first runs", f"pid {first.pid}", "host", "since", "in use")
        print(f"{what}: {r.stderr.strip()}")
    first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=900)
    check(first.returncode == 0, f"the first sweep finishes: {first.returncode} {err!r}")
    ref = os.path.join(tmp, "L.h5")
    if first.returncode == 0:
        with h5py.File(ref, "r") as f:
            check(len(f["runs"]) == 4 and len(f["index"]) == 4, "the first sweep's output is intact")
    check(not os.path.exists(lock), "no lock file left after a normal end")

    # kill -9 the holder: its lock dies with it; the lock file stays and does not block
    lock = os.path.join(tmp, "K.h5.lock")
    first = start_held(tmp, "K.h5", lambda: os.path.exists(lock) and os.path.getsize(lock) > 0)
    if check(first is not None, "the sweep to kill is found holding its lock"):
        first.send_signal(signal.SIGKILL)
        first.communicate()
        check(os.path.exists(lock), "a killed holder leaves its lock file")
        r = run(["--resume", "-o", "K.h5", "long.yaml"], tmp, timeout=900)
        check(r.returncode == 0, f"--resume after kill -9 of the holder: {r.returncode} {r.stderr!r}")
        if r.returncode == 0 and first.returncode is not None:
            check(datasets(os.path.join(tmp, "K.h5")) == datasets(ref), "resumed after kill -9 == uninterrupted")
        check(not os.path.exists(lock), "the stale lock file is gone after the resume")


def check_limits(tmp):
    """Nothing trains that cannot be kept: a 100,000-byte name is refused before any run."""
    with open(os.path.join(tmp, "longname.yaml"), "w") as f:
        f.write(SMALL.replace("name: out", "name: " + "n" * 100000))
    r = run(["-o", "ln.h5", "longname.yaml"], tmp)
    refused(r, "a 100,000-byte sweep name", "longname.yaml", "name:", "100000")
    check(not [n for n in os.listdir(tmp) if n.startswith("ln.h5")], f"nothing written for it: {os.listdir(tmp)}")
    # a layer whose tensor slot is over HDF5's 4 GiB chunk limit: refused before any run
    with open(os.path.join(tmp, "wide.yaml"), "w") as f:
        f.write(SMALL.replace("model: {width: 8}", "model: {width: 40000}").replace("[1, 2]", "[1, 2, 3]"))
    # (--mem: on a machine with less memory than such a run needs, the budget refuses it first)
    r = run(["--mem", "1024G", "-o", "wide.h5", "wide.yaml"], tmp)
    refused(r, "a 6 GiB tensor slot", "4 GiB", "layers/02")
    check(not [n for n in os.listdir(tmp) if n.startswith("wide.h5")], "nothing written for the wide sweep")


def check_lost_manifest(tmp):
    """Parts without their manifest are resumed: the manifest is rebuilt from them."""
    parts = os.path.join(tmp, "M.h5.parts")
    have_part = lambda: os.path.isdir(parts) and any(n.endswith(".part") for n in os.listdir(parts))  # noqa: E731
    p = start_held(tmp, "M.h5", have_part)
    if p:
        p.send_signal(signal.SIGKILL)
        p.communicate()
    if not check(p is not None and os.path.exists(os.path.join(parts, "manifest.h5")), "a part was finished before the kill"):
        return
    os.unlink(os.path.join(parts, "manifest.h5"))
    n = len([x for x in os.listdir(parts) if x.endswith(".part")])
    r = run(["--resume", "-o", "M.h5", "long.yaml"], tmp, timeout=900)
    check(r.returncode == 0 and "lost its manifest" in r.stderr and f"rebuilt from its {n} readable part" in r.stderr
          and f"{n} of 4 runs already recorded" in r.stderr, f"lost manifest: {r.returncode} {r.stderr!r}")
    if r.returncode == 0:
        check(datasets(os.path.join(tmp, "M.h5")) == datasets(os.path.join(tmp, "L.h5")), "lost manifest: resumed == uninterrupted")
    # another sweep's parts without a manifest are refused, unchanged
    parts = os.path.join(tmp, "N.h5.parts")
    p = start_held(tmp, "N.h5", have_part)
    if p:
        p.send_signal(signal.SIGKILL)
        p.communicate()
    if check(p is not None, "N: a part was finished before the kill"):
        os.unlink(os.path.join(parts, "manifest.h5"))
        before = sorted(os.listdir(parts))
        with open(os.path.join(tmp, "other.yaml"), "w") as f:
            f.write(LONG.replace("name: long", "name: other"))
        refused(run(["--resume", "-o", "N.h5", "other.yaml"], tmp), "another sweep's parts without a manifest",
                'holds sweep "long"')
        check(sorted(os.listdir(parts)) == before, "another sweep's parts unchanged")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "s.yaml"), "w") as f:
            f.write(SMALL)
        check_paths(tmp)
        check_force(tmp)
        check_limits(tmp)
        check_lock(tmp)
        check_lost_manifest(tmp)
        with h5py.File(os.path.join(tmp, "new/sub/x.h5"), "r") as f:
            check(len(f["runs"]) == 2, "the output made under new/sub holds the sweep")
    print(f"test_output: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
