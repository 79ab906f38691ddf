// The driver's YAML configuration.
//
// One table of fields (Fields() below) drives parsing, rendering and the
// unknown-key check, so the three cannot drift apart: a key added to the
// table is parsed, rendered by `serve --check-config` and accepted back.
// docs/configuration.md documents every key in that table.
#include "capabilities/config.h"

#include <cerrno>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "capabilities/config_codecs.h"
#include "capabilities/config_rules.h"
#include "capabilities/image_reference.h"
#include "capabilities/quantity.h"
#include "yaml-cpp/yaml.h"

namespace osgv {
namespace {

using config_rules::CheckValues;
using config_rules::KeyError;
using namespace config_codecs;  // NOLINT: the codecs are this file's vocabulary

// ---- the field table -------------------------------------------------------

struct Field {
  absl::string_view key;  // dotted: "runsc.timeout"
  std::function<absl::Status(const YAML::Node&, Config&)> read;
  std::function<void(YAML::Emitter&, const Config&)> write;
};

// `get` is a generic lambda returning the member, so one accessor serves
// both the mutable (read) and the const (write) side.
template <typename Codec, typename Get>
Field MakeField(absl::string_view key, Get get) {
  return Field{
      key,
      [key, get](const YAML::Node& node, Config& config) {
        return Codec::Read(node, key, get(config));
      },
      [get](YAML::Emitter& out, const Config& config) {
        Codec::Write(out, get(config));
      }};
}

// In rendering order; keys of one section must be adjacent.
const std::vector<Field>& Fields() {
  static const auto* const fields = new std::vector<Field>{
      MakeField<StringCodec>("socket.path",
                             [](auto& c) -> auto& { return c.socket.path; }),
      MakeField<ModeCodec>("socket.mode",
                           [](auto& c) -> auto& { return c.socket.mode; }),
      MakeField<StringCodec>("socket.group",
                             [](auto& c) -> auto& { return c.socket.group; }),
      MakeField<UidListCodec>(
          "socket.allowed_uids",
          [](auto& c) -> auto& { return c.socket.allowed_uids; }),
      MakeField<StringCodec>("state_dir",
                             [](auto& c) -> auto& { return c.state_dir; }),
      MakeField<StringCodec>("driver_name",
                             [](auto& c) -> auto& { return c.driver_name; }),
      MakeField<StringCodec>("default_image",
                             [](auto& c) -> auto& { return c.default_image; }),
      MakeField<StringCodec>("checkpoint_dir",
                             [](auto& c) -> auto& { return c.checkpoint_dir; }),
      MakeField<StringCodec>("log.level",
                             [](auto& c) -> auto& { return c.log.level; }),
      MakeField<StringCodec>("log.format",
                             [](auto& c) -> auto& { return c.log.format; }),
      MakeField<StringCodec>("runsc.path",
                             [](auto& c) -> auto& { return c.runsc.path; }),
      MakeField<StringCodec>("runsc.platform",
                             [](auto& c) -> auto& { return c.runsc.platform; }),
      MakeField<DurationCodec>("runsc.timeout",
                               [](auto& c) -> auto& { return c.runsc.timeout; }),
      MakeField<StringCodec>(
          "runsc.debug_log_dir",
          [](auto& c) -> auto& { return c.runsc.debug_log_dir; }),
      MakeField<MemoryCodec>(
          "sandbox.memory_limit",
          [](auto& c) -> auto& { return c.sandbox.memory_limit_bytes; }),
      MakeField<CpuCodec>(
          "sandbox.cpu_limit",
          [](auto& c) -> auto& { return c.sandbox.cpu_limit_millis; }),
      MakeField<CountCodec<uint64_t>>(
          "sandbox.pids_limit",
          [](auto& c) -> auto& { return c.sandbox.pids_limit; }),
      MakeField<MemoryCodec>(
          "sandbox.console_log_max",
          [](auto& c) -> auto& { return c.sandbox.console_log_max_bytes; }),
      MakeField<StringCodec>(
          "checkpoint.compression",
          [](auto& c) -> auto& { return c.checkpoint.compression; }),
      MakeField<MemoryCodec>(
          "checkpoint.none_above",
          [](auto& c) -> auto& { return c.checkpoint.none_above_bytes; }),
      MakeField<StringCodec>(
          "checkpoint.io",
          [](auto& c) -> auto& { return c.checkpoint.io; }),
      MakeField<DurationCodec>(
          "checkpoint.timeout",
          [](auto& c) -> auto& { return c.checkpoint.timeout; }),
      MakeField<OptionalDurationCodec>(
          "checkpoint.idle_suspend_after",
          [](auto& c) -> auto& { return c.checkpoint.idle_suspend_after; }),
      MakeField<OptionalDurationCodec>(
          "checkpoint.token_ttl_hint",
          [](auto& c) -> auto& { return c.checkpoint.token_ttl_hint; }),
      MakeField<StringCodec>("supervisor.binary",
                             [](auto& c) -> auto& { return c.supervisor.binary; }),
      MakeField<StringListCodec>(
          "supervisor.extra_args",
          [](auto& c) -> auto& { return c.supervisor.extra_args; }),
      MakeField<StringCodec>("supervisor.workdir",
                             [](auto& c) -> auto& { return c.supervisor.workdir; }),
      MakeField<StringCodec>("gateway.endpoint",
                             [](auto& c) -> auto& { return c.gateway.endpoint; }),
      MakeField<StringCodec>("gateway.tls_ca",
                             [](auto& c) -> auto& { return c.gateway.tls_ca; }),
      MakeField<StringCodec>("gateway.tls_cert",
                             [](auto& c) -> auto& { return c.gateway.tls_cert; }),
      MakeField<StringCodec>("gateway.tls_key",
                             [](auto& c) -> auto& { return c.gateway.tls_key; }),
      MakeField<StringCodec>("gateway.admission_config_json",
                             [](auto& c) -> auto& { return c.gateway.admission_config_json; }),
      MakeField<NetworkModeCodec>("network.mode",
                                  [](auto& c) -> auto& { return c.network.mode; }),
      MakeField<StringCodec>("network.bridge",
                             [](auto& c) -> auto& { return c.network.bridge; }),
      MakeField<StringCodec>("network.subnet",
                             [](auto& c) -> auto& { return c.network.subnet; }),
      MakeField<StringCodec>("network.egress",
                             [](auto& c) -> auto& { return c.network.egress; }),
      MakeField<StringCodec>("images.skopeo_path",
                             [](auto& c) -> auto& { return c.images.skopeo_path; }),
      MakeField<StringCodec>("images.auth_file",
                             [](auto& c) -> auto& { return c.images.auth_file; }),
      MakeField<StringCodec>("images.registries_conf",
                             [](auto& c) -> auto& { return c.images.registries_conf; }),
      MakeField<StringCodec>("images.policy",
                             [](auto& c) -> auto& { return c.images.policy; }),
      MakeField<StringListCodec>(
          "images.insecure_registries",
          [](auto& c) -> auto& { return c.images.insecure_registries; }),
      MakeField<DurationCodec>("images.pull_timeout",
                               [](auto& c) -> auto& { return c.images.pull_timeout; }),
      MakeField<PullPolicyCodec>("images.pull_policy",
                                 [](auto& c) -> auto& { return c.images.pull_policy; }),
      MakeField<StringListCodec>("images.oci_roots",
                                 [](auto& c) -> auto& { return c.images.oci_roots; }),
      MakeField<CountCodec<size_t>>(
          "watch.queue_size",
          [](auto& c) -> auto& { return c.watch.queue_size; }),
      MakeField<StringCodec>("metrics.listen",
                             [](auto& c) -> auto& { return c.metrics.listen; }),
      MakeField<BoolCodec>("metrics.allow_non_loopback",
                           [](auto& c) -> auto& { return c.metrics.allow_non_loopback; }),
  };
  return *fields;
}

// "runsc.timeout" -> "runsc"; "state_dir" -> "".
absl::string_view SectionOf(absl::string_view key) {
  size_t dot = key.rfind('.');
  return dot == absl::string_view::npos ? absl::string_view() : key.substr(0, dot);
}

absl::string_view NameOf(absl::string_view key) {
  size_t dot = key.rfind('.');
  return dot == absl::string_view::npos ? key : key.substr(dot + 1);
}

const Field* FindField(absl::string_view key) {
  for (const Field& field : Fields()) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

bool IsSection(absl::string_view key) {
  for (const Field& field : Fields()) {
    if (SectionOf(field.key) == key) return true;
  }
  return false;
}

// ---- reading ---------------------------------------------------------------

absl::Status ReadMapping(const YAML::Node& node, absl::string_view prefix,
                         Config& config);

// A null value (`key:` with nothing after it) leaves the default in place.
absl::Status ReadEntry(const std::string& key, const YAML::Node& value,
                       Config& config) {
  if (const Field* field = FindField(key)) {
    return value.IsNull() ? absl::OkStatus() : field->read(value, config);
  }
  if (IsSection(key)) {
    if (value.IsNull()) return absl::OkStatus();
    if (!value.IsMap()) return KeyError(key, "must be a mapping of keys");
    return ReadMapping(value, key, config);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("config: unknown key ", QuoteForMessage(key)));
}

absl::Status ReadMapping(const YAML::Node& node, absl::string_view prefix,
                         Config& config) {
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: keys must be plain names (under '", prefix, "')"));
    }
    std::string key = prefix.empty()
                          ? entry.first.Scalar()
                          : absl::StrCat(prefix, ".", entry.first.Scalar());
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: duplicate key ", QuoteForMessage(key)));
    }
    absl::Status status = ReadEntry(key, entry.second, config);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"),
                                             &std::fclose);
  if (!file) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("config: cannot open ", QuoteForMessage(path)));
  }
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    text.append(buffer, n);
  }
  if (std::ferror(file.get())) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("config: cannot read ", QuoteForMessage(path)));
  }
  return text;
}

}  // namespace

