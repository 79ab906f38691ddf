// What a sandbox is, decided once: the validated request read against the
// driver's configuration at Create (or at import, on the importing host).
//
// The plan is stored with the record (SandboxRecord::plan_json) and is the
// only answer to "is this sandbox networked, what are its limits, does a
// supervisor run in it" for the rest of its life: Start, restore, recovery
// and the exit handler read it, never the configuration of the day nor the
// bundle written from it. A driver restarted with another network.mode or
// other default limits so keeps running its sandboxes as they were made.
//
// Not in the plan: what depends on the image (its user, env, entrypoint;
// the bundle writer reads those from the unpacked image) and the driver's
// own settings that are not a sandbox's choice (gateway endpoint, TLS
// files, supervisor binary), which the bundle writer takes from the config
// when it writes the bundle (at create, or at the first Start of an
// imported sandbox).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "capabilities/config.h"
#include "capabilities/pull_policy.h"
#include "openshell_gvisor/sandbox.h"

namespace osgv {

struct SandboxPlan {
  // The image reference it runs: the request's, else the driver's
  // default_image.
  std::string image;
  // The request's driver_config.pull_policy, else images.pull_policy.
  PullPolicy pull_policy = PullPolicy::kIfNotPresent;
  // Its own netns on the driver's bridge (network.mode sandbox, not
  // refused by driver_config.network_mode); false = loopback only.
  bool networked = false;
  uint64_t memory_limit_bytes = 0;  // 0 = none
  uint64_t cpu_limit_millis = 0;    // 0 = none
  uint64_t pids_limit = 0;          // 0 = none
  // A v0.1.x/Ryno sandbox (IsDriverReadinessMode): the driver reports it
  // ready, no supervisor and no token, egress behind its policy fence.
  bool policy_fence = false;
  // The pin-era supervisor is its first process (supervisor.binary set,
  // and not a policy-fence sandbox).
  bool supervised = false;

  friend bool operator==(const SandboxPlan&, const SandboxPlan&) = default;
};

// Validates `request` (ValidateSandboxRequest, the one call per create)
// and decides its plan. The errors are ValidateSandboxRequest's.
absl::StatusOr<SandboxPlan> PlanSandbox(const SandboxRequest& request, const Config& config);

// A record written before plans existed: its plan as the driver used to
// re-derive it at every use, from its stored `request` (or the error that
// decoding it gave), `image_ref` and today's configuration.
// `bundle_networked` is whether the sandbox's bundle names a netns
// (nullopt: there is no bundle yet, an imported sandbox never started); it
// wins over the configuration, as it did.
struct LegacyPlan {
  SandboxPlan plan;
  // Not OK when the request no longer validates (or decodes): `plan` then
  // has only what needs no validation (image, network per the bundle, no
  // limits), enough to restore an existing bundle, never to write one.
  absl::Status status;
};
LegacyPlan PlanLegacySandbox(const absl::StatusOr<SandboxRequest>& request,
                             const std::string& image_ref, const Config& config,
                             std::optional<bool> bundle_networked);

// The stored form: a JSON object with a "version". DATA_LOSS when the text
// is not one this driver wrote.
std::string EncodePlan(const SandboxPlan& plan);
absl::StatusOr<SandboxPlan> DecodePlan(const std::string& json);

}  // namespace osgv
