// The naming rules requests are held to (Kubernetes' DNS-1123 labels and
// qualified names, POSIX variable names, sandbox ids), apart from the
// request validator that applies them, so other checks (v0.1.x selectors,
// config keys) use the same rules.
#include "capabilities/name_rules.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "capabilities/quantity.h"

namespace osgv {
namespace {

// "a.b.c", each part a DNS-1123 label.
bool IsDns1123Subdomain(absl::string_view s) {
  if (s.empty() || s.size() > kMaxSubdomainLength) return false;
  for (absl::string_view part : absl::StrSplit(s, '.')) {
    if (!IsDns1123Label(std::string(part))) return false;
  }
  return true;
}

// Kubernetes' "qualified name" and label value charset:
// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool IsQualifiedName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxLabelLength) return false;
  if (!IsAsciiAlnum(s.front()) || !IsAsciiAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAsciiAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

bool IsAsciiAlnum(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c));
}

bool IsLowerAlnum(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
         (c >= 'a' && c <= 'z');
}

bool IsDns1123Label(const std::string& s) {
  if (s.empty() || s.size() > kMaxLabelLength) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsSandboxId(const std::string& id) {
  bool ok = !id.empty() && id.size() <= kMaxIdLength && IsAsciiAlnum(id[0]);
  for (char c : id) {
    ok = ok && (IsAsciiAlnum(c) || c == '.' || c == '_' || c == '-');
  }
  return ok;
}

bool IsPosixEnvName(const std::string& s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    if (!IsAsciiAlnum(c) && c != '_') return false;
  }
  return true;
}

absl::Status ValidateLabelKey(const std::string& key) {
  absl::string_view name = key;
  size_t slash = name.find('/');
  if (slash != absl::string_view::npos) {
    absl::string_view prefix = name.substr(0, slash);
    name.remove_prefix(slash + 1);
    if (!IsDns1123Subdomain(prefix)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key prefix ", QuoteForMessage(prefix),
          " must be a DNS-1123 subdomain: at most 253 characters of a-z, "
          "0-9, '-' and '.', each dot-separated part starting and ending "
          "with a letter or digit"));
    }
  }
  if (!IsQualifiedName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key name ", QuoteForMessage(name),
        " must be 1 to 63 characters of A-Z, a-z, 0-9, '-', '_' and '.', "
        "starting and ending with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelValue(const std::string& value) {
  if (value.empty() || IsQualifiedName(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "value ", QuoteForMessage(value),
      " must be empty or at most 63 characters of A-Z, a-z, 0-9, '-', '_' "
      "and '.', starting and ending with a letter or digit"));
}

}  // namespace osgv
