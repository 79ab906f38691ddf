#include "lifecycle/bundle/sandbox_env.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "capabilities/generation_validation.h"
#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/bundle/reserved_paths.h"

namespace osgv {
namespace {

// Names from upstream crates/openshell-core/src/sandbox_env.rs.
constexpr char kEndpoint[] = "OPENSHELL_ENDPOINT";
constexpr char kSandboxId[] = "OPENSHELL_SANDBOX_ID";
constexpr char kSandboxName[] = "OPENSHELL_SANDBOX";
constexpr char kSshSocket[] = "OPENSHELL_SSH_SOCKET_PATH";
constexpr char kMainProcess[] = "OPENSHELL_MAIN_PROCESS_SPEC";
constexpr char kUserEnvironment[] = "OPENSHELL_USER_ENVIRONMENT";
constexpr char kLogLevel[] = "OPENSHELL_LOG_LEVEL";
constexpr char kTelemetry[] = "OPENSHELL_TELEMETRY_ENABLED";
constexpr char kNetworkCapabilities[] = "OPENSHELL_NETWORK_RUNTIME_CAPABILITIES";
constexpr char kOciImageUser[] = "OPENSHELL_OCI_IMAGE_USER";
constexpr char kSandboxUid[] = "OPENSHELL_SANDBOX_UID";
constexpr char kSandboxGid[] = "OPENSHELL_SANDBOX_GID";
constexpr char kTlsCa[] = "OPENSHELL_TLS_CA";
constexpr char kTlsCert[] = "OPENSHELL_TLS_CERT";
constexpr char kTlsKey[] = "OPENSHELL_TLS_KEY";
constexpr char kTokenFile[] = "OPENSHELL_SANDBOX_TOKEN_FILE";
constexpr char kToken[] = "OPENSHELL_SANDBOX_TOKEN";
constexpr char kTlsServerName[] = "OPENSHELL_GATEWAY_TLS_SERVER_NAME";

constexpr char kSupervisorPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// An ordered KEY=VALUE list: a replaced key keeps its first position.
class EnvList {
 public:
  explicit EnvList(std::vector<std::string> entries = {}) : entries_(std::move(entries)) {}

  void Set(const std::string& key, const std::string& value) {
    for (auto& kv : entries_) {
      if (HasKey(kv, key)) {
        kv = absl::StrCat(key, "=", value);
        return;
      }
    }
    entries_.push_back(absl::StrCat(key, "=", value));
  }
  void SetFromEntry(const std::string& kv) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) return;  // malformed image entry: skip, as MergeEnvironment
    Set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  void Erase(const std::string& key) {
    std::erase_if(entries_, [&](const std::string& kv) { return HasKey(kv, key); });
  }
  std::vector<std::string> Take() && { return std::move(entries_); }

 private:
  static bool HasKey(const std::string& kv, const std::string& key) {
    return kv.size() > key.size() && kv[key.size()] == '=' && kv.compare(0, key.size(), key) == 0;
  }
  std::vector<std::string> entries_;
};

// nlohmann throws on invalid UTF-8; an argument or value is never echoed.
absl::StatusOr<std::string> Dump(const nlohmann::ordered_json& value, const std::string& what) {
  try {
    return value.dump();
  } catch (const nlohmann::json::type_error&) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not valid UTF-8"));
  }
}

// Step 4: keys nobody may hand the supervisor. The raw token would bypass
// the file we control; a TLS server-name override would let a sandbox user
// who can redirect the gateway's name present a certificate for a name they
// own and collect the JWT; a token-file path with no token of ours would
// point the supervisor at a file the user chose.
void RemoveForbidden(EnvList& env, bool token_file) {
  env.Erase(kToken);
  env.Erase(kTlsServerName);
  if (!token_file) env.Erase(kTokenFile);
}

absl::StatusOr<std::vector<std::string>> DirectEnvironment(const SandboxEnvInputs& in) {
  const SandboxSpec& spec = in.request->spec;
  EnvList env(MergeEnvironment(in.image->env, spec.tmpl.environment, spec.environment));
  env.Set(kSandboxId, in.request->id);
  env.Set(kSandboxName, in.request->name);
  // Where the gateway is, for a workload that talks to it itself; not for a
  // v0.1.x/Ryno sandbox, whose policy fence keeps the gateway port closed.
  if (!in.config->gateway.endpoint.empty() && !IsDriverReadinessMode(spec)) {
    env.Set(kEndpoint, in.config->gateway.endpoint);
  }
  RemoveForbidden(env, /*token_file=*/false);  // nothing reads a token in direct mode
  return std::move(env).Take();
}

