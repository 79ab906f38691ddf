// Plain data types that describe a sandbox, independent of gRPC.
//
// src/driver translates the proto messages of openshell.compute.v1 into these
// and back; src/lifecycle and src/capabilities only ever see these.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "openshell_gvisor/sandbox_phase.h"

namespace osgv {

// Kubernetes-style quantity strings, exactly as the gateway forwards them.
struct ResourceRequirements {
  std::string cpu_request;
  std::string cpu_limit;
  std::string memory_request;
  std::string memory_limit;
};

struct SandboxTemplate {
  std::string image;
  std::string agent_socket_path;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> environment;
  std::optional<ResourceRequirements> resources;
  // google.protobuf.Struct fields, carried as JSON object text ("" = unset).
  std::string platform_config_json;
  std::string driver_config_json;
};

// A host path bind-mounted into the sandbox. Only the local `run` command
// sets these; the gateway's proto has no such field, so a gateway request
// can never name a host path.
struct HostMount {
  std::string source;       // absolute host path
  std::string destination;  // absolute in-sandbox path
  bool read_only = false;
};

// Which gateway generation created a sandbox (gateway-contract-v01.md §13.4). Each sandbox
// belongs to exactly one; it is fixed at create and persisted.
enum class GatewayGeneration { kV0, kV01, kRyno };

// One endpoint the sandbox's network fence allows (from SandboxPolicy.network_policies).
struct PolicyEndpoint {
  std::string host;                      // exact host name, "" when only allowed_ips
  std::vector<uint32_t> ports;           // at least one
  std::vector<std::string> allowed_ips;  // IPs or CIDRs ("10.0.5.0/24"); IPv4 and IPv6
};

// What the fence enforces of the gateway's SandboxPolicy, and what it cannot.
struct SandboxNetworkPolicy {
  bool present = false;                   // spec.policy was set
  std::vector<PolicyEndpoint> endpoints;  // allowed exactly; everything else denied
  std::vector<std::string> not_enforced;  // one human-readable line per ignored part
};

struct SandboxSpec {
  std::string log_level;
  std::map<std::string, std::string> environment;
  SandboxTemplate tmpl;
  bool gpu_requested = false;
  std::optional<uint32_t> gpu_count;
  // The gateway-minted JWT. Never logged, never put in argv or env.
  std::string sandbox_token;
  std::vector<std::string> command;
  bool tty = false;
  std::vector<HostMount> host_mounts;
  GatewayGeneration generation = GatewayGeneration::kV0;
  SandboxNetworkPolicy policy;              // v0.1.x/Ryno only
  bool await_main_process_attachment = false;
  std::string workload_user;                // WorkloadIdentityRequest selectors
  std::string workload_group;
};

// What ValidateSandboxCreate and CreateSandbox carry.
struct SandboxRequest {
  std::string id;
  std::string name;
  std::string namespace_name;
  std::string workspace;
  SandboxSpec spec;
};

struct Condition {
  std::string type;
  std::string status;
  std::string reason;
  std::string message;
  std::string last_transition_time;  // RFC 3339
};

struct SandboxStatus {
  std::string sandbox_name;
  std::string instance_id;
  std::vector<Condition> conditions;
  bool deleting = false;
};

// What GetSandbox/ListSandboxes/Watch report. Never carries the spec: the
// gateway ignores it and its 4 MiB message limit applies to ListSandboxes.
struct SandboxSnapshot {
  std::string id;
  std::string name;
  std::string namespace_name;
  std::string workspace;
  SandboxStatus status;
  // The driver's own lifecycle phase (sandbox_phase.h). Never sent to the
  // gateway, whose view is the conditions; the metrics (src/metrics) count
  // sandboxes by it.
  SandboxPhase phase = SandboxPhase::kProvisioning;
};

struct PlatformEvent {
  int64_t timestamp_ms = 0;
  std::string source;
  std::string type;  // "Normal" or "Warning"
  std::string reason;
  std::string message;
  std::map<std::string, std::string> metadata;
};

// One item on a WatchSandboxes stream.
struct WatchEvent {
  enum class Kind { kSandbox, kDeleted, kPlatformEvent };
  Kind kind = Kind::kSandbox;
  SandboxSnapshot sandbox;  // kSandbox
  std::string sandbox_id;   // kDeleted, kPlatformEvent
  PlatformEvent event;      // kPlatformEvent
};

}  // namespace osgv
