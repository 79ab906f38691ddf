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

# Parses the benchmarks' common arguments, [--runs N] [--write-docs], into
# RUNS (default $1) and WRITE_DOCS; --help prints the calling script's
# header lines $2 (a sed range such as 2,11).
# shellcheck disable=SC2034  # RUNS and WRITE_DOCS are the caller's
bench_parse_args() {
  local default_runs=$1 help_lines=$2
  shift 2
  RUNS=$default_runs
  WRITE_DOCS=0
  while [[ $# -gt 0 ]]; do
    case $1 in
      --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
      --runs=*) RUNS=${1#--runs=}; shift ;;
      --write-docs) WRITE_DOCS=1; shift ;;
      -h|--help) sed -n "${help_lines}p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) osgv_die "unknown argument '$1' (usage: $0 [--runs N] [--write-docs])" ;;
    esac
  done
  [[ $RUNS =~ ^[1-9][0-9]*$ ]] || osgv_die "--runs must be a positive integer (got '$RUNS')"
}

# Inserts results block $2 into docs/benchmarks.md just above the marker
# line $1, so each benchmark's results stay in its own section.
bench_insert_into_docs() {
  local marker=$1 block=$2 docs=$OSGV_ROOT/docs/benchmarks.md
  grep -qxF "$marker" "$docs" ||
    osgv_die "docs/benchmarks.md has no line '$marker'; not writing"
  python3 - "$docs" "$marker" "$block" <<'PY'
import sys
path, marker, block = sys.argv[1:4]
with open(path) as f:
    text = f.read()
text = text.replace(marker + "\n", block + "\n\n" + marker + "\n", 1)
with open(path, "w") as f:
    f.write(text)
PY
  echo "bench: inserted the results into docs/benchmarks.md" >&2
}