absl::StatusOr<std::vector<std::string>> SupervisorEnvironment(const SandboxEnvInputs& in) {
  const Config& config = *in.config;
  const SandboxRequest& req = *in.request;
  const SandboxSpec& spec = req.spec;

  auto command = MainProcessArgs(req, *in.image);
  if (!command.ok()) return command.status();
  auto main_process = MainProcessSpecJson(*command, spec.tty);
  if (!main_process.ok()) return main_process.status();
  auto user_env = UserEnvironmentJson(spec);
  if (!user_env.ok()) return user_env.status();

  EnvList env;
  // 1. Defaults the user may override. PATH is here only to keep its
  //    position; step 3 forces it.
  env.Set("HOME", "/root");
  env.Set("TERM", "xterm");
  env.Set("PATH", kSupervisorPath);

  // 2. Image Env, template, spec.
  for (const auto& kv : in.image->env) env.SetFromEntry(kv);
  for (const auto& [k, v] : spec.tmpl.environment) env.Set(k, v);
  for (const auto& [k, v] : spec.environment) env.Set(k, v);

  // 3. Driver-owned keys.
  env.Set(kEndpoint, config.gateway.endpoint);
  env.Set(kSandboxId, req.id);
  env.Set(kSandboxName, req.name);
  env.Set(kSshSocket, kSshSocketPath);
  env.Set(kMainProcess, *main_process);
  if (user_env->empty()) {
    env.Erase(kUserEnvironment);  // an image cannot plant one either
  } else {
    env.Set(kUserEnvironment, *user_env);
  }
  env.Set(kLogLevel, SupervisorLogLevel(spec.log_level, config.log.level));
  env.Set(kTelemetry, in.telemetry_enabled);
  // Empty: we do not advertise policy-dns-transparent-tcp, because nft is
  // unavailable inside gVisor (EPROTONOSUPPORT, sandbox-environment.md), so
  // the nft-based capture it promises cannot be guaranteed.
  env.Set(kNetworkCapabilities, "");
  env.Set(kOciImageUser, in.image->user);
  // Cleared as Docker and Podman do: identity comes from the image's USER
  // (OPENSHELL_OCI_IMAGE_USER) or the policy, never from the user's env.
  env.Set(kSandboxUid, "");
  env.Set(kSandboxGid, "");
  env.Set("PATH", kSupervisorPath);
  if (GatewayTlsConfigured(config.gateway)) {
    env.Set(kTlsCa, kTlsCaPath);
    env.Set(kTlsCert, kTlsCertPath);
    env.Set(kTlsKey, kTlsKeyPath);
  } else {
    // Driver-owned even when unused: the user must not pick the CA the
    // supervisor trusts.
    env.Erase(kTlsCa);
    env.Erase(kTlsCert);
    env.Erase(kTlsKey);
  }
  if (in.token_file) env.Set(kTokenFile, kSandboxTokenPath);

  // 4. Removals.
  RemoveForbidden(env, in.token_file);
  return std::move(env).Take();
}

}  // namespace

absl::StatusOr<std::string> MainProcessSpecJson(const std::vector<std::string>& command,
                                                bool tty) {
  nlohmann::ordered_json spec;
  spec["version"] = 1;
  spec["command"] = command;
  spec["tty"] = tty;
  return Dump(spec, "sandbox.spec.command");
}

absl::StatusOr<std::string> UserEnvironmentJson(const SandboxSpec& spec) {
  std::map<std::string, std::string> merged = spec.tmpl.environment;
  for (const auto& [k, v] : spec.environment) merged[k] = v;
  if (merged.empty()) return std::string();
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (const auto& [k, v] : merged) object[k] = v;  // std::map: sorted by key
  return Dump(object, "sandbox.spec.environment");
}

std::string SupervisorLogLevel(const std::string& spec_level, const std::string& driver_level) {
  if (!spec_level.empty()) return spec_level;  // validated: trace..error
  // Our critical and off have no supervisor equivalent. Both map to error
  // rather than silencing the supervisor: its log is the only account of
  // why a sandbox failed to start.
  if (driver_level == "critical" || driver_level == "off") return "error";
  if (driver_level.empty()) return "info";
  return driver_level;
}

std::string TelemetryEnabledValue(const char* value) {
  if (value == nullptr) return "true";
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  return (v == "0" || v == "false" || v == "no" || v == "off") ? "false" : "true";
}

std::string DriverTelemetryEnabled() {
  return TelemetryEnabledValue(std::getenv("OPENSHELL_TELEMETRY_ENABLED"));
}

bool GatewayTlsConfigured(const GatewayConfig& gateway) {
  return !gateway.tls_ca.empty() && !gateway.tls_cert.empty() && !gateway.tls_key.empty();
}

absl::StatusOr<std::vector<std::string>> BuildSandboxEnvironment(const SandboxEnvInputs& in) {
  return in.supervisor ? SupervisorEnvironment(in) : DirectEnvironment(in);
}

}  // namespace osgv
