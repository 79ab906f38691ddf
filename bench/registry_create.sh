#!/usr/bin/env bash
# First create of a registry image through the driver (pull with skopeo,
# verify, unpack, boot → Ready), against `skopeo copy` + `umoci unpack` of
# the same image and raw `runsc create` + `start` of umoci's bundle; and a
# second create of the same image, served from the driver's cache.
# Method and goals: docs/benchmarks.md.
#
#   bench/registry_create.sh [--runs N] [--write-docs]
#
# Root only. Needs a built driver (scripts/build.sh), the packages from
# scripts/install-deps.sh and Debian's docker-registry. Prints a markdown
# block; --write-docs also inserts it, dated, into docs/benchmarks.md.
set -euo pipefail

# The demo's helpers, the clock and the raw bundle recipe: bench/bench_lib.sh.
# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

bench_parse_args 5 2,12 "$@"

# Where --write-docs puts its block: just above this line of docs/benchmarks.md.
DOCS_MARKER='<!-- bench/registry_create.sh inserts new results above this line -->'

REGISTRY_BIN=/usr/bin/docker-registry
REGISTRY_PID=""
REGISTRY=""        # 127.0.0.1:PORT
WATCH_PID=""
EVENTS=""          # `ctl --json watch` output, one JSON event a line
BASE_LOG=""        # output of the baseline's commands
RAW=()             # runsc as bench/create_ready.sh runs it, on our own root

ms_between() { echo $((($2 - $1 + 500) / 1000)); }

# ---- set-up --------------------------------------------------------------------

# The build directory may be rebuilt while we run: work on a copy, and make
# sure the copy is a whole binary (not one caught half-linked).
copy_driver_binary() {
  local dst=$OSGV_TMP/bin/openshell-driver-gvisor i
  mkdir -p "$OSGV_TMP/bin"
  for ((i = 0; i < 30; i++)); do
    if cp "$OSGV_BIN" "$dst" 2>/dev/null && "$dst" version >/dev/null 2>&1; then
      OSGV_BIN=$dst
      return 0
    fi
    sleep 2
  done
  osgv_die "could not take a working copy of $OSGV_BIN"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Debian's docker-registry on 127.0.0.1:<free port>, storage in $OSGV_TMP.
start_registry() {
  local dir=$OSGV_TMP/registry port i
  mkdir -p "$dir/data"
  port=$(free_port)
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
EOF
  "$REGISTRY_BIN" serve "$dir/config.yml" </dev/null >>"$dir/registry.log" 2>&1 &
  REGISTRY_PID=$!
  for ((i = 0; i < 100; i++)); do
    if port_answers "$port"; then
      REGISTRY=127.0.0.1:$port
      return 0
    fi
    kill -0 "$REGISTRY_PID" 2>/dev/null ||
      osgv_die "docker-registry exited at start-up (log: $dir/registry.log)"
    sleep 0.1
  done
  osgv_die "docker-registry did not answer on port $port within 10 s"
}

# Builds N+1 busybox images (0 is the warm-up), each a single layer that no
# other image shares: the busybox tree of scripts/demo.sh plus a file with
# a unique id. Each is pushed to its own repository, bench/img-I:v1. So
# every first create pulls every blob and unpacks a manifest digest no one
# has unpacked before (see docs/benchmarks.md for why not a shared base).
build_and_push_images() {
  local layout i src=$OSGV_TMP/image/src
  layout=$(osgv_build_busybox_layout "$OSGV_TMP/image")
  for ((i = 0; i <= RUNS; i++)); do
    printf 'osgv registry bench %s run %d %s\n' "$$" "$i" "$EPOCHREALTIME" >"$src/etc/osgv-bench-id"
    {
      umoci new --image "$layout:b$i"
      umoci insert --image "$layout:b$i" "$src" /
      umoci config --image "$layout:b$i" --tag "img$i" \
        --config.cmd /bin/sleep --config.cmd 1000000 \
        --config.env PATH=/bin --config.workingdir /workdir
    } >&2
    skopeo copy --quiet --dest-tls-verify=false "oci:$layout:img$i" \
      "docker://$REGISTRY/bench/img-$i:v1" >&2
  done
}

start_watch() {
  EVENTS=$OSGV_TMP/events.jsonl
  osgv_ctl --json watch </dev/null >"$EVENTS" 2>>"$OSGV_TMP/watch.err" &
  WATCH_PID=$!
}

bench_cleanup() {
  local rc=$?
  set +e
  [[ -n $WATCH_PID ]] && kill "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null
  WATCH_PID=""
  if [[ -n $REGISTRY_PID ]]; then
    kill -TERM "$REGISTRY_PID" 2>/dev/null
    wait "$REGISTRY_PID" 2>/dev/null
    REGISTRY_PID=""
  fi
  # osgv_cleanup stops the driver, force-deletes the containers under
  # state/runsc and raw-runsc, unmounts and removes $OSGV_TMP.
  (exit "$rc")
  osgv_cleanup
}

# ---- samples ---------------------------------------------------------------------

# One driver create: prints "ID READY_MS". Leaves the sandbox running.
driver_create() {
  local json
  json=$(osgv_ctl --json create --name "$1" --image "$2" --wait)
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["id"], d["ready_ms"])' "$json"
}

