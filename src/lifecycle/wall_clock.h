// Wall-clock time as records and messages carry it (created_at_ms,
// updated_at_ms, exported_at_ms): milliseconds since the Unix epoch.
#pragma once

#include <chrono>
#include <cstdint>

namespace osgv {

inline int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace osgv
