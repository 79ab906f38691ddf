// The resource-admission policy a v0.1.x or Ryno gateway requires its
// driver to acknowledge (gateway-contract-v01.md §3.3). The gateway never
// sends it: the operator configures the same values on both sides, the
// driver as `gateway.admission_config_json`, the gateway in
// [<prefix>.drivers.<name>].
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace osgv {

struct AdmissionPolicy {
  // Whether callers may pass template.driver_config.
  bool allow_driver_config = false;
  // The acknowledgement: "v1:" + the operator's JSON, compacted once, so
  // that every GetCapabilities answers the very same bytes (the gateway
  // compares them byte for byte before each Validate, Create and Start).
  std::string acknowledgement = "v1:{}";
};

// Parses the operator's JSON. Upstream's rules: an object with at most
// `allow_driver_config` (bool) and `resource_admission` {`enabled` (bool),
// `required_labels` (object of strings)}; unknown keys are errors, absent
// keys take the gateway's defaults. INVALID_ARGUMENT names the key.
absl::StatusOr<AdmissionPolicy> ParseAdmissionPolicy(const std::string& json_text);

}  // namespace osgv
