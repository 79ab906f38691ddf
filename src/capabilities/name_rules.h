// The naming rules requests are held to, shared by the request validator
// (validation.cc) and the checks that reuse them.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace osgv {

inline constexpr size_t kMaxIdLength = 128;
inline constexpr size_t kMaxLabelLength = 63;
inline constexpr size_t kMaxSubdomainLength = 253;

bool IsAsciiAlnum(char c);
// 0-9 and a-z.
bool IsLowerAlnum(char c);
// 1 to 63 of a-z 0-9 '-', starting and ending with a letter or digit.
bool IsDns1123Label(const std::string& s);
// What sandbox.id may be: 1 to 128 of A-Z a-z 0-9 . _ -, starting with a
// letter or digit (it names directories and runsc containers).
bool IsSandboxId(const std::string& id);
bool IsPosixEnvName(const std::string& s);
// A Kubernetes label key ([prefix/]name) and value; the message says why not.
absl::Status ValidateLabelKey(const std::string& key);
absl::Status ValidateLabelValue(const std::string& value);

}  // namespace osgv
