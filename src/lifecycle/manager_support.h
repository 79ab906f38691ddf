// Small helpers the SandboxManager's files share (sandbox_*.cc): record
// timestamps, durations and sizes as messages state them. Private to those
// files; nothing outside src/lifecycle includes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lifecycle/sandbox_status.h"
#include "lifecycle/wall_clock.h"

namespace osgv::manager_support {

using Clock = std::chrono::steady_clock;

// Wall-clock time as records and events store it.
inline int64_t NowMs() { return UnixNowMs(); }

inline int64_t MsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

inline std::string MiB(uint64_t bytes) { return DescribeMiB(bytes); }

}  // namespace osgv::manager_support
