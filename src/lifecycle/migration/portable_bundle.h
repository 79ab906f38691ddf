// The bundle config as it travels in an archive, for older importers (this
// driver never reads it back): the exporting host's sandbox dir and runsc id
// replaced by placeholders, and what else must travel with it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace osgv {

// Placeholders for host-specific values in the archived bundle config.
inline constexpr char kSandboxDirVar[] = "${OSGV_SANDBOX_DIR}";
inline constexpr char kRunscIdVar[] = "${OSGV_RUNSC_ID}";

struct PortableBundle {
  std::string text;
  std::vector<std::string> carried;  // relative to the sandbox dir
  std::vector<std::string> warnings;
};

// `config` is the sandbox's bundle/config.json, `rid` its runsc id. Only
// the token file (CarriedTokenFile) is carried; a bind mount of another
// per-sandbox host path gets a warning. FAILED_PRECONDITION when `config`
// is not a JSON object.
absl::StatusOr<PortableBundle> MakePortable(const std::string& config, const std::string& rid);

}  // namespace osgv
