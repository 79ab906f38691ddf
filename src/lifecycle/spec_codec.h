// The create request as stored in the sandbox record: everything needed to
// provision (or re-provision after a crash) the sandbox, except the token,
// which never goes into the database. A v0.1.x/Ryno sandbox's generation,
// policy and workload selectors are kept too (a pin-era record has none of
// them and reads back as GatewayGeneration::kV0).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

std::string EncodeRequest(const SandboxRequest& request);  // token omitted
absl::StatusOr<SandboxRequest> DecodeRequest(const std::string& json);

}  // namespace osgv
