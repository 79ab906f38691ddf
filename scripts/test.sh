#!/usr/bin/env bash
# Installs the Debian packages, builds, and runs every test through ctest.
# Live tests (real runsc) run only with OPENSHELL_GVISOR_LIVE=1; without it
# ctest lists them as skipped and says why.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${OSGV_SKIP_DEPS:-0} != 1 ]]; then
  bash scripts/install-deps.sh
fi
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 "$@"
