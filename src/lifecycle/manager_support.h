// What the SandboxManager's files share (sandbox_*.cc): durations as
// messages state them, and the wall clock (UnixNowMs) and size wording
// (DescribeMiB) records and messages use. Private to those files; nothing
// outside src/lifecycle includes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lifecycle/sandbox_status.h"
#include "lifecycle/wall_clock.h"

namespace osgv::manager_support {

using Clock = std::chrono::steady_clock;

inline int64_t MsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

}  // namespace osgv::manager_support
