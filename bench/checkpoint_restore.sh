#!/usr/bin/env bash
# Stop (checkpoint) and Start (restore) through the driver, against raw
# `runsc checkpoint` and `runsc delete` + `runsc restore` of the same image,
# and a restore against a cold create + warm-up of a sandbox holding 200 MB.
# Method and goals: docs/benchmarks.md.
#
#   bench/checkpoint_restore.sh [--runs N] [--write-docs]
#
# Root only. Needs a built driver (scripts/build.sh) and the packages from
# scripts/install-deps.sh. Prints a markdown block; --write-docs also
# inserts it, dated, into docs/benchmarks.md. About 20 s per run.
set -euo pipefail

# The demo's helpers, the clock and the raw bundle recipe: bench/bench_lib.sh.
# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

bench_parse_args 5 2,11 "$@"

# Where --write-docs puts its block: just above this line of docs/benchmarks.md.
DOCS_MARKER='<!-- bench/checkpoint_restore.sh inserts new results above this line -->'

# A process that holds 200 MiB of random data (bench_lib.sh).
HOG=$(bench_hog_script 209715200)

# Each timed step starts on a quiet host: a restore keeps the sandbox busy
# for a while after runsc returns, and the driver releases a stopped
# sandbox's runtime in the background. Without a pause, whichever step
# came next would pay for that, and always the same side.
settle() { sleep 0.3; }

# ---- raw runsc -------------------------------------------------------------------

# umoci's own unpack of the same image, made to match what the driver runs:
# no terminal, no network namespace, a writable root, the image's command.
make_raw_bundle() {
  umoci unpack --image "$LAYOUT:cr" "$BUNDLE" >&2
  bench_match_driver_bundle "$BUNDLE"
}

raw_restore() {  # id image-dir
  raw delete "$1"
  raw restore --detach --bundle "$BUNDLE" --image-path="$2" "$1"
}

# ---- the driver ------------------------------------------------------------------

# "Restored 213.8 MiB of memory in 845 ms" lines of the driver's log, in
# order: the restore alone as the driver times it (monitor + runsc restore).
restore_ms_from_log() {
  sed -n 's/.*: Restored .* of memory in \([0-9]*\) ms$/\1/p' "$OSGV_LOG" | tail -n "$1" | tr '\n' ' '
}

# ---- report ----------------------------------------------------------------------

