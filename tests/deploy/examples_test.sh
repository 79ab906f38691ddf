#!/usr/bin/env bash
# The example configurations must load and agree with each other:
# - examples/driver.yaml and examples/driver-v01.yaml load in the driver
#   (config.cc refuses unknown keys);
# - every examples/*.toml is a gateway configuration of one generation (the
#   file name says which: *ryno* = Ryno, *v0.1* = v0.1.x, else v0.0.x) with
#   that generation's keys, naming the socket its driver example listens on
#   (driver.yaml for v0.0.x, driver-v01.yaml for the others);
# - the admission settings of each v0.1.x/Ryno example equal, as parsed
#   structures with the defaults filled in, the driver example's
#   gateway.admission_config_json (what the gateway checks at its start,
#   docs/generations.md).
#   usage: examples_test.sh DRIVER_BINARY
set -euo pipefail

binary=$1
examples=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../examples" && pwd)

# The socket.path of a driver example, from the effective configuration.
check_driver_example() {
  local name=$1 cfg
  cfg=$("$binary" serve --config "$examples/$name" --check-config) ||
    { echo "FAIL: examples/$name is refused by serve --check-config" >&2; return 1; }
  echo "ok: examples/$name passes serve --check-config" >&2
  awk '/^socket:/ { s = 1; next } s && $1 == "path:" { gsub(/"/, "", $2); print $2; exit }' <<<"$cfg"
}
socket_v0=$(check_driver_example driver.yaml)
socket_v01=$(check_driver_example driver-v01.yaml)

# Every metric an example alert uses must be one docs/operations.md lists
# (and so one the driver exports): a renamed metric would silence an alert.
docs=$examples/../docs/operations.md
for name in $(grep -o 'osgv_[a-z_]*' "$examples/prometheus-alerts.yaml" | sort -u); do
  grep -q "^| \`$name\` |" "$docs" ||
    { echo "FAIL: examples/prometheus-alerts.yaml uses $name, which docs/operations.md does not list"; exit 1; }
done
echo "ok: examples/prometheus-alerts.yaml uses only documented metrics"

if ! python3 -c 'import tomllib, yaml' 2>/dev/null; then
  echo "SKIP: python3 3.11+ (tomllib) and PyYAML (python3-yaml) are needed to read the gateway examples"
  exit 77
fi
python3 - "$examples" "$socket_v0" "$socket_v01" <<'PY'
import glob, json, os, sys, tomllib, yaml

examples, socket_v0, socket_v01 = sys.argv[1:4]
problems = []

def fail(path, message):
    problems.append(f"examples/{os.path.basename(path)}: {message}")

def generation(path):
    name = os.path.basename(path)
    if "ryno" in name:
        return "ryno"
    return "v0.1" if "v0.1" in name else "v0"

# Upstream's driver admission configuration (gateway-contract-v01.md §3.3):
# unknown keys are errors at both levels, absent keys take the defaults, and
# the default labels carry the gateway family's prefix.
def admission(raw, prefix, where, path):
    if not isinstance(raw, dict):
        fail(path, f"{where}: not a table/object")
        return None
    extra = set(raw) - {"allow_driver_config", "resource_admission"}
    ra = raw.get("resource_admission", {})
    if not isinstance(ra, dict):
        fail(path, f"{where}: resource_admission is not a table/object")
        return None
    extra |= {f"resource_admission.{k}" for k in set(ra) - {"enabled", "required_labels"}}
    if extra:
        fail(path, f"{where}: keys the gateway refuses: {sorted(extra)}")
        return None
    policy = {
        "allow_driver_config": raw.get("allow_driver_config", False),
        "enabled": ra.get("enabled", True),
        "required_labels": ra.get("required_labels", {
            f"{prefix}.ai/sandbox-attachable": "true",
            f"{prefix}.ai/sandbox-attachable-workspace": "${workspace}",
        }),
    }
    labels = policy["required_labels"]
    if not isinstance(policy["allow_driver_config"], bool) or not isinstance(policy["enabled"], bool):
        fail(path, f"{where}: allow_driver_config and resource_admission.enabled must be booleans")
    elif not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        fail(path, f"{where}: resource_admission.required_labels must map strings to strings")
    else:
        return policy
    return None

with open(os.path.join(examples, "driver-v01.yaml"), "rb") as f:
    driver_json = (yaml.safe_load(f).get("gateway") or {}).get("admission_config_json", "{}")
