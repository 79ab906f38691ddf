#include "capabilities/capabilities.h"

#include "absl/strings/str_cat.h"

namespace osgv {

DriverCapabilities CapabilitiesOf(const Config& config, const std::string& runsc_version) {
  DriverCapabilities c;
  c.driver_name = config.driver_name;
  // The proto has no field for how sandboxes run, and GetGatewayInfo shows
  // this string to users: say whether the OpenShell supervisor runs in
  // them (without it the gateway never sees a supervisor session) and how
  // they are networked.
  c.driver_version = absl::StrCat(
      "openshell-driver-gvisor ", OSGV_VERSION, " (runsc ",
      runsc_version.empty() ? "unknown" : runsc_version, "; ",
      config.supervisor.binary.empty() ? "direct mode: no supervisor" : "supervisor",
      "; network ", NetworkEnabled(config) ? "sandbox" : "none", ")");
  c.default_image = config.default_image;
  c.gateway_manages_lifecycle = false;
  c.implementation_version = OSGV_VERSION;
  // ValidateConfig has accepted the JSON already; a parse failure here
  // would be a bug, and the default policy the safe answer to it.
  if (auto admission = ParseAdmissionPolicy(config.gateway.admission_config_json); admission.ok()) {
    c.admission = *admission;
  }
  return c;
}

}  // namespace osgv
