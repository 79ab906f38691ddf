// What GetCapabilities reports, as plain data.
#pragma once

#include <string>

#include "capabilities/config.h"

namespace osgv {

struct DriverCapabilities {
  std::string driver_name;
  std::string driver_version;  // "openshell-driver-gvisor <ours> (runsc <version>)"
  std::string default_image;
  // false: sandboxes outlive gateway restarts; the gateway neither stops
  // them at shutdown nor restarts them at startup (docs/lifecycle.md).
  bool gateway_manages_lifecycle = false;
};

DriverCapabilities CapabilitiesOf(const Config& config, const std::string& runsc_version);

}  // namespace osgv
