#!/usr/bin/env bash
# examples/driver.yaml must load in the driver (config.cc refuses unknown
# keys), and examples/gateway.toml must select the driver with both tables
# and name the socket driver.yaml listens on.
#   usage: examples_test.sh DRIVER_BINARY
set -euo pipefail

binary=$1
examples=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../examples" && pwd)

cfg=$("$binary" serve --config "$examples/driver.yaml" --check-config) ||
  { echo "FAIL: examples/driver.yaml is refused by serve --check-config"; exit 1; }
echo "ok: examples/driver.yaml passes serve --check-config"

# Every metric an example alert uses must be one docs/operations.md lists
# (and so one the driver exports): a renamed metric would silence an alert.
docs=$examples/../docs/operations.md
for name in $(grep -o 'osgv_[a-z_]*' "$examples/prometheus-alerts.yaml" | sort -u); do
  grep -q "^| \`$name\` |" "$docs" ||
    { echo "FAIL: examples/prometheus-alerts.yaml uses $name, which docs/operations.md does not list"; exit 1; }
done
echo "ok: examples/prometheus-alerts.yaml uses only documented metrics"

if ! python3 -c 'import tomllib' 2>/dev/null; then
  echo "SKIP: python3 3.11+ (tomllib) is needed to read examples/gateway.toml"
  exit 77
fi
socket=$(awk '/^socket:/ { s = 1; next } s && $1 == "path:" { gsub(/"/, "", $2); print $2; exit }' <<<"$cfg")
python3 - "$examples/gateway.toml" "$socket" <<'PY'
import sys, tomllib
path, socket = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    t = tomllib.load(f)["openshell"]
problems = []
if t.get("gateway", {}).get("compute_drivers") != ["gvisor"]:
    problems.append('[openshell.gateway] compute_drivers is not ["gvisor"]')
got = t.get("drivers", {}).get("gvisor", {}).get("socket_path")
if got != socket:
    problems.append(f"[openshell.drivers.gvisor] socket_path {got!r} is not driver.yaml's {socket!r}")
extra = set(t.get("drivers", {}).get("gvisor", {})) - {"socket_path"}
if extra:
    problems.append(f"[openshell.drivers.gvisor] has keys the gateway ignores: {sorted(extra)}")
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
PY
echo "ok: examples/gateway.toml selects gvisor on $socket"
