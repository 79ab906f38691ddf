// What GetCapabilities reports, as plain data.
#pragma once

#include <string>

#include "capabilities/admission_policy.h"
#include "capabilities/config.h"

namespace osgv {

struct DriverCapabilities {
  std::string driver_name;
  std::string driver_version;  // "openshell-driver-gvisor <ours> (runsc <version>)"
  std::string default_image;
  // false: sandboxes outlive gateway restarts; the gateway neither stops
  // them at shutdown nor restarts them at startup (docs/lifecycle.md).
  bool gateway_manages_lifecycle = false;

  // What v0.1.x and Ryno gateways also read (gateway-contract-v01.md §3).
  // The peer metadata's identity; the version without the runsc details.
  std::string implementation_name = "openshell-driver-gvisor";
  std::string implementation_version;
  AdmissionPolicy admission;
  // runsc enforces both through the sandbox cgroup (docs/isolation.md).
  bool cpu_limit_supported = true;
  bool memory_limit_supported = true;
};

DriverCapabilities CapabilitiesOf(const Config& config, const std::string& runsc_version);

}  // namespace osgv
