#include "capabilities/capabilities.h"

#include "absl/strings/str_cat.h"

namespace osgv {

DriverCapabilities CapabilitiesOf(const Config& config, const std::string& runsc_version) {
  DriverCapabilities c;
  c.driver_name = config.driver_name;
  c.driver_version = absl::StrCat("openshell-driver-gvisor ", OSGV_VERSION, " (runsc ",
                                  runsc_version.empty() ? "unknown" : runsc_version, ")");
  c.default_image = config.default_image;
  c.gateway_manages_lifecycle = false;
  return c;
}

}  // namespace osgv
