#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang-14 (ASan + UBSan) in
# build-fuzz/ and runs each for a bounded time, starting from its committed
# seed corpus (fuzz/corpus/<target>/, never written to). Fails if any target
# finds a crash, a broken invariant, a leak or a timeout; prints each
# target's executions either way.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 30 s each, all targets
#
# Environment: OSGV_FUZZ_BUILD_DIR (default build-fuzz), OSGV_BUILD_LOCK (a
# file to flock around the build, for machines that share their cores).
# Findings go to <build>/artifacts/<target>-crash-*; reproduce one with
#   <build>/<target> <that file>
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OSGV_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-30}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(image_reference_fuzzer quantity_fuzzer config_fuzzer
           request_validation_fuzzer spec_codec_fuzzer sandbox_manifest_fuzzer)
fi

for tool in clang-14 clang++-14 cmake; do
  command -v "$tool" >/dev/null || {
    echo "fuzz.sh: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done

lock=()
[[ -n ${OSGV_BUILD_LOCK:-} ]] && lock=(flock "$OSGV_BUILD_LOCK")
CC=clang-14 CXX=clang++-14 cmake -S "$root/fuzz" -B "$build" >/dev/null
"${lock[@]}" cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null

mkdir -p "$build/artifacts"
failed=()
for t in "${targets[@]}"; do
  seeds=$root/fuzz/corpus/$t
  work=$build/corpus/$t  # what this and earlier runs found; seeds stay as committed
  mkdir -p "$work"
  log=$build/$t.log
  status=0
  "$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
    "$work" "$seeds" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  if ((status != 0)); then
    echo "$t: FAILED (exit $status) after ${execs:-?} executions; log: $log"
    grep -E '^(==[0-9]+==ERROR|invariant broken|SUMMARY|artifact_prefix|Test unit written)' "$log" |
      head -n 20 | sed 's/^/  /'
    failed+=("$t")
  else
    echo "$t: ok, ${execs:-?} executions in ${seconds}s"
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
