#!/usr/bin/env bash
# create → Ready through the driver, against raw `runsc create` + `start`
# on the same image. Method and goal: docs/benchmarks.md.
#
#   bench/create_ready.sh [--runs N] [--write-docs]
#
# Root only. Needs a built driver (scripts/build.sh) and the packages from
# scripts/install-deps.sh. Prints a markdown table; --write-docs also
# appends it, dated, to docs/benchmarks.md.
set -euo pipefail

# The demo's helpers, the clock and the raw bundle recipe: bench/bench_lib.sh.
# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

bench_parse_args 10 2,9 "$@"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One driver sample: ctl's own create → Ready time, in ms.
driver_sample() {
  local name=$1 json id ms
  json=$(osgv_ctl --json create --name "$name" --image "$IMAGE" --wait)
  read -r id ms < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["id"], d["ready_ms"])' <<<"$json")
  osgv_ctl delete "$id" >/dev/null
  echo "$ms"
}

# The raw bundle: umoci's own unpack of the same image, made to match what
# the driver runs (no terminal, no network namespace, the image's sleep).
make_raw_bundle() {
  umoci unpack --image "$LAYOUT:v1" "$BUNDLE" >&2
  bench_match_driver_bundle "$BUNDLE"
}

# One raw sample: runsc create + start, in ms. Delete is not timed.
raw_sample() {
  local id=$1 r=(runsc --root "$RAW_ROOT" --network=none --overlay2=none) t0 t1
  t0=$(now_ms)
  # runsc hands its stdio to the sandbox: never a pipe we would wait on.
  "${r[@]}" create --bundle "$BUNDLE" "$id" </dev/null >>"$OSGV_TMP/raw.log" 2>&1 ||
    osgv_die "runsc create failed (see $OSGV_TMP/raw.log)"
  "${r[@]}" start "$id" </dev/null >>"$OSGV_TMP/raw.log" 2>&1 ||
    osgv_die "runsc start failed (see $OSGV_TMP/raw.log)"
  t1=$(now_ms)
  "${r[@]}" delete --force "$id" >>"$OSGV_TMP/raw.log" 2>&1
  echo $((t1 - t0))
}

# Prints the markdown block for $1 (driver ms, space-separated) and $2 (raw ms).
report() {
  python3 - "$1" "$2" <<'PY'
import statistics, sys
d = [int(v) for v in sys.argv[1].split()]
r = [int(v) for v in sys.argv[2].split()]
def fmt(x):
    return f"{x:g}"
print("| Path | n | min ms | median ms | max ms |")
print("|---|---|---|---|---|")
for label, v in (("driver: `ctl create --wait` → Ready", d),
                 ("raw: `runsc create` + `start`", r)):
    print(f"| {label} | {len(v)} | {fmt(min(v))} | {fmt(statistics.median(v))} | {fmt(max(v))} |")
ratio = statistics.median(d) / statistics.median(r)
verdict = "meets" if ratio <= 1.2 else "misses"
print()
print(f"Ratio of medians (driver / raw): **{ratio:.2f}×** ({verdict} the goal of ≤ 1.2×).")
print()
print("Samples in run order, ms:")
print()
print(f"- driver: {', '.join(map(str, d))}")
print(f"- raw: {', '.join(map(str, r))}")
PY
}

main() {
  osgv_require_root
  [[ -x $OSGV_BIN ]] || osgv_die "no driver binary at $OSGV_BIN (run scripts/build.sh)"
  osgv_make_tmp bench
  trap osgv_cleanup EXIT
  trap 'exit 130' INT TERM

  echo "bench: building the busybox image layout" >&2
  LAYOUT=$(osgv_build_busybox_layout "$OSGV_TMP/image")
  IMAGE="oci:$LAYOUT:v1"
  BUNDLE=$OSGV_TMP/raw-bundle
  RAW_ROOT=$OSGV_TMP/raw-runsc
  make_raw_bundle

  echo "bench: starting the driver" >&2
  osgv_start_driver --log-level warn
  echo "bench: warm-up sandbox (caches the image)" >&2
  driver_sample bench-warmup >/dev/null
  raw_sample "osgvbench-$$-warmup" >/dev/null

  local i driver=() raw=()
  for ((i = 1; i <= RUNS; i++)); do
    # Interleaved, so a change in host load hits both paths alike.
    driver+=("$(driver_sample "bench-$i")")
    raw+=("$(raw_sample "$(printf 'osgvbench-%d-%04d' $$ "$i")")")
    echo "bench: run $i/$RUNS: driver ${driver[-1]} ms, raw ${raw[-1]} ms" >&2
  done
  osgv_stop_driver

  local table when
  table=$(report "${driver[*]}" "${raw[*]}")
  when=$(date -u '+%Y-%m-%d %H:%M UTC')
  local block
  block=$(cat <<EOF
### $when

Host: $(nproc) CPUs, kernel $(uname -r), $(runsc --version | head -n 1),
load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $RUNS runs of each.

$table
EOF
)
  printf '%s\n' "$block"
  if [[ $WRITE_DOCS == 1 ]]; then
    printf '\n%s\n' "$block" >>"$OSGV_ROOT/docs/benchmarks.md"
    echo "bench: appended to docs/benchmarks.md" >&2
  fi
}

main "$@"
