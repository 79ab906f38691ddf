// spdlog set-up: text lines or JSON lines on stderr.
#pragma once

#include "absl/status/status.h"
#include "capabilities/config.h"

namespace osgv {

absl::Status SetupLogging(const LogConfig& config);

}  // namespace osgv
