// What every fuzz target asserts besides "no crash": a failed invariant
// prints what broke and aborts, which libFuzzer reports as a crash and
// saves the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace osgv::fuzz {

inline void Require(bool holds, const char* what, const std::string& detail = "") {
  if (holds) return;
  std::fprintf(stderr, "invariant broken: %s\n  %s\n", what,
               absl::CEscape(detail.substr(0, 2000)).c_str());
  std::abort();
}

// An error message built from hostile input must stay one bounded line:
// every quoted value goes through QuoteForMessage (64 bytes, C-escaped).
inline void RequireSafeMessage(const absl::Status& status, size_t max_bytes = 1024) {
  const std::string message(status.message());
  Require(message.size() <= max_bytes, "error message is bounded", message);
  for (char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    Require(byte >= 0x20 && byte != 0x7f, "error message has no control characters", message);
  }
}

// nlohmann::json::dump throws on invalid UTF-8; protobuf guarantees that
// every string of a request is valid, so targets that build requests from
// raw bytes skip the parts that need it when a string is not. Strict, as
// protobuf is (RFC 3629): no overlong forms, surrogates or values past
// U+10FFFF.
inline bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace osgv::fuzz
