#!/usr/bin/env bash
# Installs the Debian packages, builds, and runs every test through ctest,
# then the unit tests again under ASan+UBSan and TSan (scripts/sanitizers.sh)
# and each libFuzzer target for a bounded time (scripts/fuzz.sh).
# Live tests (real runsc) run only with OPENSHELL_GVISOR_LIVE=1; without it
# ctest lists them as skipped and says why. OSGV_SANITIZERS=0 and
# OSGV_FUZZ_SECONDS=0 skip the two extra stages (say, while iterating).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${OSGV_SKIP_DEPS:-0} != 1 ]]; then
  bash scripts/install-deps.sh
fi
bash scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 "$@")

if [[ ${OSGV_SANITIZERS:-1} != 0 ]]; then
  bash scripts/sanitizers.sh all
else
  echo "test.sh: sanitizer builds skipped (OSGV_SANITIZERS=0)"
fi
if [[ ${OSGV_FUZZ_SECONDS:-20} != 0 ]]; then
  bash scripts/fuzz.sh "${OSGV_FUZZ_SECONDS:-20}"
else
  echo "test.sh: fuzzers skipped (OSGV_FUZZ_SECONDS=0)"
fi
