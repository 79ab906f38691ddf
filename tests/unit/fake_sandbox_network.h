// FakeSandboxNetwork: the SandboxNetwork of the unit tests. It records the
// calls; Setup hands out 10.89.0.2, .3, ... with fake paths. Test code
// only: it must never be linked into the driver.
//
// Header-only so the unit test glob (unit/*_test.cc) needs no change.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lifecycle/network/sandbox_network.h"

namespace osgv {

class FakeSandboxNetwork : public SandboxNetwork {
 public:
  absl::Status EnsureHost() override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("ensure-host");
    return absl::OkStatus();
  }

  absl::StatusOr<NetworkAttachment> Setup(const std::string& runsc_id,
                                          const std::string& hostname) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("setup " + runsc_id);
    if (!fail_setup.ok()) return fail_setup;
    if (auto it = attached.find(runsc_id); it != attached.end()) return it->second;
    NetworkAttachment a;
    a.runsc_id = runsc_id;
    a.netns_path = "/run/netns/" + runsc_id;
    a.host_link = HostLinkNameFor("osgvh", runsc_id);
    a.sandbox_ip = absl::StrCat("10.89.0.", next_host++);
    a.gateway_ip = "10.89.0.1";
    a.prefix_len = 16;
    a.hosts_path = "/fake/network/" + runsc_id + ".hosts";
    a.resolv_conf_path = "/fake/network/" + runsc_id + ".resolv.conf";
    attached[runsc_id] = a;
    return a;
  }

  absl::StatusOr<NetworkAttachment> PrepareRestore(const std::string& runsc_id) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("restore " + runsc_id);
    auto it = attached.find(runsc_id);
    if (it == attached.end()) {
      return absl::FailedPreconditionError("network: no attachment for " + runsc_id);
    }
    return it->second;
  }

  absl::Status ApplyFence(const std::string& runsc_id, const std::string& hostname,
                          const NetworkFence& fence) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("fence " + runsc_id);
    if (attached.count(runsc_id) == 0) {
      return absl::FailedPreconditionError("network: no attachment for " + runsc_id);
    }
    fences[runsc_id] = fence;
    fence_hostnames[runsc_id] = hostname;
    return absl::OkStatus();
  }

  absl::Status Teardown(const std::string& runsc_id) override {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("teardown " + runsc_id);
    attached.erase(runsc_id);
    return absl::OkStatus();
  }

  bool IsOurs(const std::string& runsc_id) override {
    std::lock_guard<std::mutex> lock(mu);
    return attached.count(runsc_id) > 0;
  }

  absl::StatusOr<std::vector<std::string>> ListAttachments() override {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> ids;
    for (const auto& [id, a] : attached) ids.push_back(id);
    return ids;
  }

  std::mutex mu;
  std::vector<std::string> calls;  // "setup <id>", "restore <id>", "fence <id>", ...
  std::map<std::string, NetworkAttachment> attached;
  std::map<std::string, NetworkFence> fences;  // the last ApplyFence of each id
  std::map<std::string, std::string> fence_hostnames;
  absl::Status fail_setup = absl::OkStatus();  // returned by the next Setups
  int next_host = 2;
};

}  // namespace osgv
