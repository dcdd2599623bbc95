#!/usr/bin/python3
"""The training step against the hardware: GFLOP/s of vgsweep's step (6 x parameters x batch
per step), of its matrix kernel alone and of single-threaded cblas_sgemm at the same shapes
(the three products of every dense layer of one step), next to the measured fp32 FMA peak of
one core (bench/fma.c). Plain ReLU nets, 784 -> D x W -> 10; alternated in rounds, medians.

    /usr/bin/python3 bench/hardware.py [--rounds 3] [--seconds 0.4]
"""
import argparse

from common import find_binary, machine, median, run_kv, table

SHAPES = [(10, 64, 64), (50, 64, 64), (100, 32, 32), (20, 256, 128), (20, 1024, 128)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=0.4)
    ap.add_argument("--build", help="build directory (default $VG_BUILD or build/)")
    a = ap.parse_args()
    vgbench = find_binary("vgbench", a.build)
    print(f"# Training step against the hardware, 1 thread, float32\n# {machine()}")
    peaks, rows = [], []
    isa = "?"
    for depth, width, batch in SHAPES:
        shape = ["--depth", str(depth), "--width", str(width), "--batch", str(batch),
                 "--seconds", str(a.seconds)]
        step, own, blas = [], [], []
        for _ in range(a.rounds):
            kv = run_kv([vgbench, "fma"])
            peaks.append(float(kv["gflops"]))
            isa = kv["isa"]
            step.append(float(run_kv([vgbench, "step", "--act", "relu"] + shape)["gflops"]))
            own.append(float(run_kv([vgbench, "gemm", "--kernel", "vg"] + shape)["gflops"]))
            blas.append(float(run_kv([vgbench, "gemm", "--kernel", "blas"] + shape)["gflops"]))
        rows.append([depth, width, batch, median(step), median(own), median(blas)])
    peak = max(peaks)  # a shared machine only ever slows a sample down
    print(f"\nfp32 FMA peak of one core ({isa}): {peak:.0f} GFLOP/s (best of {len(peaks)} samples)\n")
    print(table(["D", "W", "B", "step GFLOP/s", "% of FMA peak", "own kernel alone GFLOP/s",
                 "cblas_sgemm GFLOP/s", "step / sgemm"],
                [[d, w, b, f"{s:.0f}", f"{100 * s / peak:.0f} %", f"{o:.0f}", f"{g:.0f}",
                  f"{s / g:.2f}x"] for d, w, b, s, o, g in rows]))
    print("\n(GFLOP/s counted as 6 x parameters x batch per step for all three columns; the first"
          " layer's input gradient is never computed, so the bare products can exceed what they do)")


if __name__ == "__main__":
    main()
