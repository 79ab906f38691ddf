#include "capabilities/capabilities.h"

#include <catch2/catch.hpp>

namespace osgv {
namespace {

TEST_CASE("capabilities name the driver and say how sandboxes run", "[capabilities]") {
  Config config;
  config.driver_name = "gvisor";
  config.default_image = "ghcr.io/nvidia/openshell-community/sandboxes/base:latest";
  DriverCapabilities c = CapabilitiesOf(config, "0.0~20240729.0");
  CHECK(c.driver_name == "gvisor");
  CHECK(c.default_image == config.default_image);
  // Sandboxes outlive the gateway; it must not stop them at its shutdown.
  CHECK_FALSE(c.gateway_manages_lifecycle);
  CHECK(c.driver_version == std::string("openshell-driver-gvisor ") + OSGV_VERSION +
                                " (runsc 0.0~20240729.0; direct mode: no supervisor; network none)");

  config.supervisor.binary = "/usr/libexec/openshell/openshell-sandbox";
  config.gateway.endpoint = "http://host.openshell.internal:8080";
  CHECK(CapabilitiesOf(config, "").driver_version ==
        std::string("openshell-driver-gvisor ") + OSGV_VERSION +
            " (runsc unknown; supervisor; network sandbox)");
}

}  // namespace
}  // namespace osgv
