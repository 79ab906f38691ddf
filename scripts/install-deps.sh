#!/usr/bin/env bash
# Installs the Debian packages the driver needs to build, test and run
# (clang-14 and its compiler-rt build the libFuzzer targets, scripts/fuzz.sh;
# gnuplot-nox draws bench/memory_scaling.sh --plot).
#
#   scripts/install-deps.sh         # everything (scripts/test.sh, CI)
#   scripts/install-deps.sh --run   # only what building and running the
#                                   # driver needs (scripts/demo.sh, a host):
#                                   # about 60% of the download
#                                   # (docs/benchmarks.md, "First run")
#
# Debian 12 (bookworm) only; runsc comes from bookworm-backports because the
# stock bookworm build lacks systrap, --net-disconnect-ok and a working
# sandbox network stack (see the runsc notes in docs/lifecycle.md). The backports suite is added
# with the same archive URIs this machine's own Debian sources use: we never
# name an archive host ourselves.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: must run as root (apt-get)" >&2
  exit 1
fi

only_run=0
case ${1:-} in
  "") ;;
  --run) only_run=1 ;;
  *) echo "install-deps.sh: unknown argument '$1' (want --run or nothing)" >&2; exit 2 ;;
esac

export DEBIAN_FRONTEND=noninteractive

backports_uris() {
  # deb822 sources first, then the one-line format.
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -e $f ]] || continue
    awk '
      /^Suites:/ { s = $0 }
      /^URIs:/   { u = $0 }
      /^$/       { if (s ~ /bookworm( |$)/ && u != "") { sub(/^URIs:[ \t]*/, "", u); print u }; s = ""; u = "" }
      END        { if (s ~ /bookworm( |$)/ && u != "") { sub(/^URIs:[ \t]*/, "", u); print u } }
    ' "$f"
  done
  if [[ -e /etc/apt/sources.list ]]; then
    awk '$1 == "deb" && $3 == "bookworm" { print $2 }' /etc/apt/sources.list
  fi
}

add_backports() {
  local list=/etc/apt/sources.list.d/openshell-bookworm-backports.sources
  if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return 0
  fi
  local uris
  uris=$(backports_uris | sort -u | tr '\n' ' ')
  if [[ -z ${uris// /} ]]; then
    echo "install-deps.sh: cannot find this machine's bookworm archive URIs" >&2
    exit 1
  fi
  cat >"$list" <<SRC
Types: deb
URIs: ${uris% }
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  echo "install-deps.sh: added bookworm-backports from: $uris"
}

add_backports
apt-get update -qq

# Building the driver and running it, with local OCI layouts (the demo) and
# registry images (skopeo).
run_packages=(
  build-essential cmake pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev libyaml-cpp-dev libspdlog-dev libfmt-dev catch2
  libsqlite3-dev sqlite3 libarchive-dev nlohmann-json3-dev prometheus-cpp-dev
  skopeo umoci busybox-static iproute2 nftables util-linux procps
)
# The tests, benchmarks, fuzzers and registry images on top.
test_packages=(
  docker-registry mmdebstrap python3 python3-yaml gnuplot-nox
  clang-14 libclang-rt-14-dev
)
packages=("${run_packages[@]}")
((only_run)) || packages+=("${test_packages[@]}")
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

# `kubectl kustomize` renders the Helm post-renderer in the chart tests. Some
# machines already carry a kubectl from another package, which Debian's
# kubernetes-client would conflict with; either one will do.
if ((!only_run)) && ! command -v kubectl >/dev/null; then
  apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi

apt-get install -y -qq --no-install-recommends -t bookworm-backports runsc >/dev/null

echo "install-deps.sh: runsc $(runsc --version 2>/dev/null | head -n1)"
