#!/usr/bin/env bash
# Fails when a layer reaches above itself (tests/layering/CMakeLists.txt):
#   src/capabilities  config and request rules: no lifecycle, metrics,
#                     gRPC, protobuf, driver or cli
#   src/lifecycle     sandboxes: no metrics (Prometheus), gRPC, protobuf,
#                     driver or cli
#   src/metrics       Prometheus: no gRPC, protobuf, driver or cli
#   src/driver        the gRPC service: no cli
# on the #include lines of every .h and .cc, and on each library's link
# closure (LINK_CLOSURE, one "<target>: <libraries...>" line per target,
# written by CMake at configure time).
#
# usage: layering_test.sh SRC_DIR LINK_CLOSURE
set -euo pipefail

src=$1
closure=$2
failures=0

fail() {
  echo "layering: $1" >&2
  failures=$((failures + 1))
}

# What each rule forbids, as the start of an #include's path.
rpc='grpc/|grpcpp/|grpc\+\+/|google/protobuf/|[^">]*\.pb\.h'
upper='driver/|cli/'

# The #include lines of the files under src/FOLDER whose path matches PATTERN.
includes_matching() {
  local folder=$1 pattern=$2
  grep -rnE --include='*.h' --include='*.cc' \
    "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "$src/$folder" || true
}

forbid_includes() {
  local folder=$1 pattern=$2 what=$3 hits
  if [[ -z $(find "$src/$folder" -name '*.cc' -print -quit) ]]; then
    fail "src/$folder has no sources: is $src the source tree?"
    return
  fi
  hits=$(includes_matching "$folder" "$pattern")
  if [[ -n $hits ]]; then
    fail "src/$folder includes $what:"
    echo "$hits" | sed "s|^$src/|  src/|" >&2
  fi
}

# The libraries `target` links, one a line.
links_of() {
  local line
  line=$(grep -E "^$1: " "$closure" || true)
  [[ -n $line ]] || { fail "$closure names no target $1"; return; }
  echo "${line#*: }" | tr ' ' '\n' | grep -v '^$' || true
}

forbid_links() {
  local target=$1 pattern=$2 what=$3 hits
  hits=$(links_of "$target" | grep -iE "$pattern" || true)
  if [[ -n $hits ]]; then
    fail "$target links $what: $(echo $hits)"
  fi
}

forbid_includes capabilities "lifecycle/|metrics/|prometheus/|$rpc|$upper" \
  "lifecycle, metrics, gRPC, protobuf, driver or cli headers"
forbid_includes lifecycle "metrics/|prometheus/|$rpc|$upper" \
  "metrics, Prometheus, gRPC, protobuf, driver or cli headers"
forbid_includes metrics "$rpc|$upper" "gRPC, protobuf, driver or cli headers"
forbid_includes driver "cli/" "cli headers"

forbid_links osgv_capabilities 'grpc|protobuf|osgv_(proto|lifecycle|metrics|driver|cli)$|prometheus' \
  "more than its layer"
forbid_links osgv_lifecycle 'grpc|protobuf|osgv_(proto|metrics|driver|cli)$|prometheus' \
  "more than its layer"
forbid_links osgv_metrics 'grpc|protobuf|osgv_(proto|driver|cli)$' "gRPC, protobuf, driver or cli"
forbid_links osgv_driver 'osgv_cli$' "the commands"

# The patterns must find what they look for, or every check above passes
# for nothing: the service does include and link gRPC.
[[ -n $(includes_matching driver "$rpc") ]] || fail "the include pattern finds no gRPC in src/driver"
[[ -n $(links_of osgv_driver | grep -iE 'grpc' || true) ]] ||
  fail "the link check finds no gRPC in osgv_driver's closure"

if ((failures > 0)); then
  echo "layering: $failures problem(s)" >&2
  exit 1
fi
echo "layering: capabilities, lifecycle and metrics stay below driver and cli, without gRPC"
