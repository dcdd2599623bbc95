#!/usr/bin/env bash
# Runs the fuzz_reader harness for a bounded time and judges what it found.
#   run_reader_fuzz.sh FUZZER SECONDS WORKDIR SEED_DIR...
# Debian 12's HDF5 (1.10.8) has crashes and leaks of its own on damaged files (e.g. a corrupt
# global heap: H5HG_read copies past its buffer). Those are not ours to fix, and vgsweep
# report survives them by reading in a child process (docs/REPORT.md). So libFuzzer runs in
# fork mode, going on past crashes, and every crash, leak or timeout it saved is replayed:
# one whose first frame outside libc and the sanitizer runtime is in libhdf5 is counted as
# HDF5's, anything else (a frame in vgsweep's code) fails the test.
set -uo pipefail
fuzzer=$1 seconds=$2 work=$3
shift 3
rm -rf "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts" || exit 1
"$fuzzer" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -max_total_time="$seconds" -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$@" >"$work/fuzz.log" 2>&1
echo "fuzz_reader: $(grep -c . "$work/fuzz.log") log lines; $(tail -n 3 "$work/fuzz.log" | tr '\n' ' ')"
ours=0 theirs=0
for a in "$work"/artifacts/*; do
  [ -e "$a" ] || continue
  # A saved timeout replays with libFuzzer's own limit (which prints the looping stack) under a
  # hard one: without them a replayed HDF5 loop runs for ever (libFuzzer's single-input default
  # is 20 minutes) and the whole test times out.
  timeout -s KILL 60 "$fuzzer" -timeout=10 "$a" >"$a.log" 2>&1
  # the first stack frame not in the sanitizer runtime, libc or the fuzzer itself
  frame=$(grep -E '^ +#[0-9]+ 0x' "$a.log" |
          grep -vE 'in (fuzzer::|__interceptor_|__asan|__lsan|__ubsan|__sanitizer|malloc|calloc|realloc|free|memcpy|memmove|memset|strlen|__memcpy|__memmove|__libc|abort|raise|gsignal)|libc\.so|/sanitizer_common/|/asan/|/lsan/|/ubsan/' |
          head -n 1)
  if [ -z "$frame" ] && ! grep -qE 'ERROR|SUMMARY|deadly signal|Timeout' "$a.log"; then
    continue   # does not reproduce alone (a timeout or OOM under load)
  fi
  if [[ "$frame" == *libhdf5* ]]; then
    theirs=$((theirs + 1))
  else
    ours=$((ours + 1))
    echo "fuzz_reader: FAILURE in vgsweep's code: $a"
    echo "  $frame"
    grep -E 'ERROR|SUMMARY' "$a.log" | head -n 3 | sed 's/^/  /'
  fi
done
echo "fuzz_reader: $ours finding(s) in vgsweep's code, $theirs inside HDF5 1.10 itself (tolerated)"
[ "$ours" -eq 0 ]