report() {
  python3 - "$@" <<'PY'
import statistics, sys
(d_stop_cmd, d_start_cmd, d_stop, r_ckpt, d_start, r_restore, d_ckpt_ms, d_restore_ms,
 c_cold, c_stop, c_start, c_ckpt_ms, c_restore_ms, c_info) = sys.argv[1:15]
def nums(s):
    return [float(v) for v in s.split()]
(d_stop_cmd, d_start_cmd, d_stop, r_ckpt, d_start, r_restore, d_ckpt_ms, d_restore_ms,
 c_cold, c_stop, c_start, c_ckpt_ms, c_restore_ms) = map(nums, (
    d_stop_cmd, d_start_cmd, d_stop, r_ckpt, d_start, r_restore, d_ckpt_ms, d_restore_ms,
    c_cold, c_stop, c_start, c_ckpt_ms, c_restore_ms))
med = statistics.median
def g(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}".rstrip("0").rstrip(".")
def row(label, v):
    print(f"| {label} | {len(v)} | {g(min(v))} | {g(med(v))} | {g(max(v))} |")
def verdict(ratio, goal):
    return "meets" if ratio <= goal else "misses"

print("Idle busybox sandbox (`sleep`), ms:")
print()
print("| Step | n | min | median | max |")
print("|---|---|---|---|---|")
row("driver: `StopSandbox` RPC", d_stop)
row("raw: `runsc checkpoint`", r_ckpt)
row("driver: `StartSandbox` RPC", d_start)
row("raw: `runsc delete` + `runsc restore --detach`", r_restore)
row("inside the driver's Stop: its `runsc checkpoint` call", d_ckpt_ms)
row("inside the driver's Start: monitor + `runsc restore` (its log)", d_restore_ms)
row("whole `ctl stop` command (process start + connect + RPC)", d_stop_cmd)
row("whole `ctl start` command", d_start_cmd)
print()
stop_r = med(d_stop) / med(r_ckpt)
start_r = med(d_start) / med(r_restore)
cyc_r = (med(d_stop) + med(d_start)) / (med(r_ckpt) + med(r_restore))
print("Ratios of medians (driver RPC / raw; goal ≤ 1.10× each):")
print()
print(f"- (a) Stop vs `runsc checkpoint`: **{stop_r:.2f}×** ({verdict(stop_r, 1.10)} the goal).")
print(f"- (b) Start vs `runsc delete` + `restore`: **{start_r:.2f}×** ({verdict(start_r, 1.10)} the goal).")
print(f"- Stop + Start vs checkpoint + delete + restore (the same runsc work on both sides): "
      f"**{cyc_r:.2f}×**.")
print()
print(f"200 MiB of random data held in a process ({c_info}), ms:")
print()
print("| Step | n | min | median | max |")
print("|---|---|---|---|---|")
row("cold: `ctl create --wait` → the process says ready", c_cold)
row("driver: `StopSandbox` RPC", c_stop)
row("driver: `StartSandbox` RPC (restores the 200 MiB)", c_start)
row("inside the driver's Stop: its `runsc checkpoint` call", c_ckpt_ms)
row("inside the driver's Start: monitor + `runsc restore`", c_restore_ms)
print()
c_r = med(c_start) / med(c_cold)
print(f"- (c) Restore vs cold create + warm-up: **{c_r:.2f}×** "
      f"({'restore wins' if c_r < 1 else 'restore loses'}, "
      f"{med(c_cold) / med(c_start):.1f}× faster).")
print()
print("Samples in run order, ms:")
print()
for label, v in (("driver Stop RPC", d_stop), ("raw checkpoint", r_ckpt),
                 ("driver Start RPC", d_start), ("raw delete + restore", r_restore),
                 ("200 MiB cold", c_cold), ("200 MiB Stop RPC", c_stop),
                 ("200 MiB Start RPC", c_start)):
    print(f"- {label}: {', '.join(g(x) for x in v)}")
PY
}

# ---- main ------------------------------------------------------------------------

