"""The build's own checks (docs/ARCHITECTURE.md, "The build"):
- cmake/check_layers.cmake passes on this tree and fails, naming the file, the line and the rule,
  on each kind of forbidden include made in a copy of it (another stage's public header not in
  the table, another stage's private header, a public header using a private dependency, an
  outside library the stage may not use, a header or folder in no row); and it fails the build
  itself: the copy configured, its stage library does not build;
- cmake/buildinfo.cmake on made-up trees: the revision and dirty flag of a git checkout as they
  change (rewriting its file only when they do), unknown without git or inside another
  repository, a `git archive` tree's revision, the flags and sanitizers of a compile command.
Usage: test_build.py PATH/TO/vgsweep CMAKE SOURCE_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from vgtest import check, failures

CMAKE, SRC = sys.argv[2], sys.argv[3]
GIT = shutil.which("git")


def check_layers(tree):
    r = subprocess.run([CMAKE, f"-DVG_SOURCE_DIR={tree}", "-P", os.path.join(tree, "cmake", "check_layers.cmake")],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def copy_tree(dst):
    """The source tree without .git and the build trees at its top (build, build-asan, ...)."""
    def ignore(d, names):
        top = os.path.realpath(d) == os.path.realpath(SRC)
        return [n for n in names if n in (".git", "__pycache__") or top and (n.startswith("build") or n == "results")]
    shutil.copytree(SRC, dst, ignore=ignore)


def edit(path, line, text):
    """Inserts text as line number `line` (1-based; 0: appended) of path; returns its line."""
    with open(path) as f:
        lines = f.read().split("\n")
    if line == 0:
        line = len(lines) if lines[-1] == "" else len(lines) + 1
        lines.insert(line - 1, text)
    else:
        lines.insert(line - 1, text)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return line


def layers():
    rc, out = check_layers(SRC)
    check(rc == 0, f"check_layers fails on this tree: {out}")
    cases = [  # file, line (0: at the end), the include, what the message must say
        ("src/util/error.c", 0, '#include "vgsweep/record.h"', "util may not depend on record"),
        ("src/nn/gemm.c", 1, '#include "record/part.h"', "record/part.h is a private header of record"),
        ("include/vgsweep/nn.h", 6, '#include "vgsweep/data.h"', "nn may not depend on data"),
        ("src/report/report.c", 3, "#include <hdf5.h>", "report may not use hdf5"),
        ("src/train/train.c", 2, '#  include "../record/part.h"', "reaches out of src/train/"),
    ]
    for rel, line, inc, rule in cases:
        with tempfile.TemporaryDirectory() as tmp:
            tree = os.path.join(tmp, "t")
            copy_tree(tree)
            at = edit(os.path.join(tree, rel), line, inc)
            rc, out = check_layers(tree)
            check(rc != 0, f"{inc} in {rel}: the check passes")
            check(f"{rel}:{at}: #include " in out and rule in out and "cmake/vg_layers.cmake" in out,
                  f"{inc} in {rel}:{at}: the message lacks the place or the rule ({rule!r}): {out}")
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "t")
        copy_tree(tree)
        with open(os.path.join(tree, "include/vgsweep/extra.h"), "w") as f:
            f.write("/* a header in no row */\n")
        os.makedirs(os.path.join(tree, "src/extra"))
        with open(os.path.join(tree, "src/extra/x.c"), "w") as f:
            f.write("int x;\n")
        rc, out = check_layers(tree)
        check(rc != 0 and "include/vgsweep/extra.h: belongs to no stage" in out and
              "src/extra/: no row for stage extra" in out, f"a header and a folder in no row: {out}")
    # The exceptions are what allows today's two private includes across stages: without
    # them, those includes fail.
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "t")
        copy_tree(tree)
        table = os.path.join(tree, "cmake/vg_layers.cmake")
        with open(table) as f:
            text = f.read()
        with open(table, "w") as f:
            f.write(re.sub(r'\n  "data  \| config/internal.h[^\n]*', "", text))
        rc, out = check_layers(tree)
        check(rc != 0 and re.search(r'src/data/csv.c:\d+: #include "config/internal.h": config/internal.h '
                                    r"is a private header of config", out),
              f"without its exception, data's include of config/internal.h passes: {out}")


def docs_table():
    """docs/ARCHITECTURE.md shows the table the build uses: the same stages, headers, public and
    private stages."""
    with open(os.path.join(SRC, "cmake/vg_layers.cmake")) as f:
        text = f.read()
    block = re.search(r"set\(VG_LAYERS\n(.*?)\n\)", text, re.S).group(1)
    table = {}
    for line in block.split("\n"):
        m = re.match(r'\s*"(.*)"\s*$', line)
        if m:
            cols = [c.split() for c in m.group(1).split("|")]
            table[cols[0][0]] = [sorted(c) for c in cols[1:4]]
    with open(os.path.join(SRC, "docs/ARCHITECTURE.md")) as f:
        doc = f.read().split("## The build", 1)[1]
    shown = {}
    for line in doc.split("\n"):
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cols) == 5 and cols[0] != "stage":
            shown[cols[0]] = [sorted(c.replace("—", "").split()) for c in cols[1:4]]
    check(len(table) == 9, f"cmake/vg_layers.cmake: {sorted(table)}")
    check(shown == table, f"docs/ARCHITECTURE.md's table {shown} is not cmake/vg_layers.cmake's {table}")


def build_fails():
    """The check is part of the build: a copy with a forbidden include configures, and its
    stage library does not build, with the rule in the build's output."""
    with tempfile.TemporaryDirectory() as tmp:
        tree, build = os.path.join(tmp, "t"), os.path.join(tmp, "b")
        copy_tree(tree)
        at = edit(os.path.join(tree, "src/util/rng.c"), 0, '#include "vgsweep/train.h"')
        r = subprocess.run([CMAKE, "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=Release"],
                           capture_output=True, text=True)
        if not check(r.returncode == 0, f"configure of the copy: {r.stdout}{r.stderr}"):
            return
        r = subprocess.run([CMAKE, "--build", build, "--target", "vg_util"], capture_output=True, text=True)
        out = r.stdout + r.stderr
        check(r.returncode != 0 and f'src/util/rng.c:{at}: #include "vgsweep/train.h": util may not depend on train' in out,
              f"the build of vg_util with a forbidden include: exit {r.returncode}: {out[-2000:]}")
        check(not os.path.exists(os.path.join(build, "libvg_util.a")), "libvg_util.a was built anyway")


