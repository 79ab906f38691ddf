#!/usr/bin/env bash
# Stop (checkpoint) and Start (restore) of sandboxes holding 64 MiB, 256 MiB
# and 1 GiB of touched random memory, through the driver and through raw
# `runsc checkpoint --compression=none` / `runsc restore` on the same image
# and the same bytes, in the same run. Method and goals: docs/benchmarks.md.
#
#   bench/memory_scaling.sh [--runs N] [--write-docs] [--plot FILE.png] [--sizes "64 256 1024"]
#                           [--checkpoint-io buffered|direct]
#
# Root only. Needs a built driver (scripts/build.sh) and the packages from
# scripts/install-deps.sh (gnuplot for --plot). Prints a markdown block;
# --write-docs also inserts it, dated, into docs/benchmarks.md. About
# 15 s per run at 1 GiB, plus a minute to fill each sandbox.
set -euo pipefail

# The demo's helpers, timing, snapshots, raw runsc: bench/bench_lib.sh.
# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

PLOT=""
SIZES="64 256 1024"
CHECKPOINT_IO=buffered  # the driver's checkpoint.io
rest=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --plot) PLOT=${2:?--plot needs a file name}; shift 2 ;;
    --sizes) SIZES=${2:?--sizes needs a list of MiB}; shift 2 ;;
    --checkpoint-io) CHECKPOINT_IO=${2:?--checkpoint-io needs buffered or direct}; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
bench_parse_args 3 2,13 "${rest[@]}"
for s in $SIZES; do
  [[ $s =~ ^[1-9][0-9]*$ ]] || osgv_die "--sizes takes MiB as positive integers (got '$s')"
done
[[ -z $PLOT ]] || command -v gnuplot >/dev/null || osgv_die "--plot needs gnuplot (scripts/install-deps.sh)"

DOCS_MARKER='<!-- bench/memory_scaling.sh inserts new results above this line -->'

# Each timed step starts on a quiet host: written-back page cache (a raw
# checkpoint leaves its whole image dirty; the driver's is already on
# disk) and a pause for a restored sandbox's after-effects and the
# driver's background release. Without it, whichever step came next would
# pay for the previous one's writeback, and always the same side.
settle() { sync; sleep 0.5; }

# One line per sample: "<MiB> <series> <ms>", read by report and plot.
SAMPLES=""
sample() { echo "$1 $2 $3" >>"$SAMPLES"; }

# The driver's debug breakdown of its last Stop or Start ($2) of sandbox
# $1, as "step=ms" words: "stop took total 53.0 ms (space check 0.1, ...)".
breakdown() {
  grep -F "sandbox $1: $2 took total" "$OSGV_LOG" | tail -n 1 |
    sed -n 's/.* took total \([0-9.]*\) ms (\(.*\))$/total \1, \2/p' |
    tr ',' '\n' | sed -n 's/^ *\(.*\) \([0-9.]*\)$/\1=\2/p' | tr ' ' '_'
}

# Raw runsc's bundle for a sandbox holding $1 bytes: umoci's unpack of the
# same image, matched to what the driver runs, with the holder as its
# process.
make_raw_bundle() {
  local bundle=$1 bytes=$2
  umoci unpack --image "$LAYOUT:cr" "$bundle" >&2
  bench_match_driver_bundle "$bundle"
  python3 - "$bundle/config.json" "$(bench_hog_script "$bytes")" <<'PY'
import json, sys
path, script = sys.argv[1:3]
with open(path) as f:
    spec = json.load(f)
spec["process"]["args"] = ["/bin/sh", "-c", script]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY
}

# `runsc delete` of a checkpointed raw container, untimed: right after the
# reap it may still refuse for a moment while its sandbox's processes end.
raw_delete_stopped() {
  local i
  for ((i = 0; i < 50; i++)); do
    "${RAW[@]}" delete "$1" </dev/null >>"$RAW_LOG" 2>&1 && return 0
    sleep 0.1
  done
  osgv_die "runsc delete $1 failed for 5 s (see $RAW_LOG)"
}

# Waits (untimed) until the file $1 has a line "ready"; $2 names the side.
wait_ready() {
  local deadline=$(($(now_us) + 300000000))
  until grep -qx ready "$1" 2>/dev/null; do
    (($(now_us) < deadline)) || osgv_die "$2 did not fill its memory within 300 s"
    sleep 0.1
  done
}

