#!/usr/bin/env bash
# Density: what idle sandboxes cost the driver and the host, how fast the
# driver answers List/Get/Watch with many of them (and List/Get with all of
# them stopped, and where the calls' time goes), and 50 creates at once
# through the driver against raw runsc doing the same. Method and goals:
# docs/benchmarks.md, "Density".
#
#   bench/density.sh [--counts "10 50 100"] [--iterations N] [--watch-runs N]
#                    [--concurrent N] [--write-docs]
#
# Root only. Needs a built driver (scripts/build.sh); builds the small gRPC
# client bench/density_client.cc (target osgv_density_client) if it is
# missing. Heavy (up to 100 sandboxes): run it under the live-test lock on
# a shared machine, `flock /tmp/osgv-live.lock bench/density.sh`. Prints a
# markdown block; --write-docs also inserts it, dated, into
# docs/benchmarks.md. Everything it made is removed on exit.
set -euo pipefail

# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

COUNTS="10 50 100"
ITERATIONS=1000
WATCH_RUNS=20
CONCURRENT=50
rest=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --counts) COUNTS=${2:?--counts needs a list}; shift 2 ;;
    --iterations) ITERATIONS=${2:?}; shift 2 ;;
    --watch-runs) WATCH_RUNS=${2:?}; shift 2 ;;
    --concurrent) CONCURRENT=${2:?}; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
bench_parse_args 1 2,15 "${rest[@]}"
for n in $COUNTS $ITERATIONS $WATCH_RUNS $CONCURRENT; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || osgv_die "counts must be positive integers (got '$n')"
done

DOCS_MARKER='<!-- bench/density.sh inserts new results above this line -->'
CLIENT=$OSGV_ROOT/${BUILD_DIR:-build}/osgv_density_client

# Memory of everything an idle sandbox consists of, as one JSON object:
# the driver (serve), our monitors, runsc's sentries ("runsc-sandbox"),
# gofers and the sentries' child processes (systrap stubs), each as count,
# RSS and PSS in KiB (PSS splits shared pages, such as runsc's own binary,
# among the processes that map them, so it adds up); the host's used
# memory (MemTotal - MemAvailable); and the sandboxes' memory cgroups.
mem_snapshot() {
  python3 - "$OSGV_DRIVER_PID" "$OSGV_BIN" "$OSGV_STATE/runsc" <<'PY'
import glob, json, os, sys
driver, binary, runsc_root = int(sys.argv[1]), os.path.realpath(sys.argv[2]), sys.argv[3]
def rollup(pid):
    out = {"Rss": 0, "Pss": 0}
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            k, _, v = line.partition(":")
            if k in out: out[k] = int(v.split()[0])
    except OSError:
        pass
    return out
procs = {}
for d in glob.glob("/proc/[0-9]*"):
    pid = int(d[6:])
    try:
        args = open(d + "/cmdline", "rb").read().split(b"\0")
        ppid = int(open(d + "/stat").read().rsplit(")", 1)[1].split()[1])
        exe = os.path.realpath(d + "/exe")
    except OSError:
        continue
    procs[pid] = (ppid, exe, [a.decode(errors="replace") for a in args if a])
groups = {k: {"count": 0, "rss": 0, "pss": 0} for k in ("driver", "monitors", "sentries", "gofers", "stubs")}
def add(group, pid):
    r = rollup(pid); g = groups[group]
    g["count"] += 1; g["rss"] += r["Rss"]; g["pss"] += r["Pss"]
ours = lambda args: any(a == "--root=" + runsc_root or a == runsc_root for a in args)
sentries = set()
for pid, (ppid, exe, args) in procs.items():
    if pid == driver: add("driver", pid)
    elif exe == binary and len(args) > 1 and args[1] == "monitor": add("monitors", pid)
    elif args and args[0] == "runsc-sandbox" and ours(args): add("sentries", pid); sentries.add(pid)
    elif args and args[0] == "runsc-gofer" and ours(args): add("gofers", pid)
for pid, (ppid, exe, args) in procs.items():
    p, seen = ppid, 0
    while p in procs and p not in sentries and seen < 8:
        p, seen = procs[p][0], seen + 1
    if p in sentries and pid not in sentries: add("stubs", pid)
mem = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
cg = 0
for f in glob.glob("/sys/fs/cgroup/memory/openshell-gvisor/*/memory.usage_in_bytes") + \
         glob.glob("/sys/fs/cgroup/openshell-gvisor/*/memory.current"):
    try: cg += int(open(f).read()) // 1024
    except OSError: pass
groups["host_used"] = mem["MemTotal"] - mem["MemAvailable"]
groups["cgroups"] = cg
print(json.dumps(groups))
PY
}

