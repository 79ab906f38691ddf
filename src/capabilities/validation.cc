// The one validator shared by ValidateSandboxCreate and CreateSandbox.
//
// Malformed input is INVALID_ARGUMENT; a well-formed request asking for
// something this driver cannot do (GPUs, platform_config, ...) is
// FAILED_PRECONDITION, as the upstream Docker and Podman drivers answer.
// Messages quote user values escaped and bounded (QuoteForMessage), and never
// echo environment values, command arguments or spec.sandbox_token, which
// may hold secrets.
#include "capabilities/validation.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "capabilities/generation_validation.h"
#include "capabilities/image_reference.h"
#include "capabilities/name_rules.h"
#include "capabilities/quantity.h"
#include "nlohmann/json.hpp"

namespace osgv {
namespace {

constexpr absl::string_view kSpec = "sandbox.spec";
constexpr absl::string_view kTemplate = "sandbox.spec.template";
constexpr absl::string_view kResources = "sandbox.spec.template.resources";
constexpr absl::string_view kPlatformConfig = "sandbox.spec.template.platform_config";
constexpr absl::string_view kDriverConfig = "sandbox.spec.template.driver_config";

// What execve accepts, in Linux and in gVisor's sentry alike: each argument
// and each "KEY=value" at most MAX_ARG_STRLEN (32 pages, NUL included), and
// all of them together within ARG_MAX (2 MiB), which the variables the
// driver and the supervisor add share. A request past these would be
// accepted, recorded, and then fail at boot; a count limit keeps a request
// of tiny variables from bloating the record instead.
constexpr size_t kMaxExecString = 128 * 1024 - 1;
constexpr size_t kMaxExecTotal = 1024 * 1024;
constexpr size_t kMaxEnvEntries = 4096;

absl::Status Invalid(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

absl::Status Unsupported(absl::string_view path, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(path, ": ", why));
}

// Prefixes a status from a shared parser (quantities) with the field path.
absl::Status WithPath(absl::string_view path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

std::string Got(absl::string_view value) {
  return absl::StrCat(" (got ", QuoteForMessage(value), ")");
}

// A JSON value from the request for a message: compact, ASCII only, cut
// after 64 bytes, like QuoteForMessage (a 1 MiB value must not become a
// 1 MiB status message or log line).
std::string JsonForMessage(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', /*ensure_ascii=*/true,
                                nlohmann::json::error_handler_t::replace);
  text = absl::StrReplaceAll(text, {{"\x7f", "\\u007f"}});
  constexpr size_t kMaxShown = 64;
  if (text.size() <= kMaxShown) return text;
  return absl::StrCat(text.substr(0, kMaxShown), "... (", text.size(),
                      " bytes)");
}

// `map["key"]`, with the user's key escaped and bounded.
std::string EntryPath(absl::string_view map_path, absl::string_view key) {
  return absl::StrCat(map_path, "[", QuoteForMessage(key, '"'), "]");
}

bool HasNul(absl::string_view text) {
  return text.find('\0') != absl::string_view::npos;
}

// ---- identity --------------------------------------------------------------

// The id names directories and runsc containers, so it must not be "..",
// start with '-' (an option to runsc) or hold a '/'.
absl::Status CheckId(const std::string& id) {
  if (id.empty()) return Invalid("sandbox.id", "required");
  if (IsSandboxId(id)) return absl::OkStatus();
  return Invalid("sandbox.id",
                 absl::StrCat("must be at most ", kMaxIdLength,
                              " characters of A-Z, a-z, "
                              "0-9, '.', '_' and '-', starting with a letter "
                              "or digit",
                              Got(id)));
}

constexpr absl::string_view kDns1123Rule =
    "a DNS-1123 label: 1 to 63 characters of a-z, 0-9 and '-', starting and "
    "ending with a letter or digit";

absl::Status CheckName(const std::string& name) {
  if (name.empty()) return Invalid("sandbox.name", "required");
  if (IsDns1123Label(name)) return absl::OkStatus();
  return Invalid("sandbox.name", absl::StrCat("must be ", kDns1123Rule, Got(name)));
}

absl::Status CheckOptionalLabel(absl::string_view path, const std::string& value) {
  if (value.empty() || IsDns1123Label(value)) return absl::OkStatus();
  return Invalid(path,
                 absl::StrCat("must be empty or ", kDns1123Rule, Got(value)));
}

// ---- spec and template fields ----------------------------------------------

absl::Status CheckEnvironment(absl::string_view map_path,
                              const std::map<std::string, std::string>& env) {
  if (env.size() > kMaxEnvEntries) {
    return Invalid(map_path, absl::StrCat(env.size(), " variables; at most ",
                                          kMaxEnvEntries));
  }
  for (const auto& [key, value] : env) {
    if (!IsPosixEnvName(key)) {
      return Invalid(EntryPath(map_path, key),
                     "not a valid variable name (use A-Z, a-z, 0-9 and '_', "
                     "not starting with a digit)");
    }
    if (HasNul(value)) {
      return Invalid(EntryPath(map_path, key), "value contains a NUL byte");
    }
    if (key.size() + 1 + value.size() > kMaxExecString) {
      return Invalid(EntryPath(map_path, key),
                     absl::StrCat("KEY=value is ", key.size() + 1 + value.size(),
                                  " bytes; at most ", kMaxExecString,
                                  " (execve's limit for one string)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLabels(const std::map<std::string, std::string>& labels) {
  const std::string map_path = absl::StrCat(kTemplate, ".labels");
  for (const auto& [key, value] : labels) {
    absl::Status status = ValidateLabelKey(key);
    if (status.ok()) status = ValidateLabelValue(value);
    if (!status.ok()) return WithPath(EntryPath(map_path, key), status);
  }
  return absl::OkStatus();
}

// Arguments are not echoed: they may carry credentials.
absl::Status CheckCommand(const std::vector<std::string>& command) {
  for (size_t i = 0; i < command.size(); ++i) {
    std::string path = absl::StrCat(kSpec, ".command[", i, "]");
    if (HasNul(command[i])) return Invalid(path, "contains a NUL byte");
    if (i == 0 && command[i].empty()) {
      return Invalid(path, "the program must not be empty");
    }
    if (command[i].size() > kMaxExecString) {
      return Invalid(path, absl::StrCat(command[i].size(), " bytes; at most ",
                                        kMaxExecString,
                                        " (execve's limit for one string)"));
    }
  }
  return absl::OkStatus();
}

// All variables and arguments together, as execve counts them.
absl::Status CheckExecTotal(const SandboxSpec& spec) {
  size_t total = 0;
  for (const auto* env : {&spec.environment, &spec.tmpl.environment}) {
    for (const auto& [key, value] : *env) total += key.size() + value.size() + 2;
  }
  for (const std::string& arg : spec.command) total += arg.size() + 1;
  if (total <= kMaxExecTotal) return absl::OkStatus();
  return Invalid(kSpec, absl::StrCat("environment and command take ", total,
                                     " bytes; at most ", kMaxExecTotal,
                                     " (half of execve's limit, the rest is "
                                     "for the driver's own variables)"));
}

absl::Status CheckLogLevel(const std::string& level) {
  constexpr absl::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (level.empty()) return absl::OkStatus();
  for (absl::string_view known : kLevels) {
    if (level == known) return absl::OkStatus();
  }
  return Invalid(absl::StrCat(kSpec, ".log_level"),
                 absl::StrCat("must be empty or one of ",
                              absl::StrJoin(kLevels, ", "), Got(level)));
}

// A malformed reference is refused here, before anything is created;
// whether it exists is only known when it is pulled.
absl::Status CheckImage(const std::string& image, const Config& config) {
  const std::string path = absl::StrCat(kTemplate, ".image");
  const bool defaulted = image.empty();
  const std::string& effective = defaulted ? config.default_image : image;
  if (effective.empty()) {
    return Unsupported(path,
                       "empty and the driver has no default_image configured");
  }
  for (char c : effective) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') {
      return Invalid(path, absl::StrCat(
                               "must not contain whitespace or control "
                               "characters",
                               defaulted ? " (from default_image)" : "",
                               Got(effective)));
    }
  }
  absl::StatusOr<ImageReference> ref = ParseImageReference(effective);
  if (!ref.ok()) {
    return Invalid(path, absl::StrCat(ref.status().message(),
                                      defaulted ? " (from default_image)" : ""));
  }
  // Only the lexical rule here (validation does no I/O); the image store
  // checks what the path resolves to when it opens the layout.
  if (!ref->is_registry()) {
    absl::Status allowed = CheckOciLayoutDir(ref->layout_dir, OciLayoutPolicyFor(config));
    if (!allowed.ok()) return WithPath(path, allowed);
  }
  return absl::OkStatus();
}

// ---- resources -------------------------------------------------------------

using QuantityParser = absl::StatusOr<uint64_t> (*)(const std::string&);

// "" = unset = 0; otherwise parsed and > 0.
absl::StatusOr<uint64_t> ParseOptionalQuantity(absl::string_view path,
                                               const std::string& text,
                                               QuantityParser parse) {
  if (text.empty()) return 0;
  absl::StatusOr<uint64_t> value = parse(text);
  if (!value.ok()) return WithPath(path, value.status());
  return *value;
}

// Checks one resource's request and limit ("cpu" or "memory") and returns the
// limit (0 = unset). Requests are checked but not enforced: a gVisor sandbox
// has no scheduler to reserve capacity against.
absl::StatusOr<uint64_t> CheckResource(absl::string_view resource,
                                       const std::string& request,
                                       const std::string& limit,
                                       QuantityParser parse) {
  const std::string request_path =
      absl::StrCat(kResources, ".", resource, "_request");
  const std::string limit_path =
      absl::StrCat(kResources, ".", resource, "_limit");
  absl::StatusOr<uint64_t> limit_value =
      ParseOptionalQuantity(limit_path, limit, parse);
  if (!limit_value.ok()) return limit_value.status();
  absl::StatusOr<uint64_t> request_value =
      ParseOptionalQuantity(request_path, request, parse);
  if (!request_value.ok()) return request_value.status();
  if (*limit_value != 0 && *request_value > *limit_value) {
    // Both parsed as quantities, so they are plain text and safe to echo.
    return Invalid(request_path, absl::StrCat(request, " exceeds ", resource,
                                              "_limit ", limit));
  }
  return *limit_value;
}

struct Limits {
  uint64_t cpu_millis = 0;
  uint64_t memory_bytes = 0;
};

absl::StatusOr<Limits> CheckResources(
    const std::optional<ResourceRequirements>& resources) {
  Limits limits;
  if (!resources) return limits;
  absl::StatusOr<uint64_t> cpu =
      CheckResource("cpu", resources->cpu_request, resources->cpu_limit,
                    ParseCpuMillis);
  if (!cpu.ok()) return cpu.status();
  absl::StatusOr<uint64_t> memory =
      CheckResource("memory", resources->memory_request,
                    resources->memory_limit, ParseMemoryBytes);
  if (!memory.ok()) return memory.status();
  limits.cpu_millis = *cpu;
  limits.memory_bytes = *memory;
  return limits;
}

// ---- JSON options ----------------------------------------------------------

// "" = unset. Struct fields arrive as JSON object text.
absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view path,
                                               const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json value = nlohmann::json::parse(text, nullptr,
                                               /*allow_exceptions=*/false);
  if (value.is_discarded()) return Invalid(path, "not valid JSON");
  if (!value.is_object()) {
    return Invalid(path, absl::StrCat("must be a JSON object (got ",
                                      value.type_name(), ")"));
  }
  return value;
}

// `parent.key`, or `parent["key"]` for a key that is not a plain name.
std::string KeyPath(absl::string_view parent, const std::string& key) {
  bool plain = !key.empty() && key.size() <= 64;
  for (char c : key) plain = plain && (IsAsciiAlnum(c) || c == '_');
  return plain ? absl::StrCat(parent, ".", key) : EntryPath(parent, key);
}

// google.protobuf.Struct carries every number as a double, so 2048.0 is an
// integer here too.
absl::StatusOr<uint64_t> JsonPidsLimit(absl::string_view path,
                                       const nlohmann::json& value) {
  const std::string rule = absl::StrCat(
      "must be 0 (the driver default) or an integer between ", kMinPidsLimit,
      " and ", kMaxPidsLimit,
      "; runsc counts host threads, about 31 for an idle sandbox");
  if (!value.is_number()) {
    return Invalid(path, absl::StrCat(rule, " (got ", value.type_name(), ")"));
  }
  const double number = value.get<double>();
  const bool in_range =
      number == 0 || (number >= kMinPidsLimit && number <= kMaxPidsLimit);
  if (!in_range || std::trunc(number) != number) {
    return Invalid(path, absl::StrCat(rule, " (got ", JsonForMessage(value), ")"));
  }
  return static_cast<uint64_t>(number);
}

// Our driver_config schema; docs/configuration.md documents each key.
struct DriverConfigKey {
  absl::string_view name;
  absl::Status (*apply)(absl::string_view path, const nlohmann::json& value,
                        DriverConfigOptions& options);
};

constexpr DriverConfigKey kDriverConfigKeys[] = {
    {"pids_limit",
     [](absl::string_view path, const nlohmann::json& value,
        DriverConfigOptions& options) {
       absl::StatusOr<uint64_t> pids = JsonPidsLimit(path, value);
       if (!pids.ok()) return pids.status();
       options.pids_limit = *pids;
       return absl::OkStatus();
     }},
    {"network_mode",
     [](absl::string_view path, const nlohmann::json& value,
        DriverConfigOptions& options) {
       std::optional<NetworkMode> mode;
       if (value.is_string()) mode = ParseNetworkMode(value.get<std::string>());
       if (!mode || *mode == NetworkMode::kDefault) {
         return Invalid(path, absl::StrCat("must be \"none\" or \"sandbox\" (got ",
                                           JsonForMessage(value), ")"));
       }
       options.network_mode = *mode;
       return absl::OkStatus();
     }},
    {"pull_policy",
     [](absl::string_view path, const nlohmann::json& value,
        DriverConfigOptions& options) {
       std::optional<PullPolicy> policy;
       if (value.is_string()) policy = ParsePullPolicy(value.get<std::string>());
       if (!policy) {
         return Invalid(path, absl::StrCat("must be \"if-not-present\", \"always\" or "
                                           "\"never\" (got ", JsonForMessage(value), ")"));
       }
       options.pull_policy = *policy;
       return absl::OkStatus();
     }},
};

const DriverConfigKey* FindDriverConfigKey(const std::string& name) {
  for (const DriverConfigKey& key : kDriverConfigKeys) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

std::string KnownDriverConfigKeys() {
  return absl::StrJoin(kDriverConfigKeys, ", ",
                       [](std::string* out, const DriverConfigKey& key) {
                         absl::StrAppend(out, key.name);
                       });
}

absl::Status CheckUnsupportedFeatures(const SandboxSpec& spec) {
  if (spec.gpu_requested) {
    return Unsupported(absl::StrCat(kSpec, ".resource_requirements.gpu"),
                       "GPUs are not supported by the gvisor driver");
  }
  if (!spec.tmpl.agent_socket_path.empty()) {
    return Unsupported(absl::StrCat(kTemplate, ".agent_socket_path"),
                       absl::StrCat("not supported by the gvisor driver",
                                    Got(spec.tmpl.agent_socket_path)));
  }
  // The gateway fills platform_config for Kubernetes (runtime class,
  // annotations, host_users, raw resources); silently ignoring it would
  // drop what the user asked for.
  absl::StatusOr<nlohmann::json> platform =
      ParseJsonObject(kPlatformConfig, spec.tmpl.platform_config_json);
  if (!platform.ok()) return platform.status();
  if (!platform->empty()) {
    // Named, escaped and cut short: at most kMaxKeysShown keys of at most
    // 64 bytes each, whatever the request holds.
    constexpr size_t kMaxKeysShown = 8;
    std::vector<std::string> keys;
    for (const auto& item : platform->items()) {
      if (keys.size() == kMaxKeysShown) break;
      const std::string& key = item.key();
      keys.push_back(key.size() <= 64
                         ? absl::CEscape(key)
                         : absl::StrCat(absl::CEscape(key.substr(0, 64)), "..."));
    }
    const std::string more =
        platform->size() > keys.size()
            ? absl::StrCat(" and ", platform->size() - keys.size(), " more")
            : "";
    return Unsupported(kPlatformConfig,
                       absl::StrCat("not supported by the gvisor driver (got "
                                    "keys: ",
                                    absl::StrJoin(keys, ", "), more, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

OciLayoutPolicy OciLayoutPolicyFor(const Config& config) {
  OciLayoutPolicy policy;
  policy.roots = config.images.oci_roots;
  absl::StatusOr<ImageReference> fallback = ParseImageReference(config.default_image);
  if (fallback.ok() && !fallback->is_registry()) policy.roots.push_back(fallback->layout_dir);
  policy.forbidden.push_back(config.state_dir);
  if (!config.checkpoint_dir.empty()) policy.forbidden.push_back(config.checkpoint_dir);
  return policy;
}

absl::StatusOr<DriverConfigOptions> ParseDriverConfig(const std::string& json) {
  absl::StatusOr<nlohmann::json> object = ParseJsonObject(kDriverConfig, json);
  if (!object.ok()) return object.status();
  DriverConfigOptions options;
  for (const auto& item : object->items()) {
    const std::string path = KeyPath(kDriverConfig, item.key());
    const DriverConfigKey* key = FindDriverConfigKey(item.key());
    if (key == nullptr) {
      return Invalid(path, absl::StrCat("unknown key (known: ",
                                        KnownDriverConfigKeys(), ")"));
    }
    absl::Status status = key->apply(path, item.value(), options);
    if (!status.ok()) return status;
  }
  return options;
}

absl::StatusOr<ValidatedSandbox> ValidateSandboxRequest(
    const SandboxRequest& request, const Config& config) {
  const SandboxSpec& spec = request.spec;
  for (const absl::Status& status : {
           CheckId(request.id),
           CheckName(request.name),
           CheckOptionalLabel("sandbox.workspace", request.workspace),
           CheckOptionalLabel("sandbox.namespace", request.namespace_name),
           CheckEnvironment(absl::StrCat(kSpec, ".environment"),
                            spec.environment),
           CheckEnvironment(absl::StrCat(kTemplate, ".environment"),
                            spec.tmpl.environment),
           CheckLabels(spec.tmpl.labels),
           CheckCommand(spec.command),
           CheckExecTotal(spec),
           CheckLogLevel(spec.log_level),
       }) {
    if (!status.ok()) return status;
  }
  absl::StatusOr<Limits> limits = CheckResources(spec.tmpl.resources);
  if (!limits.ok()) return limits.status();
  absl::StatusOr<DriverConfigOptions> options =
      ParseDriverConfig(spec.tmpl.driver_config_json);
  if (!options.ok()) return options.status();
  // Malformed input first (INVALID_ARGUMENT), then what we cannot serve.
  for (const absl::Status& status : {
           CheckImage(spec.tmpl.image, config),
           CheckUnsupportedFeatures(spec),
           CheckGenerationRequest(spec),  // the v0.1.x/Ryno mode's own rules
       }) {
    if (!status.ok()) return status;
  }

  ValidatedSandbox result;
  result.memory_limit_bytes = limits->memory_bytes != 0
                                  ? limits->memory_bytes
                                  : config.sandbox.memory_limit_bytes;
  result.cpu_limit_millis = limits->cpu_millis != 0
                                ? limits->cpu_millis
                                : config.sandbox.cpu_limit_millis;
  result.pids_limit = options->pids_limit.value_or(0) != 0
                          ? *options->pids_limit
                          : config.sandbox.pids_limit;
  // A sandbox may give up the network, never ask for one the driver was
  // not configured to build.
  result.networked = NetworkEnabled(config) &&
                     options->network_mode.value_or(NetworkMode::kSandbox) == NetworkMode::kSandbox;
  if (options->network_mode == NetworkMode::kSandbox && !NetworkEnabled(config)) {
    return Unsupported(absl::StrCat(kDriverConfig, ".network_mode"),
                       "this driver runs with network.mode none; sandboxes have loopback only");
  }
  result.driver_config = *options;
  return result;
}

}  // namespace osgv
