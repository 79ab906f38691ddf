// The environment of a sandbox's first process (gateway-contract.md §6.3).
//
// Supervisor mode (supervisor.binary set) follows upstream's four steps:
//   1. driver defaults: HOME=/root, TERM=xterm (the user may override both);
//   2. the image's Env, then template.environment, then spec.environment
//      (later wins, in place);
//   3. driver-owned keys, which overwrite whatever 1-2 produced: endpoint,
//      identity, SSH socket, main process, user environment, log level,
//      telemetry, network capabilities, OCI identity, TLS paths, token file
//      path, and PATH (forced: the supervisor resolves `ip`/`nsenter`
//      through it);
//   4. removal of keys nobody may pass to the supervisor: the raw token, the
//      TLS server-name override, and OPENSHELL_SANDBOX_TOKEN_FILE when we
//      mount no token.
//
// Direct mode (no supervisor) keeps today's merged environment
// (MergeEnvironment: image, template, spec, default PATH) and adds only the
// identity keys OPENSHELL_SANDBOX_ID and OPENSHELL_SANDBOX, so a workload can
// tell which sandbox it is in, and OPENSHELL_ENDPOINT when gateway.endpoint
// is set (not for a v0.1.x/Ryno sandbox, which cannot reach the gateway).
// Step 4's removals apply too, so these names mean the same in both modes. Nothing else of step 3 is set: there is no
// supervisor to read it.
//
// The token's value never enters the environment in any mode; only the path
// of the file that holds it does (sandbox.h, token_file.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "lifecycle/image/image_store.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

struct SandboxEnvInputs {
  const Config* config = nullptr;
  const SandboxRequest* request = nullptr;
  const ImageConfig* image = nullptr;
  bool supervisor = false;  // false = direct mode
  // A token file is mounted at kSandboxTokenPath. Taken from the file on
  // disk, not from request.spec.sandbox_token: the stored request carries no
  // token, so a re-provision after a crash must still find it.
  bool token_file = false;
  // OPENSHELL_TELEMETRY_ENABLED for the supervisor; the caller passes
  // DriverTelemetryEnabled() (tests pass a value).
  std::string telemetry_enabled = "true";
};

// "KEY=VALUE" entries, each key once: the order is first appearance, so
// config.json diffs stay readable.
absl::StatusOr<std::vector<std::string>> BuildSandboxEnvironment(const SandboxEnvInputs& in);

// {"version":1,"command":[...],"tty":false}: compact, keys in upstream's
// (serde's) order. INVALID_ARGUMENT when an argument is not UTF-8; the
// message never echoes an argument.
absl::StatusOr<std::string> MainProcessSpecJson(const std::vector<std::string>& command,
                                                bool tty);

// The user environment, template then spec (spec wins), as a compact JSON
// object; "" when both are empty. The image's Env is not part of it, as
// upstream: it is what the user asked for, reapplied to SSH children.
absl::StatusOr<std::string> UserEnvironmentJson(const SandboxSpec& spec);

// spec.log_level when set, else the driver's log.level in the supervisor's
// vocabulary (trace|debug|info|warn|error).
std::string SupervisorLogLevel(const std::string& spec_level, const std::string& driver_level);

// "false" when `value` is 0/false/no/off (any case, surrounding blanks
// ignored), else "true"; nullptr (unset) is "true". Upstream's rule.
std::string TelemetryEnabledValue(const char* value);
// TelemetryEnabledValue(getenv("OPENSHELL_TELEMETRY_ENABLED")).
std::string DriverTelemetryEnabled();

// All three of gateway.tls_ca/tls_cert/tls_key are set.
bool GatewayTlsConfigured(const GatewayConfig& gateway);

}  // namespace osgv