# Both sandboxes of one size, Stop and Start RUNS + 1 times each (the first
# cycle warms up and is not counted), one side after the other.
measure_size() {
  local mib=$1 bytes=$(($1 << 20)) sid rid="osgvmsbench-$$-$1" bundle console img i msg
  local raw_out=$OSGV_TMP/raw-$mib.out t0=$(now_us) stop_ms ckpt_ms
  echo "bench: $mib MiB: filling a driver sandbox and a raw one" >&2
  sid=$(driver_create --name "ms-$mib" -- sh -c "$(bench_hog_script "$bytes")")
  get_snapshot "$sid"
  console=$OSGV_STATE/sandboxes/$(snapshot_field "$SNAP" instance_id)/console.log
  bundle=$OSGV_TMP/raw-bundle-$mib
  make_raw_bundle "$bundle" "$bytes"
  # The raw container's stdout, "ready" included, goes to its own file.
  "${RAW[@]}" create --bundle "$bundle" "$rid" </dev/null >"$raw_out" 2>>"$RAW_LOG" ||
    osgv_die "runsc create failed (see $RAW_LOG)"
  raw start "$rid"
  wait_ready "$console" "the driver's $mib MiB sandbox"
  wait_ready "$raw_out" "the raw $mib MiB sandbox"
  echo "bench: $mib MiB: both filled in $((($(now_us) - t0) / 1000000)) s" >&2

  for ((i = 0; i <= RUNS; i++)); do
    settle
    ctl_rpc stop "$sid"
    stop_ms=$RPC_MS
    get_snapshot "$sid"
    msg=$(expect_snapshot Suspended '^Memory checkpointed: .* in [0-9]+ ms \(none\)$')
    if ((i > 0)); then
      sample "$mib" driver_stop "$stop_ms"
      sample "$mib" image_mib "$(sed -n 's/^Memory checkpointed: \([0-9.]*\) MiB.*/\1/p' <<<"$msg")"
      local kv
      for kv in $(breakdown "$sid" stop); do sample "$mib" "stop:${kv%%=*}" "${kv#*=}"; done
    fi

    img=$OSGV_TMP/raw-images/$mib-$i
    settle
    timed raw checkpoint --compression=none --image-path="$img" "$rid"
    ckpt_ms=$ELAPSED
    ((i == 0)) || sample "$mib" raw_checkpoint "$ckpt_ms"
    raw_wait_stopped "$rid"

    settle
    ctl_rpc start "$sid"
    get_snapshot "$sid"
    expect_snapshot Ready '^Sandbox restored from its checkpoint$' >/dev/null
    if ((i > 0)); then
      sample "$mib" driver_start "$RPC_MS"
      for kv in $(breakdown "$sid" start); do sample "$mib" "start:${kv%%=*}" "${kv#*=}"; done
    fi

    raw_delete_stopped "$rid"
    settle
    timed raw restore --detach --bundle "$bundle" --image-path="$img" "$rid"
    ((i == 0)) || sample "$mib" raw_restore "$ELAPSED"
    rm -rf "$img"
    ((i == 0)) || echo "bench: $mib MiB $i/$RUNS: stop $stop_ms vs checkpoint $ckpt_ms ms;" \
      "start $RPC_MS vs restore $ELAPSED ms" >&2
  done
  osgv_ctl delete "$sid" >/dev/null
  "${RAW[@]}" delete --force "$rid" >>"$RAW_LOG" 2>&1 || true
}

# ---- report ----------------------------------------------------------------------

report() {
  python3 - "$SAMPLES" <<'PY'
import collections, statistics, sys
s = collections.defaultdict(list)
sizes = []
with open(sys.argv[1]) as f:
    for line in f:
        mib, series, ms = line.split()
        if int(mib) not in sizes:
            sizes.append(int(mib))
        s[(int(mib), series)].append(float(ms))
med = lambda m, k: statistics.median(s[(m, k)])
def g(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}".rstrip("0").rstrip(".")
def label(m):
    return f"{m // 1024} GiB" if m % 1024 == 0 else f"{m} MiB"
def verdict(r, goal):
    return "meets" if r <= goal else "misses"

print("Medians in ms (ratios: driver / raw; goals: Stop ≤ 1.30×, Start ≤ 1.15×):")
print()
print("| memory | image | Stop: driver / raw `checkpoint` | ratio | Start: driver / raw `restore` | ratio |")
print("|---|---|---|---|---|---|")
for m in sizes:
    stop = med(m, "driver_stop") / med(m, "raw_checkpoint")
    start = med(m, "driver_start") / med(m, "raw_restore")
    print(f"| {label(m)} | {med(m, 'image_mib'):.0f} MiB "
          f"| {g(med(m, 'driver_stop'))} / {g(med(m, 'raw_checkpoint'))} "
          f"| **{stop:.2f}×** ({verdict(stop, 1.30)}) "
          f"| {g(med(m, 'driver_start'))} / {g(med(m, 'raw_restore'))} "
          f"| **{start:.2f}×** ({verdict(start, 1.15)}) |")
for op in ("stop", "start"):
    steps = []
    for m in sizes:
        for (mm, k) in s:
            if mm == m and k.startswith(op + ":") and k[len(op) + 1:] not in steps:
                steps.append(k[len(op) + 1:])
    print()
    print(f"Inside the driver's {op.capitalize()} (its debug log), medians in ms:")
    print()
    print("| memory | " + " | ".join(x.replace("_", " ") for x in steps) + " |")
    print("|---|" + "---|" * len(steps))
    for m in sizes:
        cells = [g(med(m, f"{op}:{x}")) if s.get((m, f"{op}:{x}")) else "–" for x in steps]
        print(f"| {label(m)} | " + " | ".join(cells) + " |")
print()
print("Samples in run order, ms:")
print()
for m in sizes:
    for k in ("driver_stop", "raw_checkpoint", "driver_start", "raw_restore"):
        print(f"- {label(m)} {k.replace('_', ' ')}: {', '.join(g(x) for x in s[(m, k)])}")
PY
}

