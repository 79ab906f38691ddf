#!/usr/bin/env bash
# Live: builds the driver's OCI image with deploy/image/build.sh, runs it
# with `run --image` (printing the image's driver version), and runs the
# image as a sandbox of the host's driver, then runs, inside it, the image's
# own driver binary (version, and --check-config on the image's default
# config), runsc, ip and nft. That proves the image's library closure is
# complete and its config valid, without a container daemon.
#   usage: image_test.sh DRIVER_BINARY
set -euo pipefail

binary=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ ${OPENSHELL_GVISOR_LIVE:-} != 1 ]]; then
  echo "SKIPPED: live test needs real runsc; set OPENSHELL_GVISOR_LIVE=1 (scripts/test.sh and .ci/run do)"
  exit 77
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: live test needs root (runsc creates cgroups and mounts)"
  exit 77
fi

work=$(mktemp -d /tmp/osgv-image-test.XXXXXX)
sock=$work/s/gvisor.sock
state=$work/state
driver_pid=
sandbox=
cleanup() {
  # Sandboxes outlive the driver, so delete ours before stopping it.
  if [[ -n $sandbox ]]; then
    "$binary" ctl --socket "$sock" delete "$sandbox" >/dev/null 2>&1 || true
  fi
  if [[ -n $driver_pid ]]; then
    kill -TERM "$driver_pid" 2>/dev/null || true
    wait "$driver_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- driver log:"; tail -n 30 "$work/driver.log" 2>/dev/null || true
  exit 1
}

bash "$here/../../deploy/image/build.sh" --binary "$binary" --tag test "$work/layout" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log"; fail "deploy/image/build.sh failed"; }
echo "ok: image built"

# The driver runs its own image with `run`: an ephemeral sandbox, no
# serving driver, nothing left behind.
want=$("$binary" version)
got=$(timeout 120 "$binary" run --state-dir "$work/run-state" --image "oci:$work/layout:test" -- \
        /usr/bin/openshell-driver-gvisor version) || fail "run --image of the driver's image failed: $got"
[[ $got == "$want" ]] || fail "run --image: the image's driver says '$got', the host's says '$want'"
echo "ok: run --image oci:…:test prints the driver's version: $got"

# Requests (ctl create here) may name oci: layouts only under images.oci_roots.
printf 'images:\n  oci_roots: ["%s"]\n' "$work/layout" >"$work/driver.yaml"
"$binary" serve --socket "$sock" --state-dir "$state" --config "$work/driver.yaml" \
  >"$work/driver.log" 2>&1 &
driver_pid=$!
for _ in $(seq 100); do
  "$binary" ctl --socket "$sock" --timeout 2s health >/dev/null 2>&1 && break
  kill -0 "$driver_pid" 2>/dev/null || fail "driver exited at startup"
  sleep 0.2
done
"$binary" ctl --socket "$sock" health >/dev/null || fail "driver never became SERVING"

out=$("$binary" ctl --socket "$sock" --timeout 60s create --name image-test \
        --image "oci:$work/layout:test" --wait -- /usr/bin/sleep 600) ||
  fail "creating a sandbox from the image failed: $out"
sandbox=$(head -n1 <<<"$out")
echo "ok: sandbox $sandbox runs the image"

in_sandbox() {
  timeout 60 "$binary" exec --state-dir "$state" --no-tty "$sandbox" -- "$@"
}

got=$(in_sandbox /usr/bin/openshell-driver-gvisor version) || fail "the image's driver does not run: $got"
[[ $got == "$want" ]] || fail "image's driver says '$got', host's says '$want'"
echo "ok: the image's driver runs: $got"

cfg=$(in_sandbox /usr/bin/openshell-driver-gvisor serve --config /etc/openshell-gvisor/driver.yaml --check-config) ||
  fail "the image's default config is refused: $cfg"
grep -Eq '^  path: "?/run/openshell/gvisor.sock"?$' <<<"$cfg" || fail "image config has another socket path: $cfg"
echo "ok: the image's default driver.yaml passes --check-config"

for tool in "/usr/bin/runsc --version" "/usr/sbin/ip -V"; do
  # shellcheck disable=SC2086
  r=$(in_sandbox $tool 2>&1) || fail "'$tool' does not run in the image: $r"
done
# nft opens a netfilter netlink socket whatever it is asked, and a
# --network=none gVisor sandbox has none; so ask the image's dynamic loader
# whether every library nft needs is there instead.
r=$(in_sandbox /lib64/ld-linux-x86-64.so.2 --list /usr/sbin/nft 2>&1) ||
  fail "the loader cannot load nft in the image: $r"
if grep -q 'not found' <<<"$r"; then
  fail "nft lacks libraries in the image: $r"
fi
grep -q 'libnftables' <<<"$r" || fail "unexpected loader output for nft: $r"
echo "ok: runsc and ip run in the image, and nft's libraries all load"

in_sandbox /usr/bin/grep -qx 'openshell:x:1000:' /etc/group ||
  fail "the image lacks group openshell (gid 1000) that the Helm driver.yaml names"
echo "ok: group openshell is gid 1000"

"$binary" ctl --socket "$sock" delete "$sandbox" >/dev/null || fail "delete failed"
sandbox=
echo "ok: image test passed"
