# Helpers for tests/e2e/e2e_test.sh: the real upstream gateway, CLI and
# supervisor (NVIDIA/OpenShell) against our driver, all on this host.
#
# Sourced, not run. Layout of one run, under $E2E_TMP (mode 0700):
#   driver.yaml, driver.log      our driver (`serve`), socket run/gvisor.sock,
#                                state in state/
#   gateway/                     the gateway's own HOME, XDG dirs, config,
#                                signing keys, database; log gateway.log
#   cli/                         the CLI's own HOME and XDG dirs
# Nothing listens beyond 127.0.0.1 and our bridge address; telemetry is off
# in the gateway, and in the supervisors through the driver's environment.
# shellcheck shell=bash

E2E_BRIDGE_IP=10.89.0.1  # network.subnet's .1 with the driver's defaults (docs/network.md)
E2E_TMP=""
E2E_DRIVER_PID=""
E2E_GATEWAY_PID=""
E2E_FAILED=0
E2E_KNOWN=0  # checks that hit the known restore defect (e2e_check_after_restore)

e2e_log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
e2e_skip() { echo "SKIP: $*"; exit 77; }

# Skips (exit 77) with the reason when this host cannot run the suite.
e2e_require_environment() {
  [[ ${OPENSHELL_GVISOR_LIVE:-} == 1 ]] ||
    e2e_skip "set OPENSHELL_GVISOR_LIVE=1 to run the end-to-end suite (needs root and runsc)"
  [[ -n ${OPENSHELL_E2E_BIN_DIR:-} ]] ||
    e2e_skip "set OPENSHELL_E2E_BIN_DIR to a directory holding the upstream openshell-gateway, openshell and openshell-sandbox (docs/e2e.md)"
  [[ $(id -u) -eq 0 ]] || e2e_skip "must run as root (runsc, the sandbox network)"
  command -v runsc >/dev/null || e2e_skip "runsc is not installed (scripts/install-deps.sh)"
  local b
  for b in openshell-gateway openshell openshell-sandbox; do
    [[ -x $OPENSHELL_E2E_BIN_DIR/$b ]] || e2e_skip "no executable $b in OPENSHELL_E2E_BIN_DIR=$OPENSHELL_E2E_BIN_DIR"
  done
  for b in openssl mmdebstrap umoci; do
    command -v "$b" >/dev/null || e2e_skip "$b is not installed (scripts/install-deps.sh)"
  done
}

e2e_make_tmp() {
  E2E_TMP=$(mktemp -d /tmp/osgv-e2e-XXXXXX)
  chmod 0700 "$E2E_TMP"
  mkdir -p "$E2E_TMP"/{run,gateway/home,gateway/config,gateway/state,gateway/jwt,cli/home,cli/config}
}

# A free TCP port on 127.0.0.1 and the bridge address (the gateway binds both).
e2e_pick_port() {
  local p
  for ((;;)); do
    p=$((42000 + RANDOM % 20000))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}

# ---- our driver ------------------------------------------------------------

# driver.yaml: the upstream supervisor, sandbox networking with the gateway
# on the bridge address, the e2e image's directory and the suite's own
# variant images as the allowed OCI roots.
e2e_write_driver_config() {
  local image_dir=$1 default_image=$2
  cat >"$E2E_TMP/driver.yaml" <<YAML
socket:
  path: $E2E_TMP/run/gvisor.sock
state_dir: $E2E_TMP/state
default_image: "$default_image"
log:
  level: info
supervisor:
  binary: $OPENSHELL_E2E_BIN_DIR/openshell-sandbox
gateway:
  endpoint: http://$E2E_BRIDGE_IP:$E2E_PORT
network:
  mode: sandbox
  egress: deny
images:
  insecure_registries: ["127.0.0.1:$E2E_REGISTRY_PORT"]
  oci_roots: ["$image_dir", "$E2E_TMP/images"]
YAML
  # Extra top-level YAML from the caller, e.g. "runsc:\n  debug_log_dir: /tmp/x".
  if [[ -n ${OPENSHELL_E2E_DRIVER_YAML:-} ]]; then
    printf '%b\n' "$OPENSHELL_E2E_DRIVER_YAML" >>"$E2E_TMP/driver.yaml"
  fi
}