try:
    driver_admission = json.loads(driver_json)
except json.JSONDecodeError as e:
    driver_admission = None
    problems.append(f"examples/driver-v01.yaml: gateway.admission_config_json is not JSON: {e}")

def check_v0(path, doc):
    t = doc.get("openshell", {})
    if set(doc) != {"openshell"}:
        fail(path, f"top-level tables {sorted(doc)}, expected only [openshell]")
    if t.get("version", 1) != 1:
        fail(path, f"[openshell] version {t.get('version')!r}: a v0.0.x gateway reads version 1")
    gateway = t.get("gateway", {})
    if "compute_driver" in gateway:
        fail(path, "[openshell.gateway] compute_driver is the v0.1.x key; v0.0.x uses compute_drivers")
    drivers = gateway.get("compute_drivers")
    # Absent is allowed (then --drivers gvisor selects the driver), except in
    # gateway.toml, whose comments say the file selects it.
    if (drivers is not None or os.path.basename(path) == "gateway.toml") and drivers != ["gvisor"]:
        fail(path, '[openshell.gateway] compute_drivers is not ["gvisor"]')
    table = t.get("drivers", {}).get("gvisor", {})
    if table.get("socket_path") != socket_v0:
        fail(path, f"[openshell.drivers.gvisor] socket_path {table.get('socket_path')!r} "
                   f"is not driver.yaml's {socket_v0!r}")
    extra = set(table) - {"socket_path"}
    if extra:
        fail(path, f"[openshell.drivers.gvisor] has keys a v0.0.x gateway ignores: {sorted(extra)}")

def check_v01(path, doc, prefix):
    if set(doc) != {prefix}:
        fail(path, f"top-level tables {sorted(doc)}, expected only [{prefix}]")
        return
    t = doc[prefix]
    if t.get("version") != 2:
        fail(path, f"[{prefix}] version is {t.get('version')!r}, schema 2 is required")
    gateway = t.get("gateway", {})
    if gateway.get("compute_driver") != "gvisor":
        fail(path, f'[{prefix}.gateway] compute_driver is {gateway.get("compute_driver")!r}, not "gvisor"')
    if "compute_drivers" in gateway:
        fail(path, f"[{prefix}.gateway] compute_drivers (the --drivers-era list) is rejected by this gateway")
    drivers = t.get("drivers", {})
    if set(drivers) != {"gvisor"}:
        fail(path, f"[{prefix}.drivers] has tables {sorted(drivers)}, expected only gvisor")
    table = drivers.get("gvisor", {})
    if table.get("socket_path") != socket_v01:
        fail(path, f"[{prefix}.drivers.gvisor] socket_path {table.get('socket_path')!r} "
                   f"is not driver-v01.yaml's {socket_v01!r}")
    extra = set(table) - {"socket_path", "allow_driver_config", "resource_admission"}
    if extra:
        fail(path, f"[{prefix}.drivers.gvisor] has keys the gateway does not read here: {sorted(extra)}")
        return
    gateway_side = admission({k: v for k, v in table.items() if k != "socket_path"},
                             prefix, f"[{prefix}.drivers.gvisor]", path)
    if driver_admission is None:
        return
    driver_side = admission(driver_admission, prefix,
                            "driver-v01.yaml gateway.admission_config_json", path)
    if gateway_side is not None and driver_side is not None and gateway_side != driver_side:
        fail(path, f"admission settings {gateway_side} differ from driver-v01.yaml's "
                   f"gateway.admission_config_json {driver_side}: the gateway would refuse to start")

paths = sorted(glob.glob(os.path.join(examples, "*.toml")))
seen = set()
for path in paths:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        fail(path, f"not TOML: {e}")
        continue
    gen = generation(path)
    seen.add(gen)
    if gen == "v0":
        check_v0(path, doc)
    else:
        check_v01(path, doc, "ryno" if gen == "ryno" else "openshell")
    print(f"checked: examples/{os.path.basename(path)} as a {gen} gateway configuration")
for gen in sorted({"v0", "v0.1", "ryno"} - seen):
    problems.append(f"examples/: no gateway example for generation {gen}")
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
PY
echo "ok: the gateway examples select gvisor on $socket_v0 (v0.0.x) and $socket_v01 (v0.1.x, Ryno), and their admission settings match driver-v01.yaml"
