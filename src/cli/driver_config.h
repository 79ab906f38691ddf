// Config assembly shared by the subcommands: file, then CLI flags on top.
#pragma once

#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "cli/cli_args.h"

namespace osgv {

// Reads --config FILE when given and applies --socket, --state-dir,
// --driver-name, --log-level and --log-format over it.
absl::StatusOr<Config> ConfigFromArgs(const ParsedArgs& args);

}  // namespace osgv
