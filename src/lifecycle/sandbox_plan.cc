#include "lifecycle/sandbox_plan.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "capabilities/generation_validation.h"
#include "capabilities/validation.h"
#include "lifecycle/bundle/supervisor_spec.h"

namespace osgv {
namespace {

using nlohmann::json;

// Bump when a field changes meaning; a new field with a default needs no
// bump (DecodePlan reads a missing one as its default).
constexpr int kPlanVersion = 1;

}  // namespace

absl::StatusOr<SandboxPlan> PlanSandbox(const SandboxRequest& request, const Config& config) {
  auto validated = ValidateSandboxRequest(request, config);
  if (!validated.ok()) return validated.status();
  SandboxPlan plan;
  plan.image = request.spec.tmpl.image.empty() ? config.default_image : request.spec.tmpl.image;
  plan.pull_policy = validated->driver_config.pull_policy.value_or(config.images.pull_policy);
  plan.networked = validated->networked;
  plan.memory_limit_bytes = validated->memory_limit_bytes;
  plan.cpu_limit_millis = validated->cpu_limit_millis;
  plan.pids_limit = validated->pids_limit;
  plan.policy_fence = IsDriverReadinessMode(request.spec);
  // A v0.1.x/Ryno gateway would not accept the pin-era supervisor
  // (docs/supervisor.md, "v0.1.x and Ryno gateways").
  plan.supervised = SupervisorEnabled(config) && !plan.policy_fence;
  return plan;
}

LegacyPlan PlanLegacySandbox(const absl::StatusOr<SandboxRequest>& request,
                             const std::string& image_ref, const Config& config,
                             std::optional<bool> bundle_networked) {
  LegacyPlan legacy;
  absl::StatusOr<SandboxPlan> plan = request.ok()
                                         ? PlanSandbox(*request, config)
                                         : absl::StatusOr<SandboxPlan>(request.status());
  if (plan.ok()) {
    legacy.plan = *std::move(plan);
  } else {
    legacy.status = plan.status();
    legacy.plan.image = image_ref;
    legacy.plan.pull_policy = config.images.pull_policy;
    legacy.plan.policy_fence = request.ok() && IsDriverReadinessMode(request->spec);
    legacy.plan.supervised = SupervisorEnabled(config) && !legacy.plan.policy_fence;
  }
  // The bundle says how the sandbox was made, whatever the configuration
  // says today.
  if (bundle_networked) legacy.plan.networked = *bundle_networked;
  return legacy;
}

std::string EncodePlan(const SandboxPlan& p) {
  return json{{"version", kPlanVersion},
              {"image", p.image},
              {"pull_policy", PullPolicyName(p.pull_policy)},
              {"networked", p.networked},
              {"memory_limit_bytes", p.memory_limit_bytes},
              {"cpu_limit_millis", p.cpu_limit_millis},
              {"pids_limit", p.pids_limit},
              {"policy_fence", p.policy_fence},
              {"supervised", p.supervised}}
      .dump();
}

absl::StatusOr<SandboxPlan> DecodePlan(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("stored plan is not JSON");
  try {
    const int version = j.at("version").get<int>();
    if (version != kPlanVersion) {
      return absl::DataLossError(absl::StrCat("stored plan: version ", version,
                                              " is not the version this driver writes (",
                                              kPlanVersion, ")"));
    }
    SandboxPlan p;
    p.image = j.at("image").get<std::string>();
    // Stored in the config file's spelling (PullPolicyName).
    const std::string pull = j.value("pull_policy", std::string(PullPolicyName(p.pull_policy)));
    auto policy = ParsePullPolicy(pull);
    if (!policy) return absl::DataLossError(absl::StrCat("stored plan: unknown pull_policy '", pull, "'"));
    p.pull_policy = *policy;
    p.networked = j.value("networked", false);
    p.memory_limit_bytes = j.value("memory_limit_bytes", uint64_t{0});
    p.cpu_limit_millis = j.value("cpu_limit_millis", uint64_t{0});
    p.pids_limit = j.value("pids_limit", uint64_t{0});
    p.policy_fence = j.value("policy_fence", false);
    p.supervised = j.value("supervised", false);
    return p;
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("stored plan: ", e.what()));
  }
}

}  // namespace osgv
