#!/usr/bin/env python3
"""Asserts what the gVisor post-renderer must produce from the chart's
manifests. Usage: check_post_rendered.py RENDERED.yaml EXPECTED_IMAGE DRIVER_YAML_OUT [METRICS_PORT]
With METRICS_PORT the metrics endpoint must be wired (port, annotations,
metrics.listen); without it, none of that may be there. Writes the driver.yaml found in the generated ConfigMap to DRIVER_YAML_OUT so
the caller can run the driver's own --check-config on it."""
import sys
import tomllib

import yaml

SOCKET_DIR = "/run/openshell"
SOCKET = SOCKET_DIR + "/gvisor.sock"
HEALTH = ["/usr/bin/openshell-driver-gvisor", "ctl", "--socket", SOCKET]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def by_name(items, name):
    for item in items or []:
        if item.get("name") == name:
            return item
    return None


def main():
    rendered, expected_image, driver_yaml_out = sys.argv[1:4]
    metrics_port = int(sys.argv[4]) if len(sys.argv) > 4 else None
    with open(rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    check(("Service", "openshell") in kinds, "the chart's Service was dropped")
    sts = [d for d in docs if d["kind"] == "StatefulSet"]
    check(len(sts) == 1, f"want one StatefulSet, got {len(sts)}")
    if not sts:
        return
    spec = sts[0]["spec"]
    pod = spec["template"]["spec"]

    gw = by_name(pod.get("containers"), "openshell-gateway")
    check(gw is not None, "gateway container missing")
    gw = gw or {}
    check(gw.get("image") == "ghcr.io/nvidia/openshell/gateway:0.0.0",
          "gateway image changed")
    check(gw.get("args", [])[:2] == ["--config", "/etc/openshell/gateway.toml"],
          "gateway args changed")
    env = {e["name"]: e for e in gw.get("env", [])}
    check(env.get("OPENSHELL_DRIVERS", {}).get("value") == "gvisor",
          "gateway env OPENSHELL_DRIVERS=gvisor missing")
    check(env.get("OPENSHELL_COMPUTE_DRIVER_SOCKET", {}).get("value") == SOCKET,
          "gateway env OPENSHELL_COMPUTE_DRIVER_SOCKET missing")
    check("OPENSHELL_CREDENTIAL_STORAGE_KEK" in env, "chart's gateway env was dropped")
    gw_mounts = {m["name"]: m for m in gw.get("volumeMounts", [])}
    check(gw_mounts.get("gvisor-socket", {}).get("mountPath") == SOCKET_DIR,
          "gateway does not mount the socket volume at /run/openshell")
    for keep in ("openshell-data", "gateway-config", "sandbox-jwt", "tls-cert"):
        check(keep in gw_mounts, f"chart's gateway mount {keep} was dropped")

    sidecars = [c for c in pod.get("containers", []) + pod.get("initContainers", [])
                if c.get("name") == "gvisor-compute-driver"]
    check(len(sidecars) == 1, "driver sidecar gvisor-compute-driver missing")
    drv = sidecars[0] if sidecars else {}
    if drv in pod.get("initContainers", []):
        check(drv.get("restartPolicy") == "Always",
              "driver in initContainers without restartPolicy Always would block the pod")
    check(drv.get("image") == expected_image,
          f"driver image {drv.get('image')!r}, want {expected_image!r}")
    check(drv.get("securityContext", {}).get("privileged") is True,
          "driver is not privileged (runsc needs it)")
    args = drv.get("command", []) + drv.get("args", [])
    check("serve" in args and SOCKET in args, "driver does not serve on the shared socket")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        cmd = drv.get(probe, {}).get("exec", {}).get("command", [])
        check(cmd[:4] == HEALTH and cmd[-1] == "health",
              f"driver {probe} is not `ctl --socket {SOCKET} ... health`")
    drv_mounts = {m["name"]: m for m in drv.get("volumeMounts", [])}
    check(drv_mounts.get("gvisor-socket", {}).get("mountPath") == SOCKET_DIR,
          "driver does not mount the socket volume at /run/openshell")
    check("gvisor-state" in drv_mounts, "driver does not mount its state volume")
    check(drv_mounts.get("gvisor-config", {}).get("mountPath") == "/etc/openshell-gvisor",
          "driver config not mounted at /etc/openshell-gvisor")
    state_dir = args[args.index("--state-dir") + 1] if "--state-dir" in args else ""
    state_mount = drv_mounts.get("gvisor-state", {}).get("mountPath", "?")
    check(state_dir.startswith(state_mount), "--state-dir is not on the state volume")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    check("emptyDir" in volumes.get("gvisor-socket", {}), "socket volume is not an emptyDir")
    for keep in ("gateway-config", "sandbox-jwt", "tls-cert", "tls-client-ca"):
        check(keep in volumes, f"chart's volume {keep} was dropped")
    claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
    check(claims == ["openshell-data", "gvisor-state"],
          f"volumeClaimTemplates {claims}, want the chart's openshell-data plus gvisor-state")
    check(pod.get("terminationGracePeriodSeconds", 0) >= 75,
          "terminationGracePeriodSeconds too short for the driver's shutdown")
    check(pod.get("securityContext", {}).get("fsGroup") == 1000, "chart's fsGroup was dropped")

    cm_name = volumes.get("gvisor-config", {}).get("configMap", {}).get("name")
    cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    check(cm_name in cms, f"driver ConfigMap {cm_name!r} is referenced but not rendered")
    driver_yaml = cms.get(cm_name, {}).get("data", {}).get("driver.yaml", "")
    cfg = yaml.safe_load(driver_yaml) or {}
    sock = cfg.get("socket", {})
    check(sock.get("path") == SOCKET, "driver.yaml socket.path differs from the gateway's")
    check(1000 in sock.get("allowed_uids", []), "driver.yaml does not allow the gateway's uid 1000")
    check(0 in sock.get("allowed_uids", []), "driver.yaml does not allow root (the probes)")
    with open(driver_yaml_out, "w") as f:
        f.write(driver_yaml)
    check_metrics(sts[0], drv, cfg, metrics_port)

    toml_text = cms.get("openshell-config", {}).get("data", {}).get("gateway.toml", "")
    gateway = tomllib.loads(toml_text)
    drivers = gateway.get("openshell", {}).get("drivers", {})
    check("kubernetes" in drivers,
          "[openshell.drivers.kubernetes] is gone; an in-pod gateway with gateway_jwt needs it")
    check("compute_drivers" not in gateway.get("openshell", {}).get("gateway", {}),
          "gateway.toml gained compute_drivers; env must choose the driver")


def check_metrics(sts, drv, cfg, port):
    annotations = sts["spec"]["template"].get("metadata", {}).get("annotations", {}) or {}
    ports = {p.get("name"): p for p in drv.get("ports", [])}
    metrics = cfg.get("metrics", {})
    if port is None:
        check("prometheus.io/scrape" not in annotations, "scrape annotation without metrics")
        check("metrics" not in ports, "metrics port without metrics")
        check(not metrics, "driver.yaml has metrics although they were not asked for")
        return
    check(annotations.get("prometheus.io/scrape") == "true", "prometheus.io/scrape is not \"true\"")
    check(annotations.get("prometheus.io/port") == str(port), "prometheus.io/port is not the port")
    check(annotations.get("prometheus.io/path") == "/metrics", "prometheus.io/path is not /metrics")
    check(ports.get("metrics", {}).get("containerPort") == port,
          "the sidecar has no container port named metrics on the port")
    check(metrics.get("listen") == f"0.0.0.0:{port}", "driver.yaml metrics.listen is not 0.0.0.0:port")
    check(metrics.get("allow_non_loopback") is True,
          "driver.yaml lacks metrics.allow_non_loopback: true (serve would refuse 0.0.0.0)")


main()
if failures:
    for f in failures:
        print("FAIL:", f)
    sys.exit(1)
print("ok: sidecar, socket volume, env, probes, state claim and the kubernetes table are in place")
