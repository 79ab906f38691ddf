#!/usr/bin/env bash
# Checks deploy/systemd/openshell-driver-gvisor.service with
# `systemd-analyze verify`, which works offline (systemd need not be PID 1)
# but insists that ExecStart's binary exists: the template's @OSGV_BINARY@ is
# replaced by the binary just built. Any line systemd-analyze prints is a
# finding, because it reports most problems as warnings and still exits 0.
# Then checks that `cmake --install` puts the unit and the examples where the
# docs say.
#   usage: systemd_unit_test.sh UNIT_TEMPLATE DRIVER_BINARY BUILD_DIR
set -euo pipefail

template=$1 binary=$2 build_dir=$3

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/osgv-systemd.XXXXXX")
trap 'rm -rf "$work"' EXIT

unit=$work/openshell-driver-gvisor.service
sed -e "s|@OSGV_BINARY@|$binary|g" -e "s|@OSGV_DOCDIR@|$work/doc|g" "$template" >"$unit"
if grep -n '@[A-Z_]*@' "$unit"; then
  echo "FAIL: placeholders left in the unit after substitution"
  exit 1
fi

# --man=no: Documentation= names a local file, not a man page to look up.
set +e
# notice: keep warnings and errors, drop info-level chatter.
findings=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$unit" 2>&1)
rc=$?
set -e
if [[ $rc -ne 0 || -n $findings ]]; then
  echo "FAIL: systemd-analyze verify exited $rc and said:"
  echo "$findings"
  exit 1
fi
echo "ok: systemd-analyze verify is silent"

# The settings that keep sandboxes alive across a driver restart must be
# there; a well-meant cleanup removing one would still verify.
for want in 'Type=exec' 'KillMode=process' 'RuntimeDirectoryPreserve=yes' \
            'StateDirectory=openshell-gvisor' 'RuntimeDirectory=openshell'; do
  grep -qx "$want" "$unit" || { echo "FAIL: unit lacks '$want'"; exit 1; }
done
for banned in PrivateTmp ProtectSystem ProtectHome NoNewPrivileges User; do
  if grep -q "^$banned=" "$unit"; then
    echo "FAIL: unit sets $banned=, which breaks runsc or re-adoption (see its comments)"
    exit 1
  fi
done
echo "ok: restart-safety settings present, mount-namespace options absent"

prefix=$work/prefix
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
for f in bin/openshell-driver-gvisor lib/systemd/system/openshell-driver-gvisor.service \
         share/doc/openshell-driver-gvisor/examples/gateway.toml \
         share/doc/openshell-driver-gvisor/examples/driver.yaml \
         share/doc/openshell-driver-gvisor/operations.md; do
  [[ -e $prefix/$f ]] || { echo "FAIL: cmake --install did not install $f"; exit 1; }
done
installed=$prefix/lib/systemd/system/openshell-driver-gvisor.service
if grep -n '@[A-Z_]*@' "$installed"; then
  echo "FAIL: installed unit still has placeholders"
  exit 1
fi
grep -q "^ExecStart=$prefix/bin/openshell-driver-gvisor serve " "$installed" ||
  { echo "FAIL: installed unit's ExecStart does not name the installed binary ($prefix/bin)"; exit 1; }
echo "ok: cmake --install lays out binary, unit and examples"
