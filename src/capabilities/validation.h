// The one validator shared by ValidateSandboxCreate and CreateSandbox.
//
// Pure: no I/O, no side effects. Each rejection is INVALID_ARGUMENT (or
// FAILED_PRECONDITION for a valid request this driver cannot serve) with a
// message that starts with the field path, e.g.
//   "sandbox.name: must be a DNS-1123 label (got 'Bad_Name')".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "capabilities/name_rules.h"
#include "capabilities/config.h"
#include "capabilities/image_reference.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

// Our documented per-sandbox `driver_config` schema (docs/configuration.md).
struct DriverConfigOptions {
  std::optional<uint64_t> pids_limit;
  std::optional<NetworkMode> network_mode;  // kNone | kSandbox
  std::optional<PullPolicy> pull_policy;
};

// The validated, parsed form of a request's limits and options.
struct ValidatedSandbox {
  uint64_t memory_limit_bytes = 0;  // 0 = none
  uint64_t cpu_limit_millis = 0;    // 0 = none
  uint64_t pids_limit = 0;          // 0 = none
  bool networked = false;           // own netns on the bridge (network.mode sandbox)
  DriverConfigOptions driver_config;
};

absl::StatusOr<ValidatedSandbox> ValidateSandboxRequest(
    const SandboxRequest& request, const Config& config);

// Where requests' oci: layouts may come from: images.oci_roots plus the
// directory of an oci: default_image (the operator chose it), never
// state_dir or checkpoint_dir. The image store re-applies it at use.
OciLayoutPolicy OciLayoutPolicyFor(const Config& config);

absl::StatusOr<DriverConfigOptions> ParseDriverConfig(const std::string& json);

}  // namespace osgv
