#!/usr/bin/env bash
# Feeds a trimmed rendering of the upstream chart (openshell-chart-rendered.yaml)
# through deploy/helm/openshell-driver-gvisor/post-renderer.sh, once with the
# default image, once with OSGV_DRIVER_IMAGE and once with OSGV_METRICS_PORT, and checks the result with
# check_post_rendered.py; then runs the driver's own --check-config on the
# driver.yaml that ends up in the ConfigMap.
#   usage: helm_post_renderer_test.sh DRIVER_BINARY
set -euo pipefail

binary=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plugin=$here/../../deploy/helm/openshell-driver-gvisor

if ! command -v kubectl >/dev/null && ! command -v kustomize >/dev/null; then
  echo "SKIP: neither kubectl nor kustomize is installed (scripts/install-deps.sh installs kubernetes-client)"
  exit 77
fi
if ! python3 -c 'import yaml, tomllib' 2>/dev/null; then
  echo "SKIP: python3 with yaml (python3-yaml) and tomllib (3.11+) is needed for the checker"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/osgv-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT

bash "$plugin/post-renderer.sh" <"$here/openshell-chart-rendered.yaml" >"$work/default.yaml"
python3 "$here/check_post_rendered.py" "$work/default.yaml" openshell-driver-gvisor:0.1.0 "$work/driver.yaml"

OSGV_DRIVER_IMAGE=registry.invalid:5000/osgv/driver:9.9 \
  bash "$plugin/post-renderer.sh" <"$here/openshell-chart-rendered.yaml" >"$work/custom.yaml"
python3 "$here/check_post_rendered.py" "$work/custom.yaml" registry.invalid:5000/osgv/driver:9.9 "$work/driver2.yaml"

# Metrics: only with OSGV_METRICS_PORT (the runs above checked their absence).
OSGV_METRICS_PORT=9464 \
  bash "$plugin/post-renderer.sh" <"$here/openshell-chart-rendered.yaml" >"$work/metrics.yaml"
python3 "$here/check_post_rendered.py" "$work/metrics.yaml" openshell-driver-gvisor:0.1.0 "$work/driver3.yaml" 9464
if OSGV_METRICS_PORT=70000 bash "$plugin/post-renderer.sh" <"$here/openshell-chart-rendered.yaml" >/dev/null 2>&1; then
  echo "FAIL: post-renderer.sh accepted OSGV_METRICS_PORT=70000"
  exit 1
fi
echo "ok: a bad OSGV_METRICS_PORT is refused"

# Keys that config.cc does not know would stop the sidecar at startup.
"$binary" serve --config "$work/driver.yaml" --check-config >/dev/null
"$binary" serve --config "$work/driver3.yaml" --check-config >/dev/null
echo "ok: the ConfigMap's driver.yaml passes serve --check-config, with metrics too"

# An empty stdin must fail loudly rather than install nothing.
if bash "$plugin/post-renderer.sh" </dev/null >/dev/null 2>&1; then
  echo "FAIL: post-renderer.sh accepted empty input"
  exit 1
fi
echo "ok: empty input is refused"