e2e_start_driver() {
  OPENSHELL_TELEMETRY_ENABLED=false \
    "$E2E_DRIVER" serve --config "$E2E_TMP/driver.yaml" </dev/null >>"$E2E_TMP/driver.log" 2>&1 &
  E2E_DRIVER_PID=$!
  local i
  for ((i = 0; i < 600; i++)); do
    "$E2E_DRIVER" ctl --socket "$E2E_TMP/run/gvisor.sock" health >/dev/null 2>&1 && return 0
    if ! kill -0 "$E2E_DRIVER_PID" 2>/dev/null; then
      tail -n 20 "$E2E_TMP/driver.log" >&2
      e2e_die "the driver exited during start-up"
    fi
    sleep 0.1
  done
  e2e_die "the driver did not become healthy within 60 s"
}

# $1: signal (TERM for a clean stop, KILL for a crash).
e2e_stop_driver() {
  [[ -n $E2E_DRIVER_PID ]] || return 0
  e2e_kill_and_wait "$E2E_DRIVER_PID" "${1:-TERM}"
  E2E_DRIVER_PID=""
}

e2e_ctl() { "$E2E_DRIVER" ctl --socket "$E2E_TMP/run/gvisor.sock" "$@"; }

# ---- the gateway -----------------------------------------------------------

# Ed25519 signing keys for sandbox tokens (mandatory: without them no
# supervisor can authenticate), and a configuration with nothing else but
# unauthenticated local users.
e2e_write_gateway_config() {
  local g=$E2E_TMP/gateway
  openssl genpkey -algorithm ed25519 -out "$g/jwt/signing.pem" 2>/dev/null
  openssl pkey -in "$g/jwt/signing.pem" -pubout -out "$g/jwt/public.pem" 2>/dev/null
  openssl rand -hex 16 >"$g/jwt/kid"
  cat >"$g/gateway.toml" <<TOML
[openshell]
version = 1

[openshell.gateway]
log_level = "info"

[openshell.gateway.auth]
allow_unauthenticated_users = true

[openshell.gateway.gateway_jwt]
signing_key_path = "$g/jwt/signing.pem"
public_key_path = "$g/jwt/public.pem"
kid_path = "$g/jwt/kid"
gateway_id = "openshell-gvisor-e2e"
ttl_secs = 0
TOML
}

# A clean environment: nothing of ours (OPENSHELL_*, KUBERNETES_*) leaks in,
# and its own HOME and XDG dirs keep it off any operator's files.
e2e_start_gateway() {
  local g=$E2E_TMP/gateway
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$g/home" \
    XDG_CONFIG_HOME="$g/config" XDG_STATE_HOME="$g/state" XDG_DATA_HOME="$g/state" \
    OPENSHELL_TELEMETRY_ENABLED=false RUST_BACKTRACE=1 NO_COLOR=1 \
    "$OPENSHELL_E2E_BIN_DIR/openshell-gateway" --config "$g/gateway.toml" --disable-tls \
    --bind-address 127.0.0.1 --port "$E2E_PORT" \
    --drivers gvisor --compute-driver-socket "$E2E_TMP/run/gvisor.sock" \
    --db-url "sqlite:$g/state/gateway.db" </dev/null >>"$g/gateway.log" 2>&1 &
  E2E_GATEWAY_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    e2e_cli status 2>/dev/null | grep -q Connected && return 0
    if ! kill -0 "$E2E_GATEWAY_PID" 2>/dev/null; then
      tail -n 30 "$g/gateway.log" >&2
      e2e_die "the gateway exited during start-up"
    fi
    sleep 0.2
  done
  e2e_die "the gateway did not answer within 60 s"
}

e2e_stop_gateway() {
  [[ -n $E2E_GATEWAY_PID ]] || return 0
  e2e_kill_and_wait "$E2E_GATEWAY_PID" "${1:-TERM}"
  E2E_GATEWAY_PID=""
}

# ---- a registry on loopback -------------------------------------------------

# Debian's docker-registry on 127.0.0.1:$E2E_REGISTRY_PORT, storage in $E2E_TMP.
e2e_start_registry() {
  local r=$E2E_TMP/registry
  mkdir -p "$r"
  cat >"$r/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $r/data
http:
  addr: 127.0.0.1:$E2E_REGISTRY_PORT
YAML
  /usr/bin/docker-registry serve "$r/config.yml" </dev/null >>"$r/registry.log" 2>&1 &
  E2E_REGISTRY_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    ss -Htln "sport = :$E2E_REGISTRY_PORT" | grep -q . && return 0
    sleep 0.1
  done
  e2e_die "docker-registry did not listen within 10 s"
}

