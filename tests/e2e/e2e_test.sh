#!/usr/bin/env bash
# The real OpenShell gateway, CLI and supervisor against our driver
# (docs/e2e.md). Everything runs on this host: our driver (`serve`), the
# upstream gateway on 127.0.0.1 and our bridge address, a docker-registry on
# 127.0.0.1, and sandboxes whose first process is the upstream supervisor.
# Every step goes through the upstream CLI, as an operator would type it.
#
#   usage: tests/e2e/e2e_test.sh DRIVER_BINARY
#   env:   OPENSHELL_GVISOR_LIVE=1            required (root, runsc)
#          OPENSHELL_E2E_BIN_DIR=DIR          openshell-gateway, openshell,
#                                             openshell-sandbox (static)
#          OPENSHELL_E2E_IMAGE_CACHE=DIR      where the sandbox image is kept
#                                             (default /var/tmp/openshell-gvisor-e2e-image)
#          OPENSHELL_E2E_ONLY="a b"           run only these scenarios
#          OPENSHELL_E2E_KEEP_TMP=1           keep logs and state afterwards
# Exit 0: all passed; 1: a check failed; 77: skipped (the reason is printed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/e2e_lib.sh
source "$here/e2e_lib.sh"

[[ $# -eq 1 ]] || { echo "usage: e2e_test.sh DRIVER_BINARY" >&2; exit 2; }
E2E_DRIVER=$(readlink -f "$1")
e2e_require_environment
[[ -x $E2E_DRIVER ]] || e2e_die "no driver binary at $1"

# A bash loop whose count lives only in the shell's memory; the file is where
# we watch it. After a restore it must go on, not start again at 1.
# shellcheck disable=SC2016  # expanded inside the sandbox
COUNTER='i=0; while :; do i=$((i+1)); echo $i > /sandbox/counter.new; mv /sandbox/counter.new /sandbox/counter; sleep 0.2; done'

create() {  # create NAME IMAGE [-- CMD...]: returns once the gateway says Ready
  local name=$1 image=$2
  shift 2
  e2e_cli sandbox create --name "$name" --from "$image" --detach --no-tty \
    --no-auto-providers "$@"
}

counter() { { e2e_exec "$1" cat /sandbox/counter 2>/dev/null || true; } | tr -dc 0-9; }
# The same through the driver's own exec (runsc exec), around the supervisor.
driver_counter() { { e2e_driver_exec "$1" cat /sandbox/counter 2>/dev/null || true; } | tr -dc 0-9; }

# ---- scenarios ---------------------------------------------------------------

# create from an oci: layout, Ready, exec returns output and exit code.
scenario_create_exec() {
  local t0 t1 out rc=0
  t0=$(e2e_now_ms)
  e2e_check "create from $E2E_IMAGE returns once Ready" create e2e-oci "$E2E_IMAGE"
  t1=$(e2e_now_ms)
  FIGURES+=("create -> Ready (oci layout, CLI wall time): $((t1 - t0)) ms")
  e2e_check "the gateway reports Ready" [ "$(e2e_phase e2e-oci)" = Ready ]
  out=$(e2e_exec e2e-oci echo hello-from-gvisor) || true
  e2e_check "exec returns the command's output" [ "$out" = hello-from-gvisor ]
  e2e_exec e2e-oci sh -c 'exit 7' >/dev/null 2>&1 || rc=$?
  e2e_check "exec returns the command's exit code (7, got $rc)" [ "$rc" -eq 7 ]
  out=$(e2e_exec e2e-oci id -un) || true
  e2e_check "commands run as the image's user sandbox (got '$out')" [ "$out" = sandbox ]
  out=$(e2e_exec e2e-oci uname -r) || true
  e2e_check "the kernel is gVisor's, not the host's ($out)" [ "$out" != "$(uname -r)" ]
}

# create from a registry on loopback (pulled by the driver with skopeo).
scenario_registry() {
  local image="127.0.0.1:$E2E_REGISTRY_PORT/osgv-e2e/sandbox:bookworm" out t0 t1
  e2e_check "the image is pushed to the local registry" \
    skopeo copy --quiet --dest-tls-verify=false "$E2E_IMAGE" "docker://$image"
  t0=$(e2e_now_ms)
  e2e_check "create from $image returns once Ready" create e2e-reg "$image"
  t1=$(e2e_now_ms)
  FIGURES+=("create -> Ready (registry pull included, CLI wall time): $((t1 - t0)) ms")
  out=$(e2e_exec e2e-reg cat /etc/debian_version) || true
  e2e_check "exec works in the registry sandbox (debian $out)" [ -n "$out" ]
  e2e_cli sandbox delete e2e-reg >/dev/null 2>&1 || true
}

# Stop = checkpoint, Start = restore: memory and files kept, the supervisor
# re-establishes its session so exec works again.
#
# That the driver restored the sandbox from its checkpoint (no cold boot) is
# checked from its own log. Everything after that happens inside the
# restored sandbox, where the gVisor epoll defect of Debian's runsc
# (docs/e2e.md, "Known problems") can crash the supervisor, which is the
# sandbox's first process and takes the workload with it, or leave it
# deaf: those checks use e2e_check_after_restore. Memory and files are read
# through the driver's own exec (runsc exec, around the supervisor), the
# supervisor's session through the gateway.
scenario_stop_start() {
  local before after later t0 t1 t2 out cycle restores
  e2e_check "create the counter sandbox" create e2e-mem "$E2E_IMAGE" -- /bin/bash -c "$COUNTER"
  e2e_check "write a file in the sandbox" e2e_exec e2e-mem sh -c 'echo kept-across-stop > /sandbox/file'
  sleep 2
  for cycle in first second; do
    before=$(driver_counter e2e-mem)
    e2e_log "  counter before the $cycle stop: $before"
    t0=$(e2e_now_ms)
    e2e_check "$cycle stop" e2e_cli sandbox stop e2e-mem
    t1=$(e2e_now_ms)
    [[ $cycle == first ]] && FIGURES+=("stop (checkpoint, CLI wall time): $((t1 - t0)) ms")
    e2e_check "the gateway shows it Stopped after the $cycle stop" e2e_wait_phase e2e-mem Stopped 30
    t1=$(e2e_now_ms)
    restores=$(e2e_restore_count e2e-mem)
    # The CLI's start waits for Ready, which needs the supervisor: its
    # result is the supervisor's.
    e2e_check_after_restore "$cycle start" \
      env OPENSHELL_PROVISION_TIMEOUT=60 "$E2E_TMP/cli/run" sandbox start e2e-mem
    e2e_check "the driver restored the sandbox from its checkpoint after the $cycle start" \
      e2e_wait_driver_restored e2e-mem "$restores" 60
    after=$(driver_counter e2e-mem)
    sleep 1
    later=$(driver_counter e2e-mem)
    e2e_log "  counter after the $cycle start: $after, a second later: $later"
    e2e_check_after_restore "the counter went on from memory ($before -> $after)" \
      [ "${after:-0}" -ge "${before:-1}" ]
    e2e_check_after_restore "the counter still runs ($after -> $later)" [ "${later:-0}" -gt "${after:-0}" ]
    out=$(e2e_driver_exec e2e-mem cat /sandbox/file) || true
    e2e_check_after_restore "the file is there after the $cycle start" [ "$out" = kept-across-stop ]
    # The supervisor's side: its session back (Ready) and an exec through
    # the gateway. A first try on its own shows a hang; two more tell a hang
    # from a dead sandbox.
    e2e_check_after_restore "Ready after the $cycle start" e2e_wait_phase e2e-mem Ready 60
    t2=$(e2e_now_ms)
    FIGURES+=("$cycle start -> Ready (restore + supervisor reconnect): $((t2 - t1)) ms")
    local try first=""
    for try in 1 2 3; do
      out=$(E2E_EXEC_TIMEOUT=20 e2e_exec e2e-mem cat /sandbox/file) || true
      [[ -z $first ]] && first=${out:-none}
      [[ $out == kept-across-stop ]] && break
      e2e_log "  exec through the gateway after the $cycle start, try $try: '$out'"
    done
    e2e_check_after_restore "exec through the gateway answers at once after the $cycle start" \
      [ "$first" = kept-across-stop ]
    e2e_check_after_restore "exec through the gateway works after the $cycle start (within 3 tries)" \
      [ "$out" = kept-across-stop ]
  done
}

# The gateway restarts while sandboxes run: they stay Ready, exec works.
scenario_gateway_restart() {
  local before after out
  e2e_check "create a counter sandbox" create e2e-gw "$E2E_IMAGE" -- /bin/bash -c "$COUNTER"
  sleep 1
  before=$(counter e2e-gw)
  e2e_stop_gateway TERM
  e2e_start_gateway
  e2e_check "Ready after the gateway's restart" e2e_wait_phase e2e-gw Ready 90
  out=$(e2e_exec e2e-gw echo after-gateway-restart) || true
  e2e_check "exec works after the gateway's restart" [ "$out" = after-gateway-restart ]
  after=$(counter e2e-gw)
  e2e_check "the sandbox kept running ($before -> $after)" [ "${after:-0}" -gt "${before:-0}" ]
}

# The driver dies (SIGKILL) and comes back: the gateway's view converges and
# nothing is lost.
scenario_driver_kill() {
  local before after out names_before names_after
  e2e_check "create a counter sandbox" create e2e-kill "$E2E_IMAGE" -- /bin/bash -c "$COUNTER"
  sleep 1
  names_before=$(e2e_cli sandbox list --names | sort | tr '\n' ' ')
  before=$(counter e2e-kill)
  e2e_stop_driver KILL
  e2e_start_driver
  e2e_check "Ready after the driver's restart" e2e_wait_phase e2e-kill Ready 90
  out=$(e2e_exec e2e-kill echo after-driver-kill) || true
  e2e_check "exec works after the driver's restart" [ "$out" = after-driver-kill ]
  after=$(counter e2e-kill)
  e2e_check "the sandbox kept running ($before -> $after)" [ "${after:-0}" -gt "${before:-0}" ]
  names_after=$(e2e_cli sandbox list --names | sort | tr '\n' ' ')
  e2e_check "the gateway lists the same sandboxes ($names_after)" [ "$names_before" = "$names_after" ]
  # A Stop/Start after the crash still restores memory.
  e2e_check "stop after the driver's restart" e2e_cli sandbox stop e2e-kill
  e2e_check_after_restore "start after the driver's restart" \
    env OPENSHELL_PROVISION_TIMEOUT=60 "$E2E_TMP/cli/run" sandbox start e2e-kill
  e2e_check "the driver restored it from its checkpoint" e2e_wait_driver_restored e2e-kill 0 60
  after=$(driver_counter e2e-kill)
  e2e_check_after_restore "memory kept across the driver crash and a stop/start ($before -> $after)" \
    [ "${after:-0}" -ge "${before:-1}" ]
  # The supervisor after that restore: the gVisor defect (docs/e2e.md).
  e2e_check_after_restore "Ready" e2e_wait_phase e2e-kill Ready 60
  out=$(E2E_EXEC_TIMEOUT=20 e2e_exec e2e-kill echo after-restore) || true
  e2e_check_after_restore "exec through the gateway after that restore" [ "$out" = after-restore ]
}

# Images without /bin/bash or without ip: create fails at once with a
# message naming the tool, instead of a sandbox that never becomes Ready.
scenario_missing_tools() {
  local layout=$E2E_TMP/images/variants out rc t0 t1
  mkdir -p "$E2E_TMP/images"
  local src=${E2E_IMAGE#oci:}
  cp -a "${src%:*}" "$layout"
  umoci insert --image "$layout:bookworm" --tag no-bash --whiteout /usr/bin/bash >/dev/null
  umoci insert --image "$layout:bookworm" --tag no-ip --whiteout /usr/bin/ip >/dev/null
  umoci insert --image "$layout:no-ip" --tag no-ip --whiteout /usr/sbin/ip >/dev/null
  local variant want
  for variant in no-bash:/bin/bash no-ip:"no ip (iproute2)"; do
    want=${variant#*:}
    variant=${variant%%:*}
    rc=0
    t0=$(e2e_now_ms)
    out=$(OPENSHELL_PROVISION_TIMEOUT=120 create "e2e-$variant" "oci:$layout:$variant" 2>&1) || rc=$?
    t1=$(e2e_now_ms)
    e2e_log "  $variant: exit $rc after $((t1 - t0)) ms: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
    e2e_check "create from the $variant image fails" [ "$rc" -ne 0 ]
    e2e_check "the error names $want" grep -qF -- "$want" <<<"$out"
    e2e_check "within 60 s, not stuck in Provisioning" [ $((t1 - t0)) -lt 60000 ]
    e2e_cli sandbox delete "e2e-$variant" >/dev/null 2>&1 || true
  done
}

# A dynamically linked supervisor binary is refused when the driver starts.
scenario_dynamic_supervisor() {
  local dir=$E2E_TMP/dynamic out rc=0
  mkdir -p "$dir"
  printf 'supervisor:\n  binary: /bin/sh\ngateway:\n  endpoint: http://%s:%s\nnetwork:\n  mode: none\n' \
    "$E2E_BRIDGE_IP" "$E2E_PORT" >"$dir/driver.yaml"
  out=$("$E2E_DRIVER" serve --config "$dir/driver.yaml" --socket "$dir/gvisor.sock" \
        --state-dir "$dir/state" 2>&1 </dev/null) || rc=$?
  e2e_log "  serve: exit $rc: $(tail -n 1 <<<"$out")"
  e2e_check "serve refuses a dynamically linked supervisor" [ "$rc" -ne 0 ]
  e2e_check "and says so" grep -q "supervisor.binary: '/bin/sh' is dynamically linked" <<<"$out"
}

# The sandbox's policy, enforced by the upstream supervisor's proxy: an
# allowed endpoint answers, the others are refused by policy. Sandboxes
# reach only the gateway's port on the host (docs/network.md), so the allowed
# endpoint is the gateway's callback listener itself, reached by name.
scenario_policy() {
  local out policy=$E2E_TMP/policy.yaml
  cat >"$policy" <<YAML
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /proc, /dev/urandom, /etc, /var/log]
  read_write: [/sandbox, /tmp, /dev/null]
landlock:
  compatibility: best_effort
process:
  run_as_user: sandbox
  run_as_group: sandbox
network_policies:
  gateway_by_name:
    name: gateway_by_name
    endpoints:
      - host: host.openshell.internal
        port: $E2E_PORT
        allowed_ips: ["10.89.0.0/16"]
    binaries:
      - path: /usr/bin/bash
YAML
  local denied_port
  denied_port=$(e2e_pick_port)
  # A host listener the policy does not name; it must never see a connection.
  python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8); s.settimeout(1)
n=0
for _ in range(600):
    try:
        c,_=s.accept(); n+=1; open(sys.argv[3],"w").write(str(n)); c.close()
    except socket.timeout:
        pass' "$E2E_BRIDGE_IP" "$denied_port" "$E2E_TMP/denied.accepted" &
  local listener=$!
  e2e_check "create with a policy" create e2e-pol "$E2E_IMAGE" --policy "$policy"
  # bash speaks HTTP to the supervisor's proxy ($HTTP_PROXY in the workload).
  # shellcheck disable=SC2016  # expanded inside the sandbox
  # Only bash itself may hold the socket: the proxy refuses a connection
  # whose socket several different binaries share (cat, timeout, ...).
  local fetch='p=${HTTP_PROXY#http://}; p=${p%/}; exec 3<>/dev/tcp/${p%:*}/${p##*:} || exit 9
printf "GET http://%s/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$1" "$1" >&3
n=0; while { IFS= read -r -t 10 line <&3 || [[ -n $line ]]; } && ((n++ < 20)); do printf "%s\n" "$line"; line=; done'
  out=$(e2e_exec e2e-pol bash -c "$fetch" fetch "host.openshell.internal:$E2E_PORT" 2>&1) || true
  e2e_log "  allowed: $(tr -s "\r\n" "  " <<<"$out" | tail -c 300)"
  e2e_check "the allowed endpoint (the gateway itself) answers through the proxy" grep -q "callback" <<<"$out"
  e2e_check "and is not refused by policy" eval '! grep -qi policy <<<"$out"'
  out=$(e2e_exec e2e-pol bash -c "$fetch" fetch "$E2E_BRIDGE_IP:$denied_port" 2>&1) || true
  e2e_log "  denied (bridge listener): $(head -n 1 <<<"$out") $(tail -n 1 <<<"$out")"
  e2e_check "a host listener the policy does not name is refused by policy" grep -qi 'policy' <<<"$out"
  out=$(e2e_exec e2e-pol bash -c "$fetch" fetch "127.0.0.1:$E2E_PORT" 2>&1) || true
  e2e_log "  denied (loopback): $(head -n 1 <<<"$out") $(tail -n 1 <<<"$out")"
  e2e_check "loopback is refused by policy" grep -qi 'policy' <<<"$out"
  out=$(e2e_exec e2e-pol bash -c 'exec 3<>/dev/tcp/$1/$2 && echo connected' direct \
        "$E2E_BRIDGE_IP" "$denied_port" 2>&1) || true
  e2e_check "a direct connection around the proxy fails ($out)" eval '! grep -q connected <<<"$out"'
  # The supervisor's own account of each decision, for the log.
  e2e_cli logs e2e-pol -n 200 --source sandbox 2>/dev/null | grep -iE 'denied|allowed|policy' |
    tail -n 6 | while read -r line; do e2e_log "  supervisor: ${line:0:300}"; done || true
  kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null || true
  e2e_check "the denied listener saw no connection" [ ! -e "$E2E_TMP/denied.accepted" ]
  e2e_cli sandbox delete e2e-pol >/dev/null 2>&1 || true
}

# Delete: gone from the gateway, from runsc and from the host.
scenario_delete() {
  e2e_wait_phase e2e-del Ready 1 || create e2e-del "$E2E_IMAGE" >/dev/null
  local rid
  rid=$(e2e_runsc_ids | head -n 1)
  local names
  for names in $(e2e_cli sandbox list --names); do e2e_cli sandbox delete "$names" >/dev/null; done
  local i
  for ((i = 0; i < 120; i++)); do
    [[ -z $(e2e_cli sandbox list --names 2>/dev/null) && -z $(e2e_runsc_ids) ]] && break
    sleep 0.5
  done
  e2e_check "the gateway lists no sandbox" [ -z "$(e2e_cli sandbox list --names)" ]
  e2e_check "runsc lists no container" [ -z "$(e2e_runsc_ids)" ]
  e2e_check "no mount is left under the state dir" \
    eval '! awk -v t="$E2E_TMP/state/" "index(\$5, t) == 1" /proc/self/mountinfo | grep -q .'
  e2e_check "no network namespace of ours is left" eval '! ip netns list | grep -q "^osgv-"'
  e2e_check "no sandbox port on the bridge" eval '[ -z "$(ip -o link show master osgv0 2>/dev/null)" ]'
  e2e_check "no address in the nft anti-spoofing set" \
    eval '! nft list set bridge osgv_l2 ports 2>/dev/null | grep -q "osgvh"'
  e2e_check "no sandbox directory is left" eval '[ -z "$(ls -A "$E2E_TMP/state/sandboxes" 2>/dev/null)" ]'
  e2e_check "no address allocation is left" eval '! ls "$E2E_TMP/state/network/"*.ip >/dev/null 2>&1'
  if [[ -n $rid ]]; then
    e2e_check "no cgroup of $rid is left" eval '[ -z "$(find /sys/fs/cgroup -maxdepth 3 -name "*$rid*" 2>/dev/null)" ]'
  fi
}

# ---- the run -------------------------------------------------------------------

FIGURES=()
ALL_SCENARIOS="dynamic_supervisor create_exec registry stop_start gateway_restart driver_kill
               policy missing_tools delete"

main() {
  e2e_make_tmp
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM

  e2e_start_world

  local s
  for s in ${OPENSHELL_E2E_ONLY:-$ALL_SCENARIOS}; do
    e2e_log "scenario: $s"
    "scenario_$s"
  done

  e2e_log "figures:"
  for s in "${FIGURES[@]}"; do e2e_log "  $s"; done
  if [[ $E2E_KNOWN -ne 0 ]]; then
    e2e_log "$E2E_KNOWN check(s) hit the known restore defect (docs/e2e.md); OPENSHELL_E2E_STRICT=1 fails on them"
  fi
  if [[ $E2E_FAILED -ne 0 ]]; then
    e2e_log "$E2E_FAILED check(s) failed"
    exit 1
  fi
  e2e_log "all checks passed"
}

main
