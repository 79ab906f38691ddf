// SandboxHost: one sandbox's network (docs/network.md, "Lifecycle"). The
// network itself lives behind SandboxNetwork; this decides which part of
// it a boot needs, and puts a v0.1.x/Ryno sandbox behind its policy fence.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "lifecycle/network/policy_fence.h"
#include "lifecycle/sandbox_host.h"

namespace osgv {

absl::StatusOr<std::optional<NetworkAttachment>> SandboxHost::ConnectNetwork(
    const SandboxRequest& request, const Notice& notice) const {
  if (!plan_->networked) return std::optional<NetworkAttachment>();
  SandboxNetwork* network = seams_->network;
  if (network == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox '", id_, "' was created with network.mode sandbox, but this driver "
        "runs with network.mode none; start it under the configuration that created it"));
  }
  // An imported sandbox has no allocation on this host yet: it gets a new
  // address (its connections did not survive the move anyway).
  auto attached = network->IsOurs(runsc_id_) ? network->PrepareRestore(runsc_id_)
                                             : network->Setup(runsc_id_, name_);
  if (!attached.ok()) {
    return absl::Status(attached.status().code(),
                        absl::StrCat("sandbox network: ", attached.status().message()));
  }
  if (plan_->policy_fence) {
    if (auto st = ApplyPolicyFence(request, notice); !st.ok()) return st;
  }
  return std::optional<NetworkAttachment>(*std::move(attached));
}

absl::Status SandboxHost::ApplyPolicyFence(const SandboxRequest& request,
                                           const Notice& notice) const {
  static SystemHostResolver system_resolver;
  HostResolver& resolver = seams_->resolver != nullptr ? *seams_->resolver : system_resolver;
  const SandboxNetworkPolicy& policy = request.spec.policy;
  std::map<std::string, std::vector<std::string>> resolved;
  const std::vector<std::string> names = PolicyHostNames(policy);
  if (!names.empty()) {
    // A name that does not resolve now allows nothing until the next Start;
    // the rest of the fence still goes up (failing the boot would not make
    // the resolver answer).
    for (auto& [name, addresses] : resolver.Resolve(names, kPolicyLookupTimeout)) {
      if (addresses.ok()) {
        resolved[name] = *std::move(addresses);
        continue;
      }
      std::string message = absl::StrCat("policy host ", name, " is not reachable until the "
                                         "sandbox's next Start: ", addresses.status().message());
      spdlog::warn("sandbox {}: {}", id_, message);
      if (notice) notice("PolicyHostUnresolved", message);
    }
  }
  NetworkFence fence = BuildNetworkFence(policy, resolved);
  if (auto st = seams_->network->ApplyFence(runsc_id_, name_, fence); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("sandbox network: policy fence: ", st.message()));
  }
  spdlog::info("sandbox {}: policy fence up: {} rule(s), {} name(s) in /etc/hosts", id_,
               fence.rules.size(), fence.hosts.size());
  return absl::OkStatus();
}

void SandboxHost::DisconnectNetwork() const {
  SandboxNetwork* network = seams_->network;
  if (network == nullptr || !network->IsOurs(runsc_id_)) return;
  // A leftover is retried by the next start-up's orphan sweep, so a failure
  // here never blocks a delete.
  if (auto st = network->Teardown(runsc_id_); !st.ok()) {
    spdlog::warn("sandbox {}: network teardown: {}", runsc_id_, st.ToString());
  }
}

}  // namespace osgv