# Appends "<label> <json>" to $RESULTS (nothing when the JSON is empty:
# the step failed and said why on stderr).
record() { [[ -z $2 ]] || printf '%s %s\n' "$1" "$2" >>"$RESULTS"; }

# CPU over $1 seconds, as one JSON object: the host's busy share of all
# its CPUs, and the CPU time the sandboxes' processes on runsc root $2
# (default the driver's) used, in % of one CPU: sentries, then gofers and
# the stubs below the sentries, then the driver's monitors.
cpu_snapshot() {
  python3 - "$1" "$OSGV_BIN" "${2:-$OSGV_STATE/runsc}" <<'PY'
import glob, os, sys, time
window, binary, runsc_root = float(sys.argv[1]), os.path.realpath(sys.argv[2]), sys.argv[3]
tick = os.sysconf("SC_CLK_TCK")
def host():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f) - f[3] - f[4], sum(f)
def sandbox_ticks():
    procs = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            args = [a.decode(errors="replace") for a in open(d + "/cmdline", "rb").read().split(b"\0") if a]
            st = open(d + "/stat").read().rsplit(")", 1)[1].split()
            exe = os.path.realpath(d + "/exe")
        except OSError:
            continue
        procs[int(d[6:])] = (int(st[1]), int(st[11]) + int(st[12]), exe, args)
    roots = {}
    for p, (_, _, exe, args) in procs.items():
        if args and args[0] == "runsc-sandbox" and "--root=" + runsc_root in args: roots[p] = "sentries"
        elif args and args[0] == "runsc-gofer" and "--root=" + runsc_root in args: roots[p] = "others"
        elif exe == binary and len(args) > 1 and args[1] == "monitor": roots[p] = "monitors"
    total = {"sentries": 0, "others": 0, "monitors": 0}
    for p, (ppid, ticks, _, _) in procs.items():
        q, hops = p, 0
        while q in procs and q not in roots and hops < 8:
            q, hops = procs[q][0], hops + 1
        if q in roots: total["others" if q != p and roots[q] == "sentries" else roots[q]] += ticks
    return total
# A scan of /proc takes seconds on a saturated host: the sandboxes' CPU is
# divided by the time between the scans' midpoints, not by the window.
def timed_scan():
    a = time.monotonic(); ticks = sandbox_ticks(); return ticks, (a + time.monotonic()) / 2
b0, t0 = host(); s0, m0 = timed_scan()
time.sleep(window)
b1, t1 = host(); s1, m1 = timed_scan()
pct = {k: 100.0 * (s1[k] - s0.get(k, 0)) / tick / (m1 - m0) for k in s1}
print('{"host_busy_pct": %.1f, "sandboxes_cpu_pct": %.1f, "sentries_pct": %.1f, "others_pct": %.1f, "monitors_pct": %.1f, "cpus": %d}' % (
    100.0 * (b1 - b0) / max(1, t1 - t0), sum(pct.values()), pct["sentries"], pct["others"], pct["monitors"], os.cpu_count()))
PY
}

# ITERATIONS × (List, Get), with where the loop's time went: the driver's
# and the client's CPU time, running and waiting for a CPU.
latency() { "$CLIENT" "$OSGV_SOCK" latency "$ITERATIONS" "$OSGV_DRIVER_PID"; }

# The same List/Get loop with every sandbox stopped (checkpointed: no
# sentry left to take CPU), to tell the host's load from the driver's
# own cost at that count.
stop_all_and_measure() {
  local id n=0
  echo "bench: stopping every sandbox" >&2
  for id in $(driver_ids); do
    osgv_ctl stop "$id" >/dev/null && n=$((n + 1))
  done
  sleep 10
  record "stopped_cpu:$n" "$(cpu_snapshot 10)"
  echo "bench: List/Get latency at $n stopped sandboxes" >&2
  record "stopped_latency:$n" "$(latency)"
}

# Sandboxes the driver knows, as ids.
driver_ids() {
  osgv_ctl --json list | python3 -c '
import json, sys
for s in json.load(sys.stdin).get("sandboxes", []): print(s["id"])'
}

