// Kubernetes resource quantities ("500m", "2", "4Gi", "1e3", "128974848").
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace osgv {

// Parses a quantity into milli-units (so "500m" -> 500, "2" -> 2000,
// "1Ki" -> 1024000). Errors describe what is wrong with the text.
absl::StatusOr<__int128> ParseQuantityMillis(const std::string& text);

// CPU quantity as millicores; must be > 0.
absl::StatusOr<uint64_t> ParseCpuMillis(const std::string& text);

// Memory quantity as bytes (fractions rounded up); must be > 0.
absl::StatusOr<uint64_t> ParseMemoryBytes(const std::string& text);

// Quotes caller-supplied text for an error message: 'text' (or "text" with
// quote = '"'), C-escaped and cut after 64 bytes, so a hostile value can
// neither flood a log line nor smuggle control characters into it. Shared by
// all of src/capabilities.
std::string QuoteForMessage(absl::string_view text, char quote = '\'');

}  // namespace osgv
