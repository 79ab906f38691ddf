// Kubernetes resource quantities, parsed exactly.
//
// Grammar (k8s.io/apimachinery/pkg/api/resource):
//   quantity := [+-] number suffix
//   number   := digits | digits "." digits | digits "." | "." digits
//   suffix   := Ki Mi Gi Ti Pi Ei | n u m "" k M G T P E | (e|E) [+-] digits
//
// The number is kept as a string of decimal digits and scaled in decimal, so
// "1.5Gi" or "0.1" come out exact, with no floating-point rounding. Like
// Kubernetes, anything finer than the result's unit is rounded up, so a
// fraction never silently becomes a zero limit.
#include "capabilities/quantity.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace osgv {
namespace {

// Kubernetes keeps quantities within int64 of their base unit; so do we.
// In milli-units that is INT64_MAX * 1000, which __int128 holds easily.
constexpr int64_t kMaxUnits = INT64_MAX;
constexpr __int128 kMaxMillis = static_cast<__int128>(kMaxUnits) * 1000;

// An exponent this large is a typo or an attack, never a resource size.
constexpr int kMaxExponent = 100;

constexpr absl::string_view kExamples = "use e.g. 500m, 2, 512Mi, 1Gi, 1e3";

absl::Status NotAQuantity(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "not a quantity: ", QuoteForMessage(text), " (", why, "; ", kExamples,
      ")"));
}

absl::Status TooLarge(absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat(
      "quantity ", QuoteForMessage(text), " is too large (at most ", kMaxUnits,
      " units, about 8Ei)"));
}

// A suffix multiplies the number by 10^decimal_exponent * 1024^binary_power.
struct Scale {
  int decimal_exponent = 0;
  int binary_power = 0;
};

struct NamedSuffix {
  absl::string_view name;
  Scale scale;
};

constexpr NamedSuffix kSuffixes[] = {
    {"", {0, 0}},  {"n", {-9, 0}}, {"u", {-6, 0}}, {"m", {-3, 0}},
    {"k", {3, 0}}, {"M", {6, 0}},  {"G", {9, 0}},  {"T", {12, 0}},
    {"P", {15, 0}}, {"E", {18, 0}}, {"Ki", {0, 1}}, {"Mi", {0, 2}},
    {"Gi", {0, 3}}, {"Ti", {0, 4}}, {"Pi", {0, 5}}, {"Ei", {0, 6}},
};

// "e3", "E-2", "e+6": a decimal exponent. A lone "E" is the exa suffix and is
// found in kSuffixes before this is tried.
std::optional<int> ParseExponent(absl::string_view suffix) {
  if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) {
    return std::nullopt;
  }
  absl::string_view rest = suffix.substr(1);
  bool negative = false;
  if (rest[0] == '+' || rest[0] == '-') {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  if (rest.empty()) return std::nullopt;
  int value = 0;
  for (char c : rest) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    // Saturate: anything past kMaxExponent is rejected by the caller anyway.
    value = std::min(value * 10 + (c - '0'), kMaxExponent + 1);
  }
  return negative ? -value : value;
}

absl::StatusOr<Scale> ParseSuffix(absl::string_view text,
                                  absl::string_view suffix) {
  for (const NamedSuffix& s : kSuffixes) {
    if (s.name == suffix) return s.scale;
  }
  if (std::optional<int> exponent = ParseExponent(suffix)) {
    if (*exponent > kMaxExponent || *exponent < -kMaxExponent) {
      return NotAQuantity(text, "exponent out of range");
    }
    return Scale{*exponent, 0};
  }
  return NotAQuantity(
      text, absl::StrCat("unknown suffix ", QuoteForMessage(suffix),
                         "; suffixes are Ki Mi Gi Ti Pi Ei, n u m k M G T P "
                         "E, or an exponent like e3"));
}

// The parts of the text before any scaling.
struct Parsed {
  bool negative = false;
  std::string digits;  // integer and fraction digits, without the point
  int64_t fraction_digits = 0;
  Scale scale;
};

