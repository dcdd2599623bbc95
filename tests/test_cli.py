"""The command line's commands (src/cli/main.c): `vgsweep run FILE` and plain `vgsweep FILE` write
the same datasets, options before or after the file; each command's --help (`vgsweep help
COMMAND` the same text), the program's help listing them; an unknown command is exit 2 with a
did-you-mean; a stopped `vgsweep run` prints a resume command that keeps `run`. And the stages
below the command line print nothing (progress goes through the scheduler's callback, rendered
by src/cli/progress.c): no printf, fprintf, puts, perror, ... in their sources.
Usage: test_cli.py PATH/TO/vgsweep SOURCE_DIR
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time

from vgtest import VGSWEEP, check, datasets, failures

SRC = sys.argv[2]
SWEEP = """\
name: cli
seed: 4
data:
  train_size: 200
  test_size: 50
  features: 8
  classes: 3
model:
  width: 16
  depth: 3
train:
  epochs: 2
  batch_size: 50
record:
  probe: 20
grid:
  model.activation: [tanh, relu]
"""
LONG = SWEEP.replace("epochs: 2", "epochs: 100000").replace("train_size: 200", "train_size: 4000")


def vg(args, cwd, **kw):
    return subprocess.run([VGSWEEP] + args, cwd=cwd, capture_output=True, text=True, timeout=300, **kw)


def helps(tmp):
    top = vg(["--help"], tmp)
    check(top.returncode == 0 and top.stderr == "", f"--help: exit {top.returncode} {top.stderr!r}")
    for word in ("usage: vgsweep [run] [options] SWEEP.yaml", "\n  run ", "\n  report ", "\n  help ",
                 "--output FILE", "--resume", "exit status"):
        check(word in top.stdout, f"--help lacks {word!r}")
    for args in (["-h"], ["help"], ["help", "help"]):
        r = vg(args, tmp)
        check(r.returncode == 0 and r.stdout == top.stdout, f"{args}: not --help's text (exit {r.returncode})")
    run = vg(["run", "--help"], tmp)
    check(run.returncode == 0 and run.stdout.startswith("usage: vgsweep run [options] SWEEP.yaml\n")
          and "--only FILTER" in run.stdout, f"run --help: {run.stdout[:200]!r}")
    r = vg(["help", "run"], tmp)
    check(r.returncode == 0 and r.stdout == run.stdout, "help run is not run --help")
    rep = vg(["report", "--help"], tmp)
    check(rep.returncode == 0 and rep.stdout.startswith("usage: vgsweep report"), f"report --help: {rep.stdout[:200]!r}")
    r = vg(["help", "report"], tmp)
    check(r.returncode == 0 and r.stdout == rep.stdout, "help report is not report --help")


def unknown(tmp):
    for args, near in ((["reprot", "x.h5"], "report"), (["rn", "s.yaml"], "run"), (["hlep"], "help"),
                       (["xyzzy"], None), (["help", "reprot"], "report"), (["help", "xyzzy"], None)):
        r = vg(args, tmp)
        check(r.returncode == 2 and r.stdout == "", f"{args}: exit {r.returncode}, stdout {r.stdout!r}")
        check(f'unknown command "{args[-1] if args[0] == "help" else args[0]}"' in r.stderr,
              f"{args}: {r.stderr!r}")
        if near:
            check(f'did you mean "{near}"?' in r.stderr, f"{args}: no did-you-mean {near}: {r.stderr!r}")
        else:
            check("did you mean" not in r.stderr, f"{args}: a did-you-mean for a word near nothing: {r.stderr!r}")
    r = vg(["help", "run", "report"], tmp)
    check(r.returncode == 2, f"help with two commands: exit {r.returncode}")


def same_runs(tmp):
    with open(os.path.join(tmp, "s.yaml"), "w") as f:
        f.write(SWEEP)
    with open(os.path.join(tmp, "plainname"), "w") as f:  # a sweep file without a dot
        f.write(SWEEP)
    outs = {}
    for name, args in (("plain", ["-q", "-o", "plain.h5", "s.yaml"]),
                       ("run", ["run", "-q", "-o", "run.h5", "s.yaml"]),
                       ("run_after", ["run", "s.yaml", "-q", "-o", "run_after.h5"]),
                       ("nodot", ["-q", "-o", "nodot.h5", "plainname"]),
                       ("run_nodot", ["run", "-q", "-o", "run_nodot.h5", "plainname"])):
        r = vg(args, tmp)
        if check(r.returncode == 0, f"vgsweep {' '.join(args)}: exit {r.returncode}: {r.stderr}"):
            outs[name] = datasets(os.path.join(tmp, name + ".h5"), run_attrs=True)
    ref = outs.get("plain")
    check(ref is not None and len(ref) > 10, "the plain sweep wrote datasets")
    for name, d in outs.items():
        check(d == ref, f"{name}: datasets differ from plain vgsweep FILE's")
    r = vg(["run", "-n", "s.yaml"], tmp)
    check(r.returncode == 0 and "2 runs" in r.stdout, f"run --dry-run: {r.returncode} {r.stdout!r}")


def resume_command(tmp):
    """A stopped `vgsweep run` says to resume with `vgsweep run --resume ...`."""
    with open(os.path.join(tmp, "long.yaml"), "w") as f:
        f.write(LONG)
    p = subprocess.Popen([VGSWEEP, "run", "-j", "1", "-o", "long.h5", "long.yaml"], cwd=tmp,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not os.path.isdir(os.path.join(tmp, "long.h5.parts")):
        time.sleep(0.05)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    check(p.returncode == 128 + signal.SIGINT, f"stopped run: exit {p.returncode}: {err[-500:]!r}")
    m = re.search(r"resume with: (.*)$", err, re.M)
    if not check(m is not None, f"no resume command: {err[-500:]!r}"):
        return
    argv = shlex.split(m.group(1))
    check(argv[:3] == [VGSWEEP, "run", "--resume"] and argv[-1] == "long.yaml",
          f"resume command {argv}: not vgsweep run --resume ...")
    r = subprocess.run(argv + ["--dry-run"], cwd=tmp, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"the resume command (dry run): exit {r.returncode}: {r.stderr}")


# to the terminal: printf and friends, or the stdio writers given stdout/stderr (a stage may
# write its own files with them)
PRINTS = re.compile(r"\b(printf|vprintf|puts|putchar|perror)\s*\(|"
                    r"\b(fprintf|vfprintf|fputs|fputc|putc|fwrite|dprintf)\s*\(.*\b(stdout|stderr|STDOUT_FILENO|STDERR_FILENO)\b")


def silent_stages():
    """Below the command line nothing prints: errors are values, progress is events."""
    for stage in ("util", "config", "data", "nn", "train", "record", "sched"):
        d = os.path.join(SRC, "src", stage)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(d, name)) as f:
                text = f.read()
            text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
            text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
            for i, line in enumerate(text.split("\n"), 1):
                m = PRINTS.search(line)
                check(m is None, f"src/{stage}/{name}:{i}: {m.group(0) if m else ''}: stages below the CLI print nothing")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        helps(tmp)
        unknown(tmp)
        same_runs(tmp)
        resume_command(tmp)
    silent_stages()
    if failures:
        print(f"test_cli: {len(failures)} failed", file=sys.stderr)
        return 1
    print("test_cli: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
