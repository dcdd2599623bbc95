"""tools/vgplot on a sweep output: every figure is a valid PNG of the size vgplot documents,
index.html holds the report table; with --browser, index.html is opened in a real headless
browser (Debian's chromium): it renders, every image loads (the page's own check, read back
from the DOM), and a screenshot is taken and is not blank. Exit 77 (skipped) when --browser
is given and chromium is absent.
Usage: test_vgplot.py PATH/TO/vgsweep [--browser]
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from vgtest import VGSWEEP, check, failures, run_sweep  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VGPLOT = os.path.join(ROOT, "tools", "vgplot")
SWEEP = """\
name: plotme
seed: 2
data: {train_size: 256, test_size: 64, features: 16, classes: 4, separation: 6, seed: 1}
model: {width: 16}
train: {epochs: 3, batch_size: 32, lr: 0.05}
record: {probe: 64, tensors: none, weights: none}
grid:
  model.depth: [2, 6]
  model.activation: [sigmoid, tanh, relu]
"""
SIZES = {"profiles.png": (1200, 800), "theory.png": (600, 600), "curves.png": (1200, 450),
         "phase.png": (900, 600)}


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def main():
    browser = "--browser" in sys.argv[2:]
    chromium = find_chromium()
    if browser and not chromium:
        print("test_vgplot: chromium not installed: skipped")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        out = run_sweep(tmp, "plotme", SWEEP)
        if not out:
            return 1
        figs = os.path.join(tmp, "figs")
        r = subprocess.run([sys.executable, VGPLOT, out, "-o", figs, "--vgsweep", VGSWEEP],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"vgplot: exit {r.returncode}: {r.stderr[-500:]}")
        for name, size in SIZES.items():
            got = png_size(os.path.join(figs, name)) if os.path.exists(os.path.join(figs, name)) else None
            check(got == size, f"{name}: {got}, expected a PNG of {size}")
        heat = png_size(os.path.join(figs, "heatmaps_01.png"))
        check(heat is not None and heat[0] == 1200, f"heatmaps_01.png: {heat}")
        page = open(os.path.join(figs, "index.html")).read()
        rep = json.loads(subprocess.run([VGSWEEP, "report", "-f", "json", out], capture_output=True,
                                        text=True).stdout)
        for row in rep["rows"]:
            check(row["id"] in page and row["diagnosis"] in page, f"index.html lists run {row['id']}")
        for name in list(SIZES) + ["heatmaps_01.png"]:
            check(f'src="{name}"' in page, f"index.html shows {name}")
        # --where and --by
        r = subprocess.run([sys.executable, VGPLOT, out, "-o", os.path.join(tmp, "relu"), "--vgsweep", VGSWEEP,
                            "--where", "model.activation=relu", "--by", "model.depth"], capture_output=True, text=True)
        check(r.returncode == 0 and os.path.exists(os.path.join(tmp, "relu", "profiles.png")),
              f"vgplot --where --by: {r.stderr[-300:]}")
        r = subprocess.run([sys.executable, VGPLOT, out, "-o", os.path.join(tmp, "bad"), "--vgsweep", VGSWEEP,
                            "--where", "model.depht=2"], capture_output=True, text=True)
        check(r.returncode == 2 and "model.depht" in r.stderr, f"vgplot with a bad --where: {r.returncode} {r.stderr}")
        if browser:
            url = "file://" + os.path.join(figs, "index.html")
            flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                     "--virtual-time-budget=10000"]
            r = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
            n = page.count("<img ")
            check(f'data-images="{n}/{n}"' in r.stdout,
                  f"browser: every image loads: {[x for x in r.stdout.split() if 'data-images' in x]} of {n}")
            shot = os.path.join(tmp, "shot.png")
            r = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,900", url],
                               capture_output=True, text=True, timeout=120)
            check(png_size(shot) == (1200, 900) if os.path.exists(shot) else False,
                  f"browser: screenshot 1200x900 taken: {r.stderr[-300:]}")
            if os.path.exists(shot):
                import matplotlib.image
                img = matplotlib.image.imread(shot)[..., :3]
                nonwhite = float((img.mean(axis=2) < 0.95).mean())
                print(f"screenshot: {nonwhite:.1%} of the pixels not white, std {img.std():.3f}")
                check(nonwhite > 0.05 and img.std() > 0.05, f"browser: screenshot not blank ({nonwhite:.1%} non-white)")
    print(f"test_vgplot: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
