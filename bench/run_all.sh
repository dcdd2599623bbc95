#!/usr/bin/env bash
# Every benchmark, twice: with the environment as CI has it, then with OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset for the benchmark commands alone. Markdown on stdout, progress on stderr.
#   bench/run_all.sh [BUILD_DIR]  > bench-results.md
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export VG_BUILD="${1:-${VG_BUILD:-$here/../build}}"
py=/usr/bin/python3
run() {
  "$py" "$here/hardware.py"
  echo
  "$py" "$here/step_vs_torch.py"
  echo
  "$py" "$here/sweep_bench.py"
  echo
  "$py" "$here/help_bench.py"
}
echo "## Environment as CI has it"
echo
run
echo
echo "## OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"
echo
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bash -c "$(declare -f run); py=$py; here=$here; run"