# One baseline sample of image $1 (index): prints "IMAGE_MS BOOT_MS".
# IMAGE_MS: skopeo copy into a fresh OCI layout + umoci unpack.
# BOOT_MS: runsc create + start. The runsc delete is not timed.
baseline_sample() {
  local i=$1 id dir=$OSGV_TMP/baseline/$1 t0 t1 t2 t3
  id=$(printf 'osgvregbench-%d-%04d' $$ "$i")
  mkdir -p "$dir"
  t0=$(now_us)
  skopeo copy --quiet --src-tls-verify=false "docker://$REGISTRY/bench/img-$i:v1" \
    "oci:$dir/layout:v1" </dev/null >>"$BASE_LOG" 2>&1 ||
    osgv_die "baseline skopeo copy failed (see $BASE_LOG)"
  umoci unpack --image "$dir/layout:v1" "$dir/bundle" </dev/null >>"$BASE_LOG" 2>&1 ||
    osgv_die "baseline umoci unpack failed (see $BASE_LOG)"
  t1=$(now_us)
  bench_match_driver_bundle "$dir/bundle"  # not timed: see docs/benchmarks.md
  t2=$(now_us)
  # runsc hands its stdio to the sandbox: never a pipe we would wait on.
  "${RAW[@]}" create --bundle "$dir/bundle" "$id" </dev/null >>"$BASE_LOG" 2>&1 ||
    osgv_die "runsc create failed (see $BASE_LOG)"
  "${RAW[@]}" start "$id" </dev/null >>"$BASE_LOG" 2>&1 ||
    osgv_die "runsc start failed (see $BASE_LOG)"
  t3=$(now_us)
  "${RAW[@]}" delete --force "$id" >>"$BASE_LOG" 2>&1 || true
  rm -rf "$dir"
  echo "$(ms_between "$t0" "$t1") $(ms_between "$t2" "$t3")"
}

# ---- report ----------------------------------------------------------------------

# Per sandbox id, from the Watch stream: image preparation (the driver's
# Scheduled event → its Pulled event) and the rest up to Started.
event_split() {  # ids...
  python3 - "$EVENTS" "$@" <<'PY'
import json, sys
path, ids = sys.argv[1], sys.argv[2:]
ts = {}
with open(path) as f:
    for line in f:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        pe = ev.get("platform_event")
        if not pe:
            continue
        e = pe.get("event", {})
        ts.setdefault(pe.get("sandbox_id"), {}).setdefault(e.get("reason"), int(e.get("timestamp_ms", 0)))
for i in ids:
    t = ts.get(i, {})
    if all(k in t for k in ("Scheduled", "Pulled", "Started")):
        print(t["Pulled"] - t["Scheduled"], t["Started"] - t["Pulled"])
    else:
        print("NA NA")
PY
}

