"""Shared helpers of the benchmark drivers in bench/ (run them with Debian's /usr/bin/python3)."""
import os
import platform
import shutil
import subprocess
import sys
import time

# One thread for every BLAS this process or its children load (torch's OpenBLAS has its own
# thread pool, which torch.set_num_threads does not reach): set before anything imports torch.
os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

# The variables this workplace sets to hold OpenBLAS to its AVX2 kernels.
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def find_binary(name, build=None):
    """bench binaries live in <build>/bench, vgsweep in <build>; build from $VG_BUILD or build/."""
    build = build or os.environ.get("VG_BUILD") or os.path.join(ROOT, "build")
    for p in (os.path.join(build, "bench", name), os.path.join(build, name)):
        if os.path.exists(p):
            return p
    sys.exit(f"bench: {name} not found under {build} (build it: cmake --build {build} --target {name},"
             " or set VG_BUILD)")


def single_thread_env():
    env = dict(os.environ)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def run_kv(cmd, env=None):
    """Runs a bench binary and parses its key=value line."""
    out = subprocess.run(cmd, env=env or single_thread_env(), check=True, capture_output=True,
                         text=True).stdout
    return dict(kv.split("=", 1) for kv in out.split())


def machine():
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = ", ".join(f"{v}={os.environ[v]}" for v in OPENBLAS_VARS if v in os.environ) or "unset"
    return f"{model}, {os.cpu_count()} cores; OpenBLAS variables: {env}; {time.strftime('%Y-%m-%d %H:%M')}"


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def table(headers, rows):
    """A Markdown table (what docs/BENCHMARKS.md holds)."""
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in cells[1:]])


def have(prog):
    return shutil.which(prog) is not None