absl::StatusOr<Parsed> Split(absl::string_view text) {
  if (text.empty()) return NotAQuantity(text, "empty");
  for (char c : text) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return NotAQuantity(text, "contains whitespace");
    }
  }
  Parsed parsed;
  absl::string_view rest = text;
  if (rest[0] == '+' || rest[0] == '-') {
    parsed.negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  size_t end = 0;
  bool seen_point = false;
  for (; end < rest.size(); ++end) {
    char c = rest[end];
    if (c == '.') {
      if (seen_point) return NotAQuantity(text, "more than one '.'");
      seen_point = true;
    } else if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      parsed.digits.push_back(c);
      if (seen_point) ++parsed.fraction_digits;
    } else {
      break;
    }
  }
  if (parsed.digits.empty()) return NotAQuantity(text, "no digits");
  absl::StatusOr<Scale> scale = ParseSuffix(text, rest.substr(end));
  if (!scale.ok()) return scale.status();
  parsed.scale = *scale;
  return parsed;
}

// digits *= factor, in place, on a big-endian decimal string.
void MultiplyDigits(std::string& digits, int factor) {
  int carry = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int product = (*it - '0') * factor + carry;
    *it = static_cast<char>('0' + product % 10);
    carry = product / 10;
  }
  for (; carry > 0; carry /= 10) {
    digits.insert(digits.begin(), static_cast<char>('0' + carry % 10));
  }
}

// Returns the magnitude in milli-units, rounded up, or nullopt if it is
// larger than kMaxMillis.
std::optional<__int128> ScaleToMillis(const Parsed& parsed) {
  std::string digits = parsed.digits;
  digits.erase(0, digits.find_first_not_of('0'));
  if (digits.empty()) return 0;
  for (int i = 0; i < parsed.scale.binary_power; ++i) {
    MultiplyDigits(digits, 1024);
  }
  // value = digits * 10^exponent, in milli-units.
  int64_t exponent =
      parsed.scale.decimal_exponent + 3 - parsed.fraction_digits;
  bool round_up = false;
  if (exponent < 0) {
    int64_t keep = static_cast<int64_t>(digits.size()) + exponent;
    if (keep <= 0) return 1;  // nonzero, but below one milli-unit
    round_up = digits.find_first_not_of('0', keep) != std::string::npos;
    digits.resize(keep);
  } else {
    // kMaxMillis has 22 digits; bail out before building a huge string.
    if (static_cast<int64_t>(digits.size()) + exponent > 22) {
      return std::nullopt;
    }
    digits.append(exponent, '0');
  }
  if (digits.size() > 22) return std::nullopt;
  __int128 millis = 0;
  for (char c : digits) millis = millis * 10 + (c - '0');
  if (round_up) ++millis;
  if (millis > kMaxMillis) return std::nullopt;
  return millis;
}

absl::Status NotPositive(absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat(
      "quantity ", QuoteForMessage(text), " must be greater than zero"));
}

}  // namespace

std::string QuoteForMessage(absl::string_view text, char quote) {
  constexpr size_t kMaxShown = 64;
  std::string quoted =
      absl::StrCat(absl::string_view(&quote, 1),
                   absl::CEscape(text.substr(0, kMaxShown)),
                   absl::string_view(&quote, 1));
  if (text.size() > kMaxShown) {
    absl::StrAppend(&quoted, "... (", text.size(), " bytes)");
  }
  return quoted;
}

absl::StatusOr<__int128> ParseQuantityMillis(const std::string& text) {
  absl::StatusOr<Parsed> parsed = Split(text);
  if (!parsed.ok()) return parsed.status();
  std::optional<__int128> millis = ScaleToMillis(*parsed);
  if (!millis) return TooLarge(text);
  return parsed->negative ? -*millis : *millis;
}

absl::StatusOr<uint64_t> ParseCpuMillis(const std::string& text) {
  absl::StatusOr<__int128> millis = ParseQuantityMillis(text);
  if (!millis.ok()) return millis.status();
  if (*millis <= 0) return NotPositive(text);
  if (*millis > INT64_MAX) return TooLarge(text);
  return static_cast<uint64_t>(*millis);
}

absl::StatusOr<uint64_t> ParseMemoryBytes(const std::string& text) {
  absl::StatusOr<__int128> millis = ParseQuantityMillis(text);
  if (!millis.ok()) return millis.status();
  if (*millis <= 0) return NotPositive(text);
  // Round up: "1.5" bytes is 2 and "500m" bytes is 1, never 0.
  return static_cast<uint64_t>((*millis + 999) / 1000);
}

}  // namespace osgv
