// The driver's own configuration: a YAML file, overridden by CLI flags.
//
// The gateway forwards nothing from its [openshell.drivers.gvisor] table to a
// remote driver (gateway-contract.md §8), so every setting lives here. Every
// key is documented, with its default, in docs/configuration.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capabilities/network_mode.h"
#include "capabilities/pull_policy.h"
#include "absl/status/statusor.h"

namespace osgv {

struct SocketConfig {
  std::string path;                 // required to serve
  uint32_t mode = 0600;             // may only widen 0600 (e.g. 0660)
  std::string group;                // chgrp the socket to this group
  std::vector<uint32_t> allowed_uids;  // empty = only our own euid
};

struct LogConfig {
  std::string level = "info";   // trace|debug|info|warn|error|critical|off
  std::string format = "text";  // text|json
};

struct RunscConfig {
  std::string path = "runsc";
  std::string platform = "systrap";  // systrap|ptrace|kvm
  std::chrono::milliseconds timeout{60000};  // per control call
  std::string debug_log_dir;  // "" = runsc debug logging off
};

struct SandboxDefaults {
  // Applied when a request carries no limit. 0 = no limit.
  uint64_t memory_limit_bytes = 0;
  uint64_t cpu_limit_millis = 0;
  // cgroup pids.max; runsc counts host threads (~31 idle), so keep it large.
  uint64_t pids_limit = 2048;
  // console.log is rotated past this (one older file kept); 0 = never.
  uint64_t console_log_max_bytes = 16ull << 20;
};

// Bounds for a non-zero pids limit, in this file or in a sandbox's
// driver_config. runsc counts host threads (about 31 for an idle sandbox and
// ~8 more per process), so a small limit kills the sandbox.
inline constexpr uint64_t kMinPidsLimit = 256;
inline constexpr uint64_t kMaxPidsLimit = 1048576;

struct CheckpointConfig {
  // auto: flate for small images, none (≈5x faster, larger on disk) once the
  // sandbox's memory exceeds none_above. flate | none force one.
  std::string compression = "auto";
  uint64_t none_above_bytes = 64ull << 20;
  // How runsc writes an uncompressed image: buffered (through the page
  // cache, as runsc does by default) or direct (checkpoint --direct, past
  // it; faster Stop, slower Start on our VMs: docs/benchmarks.md).
  std::string io = "buffered";
  std::chrono::milliseconds timeout{600000};  // one `runsc checkpoint` (restore: runsc.timeout)
  // Checkpoint a sandbox whose processes used (almost) no CPU for this long;
  // 0 = off. The gateway sees a driver-initiated stop as Stopped.
  std::chrono::milliseconds idle_suspend_after{0};
  // Warn when a sandbox is restored this long after it was created (its
  // gateway token was issued then and may have expired); 0 = off.
  std::chrono::milliseconds token_ttl_hint{0};
};

// The in-sandbox OpenShell supervisor (gateway-contract.md §6).
struct SupervisorConfig {
  // Host path of `openshell-sandbox`; "" = run spec.command directly.
  std::string binary;
  std::vector<std::string> extra_args;  // e.g. --upstream-proxy flags
  std::string workdir = "/sandbox";     // passed as --workdir
};

// How sandboxes reach the gateway that created them.
struct GatewayConfig {
  std::string endpoint;  // OPENSHELL_ENDPOINT, e.g. http://host.openshell.internal:8080
  std::string tls_ca;    // client TLS trio, required for https:// endpoints
  std::string tls_cert;
  std::string tls_key;
  // v0.1.x and Ryno gateways: the admission policy the operator also set in
  // the gateway's [<prefix>.drivers.<name>] table (admission_policy.h).
  std::string admission_config_json = "{}";
};

struct NetworkConfig {
  // none: loopback only. sandbox: per-sandbox netns + veth to a bridge.
  // kDefault ("") = sandbox when gateway.endpoint is set, else none.
  NetworkMode mode = NetworkMode::kDefault;
  std::string bridge = "osgv0";
  std::string subnet = "10.89.0.0/16";  // bridge gets .1, sandboxes the rest
  std::string egress = "allow";         // allow | deny (only the gateway)
};

// Registry images, pulled with skopeo (docs/configuration.md, images.*).
// The file paths are skopeo's own: "" lets skopeo use its defaults
// (auth.json / docker config.json, /etc/containers/registries.conf,
// /etc/containers/policy.json).
struct ImagesConfig {
  std::string skopeo_path = "skopeo";
  std::string auth_file;
  std::string registries_conf;
  std::string policy;
  std::vector<std::string> insecure_registries;  // host[:port]: plain HTTP or unverified TLS
  std::chrono::milliseconds pull_timeout{600000};  // one `skopeo copy`
  PullPolicy pull_policy = PullPolicy::kIfNotPresent;
  // Absolute directories under which a request's oci: layout may lie; empty
  // = requests may name none (run and probe add the layout they are given).
  std::vector<std::string> oci_roots;
};

struct WatchConfig {
  // Events buffered per watcher before the overflow policy applies.
  size_t queue_size = 4096;
};

// The Prometheus endpoint (docs/operations.md, Metrics). Off unless
// `listen` is set. It has no authentication, so only a loopback address is
// accepted unless the operator says otherwise.
struct MetricsConfig {
  std::string listen;  // "127.0.0.1:9464" or "[::1]:9464"; "" = off
  bool allow_non_loopback = false;
};

struct Config {
  SocketConfig socket;
  std::string state_dir = "/var/lib/openshell-driver-gvisor";
  std::string driver_name = "gvisor";
  // Upstream's default for every driver (openshell-core image.rs): built for
  // the supervisor (bash, iproute2, a non-root user), so `openshell sandbox
  // create` without --from works as it does with upstream's drivers.
  std::string default_image = "ghcr.io/nvidia/openshell-community/sandboxes/base:latest";
  LogConfig log;
  RunscConfig runsc;
  SandboxDefaults sandbox;
  // Where memory images go; "" = <state_dir>/checkpoints.
  std::string checkpoint_dir;
  CheckpointConfig checkpoint;
  SupervisorConfig supervisor;
  GatewayConfig gateway;
  NetworkConfig network;
  ImagesConfig images;
  WatchConfig watch;
  MetricsConfig metrics;
};

// Parses YAML text. Unknown keys and bad values are errors naming the key
// (e.g. "runsc.timeout: not a duration: '5 parsecs'").
absl::StatusOr<Config> ParseConfig(const std::string& yaml_text);

// Reads and parses a file; a missing file is an error naming the path.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Checks cross-field rules after CLI overrides were applied
// (socket.path set, log.level known, ...). Message names the key.
absl::Status ValidateConfig(const Config& config);

// The effective configuration as YAML, for `serve --check-config`.
std::string RenderConfig(const Config& config);

// "250ms", "60s", "5m", "1h"; bare numbers are rejected.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text);

// network.mode after defaulting: kDefault means sandbox when
// gateway.endpoint is set (sandboxes must reach the gateway), else none.
bool NetworkEnabled(const Config& config);

// metrics.listen after parsing: its address is a literal IP, its port 1..65535.
struct ListenAddress {
  std::string host;  // "127.0.0.1" or "::1" (no brackets)
  uint16_t port = 0;
  bool loopback = false;
};
// "IPv4:PORT" or "[IPv6]:PORT"; errors name `key`.
absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& key, const std::string& text);

}  // namespace osgv
