// How each kind of configuration value is read from and written to YAML:
// one codec per kind (string, count, mode, bool, list, duration, quantity).
// config.cc's field table pairs each key with one of these; the rules about
// which values are acceptable live in config_rules.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "capabilities/config_rules.h"
#include "capabilities/network_mode.h"
#include "capabilities/pull_policy.h"
#include "capabilities/quantity.h"
#include "yaml-cpp/yaml.h"

namespace osgv::config_codecs {

using config_rules::KeyError;

// Prefixes a status from a shared parser (quantity, duration) with the key.
inline absl::Status WithKey(absl::string_view key, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(key, ": ", status.message()));
}

// ---- value parsing ---------------------------------------------------------

inline absl::StatusOr<std::string> ScalarText(const YAML::Node& node,
                                       absl::string_view key) {
  if (!node.IsScalar()) {
    return KeyError(key, "must be a single value, not a list or mapping");
  }
  return node.Scalar();
}

// Plain decimal only: a sign, spaces, "0x" or "1e3" in a count is a mistake.
inline std::optional<uint64_t> ParseUnsigned(absl::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    uint64_t digit = c - '0';
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

inline absl::StatusOr<uint64_t> ReadUnsigned(const YAML::Node& node,
                                      absl::string_view key, uint64_t max) {
  absl::StatusOr<std::string> text = ScalarText(node, key);
  if (!text.ok()) return text.status();
  std::optional<uint64_t> value = ParseUnsigned(*text, max);
  if (!value) {
    return KeyError(key, absl::StrCat("not an integer between 0 and ", max,
                                      ": ", QuoteForMessage(*text)));
  }
  return *value;
}

struct DurationUnit {
  absl::string_view name;
  int64_t millis;
};

// Largest first, so FormatDuration picks the most readable exact unit.
constexpr DurationUnit kDurationUnits[] = {
    {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};

inline std::string FormatDuration(std::chrono::milliseconds duration) {
  for (const DurationUnit& unit : kDurationUnits) {
    if (duration.count() != 0 && duration.count() % unit.millis == 0) {
      return absl::StrCat(duration.count() / unit.millis, unit.name);
    }
  }
  return absl::StrCat(duration.count(), "ms");
}

struct BinarySuffix {
  absl::string_view name;
  uint64_t bytes;
};

constexpr BinarySuffix kBinarySuffixes[] = {
    {"Ei", 1ULL << 60}, {"Pi", 1ULL << 50}, {"Ti", 1ULL << 40},
    {"Gi", 1ULL << 30}, {"Mi", 1ULL << 20}, {"Ki", 1ULL << 10}};

inline std::string FormatBytes(uint64_t bytes) {
  for (const BinarySuffix& suffix : kBinarySuffixes) {
    if (bytes != 0 && bytes % suffix.bytes == 0) {
      return absl::StrCat(bytes / suffix.bytes, suffix.name);
    }
  }
  return absl::StrCat(bytes);
}

inline std::string FormatCpuMillis(uint64_t millis) {
  if (millis % 1000 == 0) return absl::StrCat(millis / 1000);
  return absl::StrCat(millis, "m");
}

// ---- codecs: how one kind of value is read from and written to YAML --------
// Strings are written double-quoted so that values such as "null", "~" or
// "0660" read back as the same text.

struct StringCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key,
                           std::string& out) {
    absl::StatusOr<std::string> text = ScalarText(node, key);
    if (!text.ok()) return text.status();
    out = *std::move(text);
    return absl::OkStatus();
  }
  static void Write(YAML::Emitter& out, const std::string& value) {
    out << YAML::DoubleQuoted << value;
  }
};

// One of a fixed set of values, read and written in the one spelling its
// Name/Parse pair (the enum's own codec) gives it; an empty Name is a valid
// value that the error message does not list.
template <typename Enum, const char* (*Name)(Enum), std::optional<Enum> (*Parse)(std::string_view),
          Enum... kAll>
struct EnumCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key, Enum& out) {
    absl::StatusOr<std::string> text = ScalarText(node, key);
    if (!text.ok()) return text.status();
    if (std::optional<Enum> value = Parse(*text)) {
      out = *value;
      return absl::OkStatus();
    }
    std::vector<std::string> names;
    for (Enum e : {kAll...}) {
      if (*Name(e) != '\0') names.push_back(Name(e));
    }
    return KeyError(key, absl::StrCat("must be one of ", absl::StrJoin(names, ", "), " (got ",
                                      QuoteForMessage(*text), ")"));
  }
  static void Write(YAML::Emitter& out, Enum value) { out << YAML::DoubleQuoted << Name(value); }
};

using PullPolicyCodec = EnumCodec<PullPolicy, PullPolicyName, ParsePullPolicy,
                                  PullPolicy::kIfNotPresent, PullPolicy::kAlways, PullPolicy::kNever>;
using NetworkModeCodec = EnumCodec<NetworkMode, NetworkModeName, ParseNetworkMode,
                                   NetworkMode::kDefault, NetworkMode::kNone, NetworkMode::kSandbox>;

template <typename Int>
struct CountCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key,
                           Int& out) {
    absl::StatusOr<uint64_t> value =
        ReadUnsigned(node, key, std::numeric_limits<Int>::max());
    if (!value.ok()) return value.status();
    out = static_cast<Int>(*value);
    return absl::OkStatus();
  }
  static void Write(YAML::Emitter& out, Int value) { out << value; }
};

