#!/usr/bin/env bash
# Configures and builds into ./build (or $BUILD_DIR). Two cores: -j2.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# ccache (a Debian package) makes a rebuild of unchanged sources, and the
# sanitizer trees' shared headers, nearly free; the build works without it.
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# Paths relative to the checkout, so a clone elsewhere (CI's) hits the cache.
export CCACHE_BASEDIR=$(pwd) CCACHE_NOHASHDIR=1
cmake -S . -B "$BUILD_DIR" "${launcher[@]}" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$BUILD_DIR" -j"${JOBS:-2}"