# Medians per size as gnuplot data: MiB, driver Stop, raw checkpoint,
# driver Start, raw restore.
plot_data() {
  python3 - "$SAMPLES" <<'PY'
import collections, statistics, sys
s = collections.defaultdict(list)
with open(sys.argv[1]) as f:
    for line in f:
        mib, series, ms = line.split()
        s[(int(mib), series)].append(float(ms))
for m in sorted({m for m, _ in s}):
    print(m, *(statistics.median(s[(m, k)]) for k in
               ("driver_stop", "raw_checkpoint", "driver_start", "raw_restore")))
PY
}

# Stop and Start against memory size, driver and raw runsc, with the
# published anchor points (Sandstorm's claimed restore p50, other hardware).
plot() {
  local out=$1 data=$OSGV_TMP/plot.dat anchors=$OSGV_TMP/anchors.dat
  plot_data >"$data"
  printf '%s\n' '64 148' '256 753' '1024 3344' >"$anchors"
  gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,11"
set output "$out"
set title "Stop and Start against memory held ($(date -u +%Y-%m-%d), medians of $RUNS, $(nproc) vCPUs, checkpoint.io: $CHECKPOINT_IO)"
set xlabel "memory held by the sandbox's process (MiB)"
set ylabel "ms"
set logscale xy 2
set xrange [52:1260]
set offsets 0, 0, graph 0.05, graph 0.05
set xtics (64, 128, 256, 512, 1024)
set format y "%.0f"
set key top left
set grid
plot "$data" using 1:2 with linespoints lw 2 pt 7 lc rgb "#d62728" title "driver Stop (checkpoint, durable)", \
     "$data" using 1:3 with linespoints lw 2 pt 6 dt 2 lc rgb "#d62728" title "raw runsc checkpoint", \
     "$data" using 1:4 with linespoints lw 2 pt 5 lc rgb "#1f77b4" title "driver Start (restore, verified)", \
     "$data" using 1:5 with linespoints lw 2 pt 4 dt 2 lc rgb "#1f77b4" title "raw runsc restore", \
     "$anchors" using 1:2 with points pt 9 ps 2 lc rgb "#2ca02c" title "Sandstorm restore p50 (claimed, other hardware)"
EOF
  echo "bench: wrote the plot to $out" >&2
}

# ---- main ------------------------------------------------------------------------

main() {
  osgv_require_root
  [[ -x $OSGV_BIN ]] || osgv_die "no driver binary at $OSGV_BIN (run scripts/build.sh)"
  [[ -n ${EPOCHREALTIME:-} ]] || osgv_die "needs bash 5 (EPOCHREALTIME)"
  osgv_make_tmp msbench
  trap osgv_cleanup EXIT
  trap 'exit 130' INT TERM
  SAMPLES=$OSGV_TMP/samples

  bench_build_hog_image
  RAW_LOG=$OSGV_TMP/raw.log
  # The driver's global flags (src/lifecycle/runsc/runsc.cc), on our own root.
  RAW=(runsc --root="$OSGV_TMP/raw-runsc" --platform=systrap --network=none
       --overlay2=none --net-disconnect-ok)

  echo "bench: starting the driver (checkpoint.io: $CHECKPOINT_IO)" >&2
  # The demo's config (osgv_start_driver) plus checkpoint.io.
  printf 'images:\n  oci_roots: ["%s"]\ncheckpoint:\n  io: %s\n' \
    "$OSGV_TMP/image" "$CHECKPOINT_IO" >"$OSGV_TMP/driver.yaml"
  # debug: the driver logs where each Stop's and Start's time went.
  osgv_start_driver --config "$OSGV_TMP/driver.yaml" --log-level debug

  local mib
  for mib in $SIZES; do measure_size "$mib"; done
  osgv_stop_driver

  local table when block
  table=$(report)
  when=$(date -u '+%Y-%m-%d %H:%M UTC')
  block=$(cat <<EOF
#### $when

Host: $(nproc) CPUs, kernel $(uname -r), $(runsc --version | head -n 1),
load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $RUNS runs of each
size after one warm-up cycle; the driver's \`checkpoint.io: $CHECKPOINT_IO\`.

$table
EOF
)
  printf '%s\n' "$block"
  [[ -z $PLOT ]] || plot "$PLOT"
  [[ $WRITE_DOCS == 0 ]] || bench_insert_into_docs "$DOCS_MARKER" "$block"
}

main "$@"