# ---- the CLI ---------------------------------------------------------------

e2e_cli() { "$E2E_TMP/cli/run" "$@"; }

# The CLI with its own environment, as a script so `timeout` can run it.
e2e_write_cli() {
  cat >"$E2E_TMP/cli/run" <<SH
#!/bin/sh
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$E2E_TMP/cli/home" \
    XDG_CONFIG_HOME="$E2E_TMP/cli/config" XDG_STATE_HOME="$E2E_TMP/cli/home" \
    OPENSHELL_GATEWAY_ENDPOINT="http://127.0.0.1:$E2E_PORT" OPENSHELL_TELEMETRY_ENABLED=false \
    OPENSHELL_PROVISION_TIMEOUT="\${OPENSHELL_PROVISION_TIMEOUT:-300}" \
    NO_COLOR=1 "$OPENSHELL_E2E_BIN_DIR/openshell" "\$@"
SH
  chmod 0700 "$E2E_TMP/cli/run"
}

# The phase the gateway reports for sandbox $1 ("" when it has none).
e2e_phase() {
  e2e_cli sandbox get "$1" -o json 2>/dev/null | python3 -c \
    'import json,sys; print(json.load(sys.stdin).get("phase",""))' 2>/dev/null || true
}

# Waits up to $3 s (default 120) for sandbox $1 to reach phase $2.
e2e_wait_phase() {
  local name=$1 want=$2 limit=${3:-120} phase="" end=$((SECONDS + ${3:-120}))
  while ((SECONDS < end)); do
    phase=$(e2e_phase "$name")
    [[ $phase == "$want" ]] && return 0
    [[ $phase == Error ]] && break  # permanent (gateway-contract.md §0.1)
    sleep 0.25
  done
  e2e_log "sandbox $name: phase '$phase' after ${limit}s, wanted $want"
  return 1
}

# `sandbox exec` without a terminal; stdout only. A session that hangs
# fails after 60 s instead of stopping the suite.
e2e_exec() {
  local name=$1
  shift
  timeout "${E2E_EXEC_TIMEOUT:-60}" "$E2E_TMP/cli/run" sandbox exec --name "$name" --no-tty -- "$@"
}

# `openshell-driver-gvisor exec` into a sandbox by its name: runsc exec,
# straight from the host, around the supervisor and the gateway.
e2e_driver_exec() {
  local name=$1
  shift
  timeout "${E2E_EXEC_TIMEOUT:-30}" "$E2E_DRIVER" exec --state-dir "$E2E_TMP/state" --no-tty "$name" -- "$@"
}

# How many times the driver restored the sandbox NAME from a checkpoint, by
# its own log ("sandbox <id>: Restored <size> of memory in <ms> ms").
e2e_restore_count() {
  local id
  id=$("$E2E_DRIVER" ctl --socket "$E2E_TMP/run/gvisor.sock" list 2>/dev/null |
    awk -v n="$1" '$2 == n { print $1 }')
  [[ -n $id ]] || { echo 0; return; }
  grep -c "sandbox $id: Restored .* of memory" "$E2E_TMP/driver.log" || true
}

# Waits until the driver has restored NAME more than BEFORE times.
e2e_wait_driver_restored() {
  local name=$1 before=$2 end=$((SECONDS + ${3:-60}))
  while ((SECONDS < end)); do
    (($(e2e_restore_count "$name") > before)) && return 0
    sleep 0.25
  done
  e2e_log "sandbox $name: the driver did not log a restore"
  return 1
}

# The runsc containers of our driver.
e2e_runsc_ids() { runsc --root "$E2E_TMP/state/runsc" list --quiet 2>/dev/null || true; }

