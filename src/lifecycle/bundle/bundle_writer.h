// The bundle writer: the only producer of a sandbox's bundle/config.json.
//
// A bundle is written once per sandbox, from its plan (sandbox_plan.h), its
// unpacked image and its network attachment: at create, or at the first
// Start of an imported sandbox (an archive's config.json is never used).
// Nothing reads it back to decide anything: what the sandbox is lives in
// its plan; runsc is the bundle's only reader.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "capabilities/config.h"
#include "lifecycle/image/image_store.h"
#include "lifecycle/network/sandbox_network.h"
#include "lifecycle/sandbox_plan.h"
#include "lifecycle/state_layout.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

struct BundleInputs {
  // The driver's own settings the plan does not hold: the supervisor
  // binary, the gateway endpoint and TLS files, log level.
  const Config* config = nullptr;
  const SandboxPlan* plan = nullptr;
  const SandboxRequest* request = nullptr;  // its env, command, labels, mounts
  const PreparedImage* image = nullptr;
  // Set exactly when plan->networked: the netns and the generated
  // /etc/hosts and /etc/resolv.conf.
  const NetworkAttachment* net = nullptr;
  std::string runsc_id;
  SandboxPaths paths;
  // OPENSHELL_TELEMETRY_ENABLED for a supervisor (DriverTelemetryEnabled()
  // unless a test says otherwise).
  std::string telemetry_enabled;
};

// Lays out the sandbox dir (MakeSandboxDirs, plus upper/ owned like the
// image's root) and writes bundle/config.json. FAILED_PRECONDITION for a
// configuration or an image that cannot run the plan (a missing supervisor
// file, an image without the supervisor's tools or the selected user);
// INVALID_ARGUMENT for a request the spec refuses. Nothing is written then.
absl::Status WriteBundle(const BundleInputs& in);

// The directories of a bundle, with the modes runsc's unprivileged helpers
// need (bundle 0711, rootfs 0755) and work/ private (0700); an import makes
// them for a bundle that is written at its first Start.
absl::Status MakeSandboxDirs(const SandboxPaths& paths);

// For records from before plans (schema 1) only: whether the bundle at
// `config_json` names a netns. nullopt when there is no bundle (an
// imported sandbox never started) or it is not a JSON object.
std::optional<bool> LegacyBundleNetworked(const std::string& config_json);

}  // namespace osgv
