// Random names and tokens from OpenSSL's CSPRNG.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace osgv {

// `bytes` random bytes as 2*bytes lowercase hex digits. INTERNAL when the
// CSPRNG cannot deliver (RAND_bytes failed): a predictable name is never
// handed out in its place.
absl::StatusOr<std::string> RandomHex(size_t bytes);

}  // namespace osgv