def buildinfo_run(tree, build, db=None):
    """Runs cmake/buildinfo.cmake for a made-up tree; returns (fields, mtime of its file)."""
    os.makedirs(os.path.join(build, "generated"), exist_ok=True)
    with open(os.path.join(build, "generated/buildinfo_config.cmake"), "w") as f:
        f.write(f'set(VG_VERSION "9.9.9")\nset(VG_BUILD_TYPE "Debug")\nset(VG_COMPILER "GNU 1.2.3")\n'
                f'set(VG_GIT "{GIT}")\nset(VG_FLAGS_SOURCE "src/nn/gemm.c")\n'
                f'set(VG_FALLBACK_FLAGS "-g  -O0")\n')
    if db is not None:
        with open(os.path.join(build, "compile_commands.json"), "w") as f:
            json.dump(db, f)
    out = os.path.join(build, "generated/buildinfo_gen.c")
    r = subprocess.run([CMAKE, f"-DVG_SOURCE_DIR={tree}", f"-DVG_BINARY_DIR={build}", f"-DVG_OUT={out}",
                        "-P", os.path.join(SRC, "cmake/buildinfo.cmake")], capture_output=True, text=True)
    check(r.returncode == 0, f"buildinfo.cmake: {r.stderr}")
    with open(out) as f:
        text = f.read()
    fields = dict(re.findall(r'\.(\w+) = "?(.*?)"?,\n', text))
    return fields, os.stat(out).st_mtime_ns