absl::StatusOr<Config> ParseConfig(const std::string& yaml_text) {
  Config config;
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return config;  // empty file: every default
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          "config: the top level must be a mapping of keys");
    }
    absl::Status status = ReadMapping(root, "", config);
    if (!status.ok()) return status;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: not valid YAML: ", e.what()));
  }
  absl::Status status = CheckValues(config);
  if (!status.ok()) return status;
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Config> config = ParseConfig(*text);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat("config file ", QuoteForMessage(path),
                                     ": ", config.status().message()));
  }
  return config;
}

absl::Status ValidateConfig(const Config& config) {
  if (config.socket.path.empty()) {
    return KeyError("socket.path", "required (use --socket or socket.path)");
  }
  return CheckValues(config);
}

std::string RenderConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::Comment(
             "openshell-driver-gvisor: effective configuration "
             "(docs/configuration.md)")
      << YAML::Newline;
  out << YAML::BeginMap;
  absl::string_view open_section;
  for (const Field& field : Fields()) {
    absl::string_view section = SectionOf(field.key);
    if (section != open_section) {
      if (!open_section.empty()) out << YAML::EndMap;
      if (!section.empty()) {
        out << YAML::Key << std::string(section) << YAML::Value
            << YAML::BeginMap;
      }
      open_section = section;
    }
    out << YAML::Key << std::string(NameOf(field.key)) << YAML::Value;
    field.write(out, config);
  }
  if (!open_section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(
    const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  absl::string_view unit_name = absl::string_view(text).substr(digits);
  for (const DurationUnit& unit : kDurationUnits) {
    if (digits == 0 || unit_name != unit.name) continue;
    std::optional<uint64_t> count = ParseUnsigned(
        absl::string_view(text).substr(0, digits), INT64_MAX / unit.millis);
    if (!count) {
      return absl::InvalidArgumentError(
          absl::StrCat("duration ", QuoteForMessage(text), " is too large"));
    }
    if (*count == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "duration must be greater than zero (got ", QuoteForMessage(text),
          ")"));
    }
    return std::chrono::milliseconds(static_cast<int64_t>(*count) * unit.millis);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not a duration: ", QuoteForMessage(text),
                   " (use e.g. 250ms, 60s, 5m)"));
}

bool NetworkEnabled(const Config& config) {
  switch (config.network.mode) {
    case NetworkMode::kSandbox: return true;
    case NetworkMode::kNone: return false;
    case NetworkMode::kDefault: return !config.gateway.endpoint.empty();
  }
  return false;
}

}  // namespace osgv