// An octal permission string: "0660", "660" or "0o660". YAML 1.1 and 1.2
// disagree about what an unquoted 0660 means; we always read it as octal.
struct ModeCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key,
                           uint32_t& out) {
    absl::StatusOr<std::string> text = ScalarText(node, key);
    if (!text.ok()) return text.status();
    absl::string_view digits = *text;
    if (absl::StartsWith(digits, "0o")) digits.remove_prefix(2);
    bool octal = !digits.empty() && digits.size() <= 4;
    uint32_t mode = 0;
    for (char c : digits) {
      octal = octal && c >= '0' && c <= '7';
      mode = mode * 8 + static_cast<uint32_t>(c - '0');
    }
    if (!octal) {
      return KeyError(key, absl::StrCat("not an octal mode: ",
                                        QuoteForMessage(*text),
                                        " (use e.g. 0600 or 0660)"));
    }
    out = mode;
    return absl::OkStatus();
  }
  static void Write(YAML::Emitter& out, uint32_t mode) {
    out << YAML::DoubleQuoted << absl::StrFormat("%04o", mode);
  }
};

// Only the words true and false: YAML 1.1's yes/no/on/off are too easy to
// misread in a security setting.
struct BoolCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key, bool& out) {
    absl::StatusOr<std::string> text = ScalarText(node, key);
    if (!text.ok()) return text.status();
    if (*text != "true" && *text != "false") {
      return KeyError(key, absl::StrCat("must be true or false (got ", QuoteForMessage(*text), ")"));
    }
    out = *text == "true";
    return absl::OkStatus();
  }
  static void Write(YAML::Emitter& out, bool value) { out << (value ? "true" : "false"); }
};

struct StringListCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key,
                           std::vector<std::string>& out) {
    if (!node.IsSequence()) return KeyError(key, "must be a list of strings");
    std::vector<std::string> items;
    for (size_t i = 0; i < node.size(); ++i) {
      absl::StatusOr<std::string> text = ScalarText(node[i], absl::StrCat(key, "[", i, "]"));
      if (!text.ok()) return text.status();
      items.push_back(*text);
    }
    out = std::move(items);
    return absl::OkStatus();
  }
  static void Write(YAML::Emitter& out, const std::vector<std::string>& items) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& item : items) out << YAML::DoubleQuoted << item;
    out << YAML::EndSeq;
  }
};

struct UidListCodec {
  // uid_t is 32 bits and (uid_t)-1 means "no uid" to the kernel.
  static constexpr uint64_t kMaxUid = 4294967294;

  static absl::Status Read(const YAML::Node& node, absl::string_view key,
                           std::vector<uint32_t>& out) {
    if (!node.IsSequence()) {
      return KeyError(key, "must be a list of uids, e.g. [1000, 1001]");
    }
    std::vector<uint32_t> uids;
    for (size_t i = 0; i < node.size(); ++i) {
      absl::StatusOr<uint64_t> uid =
          ReadUnsigned(node[i], absl::StrCat(key, "[", i, "]"), kMaxUid);
      if (!uid.ok()) return uid.status();
      uids.push_back(static_cast<uint32_t>(*uid));
    }
    out = std::move(uids);
    return absl::OkStatus();
  }
  static void Write(YAML::Emitter& out, const std::vector<uint32_t>& uids) {
    out << YAML::Flow << YAML::BeginSeq;
    for (uint32_t uid : uids) out << uid;
    out << YAML::EndSeq;
  }
};

struct DurationCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key,
                           std::chrono::milliseconds& out) {
    absl::StatusOr<std::string> text = ScalarText(node, key);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::chrono::milliseconds> duration = ParseDuration(*text);
    if (!duration.ok()) return WithKey(key, duration.status());
    out = *duration;
    return absl::OkStatus();
  }
  static void Write(YAML::Emitter& out, std::chrono::milliseconds duration) {
    out << YAML::DoubleQuoted << FormatDuration(duration);
  }
};

// A duration that may be switched off: "off" (or "0") means 0.
struct OptionalDurationCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key,
                           std::chrono::milliseconds& out) {
    absl::StatusOr<std::string> text = ScalarText(node, key);
    if (!text.ok()) return text.status();
    if (*text == "off" || *text == "0") {
      out = std::chrono::milliseconds(0);
      return absl::OkStatus();
    }
    return DurationCodec::Read(node, key, out);
  }
  static void Write(YAML::Emitter& out, std::chrono::milliseconds duration) {
    if (duration.count() == 0) {
      out << YAML::DoubleQuoted << "off";
    } else {
      DurationCodec::Write(out, duration);
    }
  }
};

// A quantity where "0" means "no limit" (ParseMemoryBytes and ParseCpuMillis
// reject zero, which is right for requests but not for a default).
template <absl::StatusOr<uint64_t> (*Parse)(const std::string&),
          std::string (*Format)(uint64_t)>
struct LimitCodec {
  static absl::Status Read(const YAML::Node& node, absl::string_view key,
                           uint64_t& out) {
    absl::StatusOr<std::string> text = ScalarText(node, key);
    if (!text.ok()) return text.status();
    absl::StatusOr<__int128> millis = ParseQuantityMillis(*text);
    if (!millis.ok()) return WithKey(key, millis.status());
    if (*millis == 0) {
      out = 0;
      return absl::OkStatus();
    }
    absl::StatusOr<uint64_t> value = Parse(*text);
    if (!value.ok()) return WithKey(key, value.status());
    out = *value;
    return absl::OkStatus();
  }
  static void Write(YAML::Emitter& out, uint64_t value) {
    out << YAML::DoubleQuoted << Format(value);
  }
};

using MemoryCodec = LimitCodec<ParseMemoryBytes, FormatBytes>;
using CpuCodec = LimitCodec<ParseCpuMillis, FormatCpuMillis>;

}  // namespace osgv::config_codecs
