// Where the external tools (runsc, skopeo, ip, nft) are found, and the
// environment they run with (docs/operations.md, "Child processes").
//
// A tool configured by bare name is looked up in a fixed, root-owned search
// path, never in the driver's own PATH, which whoever started the driver
// controls; a relative path is refused (it would depend on the working
// directory). The tools get a minimal environment rather than the driver's
// own, which may hold secrets meant for nobody else.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace osgv {

// Searched for bare tool names, and the PATH every tool runs with.
inline constexpr char kToolSearchPath[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// `configured` as an absolute path. A bare name is looked up in
// kToolSearchPath (the first executable regular file wins); an absolute
// path is kept as it is. Errors name `key` (the config key or "command"):
// INVALID_ARGUMENT for an empty or relative path, NOT_FOUND for a bare name
// found nowhere in the search path.
absl::StatusOr<std::string> ResolveTool(const std::string& key, const std::string& configured);

// "NAME=value" entries for a tool's environment: PATH=kToolSearchPath and,
// when the driver has them, only HOME, XDG_RUNTIME_DIR and XDG_CONFIG_HOME
// (where skopeo finds registry credentials and its policy when the
// configuration names none), TMPDIR (where skopeo stages layers) and the
// proxy variables (how skopeo reaches a registry behind a proxy). Read
// once, on first use.
const std::vector<std::string>& ToolEnvironment();

}  // namespace osgv
