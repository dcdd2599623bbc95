"""Every example in sweeps/ must validate: `vgsweep --dry-run FILE` exits 0 and lists its runs.
Also checks the command line's config errors exit 2 with one line on stderr and write nothing.
Usage: test_sweeps_dry.py VGSWEEP"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile


def run(args, cwd):
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd)


def main() -> int:
    vgsweep = os.path.abspath(sys.argv[1])
    root = pathlib.Path(__file__).resolve().parent.parent
    failures = 0
    files = sorted((root / "sweeps").glob("*.yaml"))
    if len(files) < 4:
        print(f"expected at least 4 example sweeps, found {len(files)}", file=sys.stderr)
        failures += 1
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            r = run([vgsweep, "--dry-run", str(path)], tmp)
            totals = [line for line in r.stdout.splitlines() if re.fullmatch(r"\d+ runs?", line)]
            if r.returncode != 0 or len(totals) != 1 or "estimated output:" not in r.stdout:
                print(f"{path.name}: --dry-run exit {r.returncode}, expected 0\n{r.stdout}{r.stderr}",
                      file=sys.stderr)
                failures += 1
            else:
                print(f"{path.name}: {totals[0]}")
        bad = [
            (["--dry-run", "--only", "model.depht>=2", str(root / "sweeps/depth_vs_act.yaml")],
             'did you mean "model.depth"?'),
            (["--dry-run", "--only", "model.depth=3", str(root / "sweeps/depth_vs_act.yaml")],
             "matches none of the 12 runs"),
            (["--only", "model.activation=relu", str(root / "tests/sweeps/bad/zip_and_grid.yaml")],
             "zip.model.depth: also varied by grid.model.depth"),
            (["--dry-run", str(root / "tests/sweeps/bad/extends_cycle.yaml")], "extends: cycle"),
            (["--list-settings=html"], "--list-settings takes no value or =markdown"),
        ]
        for args, expect in bad:
            r = run([vgsweep, *args], tmp)
            if r.returncode != 2 or expect not in r.stderr or os.listdir(tmp):
                print(f"vgsweep {' '.join(args)}: exit {r.returncode} (expected 2), stderr "
                      f"{r.stderr!r} (expected to contain {expect!r}), files {os.listdir(tmp)}",
                      file=sys.stderr)
                failures += 1
        big = pathlib.Path(tmp) / "big.yaml"
        big.write_text("grid:\n" + "".join(
            f"  {k}: [{', '.join(str(v) for v in range(1, 12))}]\n"
            for k in ["model.depth", "model.width", "train.epochs", "train.lr", "data.test_size"]))
        r = run([vgsweep, "--dry-run", str(big)], tmp)
        if r.returncode != 2 or "more than 100000; select fewer with --only, or pass --force" not in r.stderr:
            print(f"big sweep: exit {r.returncode}, stderr {r.stderr!r}", file=sys.stderr)
            failures += 1
        r = run([vgsweep, "--dry-run", "--only", "model.depth=1,model.width<=2", str(big)], tmp)
        if r.returncode != 0 or "2662 runs" not in r.stdout:
            print(f"big sweep with --only: exit {r.returncode}, {r.stdout[-300:]!r} {r.stderr!r}",
                  file=sys.stderr)
            failures += 1
    print(f"test_sweeps_dry: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