report() {
  python3 - "$@" <<'PY'
import statistics, sys
names = ("d1", "d1_img", "d1_rest", "b_img", "b_boot", "d2", "d2_img", "d2_rest")
v = {}
for name, arg in zip(names, sys.argv[1:9]):
    v[name] = [int(x) for x in arg.split() if x != "NA"]
b_total = [a + b for a, b in zip(v["b_img"], v["b_boot"])]
med = statistics.median
def g(x):
    return f"{x:g}"
def row(label, xs):
    if xs:
        print(f"| {label} | {len(xs)} | {g(min(xs))} | {g(med(xs))} | {g(max(xs))} |")
    else:
        print(f"| {label} | 0 | – | – | – |")
print("| Step | n | min ms | median ms | max ms |")
print("|---|---|---|---|---|")
row("**driver, first create**: `ctl create --wait` → Ready (`ready_ms`)", v["d1"])
row("  of which image: pull + verify + unpack (event Scheduled → Pulled)", v["d1_img"])
row("  of which the rest: bundle, overlay, monitor, runsc (Pulled → Started)", v["d1_rest"])
row("**baseline**: `skopeo copy` + `umoci unpack` + `runsc create` + `start`", b_total)
row("  of which `skopeo copy` + `umoci unpack`", v["b_img"])
row("  of which `runsc create` + `start`", v["b_boot"])
row("**driver, second create** of the same image → Ready (`ready_ms`)", v["d2"])
row("  of which image: cache hit (Scheduled → Pulled)", v["d2_img"])
row("  of which the rest (Pulled → Started)", v["d2_rest"])
print()
r1 = med(v["d1"]) / med(b_total)
print(f"- First create vs baseline, ratio of medians: **{r1:.2f}×** "
      f"({'meets' if r1 <= 1.0 else 'misses'} the goal of ≤ 1.0×).")
print(f"- Image work vs image work: driver {g(med(v['d1_img']))} ms vs "
      f"`skopeo copy` + `umoci unpack` {g(med(v['b_img']))} ms "
      f"(**{med(v['d1_img']) / med(v['b_img']):.2f}×**).")
share = med(v["d1_img"]) / med(v["d1"])
print(f"- Image work's share of the first create (median image / median create): **{share:.0%}**.")
if v["d2_img"]:
    r2 = med(v["d2_img"]) / med(v["d1_img"])
    print(f"- Second create's image preparation vs the first's: **{r2:.1%}** "
          f"({'meets' if r2 <= 0.05 else 'misses'} the goal of ≤ 5 %).")
r3 = med(v["d2"]) / med(v["d1"])
print(f"- Second create → Ready vs first create → Ready: {r3:.0%} "
      f"(the boot, which every create pays, is most of it).")
print()
print("Samples in run order, ms:")
print()
for label, xs in (("driver first create", v["d1"]), ("its image part", v["d1_img"]),
                  ("baseline total", b_total), ("its skopeo + umoci part", v["b_img"]),
                  ("driver second create", v["d2"]), ("its image part", v["d2_img"])):
    print(f"- {label}: {', '.join(map(str, xs))}")
PY
}

# ---- main ------------------------------------------------------------------------