main() {
  osgv_require_root
  [[ -x $OSGV_BIN ]] || osgv_die "no driver binary at $OSGV_BIN (run scripts/build.sh)"
  [[ -n ${EPOCHREALTIME:-} ]] || osgv_die "needs bash 5 (EPOCHREALTIME)"
  osgv_make_tmp crbench
  trap osgv_cleanup EXIT
  trap 'exit 130' INT TERM

  bench_build_hog_image
  BUNDLE=$OSGV_TMP/raw-bundle
  RAW_LOG=$OSGV_TMP/raw.log
  # The driver's global flags (src/lifecycle/runsc/runsc.cc), on our own root.
  RAW=(runsc --root="$OSGV_TMP/raw-runsc" --platform=systrap --network=none
       --overlay2=none --net-disconnect-ok)
  make_raw_bundle

  echo "bench: starting the driver" >&2
  # info: the driver logs each restore's own duration.
  osgv_start_driver --log-level info

  # ---- (a), (b): idle sandbox, Stop/Start against raw runsc ----
  local sid rid="osgvcrbench-$$-idle" img i
  sid=$(driver_create --name cr-idle)
  raw create --bundle "$BUNDLE" "$rid"
  raw start "$rid"

  local d_stop=() r_ckpt=() d_start=() r_restore=() d_ckpt_ms=() d_stop_cmd=() d_start_cmd=() msg
  local n_cycles=$((RUNS + 1))  # the first is a warm-up, not counted
  for ((i = 0; i < n_cycles; i++)); do
    settle
    ctl_rpc stop "$sid"
    ((i == 0)) || { d_stop+=("$RPC_MS"); d_stop_cmd+=("$ELAPSED"); }
    get_snapshot "$sid"
    msg=$(expect_snapshot Suspended '^Memory checkpointed: .* in ([0-9]+) ms \((flate|none)\)$')
    ((i == 0)) || d_ckpt_ms+=("$(sed -n 's/.* in \([0-9]*\) ms .*/\1/p' <<<"$msg")")
    IDLE_COMPRESSION=$(sed -n 's/.*(\([a-z]*\))$/\1/p' <<<"$msg")

    img=$OSGV_TMP/raw-images/$i
    settle
    timed raw checkpoint --image-path="$img" "$rid"
    ((i == 0)) || r_ckpt+=("$ELAPSED")
    raw_wait_stopped "$rid"

    settle
    ctl_rpc start "$sid"
    ((i == 0)) || { d_start+=("$RPC_MS"); d_start_cmd+=("$ELAPSED"); }
    get_snapshot "$sid"
    expect_snapshot Ready '^Sandbox restored from its checkpoint$' >/dev/null

    settle
    timed raw_restore "$rid" "$img"
    ((i == 0)) || r_restore+=("$ELAPSED")
    rm -rf "$img"
    ((i == 0)) ||
      echo "bench: idle $i/$RUNS: stop ${d_stop[-1]} vs checkpoint ${r_ckpt[-1]} ms;" \
        "start ${d_start[-1]} vs delete+restore ${r_restore[-1]} ms" >&2
  done
  local d_restore_ms
  d_restore_ms=$(restore_ms_from_log "$RUNS")
  osgv_ctl delete "$sid" >/dev/null
  "${RAW[@]}" delete --force "$rid" >>"$RAW_LOG" 2>&1 || true
  [[ $IDLE_COMPRESSION == flate ]] ||
    osgv_die "the driver chose $IDLE_COMPRESSION for the idle sandbox; raw runsc uses flate"

  # ---- (c): 200 MiB held in a process: restore against cold create + warm-up ----
  local c_cold=() c_stop=() c_start=() c_ckpt_ms=() c_info="" id t0 t1 console
  for ((i = 1; i <= RUNS; i++)); do
    t0=$(now_us)
    id=$(driver_create --name "cr-big-$i" -- sh -c "$HOG")
    # The warm-up takes seconds, so looking up the console log here costs
    # nothing measured.
    get_snapshot "$id"
    console=$OSGV_STATE/sandboxes/$(snapshot_field "$SNAP" instance_id)/console.log
    until grep -qx ready "$console" 2>/dev/null; do
      (($(now_us) - t0 < 120000000)) || osgv_die "the 200 MiB sandbox was not ready within 120 s"
      sleep 0.02
    done
    t1=$(now_us)
    c_cold+=("$(((t1 - t0 + 500) / 1000))")

    ctl_rpc stop "$id"
    c_stop+=("$RPC_MS")
    get_snapshot "$id"
    msg=$(expect_snapshot Suspended '^Memory checkpointed: ')
    c_ckpt_ms+=("$(sed -n 's/.* in \([0-9]*\) ms .*/\1/p' <<<"$msg")")
    c_info=$(sed -n 's/^Memory checkpointed: \([0-9.]*\) MiB in [0-9]* ms (\([a-z]*\))$/\1 MiB image, compression \2/p' <<<"$msg")

    ctl_rpc start "$id"
    c_start+=("$RPC_MS")
    get_snapshot "$id"
    expect_snapshot Ready '^Sandbox restored from its checkpoint$' >/dev/null
    osgv_ctl delete "$id" >/dev/null
    echo "bench: 200 MiB $i/$RUNS: cold ${c_cold[-1]} ms, stop ${c_stop[-1]} ms," \
      "start (restore) ${c_start[-1]} ms" >&2
  done
  local c_restore_ms
  c_restore_ms=$(restore_ms_from_log "$RUNS")
  osgv_stop_driver

  local table when block
  table=$(report "${d_stop_cmd[*]}" "${d_start_cmd[*]}" "${d_stop[*]}" "${r_ckpt[*]}" \
    "${d_start[*]}" "${r_restore[*]}" "${d_ckpt_ms[*]}" "$d_restore_ms" \
    "${c_cold[*]}" "${c_stop[*]}" "${c_start[*]}" "${c_ckpt_ms[*]}" "$c_restore_ms" "$c_info")
  when=$(date -u '+%Y-%m-%d %H:%M UTC')
  block=$(cat <<EOF
#### $when

Host: $(nproc) CPUs, kernel $(uname -r), $(runsc --version | head -n 1),
load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $RUNS runs of each
(after one warm-up cycle on the idle pair). Idle images: $IDLE_COMPRESSION on both sides.

$table
EOF
)
  printf '%s\n' "$block"
  [[ $WRITE_DOCS == 0 ]] || bench_insert_into_docs "$DOCS_MARKER" "$block"
}

main "$@"