# Idle sandboxes up to each of COUNTS, one create after the other, with a
# snapshot of memory and (at the largest count) the latencies at each.
fill_and_measure() {
  local target n=0 ms last_count=0 why=""
  for target in $COUNTS; do
    while ((n < target)); do
      if ! out=$(osgv_ctl --json create --image "$IMAGE" --name "idle-$n" --wait 2>&1); then
        why="create $((n + 1)) failed: $(tail -n 1 <<<"$out"); host MemAvailable $(awk '/MemAvailable/ {print $2}' /proc/meminfo) KiB"
        break 2
      fi
      ms=$(sed -n 's/.*"ready_ms":\([0-9]*\).*/\1/p' <<<"$out")
      record "create_ms:$n" "$ms"
      n=$((n + 1))
    done
    echo "bench: $n idle sandboxes" >&2
    sleep 10  # past start-up: idle, as the figures mean
    record "mem:$n" "$(mem_snapshot)"
    record "cpu:$n" "$(cpu_snapshot 10)"
    echo "bench: List/Get latency at $n sandboxes" >&2
    record "latency:$n" "$(latency)"
    last_count=$n
  done
  if [[ -n $why ]]; then
    echo "bench: stopped at $n sandboxes: $why" >&2
    record "stopped_at" "\"$n: $why\""
    sleep 10
    record "mem:$n" "$(mem_snapshot)"
    last_count=$n
  fi
  echo "bench: Watch latency at $last_count sandboxes" >&2
  record "watch:$last_count" "$("$CLIENT" "$OSGV_SOCK" watch "$IMAGE" "$WATCH_RUNS")"
}

delete_all() {
  local id
  for id in $(driver_ids); do osgv_ctl delete "$id" >/dev/null || true; done
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -z $(driver_ids) ]] && return 0
    sleep 0.1
  done
  osgv_die "sandboxes left 60 s after their deletes"
}

# CONCURRENT raw `runsc create` + `start` at once, each from its own bundle
# whose config.json points at one shared, read-only unpack of the image;
# the time until every start has returned.
raw_concurrent() {
  local rootfs_bundle=$OSGV_TMP/raw-bundle i t0 pids=() failed=0
  umoci unpack --image "$LAYOUT:v1" "$rootfs_bundle" >&2
  bench_match_driver_bundle "$rootfs_bundle"
  for ((i = 0; i < CONCURRENT; i++)); do
    mkdir -p "$OSGV_TMP/raw-$i"
    python3 - "$rootfs_bundle/config.json" "$OSGV_TMP/raw-$i/config.json" "$rootfs_bundle/rootfs" <<'PY'
import json, sys
src, dst, rootfs = sys.argv[1:4]
spec = json.load(open(src))
spec["root"] = {"path": rootfs, "readonly": True}
json.dump(spec, open(dst, "w"), indent=2)
PY
  done
  t0=$(now_us)
  for ((i = 0; i < CONCURRENT; i++)); do
    # Same width: runsc matches ids by prefix (osgvdens-N-2 would name -23 too).
    printf -v id 'osgvdens-%d-%03d' $$ "$i"
    ("${RAW[@]}" create --bundle "$OSGV_TMP/raw-$i" "$id" </dev/null >>"$RAW_LOG" 2>&1 &&
      "${RAW[@]}" start "$id" </dev/null >>"$RAW_LOG" 2>&1) &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || failed=$((failed + 1)); done
  ((failed == 0)) || { echo "bench: $failed raw runsc create/start failed; the end of its log:" >&2; tail -n 12 "$RAW_LOG" >&2; }
  record "raw_concurrent" "{\"count\":$CONCURRENT,\"failed\":$failed,\"all_started_ms\":$((($(now_us) - t0) / 1000))}"
  # The same idle sandboxes without the driver: what runsc alone costs.
  sleep 10
  record "raw_cpu:$CONCURRENT" "$(cpu_snapshot 10 "$OSGV_TMP/raw-runsc")"
  osgv_remove_containers "$OSGV_TMP/raw-runsc"
}

