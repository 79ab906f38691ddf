# Shared by the benchmarks; sourcing it runs nothing. It brings the demo's
# helpers (busybox layout, driver start/stop/cleanup, osgv_die, ...) and
# what every comparison with raw runsc needs.
# shellcheck shell=bash

# shellcheck source=scripts/demo.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/demo.sh"

# Microseconds on the wall clock, without forking (bash 5).
now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' "$t"; }

# Makes umoci's bundle in $1 match what the driver runs, so the raw side
# boots the same sandbox: no terminal, no network namespace, a writable
# root, the image's sleep.
bench_match_driver_bundle() {
  python3 - "$1/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/sleep", "1000000"]
spec["root"]["readonly"] = False
ns = spec.get("linux", {}).get("namespaces", [])
spec["linux"]["namespaces"] = [n for n in ns if n.get("type") != "network"]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY
}