def git(tree, *args):
    return subprocess.run([GIT, "-C", tree, "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def buildinfo():
    with tempfile.TemporaryDirectory() as tmp:
        tree, build = os.path.join(tmp, "tree"), os.path.join(tmp, "build")
        os.makedirs(tree)
        with open(os.path.join(tree, "a.c"), "w") as f:
            f.write("int a;\n")
        # No git: unknown, and the fallback flags (no compile_commands.json).
        info, _ = buildinfo_run(tree, build)
        check(info["git_revision"] == "unknown" and info["git_dirty"] == "-1",
              f"a tree without git: {info}")
        check(info["c_flags"] == "-g -O0" and info["sanitizers"] == "none" and info["build_type"] == "Debug"
              and info["version"] == "9.9.9" and info["compiler"] == "GNU 1.2.3", f"fallback values: {info}")
        if GIT is None:  # tools/setup installs it; a machine without it records "unknown"
            print("test_build: git is not installed: the revision of a git tree not checked")
            return
        git(tree, "init", "-q")
        git(tree, "add", "a.c")
        git(tree, "commit", "-qm", "one")
        info, t0 = buildinfo_run(tree, build)
        check(info["git_revision"] == git(tree, "rev-parse", "HEAD") and info["git_dirty"] == "0",
              f"a clean checkout: {info}")
        info, t1 = buildinfo_run(tree, build)
        check(t1 == t0, "the file is rewritten when nothing changed (everything would recompile)")
        with open(os.path.join(tree, "a.c"), "a") as f:
            f.write("int b;\n")
        info, t2 = buildinfo_run(tree, build)
        check(info["git_dirty"] == "1" and t2 != t1, f"an edited tracked file: {info}")
        with open(os.path.join(tree, "new.c"), "w") as f:
            f.write("int c;\n")  # untracked files do not make it dirty (build trees, notes)
        git(tree, "commit", "-qam", "two")
        info, _ = buildinfo_run(tree, build)
        check(info["git_revision"] == git(tree, "rev-parse", "HEAD") and info["git_dirty"] == "0",
              f"after a commit (an untracked file beside): {info}")
        # A tree inside another repository (a tarball unpacked there) is not its revision.
        inner = os.path.join(tree, "unpacked")
        os.makedirs(inner)
        info, _ = buildinfo_run(inner, os.path.join(tmp, "build2"))
        check(info["git_revision"] == "unknown", f"a tree inside another repository: {info}")
        # A `git archive` tree: cmake/git-revision substituted.
        archive = os.path.join(tmp, "archive")
        os.makedirs(os.path.join(archive, "cmake"))
        with open(os.path.join(archive, "cmake/git-revision"), "w") as f:
            f.write("0123456789abcdef0123456789abcdef01234567\n")
        info, _ = buildinfo_run(archive, os.path.join(tmp, "build3"))
        check(info["git_revision"] == "0123456789abcdef0123456789abcdef01234567" and info["git_dirty"] == "-1",
              f"a git archive tree: {info}")
        with open(os.path.join(archive, "cmake/git-revision"), "w") as f:
            f.write("$Format:%H$\n")
        info, _ = buildinfo_run(archive, os.path.join(tmp, "build3"))
        check(info["git_revision"] == "unknown", f"an unsubstituted cmake/git-revision: {info}")
        # The flags of the training core's compile command.
        db = [{"directory": build, "file": "/x/src/util/rng.c", "command": "/usr/bin/cc -O1 -c /x/src/util/rng.c"},
              {"directory": build, "file": "/x/src/nn/gemm.c",
               "command": "/usr/bin/cc -DA=1 -I/inc -isystem /sys/inc -O1 -g -fsanitize=address,undefined "
                          "-fno-omit-frame-pointer -march=native -std=c11 -o CMakeFiles/x.o -c /x/src/nn/gemm.c"}]
        info, _ = buildinfo_run(tree, os.path.join(tmp, "build4"), db)
        check(info["c_flags"] == "-DA=1 -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -march=native -std=c11"
              and info["sanitizers"] == "address,undefined", f"flags of a compile command: {info}")


def main():
    layers()
    docs_table()
    build_fails()
    buildinfo()
    if failures:
        print(f"test_build: {len(failures)} failed", file=sys.stderr)
        return 1
    print("test_build: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
