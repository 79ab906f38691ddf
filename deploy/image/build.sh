#!/usr/bin/env bash
# Builds an OCI image layout of openshell-driver-gvisor, without a container
# daemon: the built driver binary, runsc, ip, nft and busybox, each with the
# shared libraries `ldd` says it loads, all copied from this Debian 12 host's
# installed packages (scripts/install-deps.sh), then packed with umoci.
#
# Why copy from the host instead of unpacking .deb files: the files are the
# very ones the tests ran against, nothing is downloaded (so the build works
# offline and names no archive), and the ldd closure is exactly what the
# binaries load, not every package's dependency tree, which keeps the image
# small. The price: build on the Debian release the image is for.
#
#   usage: deploy/image/build.sh [--binary PATH] [--tag TAG] LAYOUT_DIR
#   result: oci:LAYOUT_DIR:TAG (default tag: the driver's version)
# Copy it to a registry with: skopeo copy oci:LAYOUT_DIR:TAG docker://REGISTRY/NAME:TAG
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary=$here/../../build/openshell-driver-gvisor
tag=
while [[ $# -gt 1 ]]; do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -ne 1 ]]; then
  echo "usage: build.sh [--binary PATH] [--tag TAG] LAYOUT_DIR" >&2
  exit 2
fi
layout=$1

for tool in umoci ldd runsc ip nft busybox; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ -x $binary ]] || { echo "build.sh: no driver binary at $binary (build first, or --binary)" >&2; exit 1; }
version=$("$binary" version | awk '{print $2}')
tag=${tag:-$version}

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/osgv-image.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"  # mktemp made it 0700; it becomes the image's /

# Debian 12's merged /usr: /bin, /sbin, /lib, /lib64 are links into /usr, so
# a library ldd reports as /lib/... and one in /usr/lib/... land in one place.
mkdir -p "$rootfs"/usr/{bin,sbin,lib,lib64} "$rootfs"/etc "$rootfs"/tmp \
         "$rootfs"/run/openshell "$rootfs"/var/lib/openshell-gvisor "$rootfs"/etc/openshell-gvisor
for d in bin sbin lib lib64; do ln -s usr/$d "$rootfs/$d"; done
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/run/openshell" "$rootfs/var/lib/openshell-gvisor"

# copy FILE DEST: FILE to DEST in the image, and every library it loads to
# the path the loader will look for it at.
copy() {
  local file=$1 dest=$2 lib
  install -D -m 0755 "$(readlink -f "$file")" "$rootfs$dest"
  # ldd fails on a static binary (runsc, busybox): nothing to add then.
  ldd "$file" >/dev/null 2>&1 || return 0
  while read -r lib; do
    [[ -e $rootfs$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done < <(ldd "$file" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

copy "$binary" /usr/bin/openshell-driver-gvisor
copy "$(command -v runsc)" /usr/bin/runsc
# The driver runs ip and nft from PATH for sandbox networking.
copy "$(command -v ip)" /usr/sbin/ip
copy "$(command -v nft)" /usr/sbin/nft
# A shell for `kubectl exec` and debugging; probes do not need it.
copy "$(command -v busybox)" /usr/bin/busybox
for applet in sh ls cat grep ps mount umount df du sleep; do
  ln -s busybox "$rootfs/usr/bin/$applet"
done

# gid 1000 "openshell": the Helm sidecar's driver.yaml gives the socket this
# group so the chart's gateway (uid 1000, fsGroup 1000) can open it; the
# driver resolves socket.group by name inside this image.
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
openshell:x:1000:1000:OpenShell gateway:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
openshell:x:1000:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

# The config the entrypoint names; a ConfigMap or bind mount replaces it.
cat >"$rootfs/etc/openshell-gvisor/driver.yaml" <<'YAML'
# Default configuration of the openshell-driver-gvisor image
# (docs/configuration.md). Mount your own over /etc/openshell-gvisor/.
socket:
  path: /run/openshell/gvisor.sock
state_dir: /var/lib/openshell-gvisor
log:
  format: json
runsc:
  path: /usr/bin/runsc
# Prometheus metrics (docs/operations.md, Metrics) are off. A scraper
# outside the container reaches its address, not its loopback; the endpoint
# has no authentication, so keep that port off untrusted networks:
# metrics:
#   listen: "0.0.0.0:9464"
#   allow_non_loopback: true
YAML

rm -rf "$layout"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci insert --image "$layout:$tag" "$rootfs" /
umoci config --image "$layout:$tag" \
  --config.entrypoint /usr/bin/openshell-driver-gvisor \
  --config.entrypoint serve \
  --config.entrypoint --socket --config.entrypoint /run/openshell/gvisor.sock \
  --config.entrypoint --state-dir --config.entrypoint /var/lib/openshell-gvisor \
  --config.entrypoint --config --config.entrypoint /etc/openshell-gvisor/driver.yaml \
  --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  --config.workingdir / \
  --config.label org.opencontainers.image.title=openshell-driver-gvisor \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.description=OpenShell compute driver for gVisor sandboxes; runs privileged"
umoci gc --layout "$layout"
echo "built oci:$layout:$tag"