main() {
  osgv_require_root
  [[ -x $OSGV_BIN ]] || osgv_die "no driver binary at $OSGV_BIN (run scripts/build.sh)"
  [[ -x $REGISTRY_BIN ]] || osgv_die "no $REGISTRY_BIN (apt-get install docker-registry)"
  [[ -n ${EPOCHREALTIME:-} ]] || osgv_die "needs bash 5 (EPOCHREALTIME)"
  osgv_make_tmp regbench
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  copy_driver_binary
  BASE_LOG=$OSGV_TMP/baseline.log
  RAW=(runsc --root "$OSGV_TMP/raw-runsc" --network=none --overlay2=none)

  echo "bench: starting docker-registry" >&2
  start_registry
  echo "bench: building and pushing $((RUNS + 1)) distinct busybox images to $REGISTRY" >&2
  build_and_push_images

  echo "bench: starting the driver" >&2
  printf 'images:\n  insecure_registries: ["%s"]\n' "$REGISTRY" >"$OSGV_TMP/driver.yaml"
  # info: the driver logs each pull with its count of blobs fetched.
  osgv_start_driver --config "$OSGV_TMP/driver.yaml" --log-level info
  start_watch

  # Warm-up on image 0 (not counted): the first sandbox of a driver, and
  # the first skopeo/umoci/runsc of the run, pay one-time costs.
  echo "bench: warm-up (image 0)" >&2
  local w1 w2 ms out
  out=$(driver_create warm-1 "$REGISTRY/bench/img-0:v1")
  read -r w1 ms <<<"$out"
  out=$(driver_create warm-2 "$REGISTRY/bench/img-0:v1")
  read -r w2 ms <<<"$out"
  osgv_ctl delete "$w1" >/dev/null
  osgv_ctl delete "$w2" >/dev/null
  baseline_sample 0 >/dev/null

  local i img id1 id2 d1=() d2=() ids1=() ids2=() b_img=() b_boot=() bi bb
  for ((i = 1; i <= RUNS; i++)); do
    img=$REGISTRY/bench/img-$i:v1
    # Interleaved, and the order alternates, so host load and caches hit
    # both paths alike. The second create follows the first at once.
    if ((i % 2 == 0)); then
      out=$(baseline_sample "$i")
      read -r bi bb <<<"$out"
    fi
    out=$(driver_create "reg-$i-first" "$img")
    read -r id1 ms <<<"$out"
    d1+=("$ms"); ids1+=("$id1")
    out=$(driver_create "reg-$i-second" "$img")
    read -r id2 ms <<<"$out"
    d2+=("$ms"); ids2+=("$id2")
    if ((i % 2 == 1)); then
      out=$(baseline_sample "$i")
      read -r bi bb <<<"$out"
    fi
    b_img+=("$bi"); b_boot+=("$bb")
    osgv_ctl delete "$id1" >/dev/null
    osgv_ctl delete "$id2" >/dev/null
    echo "bench: run $i/$RUNS: driver first ${d1[-1]} ms, second ${d2[-1]} ms;" \
      "baseline $((bi + bb)) ms (skopeo+umoci $bi, runsc $bb)" >&2
  done
  sleep 0.5  # let the Watch stream write its last events
  kill "$WATCH_PID" 2>/dev/null || true
  wait "$WATCH_PID" 2>/dev/null || true
  WATCH_PID=""
  osgv_stop_driver

  # Each image must have been pulled exactly once, every blob fetched
  # (nothing already present), and the second create must not have pulled.
  local pulls
  for ((i = 0; i <= RUNS; i++)); do
    pulls=$(grep -c "image $REGISTRY/bench/img-$i:v1: pulled (" "$OSGV_LOG" || true)
    [[ $pulls == 1 ]] || osgv_die "image img-$i was pulled $pulls times (log: $OSGV_LOG)"
    grep -q "image $REGISTRY/bench/img-$i:v1: pulled ([0-9]* blobs fetched, 0 already present)" \
      "$OSGV_LOG" || osgv_die "image img-$i reused blobs: not a first pull (log: $OSGV_LOG)"
  done
  local pull_line
  pull_line=$(grep -m1 -o "pulled ([0-9]* blobs fetched, 0 already present)" "$OSGV_LOG")

  local split1 split2 d1_img=() d1_rest=() d2_img=() d2_rest=() a b
  split1=$(event_split "${ids1[@]}")
  split2=$(event_split "${ids2[@]}")
  while read -r a b; do d1_img+=("$a"); d1_rest+=("$b"); done <<<"$split1"
  while read -r a b; do d2_img+=("$a"); d2_rest+=("$b"); done <<<"$split2"

  local table when block size
  size=$(du -k "$OSGV_TMP/registry/data" | tail -n 1 | cut -f1)
  table=$(report "${d1[*]}" "${d1_img[*]}" "${d1_rest[*]}" "${b_img[*]}" "${b_boot[*]}" \
    "${d2[*]}" "${d2_img[*]}" "${d2_rest[*]}")
  when=$(date -u '+%Y-%m-%d %H:%M UTC')
  block=$(cat <<EOF
#### $when

Host: $(nproc) CPUs, kernel $(uname -r), $(runsc --version | head -n 1),
$(skopeo --version), umoci $(umoci --version | awk '{print $NF}'),
load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $RUNS runs (after a
warm-up on its own image). Each image: one layer, pushed to its own
repository; every first create's log line says \`$pull_line\`.
Registry storage for all $((RUNS + 1)) images: ${size} KiB.

$table
EOF
)
  printf '%s\n' "$block"
  [[ $WRITE_DOCS == 0 ]] || bench_insert_into_docs "$DOCS_MARKER" "$block"
}

main "$@"
