#!/usr/bin/env bash
# Helm post-renderer: reads the chart's rendered manifests on stdin and prints
# them with the gVisor driver sidecar added (kustomization.yaml says what).
#
# Environment:
#   OSGV_DRIVER_IMAGE  image of the driver sidecar (repository[:tag] or
#                      @digest), as built by deploy/image/build.sh and pushed
#                      to your registry. Default: openshell-driver-gvisor:0.1.0,
#                      the name build.sh gives it.
#   OSGV_KUSTOMIZE     command to render with; default `kubectl kustomize`,
#                      else a standalone `kustomize build`.
#   OSGV_METRICS_PORT  off when unset. A port (e.g. 9464): the driver serves
#                      Prometheus metrics on 0.0.0.0:<port> in the pod
#                      (metrics.listen, with metrics.allow_non_loopback), the
#                      sidecar gets a container port named `metrics`, and the
#                      pod the prometheus.io/scrape, port and path annotations.
set -euo pipefail

plugin_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/openshell-driver-gvisor.XXXXXX")
trap 'rm -rf "$work_dir"' EXIT

# kustomize only reads files below the kustomization's own directory, so the
# patches and the input are copied next to each other.
cp "$plugin_dir"/kustomization.yaml "$plugin_dir"/*-patch.yaml "$plugin_dir"/driver.yaml "$work_dir"/
cat >"$work_dir/rendered.yaml"
if [[ ! -s $work_dir/rendered.yaml ]]; then
  echo "post-renderer.sh: no manifests on stdin" >&2
  exit 1
fi

if [[ -n ${OSGV_METRICS_PORT:-} ]]; then
  port=$OSGV_METRICS_PORT
  if [[ ! $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then
    echo "post-renderer.sh: OSGV_METRICS_PORT must be a port from 1 to 65535 (got '$port')" >&2
    exit 1
  fi
  sed "s/@PORT@/$port/g" "$plugin_dir/metrics-patch.yaml.in" >"$work_dir/metrics-patch.yaml"
  # Prometheus scrapes the pod's IP, so the endpoint cannot stay on loopback;
  # it has no authentication: keep the port off networks untrusted clients
  # reach (a NetworkPolicy that admits only Prometheus).
  cat >>"$work_dir/driver.yaml" <<YAML
metrics:
  listen: "0.0.0.0:$port"
  allow_non_loopback: true
YAML
  cat >>"$work_dir/kustomization.yaml" <<'YAML'
  - path: metrics-patch.yaml
    target:
      group: apps
      version: v1
      kind: StatefulSet
      labelSelector: app.kubernetes.io/name=openshell
YAML
fi

if [[ -n ${OSGV_DRIVER_IMAGE:-} ]]; then
  # An `images:` entry rewrites the sidecar's image wherever kustomize finds
  # the placeholder name; appended here because kubectl kustomize has no
  # `edit set image`.
  name=${OSGV_DRIVER_IMAGE%@*}
  digest=
  [[ $OSGV_DRIVER_IMAGE == *@* ]] && digest=${OSGV_DRIVER_IMAGE#*@}
  tag=
  if [[ -z $digest && ${name##*/} == *:* ]]; then
    tag=${name##*:}
    name=${name%:*}
  fi
  {
    echo "images:"
    echo "  - name: openshell-driver-gvisor"
    echo "    newName: \"$name\""
    [[ -n $tag ]] && echo "    newTag: \"$tag\""
    [[ -n $digest ]] && echo "    digest: \"$digest\""
  } >>"$work_dir/kustomization.yaml"
fi

if [[ -n ${OSGV_KUSTOMIZE:-} ]]; then
  read -r -a render <<<"$OSGV_KUSTOMIZE"
elif command -v kubectl >/dev/null; then
  render=(kubectl kustomize)
elif command -v kustomize >/dev/null; then
  render=(kustomize build)
else
  echo "post-renderer.sh: needs kubectl (kubectl kustomize) or kustomize" >&2
  exit 1
fi
"${render[@]}" "$work_dir"
