#!/usr/bin/env bash
# Runs the libFuzzer harnesses built by `make fuzz-build` (build/fuzz/bin/fuzz/).
#
#   run.sh SECONDS [TARGET...]          make fuzz: each target for SECONDS
#   run.sh --check SECONDS [TARGET...]  make fuzz-check (in make test): the same, bounded,
#                                       from the seed corpus only
#
# A target is a harness's path under tests/fuzz/ without .c (gateway/routes); none = all.
# Each run starts from the seed corpus in the repository (tests/fuzz/corpus/TARGET/, every
# input of which must pass) and, for make fuzz, from what earlier runs found
# (build/fuzz/corpus/TARGET/, which grows; never committed). The dictionary is the one the
# harness's comment names (tests/fuzz/dict/). A crash, a leak, a sanitizer report, a
# failed property (FUZZ_CHECK), a timeout (over 10 s for one input) or memory past
# 2 GiB fails the target: its input is kept as build/fuzz/artifacts/TARGET/crash-* (or
# leak-*, timeout-*, oom-*) and its log in build/fuzz/logs/TARGET.log. Reproduce with
#   build/fuzz/bin/fuzz/TARGET build/fuzz/artifacts/TARGET/crash-...
# then fix the cause, add a unit test, and copy the input into the seed corpus.
# Exits 1 if any target failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi
seconds=${1:?usage: run.sh [--check] SECONDS [TARGET...]}
shift
case $seconds in '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number" >&2 && exit 2 ;; esac

bin=build/fuzz/bin/fuzz
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  # Every harness source (the files directly in tests/fuzz/ are their support),
  # not every binary: one left from a harness since renamed is not a target.
  while IFS= read -r f; do
    f=${f#tests/fuzz/}
    targets+=("${f%.c}")
  done < <(find tests/fuzz -mindepth 2 -name '*.c' -not -path 'tests/fuzz/corpus/*' | sort)
fi
[ "${#targets[@]}" -gt 0 ] || { echo "run.sh: no harness in tests/fuzz/" >&2 && exit 2; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
for t in "${targets[@]}"; do
  exe=$bin/$t
  src=tests/fuzz/$t.c
  seeds=tests/fuzz/corpus/$t
  [ -x "$exe" ] || { echo "run.sh: no harness $exe (make fuzz-build)" >&2 && exit 2; }
  [ -d "$seeds" ] || { echo "run.sh: no seed corpus $seeds" >&2 && exit 2; }
  mkdir -p "build/fuzz/artifacts/$t" "build/fuzz/logs/$(dirname "$t")"
  log=build/fuzz/logs/$t.log
  if [ "$check" -eq 1 ]; then
    work=$(mktemp -d -t caisse-fuzz.XXXXXX)
  else
    work=build/fuzz/corpus/$t
    mkdir -p "$work"
  fi
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="build/fuzz/artifacts/$t/")
  dict=$(grep -o 'tests/fuzz/dict/[A-Za-z0-9_.-]*\.dict' "$src" | head -n1 || true)
  if [ -n "$dict" ]; then
    opts+=(-dict="$dict")
  fi
  # The first directory is where new inputs go; the seeds are only read.
  if "$exe" "${opts[@]}" "$work" "$seeds" >"$log" 2>&1; then
    done_line=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 inputs in \2 s/p' "$log" | tail -n1)
    cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\).*/\1/p' "$log" | tail -n1)
    echo "fuzz: $t: ok, ${done_line:-?}, coverage ${cov:-?} edges"
    passed=$((passed + 1))
  else
    echo "fuzz: $t: FAILED (log $log, inputs in build/fuzz/artifacts/$t/)" >&2
    grep -E 'ERROR: |SUMMARY: |fuzz check failed|runtime error|Test unit written' "$log" | head -n 20 >&2 || true
    failed=$((failed + 1))
  fi
  if [ "$check" -eq 1 ]; then
    rm -rf "$work"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
