// Whether sandboxes get a network of their own (network.mode, a request's
// driver_config.network_mode; docs/network.md), and its one text codec for
// the config file, requests and the `run` command.
#pragma once

#include <optional>
#include <string_view>

namespace osgv {

enum class NetworkMode {
  kDefault,  // network.mode unset (""): sandbox when gateway.endpoint is set
  kNone,     // loopback only
  kSandbox,  // an own netns on the driver's bridge
};

// "", "none", "sandbox".
const char* NetworkModeName(NetworkMode mode);
std::optional<NetworkMode> ParseNetworkMode(std::string_view name);

}  // namespace osgv
