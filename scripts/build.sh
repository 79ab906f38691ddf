#!/usr/bin/env bash
# Configures and builds into ./build (or $BUILD_DIR). Two cores: -j2.
#
#   scripts/build.sh                          # every target (scripts/test.sh, CI)
#   scripts/build.sh openshell-driver-gvisor  # only the named targets (scripts/demo.sh)
#
# OSGV_DEBUG_INFO=OFF builds without -g (the demo's first build: a quarter
# less compile time, the same code; docs/benchmarks.md, "First run").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# ccache (a Debian package) makes a rebuild of unchanged sources, and the
# sanitizer trees' shared headers, nearly free; the build works without it.
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# Paths relative to the checkout, so a clone elsewhere (CI's) hits the cache.
export CCACHE_BASEDIR=$(pwd) CCACHE_NOHASHDIR=1
# The precompiled headers (CMakeLists.txt, OSGV_PCH) are cached only with
# these: without them every compile that uses one is a miss.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake -S . -B "$BUILD_DIR" "${launcher[@]}" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} \
  -DOSGV_DEBUG_INFO=${OSGV_DEBUG_INFO:-ON} >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" "${targets[@]}"
