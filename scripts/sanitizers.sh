#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/) and with ThreadSanitizer (build-tsan/), and runs them through
# ctest. Any sanitizer report fails the run: each one halts its test process
# with a non-zero exit. Only the unit test binary is built in each tree; the
# live tests need root and runsc and are not run here.
#
#   scripts/sanitizers.sh            both
#   scripts/sanitizers.sh asan|tsan  one of them
#
# Builds take /tmp/osgv-build.lock (shared with every other build on the
# machine); ccache is used when installed. Extra ctest arguments can be
# passed in OSGV_CTEST_ARGS (e.g. "-R manager").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${OSGV_JOBS:-2}
which=${1:-all}

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# Paths relative to the checkout, so a clone elsewhere (CI's) hits the cache.
export CCACHE_BASEDIR=$(pwd) CCACHE_NOHASHDIR=1
# Precompiled headers are cached only with these (scripts/build.sh).
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime

# Reports inside Debian's uninstrumented libraries that are not ours to fix
# go into scripts/sanitizer-suppressions/<tool>.supp, each commented with
# why (today: tsan.supp, absl::Status's reference count).
supp_dir=$root/scripts/sanitizer-suppressions
supp() { [[ -f $supp_dir/$1.supp ]] && echo ":suppressions=$supp_dir/$1.supp" || true; }

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1$(supp asan)"
export LSAN_OPTIONS="$(supp lsan | sed 's/^://')"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1$(supp ubsan)"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4$(supp tsan)"

run_one() {  # <name> <sanitize value>
  local name=$1 sanitize=$2 dir=$root/build-$1 t0 t1 t2
  t0=$(date +%s)
  echo "== $name: configure $dir (OSGV_SANITIZE=$sanitize)"
  cmake -S "$root" -B "$dir" "${launcher[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DOSGV_SANITIZE="$sanitize" >/dev/null
  echo "== $name: build osgv_unit_tests (waiting for /tmp/osgv-build.lock)"
  flock /tmp/osgv-build.lock cmake --build "$dir" -j"$jobs" --target osgv_unit_tests
  t1=$(date +%s)
  echo "== $name: ctest (unit tests only)"
  # TSan needs the non-randomized layout on kernels with many mmap random
  # bits (>28: "unexpected memory mapping"); setarch -R is harmless otherwise.
  local wrap=()
  if [[ $name == tsan ]] && command -v setarch >/dev/null; then wrap=(setarch "$(uname -m)" -R); fi
  # shellcheck disable=SC2086
  (cd "$dir" && "${wrap[@]}" ctest -R '^unit:' -j"$jobs" --output-on-failure --timeout 600 \
     ${OSGV_CTEST_ARGS:-})
  t2=$(date +%s)
  echo "== $name: passed (build $((t1 - t0)) s, tests $((t2 - t1)) s)"
}

start=$(date +%s)
case $which in
  asan) run_one asan "address,undefined" ;;
  tsan) run_one tsan thread ;;
  all)
    run_one asan "address,undefined"
    run_one tsan thread
    ;;
  *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;;
esac
echo "== sanitizers: all clean in $(( $(date +%s) - start )) s"
