// Rules about single configuration keys, shared by ParseConfig and
// ValidateConfig (config.cc): each names its key and says what it wants.
// Kept apart from the field table and the YAML codecs, which say how a
// value is read; these say which values are acceptable.
#pragma once

#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "capabilities/config.h"

namespace osgv::config_rules {

// INVALID_ARGUMENT "<key>: <why>".
absl::Status KeyError(absl::string_view key, absl::string_view why);
// The first non-OK status in order; for lists of cheap checks.
absl::Status FirstError(std::initializer_list<absl::Status> statuses);
// Rules about single keys, which hold for a file before CLI overrides too.
absl::Status CheckValues(const Config& c);

}  // namespace osgv::config_rules
