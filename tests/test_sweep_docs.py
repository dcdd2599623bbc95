"""docs/SWEEP-FORMAT.md's settings table must be what `vgsweep --list-settings=markdown` prints
(both come from the settings table in include/vgsweep/settings.h). Usage: test_sweep_docs.py VGSWEEP"""
import pathlib
import subprocess
import sys

BEGIN = "<!-- settings-table: begin"
END = "<!-- settings-table: end -->"


def main() -> int:
    vgsweep = sys.argv[1]
    doc_path = pathlib.Path(__file__).resolve().parent.parent / "docs" / "SWEEP-FORMAT.md"
    doc = doc_path.read_text(encoding="utf-8")
    if doc.count(BEGIN) != 1 or doc.count(END) != 1:
        print(f"{doc_path}: expected one '{BEGIN} ...' and one '{END}' marker", file=sys.stderr)
        return 1
    start = doc.index("\n", doc.index(BEGIN)) + 1
    in_doc = doc[start:doc.index(END)]
    printed = subprocess.run([vgsweep, "--list-settings=markdown"], check=True,
                             capture_output=True, text=True).stdout
    if in_doc == printed:
        print(f"test_sweep_docs: the settings table in {doc_path.name} is current "
              f"({printed.count(chr(10)) - 2} settings)")
        return 0
    doc_lines, bin_lines = in_doc.splitlines(), printed.splitlines()
    for i in range(max(len(doc_lines), len(bin_lines))):
        a = doc_lines[i] if i < len(doc_lines) else "(nothing)"
        b = bin_lines[i] if i < len(bin_lines) else "(nothing)"
        if a != b:
            print(f"{doc_path}: the settings table differs from `vgsweep --list-settings=markdown`"
                  f" at table line {i + 1}:\n  doc:    {a}\n  binary: {b}\n"
                  "Regenerate the section between the markers with that command.", file=sys.stderr)
            break
    return 1


if __name__ == "__main__":
    sys.exit(main())
