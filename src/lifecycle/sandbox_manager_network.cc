// SandboxManager: where a sandbox's lifecycle meets its network
// (docs/network.md, "Lifecycle"). The network itself lives behind
// SandboxNetwork; this file only decides when to call which part of it.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "lifecycle/network/policy_fence.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {

absl::StatusOr<std::optional<NetworkAttachment>> SandboxManager::ConnectNetwork(
    const EntryPtr& e, const SandboxRequest& request) {
  if (!e->plan.networked) return std::optional<NetworkAttachment>();
  const std::string& rid = e->runsc_id;
  if (d_.network == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox '", e->id, "' was created with network.mode sandbox, but this driver "
        "runs with network.mode none; start it under the configuration that created it"));
  }
  // An imported sandbox has no allocation on this host yet: it gets a new
  // address (its connections did not survive the move anyway).
  auto attached = d_.network->IsOurs(rid) ? d_.network->PrepareRestore(rid)
                                          : d_.network->Setup(rid, e->name);
  if (!attached.ok()) {
    return absl::Status(attached.status().code(),
                        absl::StrCat("sandbox network: ", attached.status().message()));
  }
  if (e->plan.policy_fence) {
    if (auto st = ApplyPolicyFence(e, request); !st.ok()) return st;
  }
  return std::optional<NetworkAttachment>(*std::move(attached));
}

absl::Status SandboxManager::ApplyPolicyFence(const EntryPtr& e, const SandboxRequest& request) {
  static SystemHostResolver system_resolver;
  HostResolver& resolver = d_.resolver != nullptr ? *d_.resolver : system_resolver;
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
      spdlog::warn("sandbox {}: {}", e->id, message);
      PublishEvent(e->id, "Warning", "PolicyHostUnresolved", message);
    }
  }
  NetworkFence fence = BuildNetworkFence(policy, resolved);
  if (auto st = d_.network->ApplyFence(e->runsc_id, e->name, fence); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("sandbox network: policy fence: ", st.message()));
  }
  spdlog::info("sandbox {}: policy fence up: {} rule(s), {} name(s) in /etc/hosts", e->id,
               fence.rules.size(), fence.hosts.size());
  return absl::OkStatus();
}

void SandboxManager::PublishPolicyLimitations(const EntryPtr& e, const SandboxRequest& request) {
  std::vector<std::string> lines = request.spec.policy.not_enforced;
  FenceContext context;
  context.networked = e->plan.networked;
  context.egress_allowed = d_.config.network.egress == "allow";
  context.subnet = d_.config.network.subnet;
  for (auto& line : FenceLimitations(request.spec.policy, context)) lines.push_back(line);
  for (const auto& line : lines) {
    spdlog::warn("sandbox {}: policy not enforced: {}", request.id, line);
    PublishEvent(request.id, "Warning", "PolicyNotEnforced", line);
  }
}

void SandboxManager::DisconnectNetwork(const std::string& rid) {
  if (d_.network == nullptr || !d_.network->IsOurs(rid)) return;
  // A leftover is retried by the next start-up's orphan sweep, so a failure
  // here never blocks a delete.
  if (auto st = d_.network->Teardown(rid); !st.ok()) {
    spdlog::warn("sandbox {}: network teardown: {}", rid, st.ToString());
  }
}

}  // namespace osgv
