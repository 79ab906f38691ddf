#!/usr/bin/env bash
# Builds a sandbox image that the real OpenShell supervisor (openshell-sandbox)
# can run in, from Debian 12 packages only, as an OCI image layout.
#
#   usage: scripts/build-sandbox-image.sh OUT_DIR
#   prints: the image reference, oci:OUT_DIR/layout:bookworm
#
# What the supervisor needs in the image (docs/supervisor.md, "Image"):
#   /bin/bash            the CLI's default main process is `/bin/bash -l`,
#                        and every exec runs `/bin/bash -lc CMD`;
#   ip (iproute2)        at a fixed path, with `ip netns`: the supervisor
#                        builds the workload's network namespace with it;
#   nsenter (util-linux) at a fixed path, for the same;
#   a non-root USER      with a non-zero primary group: the supervisor
#                        refuses to run the workload as root.
# minbase already has bash and util-linux; iproute2 and ca-certificates are
# added. The user `sandbox` (1000:1000) owns /sandbox, the supervisor's
# --workdir in the driver's default configuration.
#
# Packages come from this machine's own apt sources (the bookworm entries of
# /etc/apt/sources.list and /etc/apt/sources.list.d/*.sources): this script
# never names an archive host. The result is cached in OUT_DIR and rebuilt
# only when this script changes; building takes a minute or two.
# Needs root (mmdebstrap in root mode, umoci keeping file owners) and the
# packages mmdebstrap and umoci (scripts/install-deps.sh).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: build-sandbox-image.sh OUT_DIR" >&2
  exit 2
fi
out=$(mkdir -p "$1" && cd "$1" && pwd)
tag=bookworm
ref="oci:$out/layout:$tag"
self=$(readlink -f "${BASH_SOURCE[0]}")
stamp=$(sha256sum "$self" | cut -d' ' -f1)

if [[ -f $out/stamp && $(cat "$out/stamp") == "$stamp" && -d $out/layout ]]; then
  echo "$ref"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || { echo "build-sandbox-image.sh: must run as root" >&2; exit 1; }
for tool in mmdebstrap umoci; do
  command -v "$tool" >/dev/null ||
    { echo "build-sandbox-image.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The host's bookworm sources, as one deb822 file: stanzas whose Suites name
# a bookworm suite, then one-line entries converted to the same format.
sources=$work/sources.sources
{
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -e $f ]] || continue
    awk -v RS= -v ORS='\n\n' '/(^|\n)Suites:[^\n]*bookworm/' "$f"
  done
  if [[ -e /etc/apt/sources.list ]]; then
    awk '$1 == "deb" && $3 ~ /^bookworm/ && $2 !~ /^\[/ {
           printf "Types: deb\nURIs: %s\nSuites: %s\nComponents:", $2, $3
           for (i = 4; i <= NF; i++) printf " %s", $i
           printf "\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n" }' \
      /etc/apt/sources.list
  fi
} >"$sources"
if ! grep -q '^URIs:' "$sources"; then
  echo "build-sandbox-image.sh: no bookworm entry in this machine's apt sources" >&2
  exit 1
fi

rootfs=$work/rootfs
# The user is written into the files directly: minbase has no useradd
# (passwd is not Essential). Locked password, bash as login shell.
mmdebstrap --quiet --mode=root --variant=minbase \
  --include=bash,iproute2,util-linux,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='echo "sandbox:x:1000:1000:OpenShell sandbox user:/sandbox:/bin/bash" >>"$1/etc/passwd"' \
  --customize-hook='echo "sandbox:x:1000:" >>"$1/etc/group"' \
  --customize-hook='echo "sandbox:!:19000:0:99999:7:::" >>"$1/etc/shadow"' \
  --customize-hook='install -d -m 0755 -o 1000 -g 1000 "$1/sandbox"' \
  --customize-hook='rm -f "$1"/etc/apt/sources.list.d/* "$1/etc/apt/sources.list"' \
  bookworm "$rootfs" "$sources" >&2

layout=$work/layout
{
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  umoci insert --image "$layout:$tag" "$rootfs" /
  umoci config --image "$layout:$tag" \
    --config.user sandbox \
    --config.cmd /bin/bash --config.cmd -l \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.workingdir /sandbox \
    --config.label org.opencontainers.image.title=openshell-gvisor-sandbox \
    --config.label "org.opencontainers.image.description=Debian 12 minbase with bash, iproute2 and util-linux for the OpenShell supervisor"
  umoci gc --layout "$layout"
} >&2

rm -rf "$out/layout" "$out/stamp"
mv "$layout" "$out/layout"
echo "$stamp" >"$out/stamp"
echo "$ref"
