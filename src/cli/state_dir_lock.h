// One driver per state directory: an exclusive flock on <state>/driver.lock,
// held for the life of the process (released by the kernel if it dies).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace osgv {

// Returns the held fd. FAILED_PRECONDITION naming the holder's pid when
// another driver has it.
absl::StatusOr<int> LockStateDir(const std::string& lock_file);

}  // namespace osgv
