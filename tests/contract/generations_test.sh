#!/usr/bin/env bash
# Live: ONE running driver, driven in turn by a client generated from each
# upstream gateway generation's proto (tests/contract/README.md): the pin
# (v0.0.111), v0.1.2 and Ryno. Each client checks the driver's answers as its
# gateway would; between its steps this script looks inside the sandbox with
# the driver's host-side `exec` to prove that Stop/Start kept the memory: a
# counter the workload keeps in /dev/shm must not go back (a cold boot
# starts again at 1), and PID 1's start time must not change.
#
#   usage: generations_test.sh DRIVER CLIENT_V0 CLIENT_V01 CLIENT_RYNO
#   OSGV_CONTRACT_GENERATIONS="v0 v01 ryno"   the generations to run (default all)
#
# Needs root, runsc, umoci, busybox-static and OPENSHELL_GVISOR_LIVE=1;
# otherwise prints "SKIP: <why>" and exits 77. By hand, hold the live lock:
#   flock /tmp/osgv-live.lock env OPENSHELL_GVISOR_LIVE=1 bash tests/contract/generations_test.sh ...
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
[[ $# -eq 4 ]] || { echo "usage: $0 DRIVER CLIENT_V0 CLIENT_V01 CLIENT_RYNO" >&2; exit 2; }
[[ ${OPENSHELL_GVISOR_LIVE:-} == 1 ]] ||
  skip "live test needs real runsc; set OPENSHELL_GVISOR_LIVE=1 (scripts/test.sh and .ci/run do)"
[[ $(id -u) -eq 0 ]] || skip "live test needs root (runsc creates cgroups and mounts)"
for tool in runsc umoci; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps.sh)"
done
[[ -x /bin/busybox ]] || skip "no /bin/busybox for the test image (busybox-static)"

declare -A client=([v0]=$2 [v01]=$3 [ryno]=$4)
declare -A generation=([v0]="v0.0.111 (pin)" [v01]="v0.1.2" [ryno]="Ryno")

# The demo's helpers: temp dir, busybox layout, driver start and the trap
# that leaves nothing behind (sourcing runs nothing).
OSGV_BIN=$1
# shellcheck source=scripts/demo.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/demo.sh"
osgv_make_tmp contract
trap osgv_cleanup EXIT
trap 'exit 130' INT TERM

IMAGE="oci:$(osgv_build_busybox_layout "$OSGV_TMP/image"):v1"
osgv_start_driver
echo "ok: one driver serves $OSGV_SOCK (pid $OSGV_DRIVER_PID); image $IMAGE"

in_sandbox() {
  timeout 60 "$OSGV_BIN" exec --state-dir "$OSGV_STATE" --no-tty "$1" -- "${@:2}"
}

# The workload's counter; empty when it cannot be read.
counter() { in_sandbox "$1" cat /dev/shm/counter 2>/dev/null || true; }

# Field 22 of /proc/1/stat (starttime); fields are counted after "(comm)",
# which may itself hold spaces. It counts clock ticks since the sandbox
# booted, so a cold boot can land on the same tick: the counter is the
# stronger of the two proofs.
pid1_start_time() {
  local stat
  stat=$(in_sandbox "$1" cat /proc/1/stat) || return 1
  stat=${stat##*) }
  awk '{ print $20 }' <<<"$stat"
}

# Waits until the counter reaches $2, so that a cold boot (back at 1) could
# not be mistaken for a restore. Prints the value.
counter_at_least() {
  local id=$1 want=$2 value i
  for ((i = 0; i < 150; i++)); do
    value=$(counter "$id")
    if [[ $value =~ ^[0-9]+$ ]] && ((value >= want)); then
      echo "$value"
      return 0
    fi
    sleep 0.1
  done
  echo "the counter in /dev/shm/counter did not reach $want within 15 s (last: '$value')" >&2
  return 1
}

# One generation's life: capabilities, create (→ Ready), stop, start
# (→ Ready, memory kept), delete.
run_generation() {
  local tag=$1 bin=${client[$1]} id="contract-$1-$$" before after t_before t_after
  step() {
    "$bin" "$1" --socket "$OSGV_SOCK" --id "$id" "${@:2}" ||
      { echo "FAIL: ${generation[$tag]}: step '$1' (the client's message is above)"; return 1; }
  }
  step capabilities || return 1
  step create --image "$IMAGE" || return 1
  before=$(counter_at_least "$id" 10) || { echo "FAIL: ${generation[$tag]}: before Stop"; return 1; }
  t_before=$(pid1_start_time "$id") ||
    { echo "FAIL: ${generation[$tag]}: cannot read /proc/1/stat before Stop"; return 1; }
  step stop || return 1
  step start || return 1
  after=$(counter "$id")
  t_after=$(pid1_start_time "$id") ||
    { echo "FAIL: ${generation[$tag]}: cannot read /proc/1/stat after Start"; return 1; }
  if ! [[ $after =~ ^[0-9]+$ ]] || ((after < before)); then
    echo "FAIL: ${generation[$tag]}: counter was $before before Stop and is '$after' after Start: memory was not kept"
    return 1
  fi
  if [[ $t_after != "$t_before" ]]; then
    echo "FAIL: ${generation[$tag]}: PID 1's start time was $t_before before Stop and is $t_after after Start: the sandbox booted again"
    return 1
  fi
  echo "ok: ${generation[$tag]}: memory kept across Stop/Start (counter $before -> $after, PID 1 start time $t_before)"
  step delete || return 1
}

failed=()
for tag in ${OSGV_CONTRACT_GENERATIONS:-v0 v01 ryno}; do
  [[ -n ${client[$tag]:-} ]] || { echo "unknown generation '$tag' (v0, v01, ryno)" >&2; exit 2; }
  echo "--- ${generation[$tag]} client against the same driver"
  if run_generation "$tag"; then
    echo "ok: ${generation[$tag]}: create -> Ready -> stop -> start -> delete"
  else
    failed+=("${generation[$tag]}")
  fi
done
kill -0 "$OSGV_DRIVER_PID" 2>/dev/null || { echo "FAIL: the driver exited during the test"; exit 1; }
if ((${#failed[@]})); then
  echo "FAIL: generations that failed: ${failed[*]}"
  exit 1
fi
echo "ok: every generation drove the one driver"