report() {
  python3 - "$RESULTS" "$ITERATIONS" "$CONCURRENT" <<'PY'
import json, statistics, sys
path, iterations, concurrent = sys.argv[1], sys.argv[2], sys.argv[3]
r, creates = {}, []
for line in open(path):
    k, _, v = line.rstrip("\n").partition(" ")
    if k.startswith("create_ms:"): creates.append(int(v)); continue
    r[k] = json.loads(v)
mems = sorted((int(k[4:]), v) for k, v in r.items() if k.startswith("mem:"))
cpus = {int(k[4:]): v for k, v in r.items() if k.startswith("cpu:")}
base = mems[0][1]
mb = lambda kib: f"{kib / 1024:.1f}"
print("Memory with idle sandboxes (busybox `sleep`), MiB; per sandbox: the")
print("increase over no sandboxes, divided by their number:")
print()
print("| sandboxes | driver RSS | per sandbox | monitors PSS | sentries PSS | gofers PSS | stubs PSS | host used | per sandbox | sandbox cgroups |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n, m in mems:
    driver_per = "–" if n == 0 else f"{(m['driver']['rss'] - base['driver']['rss']) / n:.0f} KiB"
    host_per = "–" if n == 0 else f"{(m['host_used'] - base['host_used']) / n / 1024:.1f}"
    print(f"| {n} | {mb(m['driver']['rss'])} | {driver_per} | {mb(m['monitors']['pss'])} ({m['monitors']['count']}) "
          f"| {mb(m['sentries']['pss'])} ({m['sentries']['count']}) | {mb(m['gofers']['pss'])} ({m['gofers']['count']}) "
          f"| {mb(m['stubs']['pss'])} ({m['stubs']['count']}) | {mb(m['host_used'])} | {host_per} | {mb(m['cgroups'])} |")
n, m = mems[-1]
if n:
    print()
    print(f"At {n} sandboxes, per sandbox (RSS / PSS, MiB): monitor "
          f"{m['monitors']['rss'] / max(1, m['monitors']['count']) / 1024:.1f} / {m['monitors']['pss'] / max(1, m['monitors']['count']) / 1024:.1f}, "
          f"sentry {m['sentries']['rss'] / max(1, m['sentries']['count']) / 1024:.1f} / {m['sentries']['pss'] / max(1, m['sentries']['count']) / 1024:.1f}, "
          f"gofer {m['gofers']['rss'] / max(1, m['gofers']['count']) / 1024:.1f} / {m['gofers']['pss'] / max(1, m['gofers']['count']) / 1024:.1f}, "
          f"stubs {m['stubs']['pss'] / max(1, n) / 1024:.1f} PSS.")
if cpus:
    print()
    print("CPU of idle sandboxes, over 10 s: the host's busy share of all its CPUs (other work on")
    print("the machine included), and what the sandboxes' processes used, in % of one CPU:")
    print()
    print("| sandboxes | host busy | sandboxes' processes | of which sentries | gofers and stubs | monitors | per sandbox |")
    print("|---|---|---|---|---|---|---|")
    rows = [(str(n), cpus[n], n) for n in sorted(cpus)]
    rows += [(f"{k[8:]} raw runsc", v, int(k[8:])) for k, v in r.items() if k.startswith("raw_cpu:")]
    rows += [(f"{k[12:]} stopped", v, int(k[12:])) for k, v in r.items() if k.startswith("stopped_cpu:")]
    for label, c, n in rows:
        per = "–" if n == 0 else f"{c['sandboxes_cpu_pct'] / n:.2f}%"
        print(f"| {label} | {c['host_busy_pct']:.0f}% of {c['cpus']} | {c['sandboxes_cpu_pct']:.1f}% | {c.get('sentries_pct', 0):.1f}% "
              f"| {c.get('others_pct', 0):.1f}% | {c.get('monitors_pct', 0):.1f}% | {per} |")
if "stopped_at" in r:
    print()
    print(f"**Stopped early:** {r['stopped_at']}")
lat = [(str(n), v) for n, v in sorted((int(k[8:]), v) for k, v in r.items() if k.startswith("latency:"))]
lat += [(f"{k[16:]} stopped", v) for k, v in r.items() if k.startswith("stopped_latency:")]
if lat:
    print()
    print(f"RPC latency, {iterations} × (ListSandboxes, GetSandbox) on one connected channel, ms, beside the host's")
    print("busy share of its CPUs during those calls (\"stopped\": the same sandboxes, all checkpointed):")
    print()
    print("| sandboxes | List p50 | List p99 | List max | Get p50 | Get p99 | Get max | host busy |")
    print("|---|---|---|---|---|---|---|---|")
    for label, v in lat:
        l, g = v["list"], v["get"]
        busy = f"{v['account']['host_busy_pct']:.0f}%" if "account" in v else "–"
        print(f"| {label} | {l['p50']:.2f} | {l['p99']:.2f} | {l['max']:.1f} | {g['p50']:.2f} | {g['p99']:.2f} | {g['max']:.1f} | {busy} |")
    accounted = [(label, v) for label, v in lat if "account" in v]
    if accounted:
        print()
        print(f"Where those {2 * int(iterations)} calls' time went, ms in all (schedstat of every thread): the")
        print("calls' summed latency, the CPU time the driver's threads ran, and the time the")
        print("driver's and the client's threads were runnable but waited for a CPU:")
        print()
        print("| sandboxes | calls' time | driver ran | driver waited for a CPU | client waited for a CPU | driver CPU per call |")
        print("|---|---|---|---|---|---|")
        for label, v in accounted:
            a = v["account"]
            print(f"| {label} | {v['calls_ms']:.0f} | {a['driver_run_ms']:.0f} | {a['driver_wait_ms']:.0f} "
                  f"| {a['client_wait_ms']:.0f} | {1000 * a['driver_run_ms'] / (2 * int(iterations)):.0f} µs |")
for k, v in sorted(r.items()):
    if k.startswith("watch:"):
        print()
        print(f"Watch at {k[6:]} other sandboxes ({v['first_event']['n']} creates, one at a time), ms from sending `CreateSandbox`:")
        print()
        print("| | p50 | p99 | max |")
        print("|---|---|---|---|")
        for name, label in (("create_rpc", "the `CreateSandbox` RPC returns"), ("first_event", "its first Watch event arrives"),
                            ("event_after_rpc", "first event, counted from the RPC's return"), ("ready", "Ready=True arrives on Watch")):
            x = v[name]
            print(f"| {label} | {x['p50']:.1f} | {x['p99']:.1f} | {x['max']:.1f} |")
if creates:
    print()
    tail = creates[-10:]
    print(f"Sequential creates while filling ({len(creates)}), create → Ready through ctl, ms: first ten median "
          f"{statistics.median(creates[:10]):.0f}, last ten median {statistics.median(tail):.0f}, total {sum(creates) / 1000:.1f} s.")
d, raw = r.get("concurrent"), r.get("raw_concurrent")
if d and raw:
    print()
    print(f"{concurrent} creates at once (no other sandboxes):")
    print()
    print("| | failures | all Ready / started | ratio |")
    print("|---|---|---|---|")
    print(f"| driver: `CreateSandbox` × {d['count']}, until all Ready=True on Watch | {d['rejected'] + d['failed']} | {d['all_ready_ms'] / 1000:.2f} s | **{d['all_ready_ms'] / max(1, raw['all_started_ms']):.2f}×** |")
    print(f"| raw: `runsc create` + `start` × {raw['count']} | {raw['failed']} | {raw['all_started_ms'] / 1000:.2f} s | |")
PY
}

main() {
  osgv_require_root
  [[ -x $OSGV_BIN ]] || osgv_die "no driver binary at $OSGV_BIN (run scripts/build.sh)"
  if [[ ! -x $CLIENT ]]; then
    echo "bench: building osgv_density_client" >&2
    cmake --build "$(dirname "$CLIENT")" --target osgv_density_client >&2
  fi
  osgv_make_tmp density
  trap osgv_cleanup EXIT
  trap 'exit 130' INT TERM
  RESULTS=$OSGV_TMP/results
  : >"$RESULTS"
  LAYOUT=$(osgv_build_busybox_layout "$OSGV_TMP/image")
  IMAGE="oci:$LAYOUT:v1"
  RAW_LOG=$OSGV_TMP/raw.log
  RAW=(runsc --root="$OSGV_TMP/raw-runsc" --platform=systrap --network=none
       --overlay2=none --net-disconnect-ok)

  osgv_start_driver
  # One create and delete first: the image is unpacked once, not in a figure.
  osgv_ctl delete "$(driver_create --name warm-up)" >/dev/null
  sleep 5
  record "mem:0" "$(mem_snapshot)"
  record "cpu:0" "$(cpu_snapshot 10)"
  record "latency:0" "$(latency)"
  echo "bench: Watch latency with no other sandbox" >&2
  record "watch:0" "$("$CLIENT" "$OSGV_SOCK" watch "$IMAGE" "$WATCH_RUNS")"
  fill_and_measure
  stop_all_and_measure
  echo "bench: deleting the sandboxes" >&2
  delete_all

  echo "bench: $CONCURRENT creates at once through the driver" >&2
  record "concurrent" "$("$CLIENT" "$OSGV_SOCK" create "$IMAGE" "$CONCURRENT" conc- || true)"
  delete_all
  echo "bench: $CONCURRENT creates at once with raw runsc" >&2
  raw_concurrent
  osgv_stop_driver

  local when block
  when=$(date -u '+%Y-%m-%d %H:%M UTC')
  block=$(cat <<EOF
#### $when

Host: $(nproc) CPUs, $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024)) MiB, kernel $(uname -r),
$(runsc --version | head -n 1), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;
driver at $(git -C "$OSGV_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown).

$(report)
EOF
)
  printf '%s\n' "$block"
  [[ $WRITE_DOCS == 0 ]] || bench_insert_into_docs "$DOCS_MARKER" "$block"
}

main "$@"
