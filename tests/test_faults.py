"""Faults: a full disk, a file-size limit, an unwritable directory, an output or parts directory
of another sweep, an existing output. Each gives a clear message and a non-zero exit, changes
or loses nothing that was recorded, and --resume then completes the sweep with exactly the
datasets of an undisturbed one.

The disk fills for real on a small tmpfs when we may mount one (root); the file-size limit
(RLIMIT_FSIZE with SIGXFSZ ignored, so writes fail with EFBIG) works anywhere.
Usage: test_faults.py PATH/TO/vgsweep
"""
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

from vgtest import VGSWEEP, check, datasets, failures, read_part  # noqa: E402


# Grid order: the first key varies slowest, so the three small runs come first (-j 1).
SWEEP = """\
name: faults
seed: 11
data: {train_size: 200, test_size: 50, features: 24, classes: 3}
model: {width: 4}
train: {epochs: 3, batch_size: 50, lr: 0.1}
record: {probe: 32}
grid:
  model.width: [4, 80]
  model.depth: [1, 2, 3]
"""


def run(args, cwd, fsize=None):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.run([VGSWEEP] + args, cwd=cwd, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit if fsize else None)


def digest(path):
    """Bytes of a file, or of every file of a directory, for 'nothing changed'."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            h.update(name.encode())
            with open(os.path.join(path, name), "rb") as f:
                h.update(f.read())
    elif os.path.exists(path):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def finished_parts(parts):
    """Ids of the finished part files; each must read through (checksum) and hold its run."""
    ids = []
    for name in sorted(os.listdir(parts)) if os.path.isdir(parts) else []:
        if name.endswith(".part"):
            part = read_part(os.path.join(parts, name))
            check(part["id"] == name[:-5] and part.get("status") == "ok", f"part {name} is complete")
            ids.append(name[:-5])
    return ids


def one_line_error(r, *needles):
    err = r.stderr.strip().splitlines()
    last = err[-1] if err else ""
    return all(n in r.stderr for n in needles) and last.startswith("vgsweep: ")


def check_disk_fault(tmp, out, ref, fsize, what, expect_parts, reason, extra=(), also=()):
    """A sweep that hits the fault; what it leaves."""
    r = run(["-q", "-j", "1", *extra, "-o", out, "s.yaml"], tmp, fsize=fsize)
    check(r.returncode == 1, f"{what}: exit {r.returncode}, expected 1: {r.stderr}")
    check(one_line_error(r, reason, "--resume", out + ".parts", *also),
          f"{what}: message names the cause, the parts and --resume: {r.stderr!r}")
    ids = finished_parts(os.path.join(tmp, out + ".parts"))
    check(len(ids) >= expect_parts, f"{what}: {len(ids)} finished runs kept, expected >= {expect_parts}")
    check(not os.path.exists(os.path.join(tmp, out)), f"{what}: no output under the final name")
    leftovers = [n for n in os.listdir(os.path.join(tmp, out + ".parts")) if n.endswith(".tmp")]
    check(not leftovers and not os.path.exists(os.path.join(tmp, out + ".tmp")),
          f"{what}: no temporary files left: {leftovers}")
    print(f"{what}: {r.stderr.strip().splitlines()[-1]}")
    return ids


def main():
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "s.yaml"), "w") as f:
            f.write(SWEEP)
        r = run(["-q", "-j", "1", "-o", "ref.h5", "s.yaml"], tmp)
        if not check(r.returncode == 0, f"reference sweep: {r.stderr}"):
            return 1
        ref = datasets(os.path.join(tmp, "ref.h5"))
        ref_size = os.path.getsize(os.path.join(tmp, "ref.h5"))

        # An existing output: refused without --force or --resume, untouched.
        before = digest(os.path.join(tmp, "ref.h5"))
        r = run(["-q", "-o", "ref.h5", "s.yaml"], tmp)
        check(r.returncode == 2 and one_line_error(r, "--force", "--resume"), f"existing output: {r.returncode} {r.stderr!r}")
        check(digest(os.path.join(tmp, "ref.h5")) == before, "existing output untouched")

        # A file-size limit hit by the first big run: the small runs stay; --resume completes.
        ids = check_disk_fault(tmp, "big.h5", ref, 48 * 1024, "file-size limit while running", 3, "File too large")
        r = run(["-q", "-o", "big.h5", "s.yaml"], tmp)
        check(r.returncode == 2 and one_line_error(r, "--resume", "--force"), f"parts without --resume refused: {r.stderr!r}")
        r = run(["-q", "-j", "2", "--resume", "-o", "big.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and f"{len(ids)} of 6 runs already recorded" in r.stderr, f"resume after the limit: {r.stderr!r}")
        if r.returncode == 0:
            check(datasets(os.path.join(tmp, "big.h5")) == ref, "file-size limit, resumed == undisturbed")

        # Damaged parts (a flipped byte: checksum; a cut-off tail: no end record) are not
        # reused: --resume says so, runs those runs again, and the result is undisturbed.
        ids = check_disk_fault(tmp, "dmg.h5", ref, 48 * 1024, "file-size limit before damage", 3, "File too large")
        parts = os.path.join(tmp, "dmg.h5.parts")
        if check(len(ids) >= 2, f"damaged parts: {len(ids)} parts to damage"):
            with open(os.path.join(parts, ids[0] + ".part"), "r+b") as f:
                f.seek(os.path.getsize(f.name) // 2)
                b = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([b[0] ^ 0x40]))
            with open(os.path.join(parts, ids[1] + ".part"), "r+b") as f:
                f.truncate(os.path.getsize(f.name) - 30)
            r = run(["-q", "--resume", "-o", "dmg.h5", "s.yaml"], tmp)
            check(r.returncode == 0 and f"{len(ids) - 2} of 6 runs already recorded" in r.stderr
                  and "2 unreadable part files run again" in r.stderr, f"damaged parts: {r.stderr!r}")
            if r.returncode == 0:
                check(datasets(os.path.join(tmp, "dmg.h5")) == ref, "damaged parts, resumed == undisturbed")

        # A limit above every part but below the output: assembly fails, every run stays.
        limit = int(ref_size * 0.6)
        ids = check_disk_fault(tmp, "asm.h5", ref, limit, "file-size limit while assembling", 6, "File too large")
        r = run(["-q", "--resume", "-o", "asm.h5", "s.yaml"], tmp)
        check(r.returncode == 0 and "6 of 6 runs already recorded" in r.stderr, f"resume after assembly failed: {r.stderr!r}")
        if r.returncode == 0:
            check(datasets(os.path.join(tmp, "asm.h5")) == ref, "assembly limit, resumed == undisturbed")

        # Another sweep (name and seed differ): its output and parts are refused, untouched.
        with open(os.path.join(tmp, "other.yaml"), "w") as f:
            f.write(SWEEP.replace("name: faults", "name: other").replace("seed: 11", "seed: 12"))
        before = digest(os.path.join(tmp, "ref.h5"))
        r = run(["-q", "--resume", "-o", "ref.h5", "other.yaml"], tmp)
        check(r.returncode == 2 and one_line_error(r, 'holds sweep "faults" (seed 11)', "--force"),
              f"output of another sweep: {r.returncode} {r.stderr!r}")
        check(digest(os.path.join(tmp, "ref.h5")) == before, "another sweep's output untouched")
        run(["-q", "-j", "1", "-o", "half.h5", "s.yaml"], tmp, fsize=48 * 1024)
        before = digest(os.path.join(tmp, "half.h5.parts"))
        r = run(["-q", "--resume", "-o", "half.h5", "other.yaml"], tmp)
        check(r.returncode == 2 and one_line_error(r, "half.h5.parts", "holds sweep"), f"parts of another sweep: {r.stderr!r}")
        check(digest(os.path.join(tmp, "half.h5.parts")) == before, "another sweep's parts untouched")

        # A full disk, for real, and an unwritable directory: need a mount (root).
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        mounted = os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", mnt], capture_output=True).returncode == 0
        if not mounted:
            print("cannot mount a tmpfs (not root?): skipping the full-disk case")
        else:
            try:
                shutil.copy(os.path.join(tmp, "s.yaml"), mnt)
                # --force: past the dry-run's check of the estimate against the free space
                ids = check_disk_fault(mnt, "full.h5", ref, None, "full disk", 3, "No space left on device",
                                       extra=["--force"])
                subprocess.run(["mount", "-o", "remount,size=16m", mnt], check=True)
                r = run(["-q", "--resume", "-o", "full.h5", "s.yaml"], mnt)
                check(r.returncode == 0 and f"{len(ids)} of 6 runs already recorded" in r.stderr, f"resume after a full disk: {r.stderr!r}")
                if r.returncode == 0:
                    check(datasets(os.path.join(mnt, "full.h5")) == ref, "full disk, resumed == undisturbed")
                # Room for every part but not for the output beside them: the output is
                # assembled as runs finish, so a copy is refused part-way (before HDF5 writes);
                # the runs after it are still recorded and --resume rebuilds the output.
                subprocess.run(["umount", mnt], check=True)
                # (the output is ~13 % larger than its parts: its dimension scales)
                subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(ref_size * 0.97)}", "tmpfs", mnt],
                               check=True)
                shutil.copy(os.path.join(tmp, "s.yaml"), mnt)
                check_disk_fault(mnt, "asm.h5", ref, None, "full disk while assembling", 6,
                                 "No space left on device", extra=["--force"],
                                 also=["cannot assemble the output"])
                subprocess.run(["mount", "-o", "remount,size=16m", mnt], check=True)
                r = run(["-q", "-j", "2", "--resume", "-o", "asm.h5", "s.yaml"], mnt)
                check(r.returncode == 0 and "6 of 6 runs already recorded" in r.stderr,
                      f"resume after the disk filled while assembling: {r.stderr!r}")
                if r.returncode == 0:
                    check(datasets(os.path.join(mnt, "asm.h5")) == ref, "full disk while assembling, resumed == undisturbed")
            finally:
                subprocess.run(["umount", mnt])

        ro = os.path.join(tmp, "ro")
        os.mkdir(ro)
        if os.geteuid() == 0:
            readonly = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16m", "tmpfs", ro],
                                      capture_output=True).returncode == 0
        else:
            os.chmod(ro, 0o555)
            readonly = True
        if not readonly:
            print("cannot make a read-only directory: skipping the unwritable-directory case")
        else:
            try:
                r = run(["-q", "-o", os.path.join(ro, "x.h5"), "s.yaml"], tmp)
                # found before any run trains: a usage error (exit 2)
                check(r.returncode == 2 and one_line_error(r, os.path.join(ro, "x.h5")),
                      f"unwritable directory: {r.returncode} {r.stderr!r}")
                check(not os.listdir(ro), "nothing written into the unwritable directory")
                print(f"unwritable directory: {r.stderr.strip()}")
            finally:
                if os.geteuid() == 0:
                    subprocess.run(["umount", ro])
                else:
                    os.chmod(ro, 0o755)

    print(f"test_faults: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