# Everything a run needs, in order: the sandbox image (built once, cached in
# OPENSHELL_E2E_IMAGE_CACHE), the CLI wrapper, the registry, our driver and
# the gateway. Sets E2E_IMAGE, E2E_PORT and E2E_REGISTRY_PORT. Needs
# E2E_TMP (e2e_make_tmp) and E2E_DRIVER.
e2e_start_world() {
  local cache=${OPENSHELL_E2E_IMAGE_CACHE:-/var/tmp/openshell-gvisor-e2e-image}
  e2e_log "sandbox image (cached in $cache)"
  E2E_IMAGE=$("$(dirname "${BASH_SOURCE[0]}")/../../scripts/build-sandbox-image.sh" "$cache")
  E2E_PORT=$(e2e_pick_port)
  e2e_write_cli
  E2E_REGISTRY_PORT=$(e2e_pick_port)
  e2e_start_registry
  e2e_write_driver_config "$cache" "$E2E_IMAGE"
  e2e_write_gateway_config
  e2e_log "driver: $E2E_DRIVER (log $E2E_TMP/driver.log)"
  e2e_start_driver
  e2e_log "gateway on 127.0.0.1:$E2E_PORT and $E2E_BRIDGE_IP:$E2E_PORT"
  e2e_start_gateway
}

# ---- checks and bookkeeping ------------------------------------------------

e2e_die() {
  e2e_log "FATAL: $*"
  exit 1
}

# A check on the supervisor after a restore other than a fresh sandbox's
# first. Under runsc 0.0~20240729 such restores intermittently leave the
# upstream supervisor's event loop deaf (docs/e2e.md, "Known problems": a
# gVisor defect in epoll state across checkpoint/restore, fixed upstream in
# gVisor but not in the runsc Debian ships). A failure here is reported as
# KNOWN DEFECT and counted apart; OPENSHELL_E2E_STRICT=1 counts it as a
# failure. Passes are reported like any other check.
e2e_check_after_restore() {
  local what=$1
  shift
  if "$@"; then
    e2e_log "  ok: $what"
  elif [[ ${OPENSHELL_E2E_STRICT:-0} == 1 ]]; then
    e2e_log "  FAILED: $what"
    E2E_FAILED=$((E2E_FAILED + 1))
  else
    e2e_log "  KNOWN DEFECT (runsc restore, docs/e2e.md): $what"
    E2E_KNOWN=$((E2E_KNOWN + 1))
  fi
}

# Records a failed expectation and goes on, so one run shows every mismatch.
e2e_check() {
  local what=$1
  shift
  if "$@"; then
    e2e_log "  ok: $what"
  else
    e2e_log "  FAILED: $what"
    E2E_FAILED=$((E2E_FAILED + 1))
  fi
}

e2e_kill_and_wait() {
  local pid=$1 sig=$2 i
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Milliseconds since the epoch, for the figures in docs/e2e.md.
e2e_now_ms() { date +%s%3N; }

# The trap: whatever happened, leave nothing behind.
e2e_cleanup() {
  local rc=$?
  set +e
  local name f
  # Each sandbox's console (the supervisor's own log) before delete removes it.
  for f in "$E2E_TMP"/state/sandboxes/*/console.log; do
    [[ -e $f ]] && cp "$f" "$E2E_TMP/console-$(basename "$(dirname "$f")").log"
  done
  if [[ -n $E2E_GATEWAY_PID ]]; then
    for name in $(e2e_cli sandbox list --names 2>/dev/null); do
      e2e_cli sandbox delete "$name" >/dev/null 2>&1
    done
  fi
  e2e_stop_gateway
  e2e_stop_driver
  if [[ -n ${E2E_REGISTRY_PID:-} ]]; then e2e_kill_and_wait "$E2E_REGISTRY_PID" TERM; fi
  [[ -n $E2E_TMP && -d $E2E_TMP ]] || return "$rc"
  if [[ $rc -ne 0 || $E2E_FAILED -ne 0 ]]; then
    echo "--- last lines of the driver log ---" >&2
    tail -n 40 "$E2E_TMP/driver.log" >&2
    echo "--- last lines of the gateway log ---" >&2
    tail -n 40 "$E2E_TMP/gateway/gateway.log" >&2
  fi
  local id
  if [[ -d $E2E_TMP/state/runsc ]]; then
    for id in $(runsc --root "$E2E_TMP/state/runsc" list --quiet 2>/dev/null); do
      runsc --root "$E2E_TMP/state/runsc" delete --force "$id" >/dev/null 2>&1
      ip netns delete "$id" 2>/dev/null
    done
  fi
  awk -v t="$E2E_TMP/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
  if [[ ${OPENSHELL_E2E_KEEP_TMP:-0} == 1 ]]; then
    echo "kept $E2E_TMP" >&2
  else
    rm -rf "$E2E_TMP"
  fi
  return "$rc"
}
