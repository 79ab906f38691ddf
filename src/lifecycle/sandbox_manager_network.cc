// SandboxManager: where a sandbox's lifecycle meets its network
// (docs/network.md, "Lifecycle"). The network itself lives behind
// SandboxNetwork; this file only decides when to call which part of it.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "lifecycle/bundle/oci_spec.h"
#include "lifecycle/fs_util.h"
#include "lifecycle/sandbox_manager.h"

namespace osgv {

absl::StatusOr<std::optional<NetworkAttachment>> SandboxManager::ConnectNetwork(
    const EntryPtr& e, bool networked) {
  if (!networked) return std::optional<NetworkAttachment>();
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
  return std::optional<NetworkAttachment>(*std::move(attached));
}

std::string SandboxManager::BundleNetnsPath(const std::string& rid) const {
  auto text = ReadFile(d_.layout.bundle(rid) + "/config.json");
  if (!text.ok()) return "";
  return SpecNetnsPath(nlohmann::json::parse(*text, nullptr, false));
}

bool SandboxManager::WantsNetwork(const SandboxRequest& request) const {
  if (d_.network == nullptr) return false;
  auto validated = ValidateSandboxRequest(request, d_.config);
  return validated.ok() && validated->networked;
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
