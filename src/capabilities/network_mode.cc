#include "capabilities/network_mode.h"

namespace osgv {

const char* NetworkModeName(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kDefault: return "";
    case NetworkMode::kNone: return "none";
    case NetworkMode::kSandbox: return "sandbox";
  }
  return "?";
}

std::optional<NetworkMode> ParseNetworkMode(std::string_view name) {
  for (NetworkMode m : {NetworkMode::kDefault, NetworkMode::kNone, NetworkMode::kSandbox}) {
    if (name == NetworkModeName(m)) return m;
  }
  return std::nullopt;
}

}  // namespace osgv
