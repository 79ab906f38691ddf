// The runsc container ids this driver makes, and how to recognise them.
//
// The id also names the sandbox's directory under <state>/sandboxes, its
// checkpoint directory, its netns and its network files, so recognising it
// is what lets the start-up sweep remove only what the driver made.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace osgv {

inline constexpr char kRunscIdPrefix[] = "osgv-";
inline constexpr size_t kRunscIdHexDigits = 32;

// "osgv-" + 32 random lowercase hex digits: fixed length, so never a prefix
// of another id (runsc matches ids by prefix, globally across --root dirs).
// INTERNAL when the CSPRNG fails.
absl::StatusOr<std::string> NewRunscId();

// Exactly the form NewRunscId makes: "osgv-" and 32 lowercase hex digits.
bool IsDriverRunscId(std::string_view name);

}  // namespace osgv
