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

# ---- timing, snapshots, raw runsc and the driver, as the Stop/Start benchmarks use them ----

# Runs "$@" quietly and stores its wall time in ms in ELAPSED; fails if it fails.
ELAPSED=0
timed() {
  local t0 t1
  t0=${EPOCHREALTIME/[.,]/}
  "$@"
  t1=${EPOCHREALTIME/[.,]/}
  ELAPSED=$(((t1 - t0 + 500) / 1000))
}

# timed, keeping the command's stdout in CAPTURED (a file, not a subshell,
# so ELAPSED survives).
CAPTURED=""
timed_capture() {
  timed "$@" >"$OSGV_TMP/captured"
  CAPTURED=$(<"$OSGV_TMP/captured")
}

# Prints one field of a sandbox snapshot from `ctl --json get`:
# instance_id, or the first condition's type, reason or message.
snapshot_field() {
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])
s = d["status"]
c = (s.get("conditions") or [{}])[0]
print({"instance_id": s.get("instance_id", "")}.get(sys.argv[2], c.get(sys.argv[2], "")))
' "$1" "$2"
}

# `ctl --json get ID` into SNAP.
SNAP=""
get_snapshot() { SNAP=$(osgv_ctl --json get "$1"); }

# Asserts the snapshot in SNAP has condition $1 with a message matching $2.
expect_snapshot() {
  local type message
  type=$(snapshot_field "$SNAP" type)
  message=$(snapshot_field "$SNAP" message)
  [[ $type == "$1" && $message =~ $2 ]] ||
    osgv_die "expected $1 /$2/, got $type: $message"
  printf '%s' "$message"
}

RAW=()       # runsc with the driver's global flags, on our own --root
RAW_LOG=""

# runsc that hands its stdio to the sandbox gets /dev/null and our log:
# never a pipe we would wait on.
raw() { "${RAW[@]}" "$@" </dev/null >>"$RAW_LOG" 2>&1 || osgv_die "runsc $1 failed (see $RAW_LOG)"; }

raw_status() { "${RAW[@]}" state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }

# After `checkpoint` returns, runsc says "running" until the sandbox process
# has exited and been reaped (runsc.md, backports section); only then does
# `delete` work. The raw sandbox's reaper is this host's PID 1, which may
# reap more than a second late (runsc.md §3), so this wait is not timed.
raw_wait_stopped() {
  local id=$1 deadline
  deadline=$(($(now_us) + 10000000))
  while [[ $(raw_status "$id") == running ]]; do
    (($(now_us) < deadline)) || osgv_die "raw sandbox $id still running 10 s after checkpoint"
    sleep 0.02
  done
}

# `ctl --json stop|start ID`: stores the whole command's wall time in ms in
# ELAPSED and the RPC's own duration, as ctl measured it on a connected
# channel, in RPC_MS.
RPC_MS=0
ctl_rpc() {
  local out
  timed_capture osgv_ctl --json "$@"
  out=$CAPTURED
  RPC_MS=$(sed -n 's/.*"rpc_ms":\([0-9.]*\).*/\1/p' <<<"$out")
  [[ -n $RPC_MS ]] || osgv_die "ctl $1 printed no rpc_ms: $out"
}

# Creates a sandbox, waits for Ready=True and prints its id.
driver_create() {
  local json
  json=$(osgv_ctl --json create --image "$IMAGE" --wait "$@")
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$json"
}

# The demo's busybox layout plus the `head` and `tail` applets the memory
# holders need, tagged `cr` under $OSGV_TMP/image. Sets LAYOUT and IMAGE.
bench_build_hog_image() {
  echo "bench: building the busybox image layout (+ head, tail)" >&2
  LAYOUT=$(osgv_build_busybox_layout "$OSGV_TMP/image")
  mkdir -p "$OSGV_TMP/extra/bin"
  ln -s busybox "$OSGV_TMP/extra/bin/head"
  ln -s busybox "$OSGV_TMP/extra/bin/tail"
  umoci insert --image "$LAYOUT:v1" --tag cr "$OSGV_TMP/extra" / >&2
  IMAGE="oci:$LAYOUT:cr"
}

# A shell script for the sandbox: a process that holds $1 bytes of random
# data in anonymous memory (tail buffers its whole input; the sandboxes
# have no tmpfs to put a file in), then says "ready" on stdout once its
# resident size has reached 97% of that (runsc.md §3).
bench_hog_script() {
  local bytes=$1
  # Expanded inside the sandbox, not here.
  # shellcheck disable=SC2016
  printf '(head -c %s /dev/urandom; exec sleep 100000) | tail -c %s &
while :; do set -- $(grep VmRSS /proc/$!/status) 0 0; [ "$2" -ge %s ] && break; sleep 0.05; done
echo ready; wait' "$bytes" "$bytes" "$((bytes / 1024 * 97 / 100))"
}
