#include "lifecycle/runsc/runsc_id.h"

#include "lifecycle/random_hex.h"

namespace osgv {

absl::StatusOr<std::string> NewRunscId() {
  auto hex = RandomHex(kRunscIdHexDigits / 2);
  if (!hex.ok()) return hex.status();
  return kRunscIdPrefix + *hex;
}

bool IsDriverRunscId(std::string_view name) {
  const std::string_view prefix = kRunscIdPrefix;
  if (name.substr(0, prefix.size()) != prefix) return false;
  std::string_view hex = name.substr(prefix.size());
  if (hex.size() != kRunscIdHexDigits) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace osgv
