// Configuration glue, the host-netns guard and the fake of
// sandbox_network.h. The real implementation is host_network.cc.
#include "lifecycle/network/sandbox_network.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lifecycle/fs_util.h"

namespace osgv {

absl::StatusOr<HostNetworkOptions> HostNetworkOptionsFromConfig(const Config& config) {
  HostNetworkOptions o;
  o.state_dir = config.state_dir;
  o.bridge = config.network.bridge;
  o.subnet = config.network.subnet;
  if (config.network.egress != "allow" && config.network.egress != "deny") {
    return absl::InvalidArgumentError(
        absl::StrCat("network.egress: want allow or deny, got '", config.network.egress, "'"));
  }
  o.egress_allowed = config.network.egress == "allow";
  auto subnet = ParseSubnet(o.subnet);
  if (!subnet.ok()) return subnet.status();
  if (!config.gateway.endpoint.empty()) {
    auto endpoint = ParseGatewayEndpoint(config.gateway.endpoint);
    if (!endpoint.ok()) return endpoint.status();
    // Opened on the bridge address whatever the endpoint's host: a gateway
    // elsewhere is reached as egress and the open port then answers nobody.
    o.gateway_port = endpoint->port;
  }
  if (o.egress_allowed) {
    // The host's resolvers, when a sandbox can reach them through egress.
    auto text = ReadFile("/etc/resolv.conf");
    if (text.ok()) o.dns_servers = SandboxNameservers(*text, subnet->first, subnet->second);
  }
  return o;
}

absl::Status CheckNotHostNetns(const std::string& netns_path) {
  struct stat ns {};
  struct stat self {};
  if (netns_path.empty()) {
    return absl::FailedPreconditionError("network namespace path is empty");
  }
  if (stat(netns_path.c_str(), &ns) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("network namespace ", netns_path, ": ", std::strerror(errno)));
  }
  if (stat("/proc/self/ns/net", &self) != 0) {
    return absl::InternalError(absl::StrCat("stat /proc/self/ns/net: ", std::strerror(errno)));
  }
  if (ns.st_dev == self.st_dev && ns.st_ino == self.st_ino) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing network namespace ", netns_path,
        ": it is the driver's own (host) namespace, and runsc would strip its addresses"));
  }
  return absl::OkStatus();
}

// ---- FakeSandboxNetwork -------------------------------------------------------

absl::Status FakeSandboxNetwork::EnsureHost() {
  std::lock_guard<std::mutex> lock(mu);
  calls.push_back("ensure-host");
  return absl::OkStatus();
}

absl::StatusOr<NetworkAttachment> FakeSandboxNetwork::Setup(const std::string& runsc_id,
                                                            const std::string& hostname) {
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

absl::StatusOr<NetworkAttachment> FakeSandboxNetwork::PrepareRestore(const std::string& runsc_id) {
  std::lock_guard<std::mutex> lock(mu);
  calls.push_back("restore " + runsc_id);
  auto it = attached.find(runsc_id);
  if (it == attached.end()) {
    return absl::FailedPreconditionError("network: no attachment for " + runsc_id);
  }
  return it->second;
}

absl::Status FakeSandboxNetwork::Teardown(const std::string& runsc_id) {
  std::lock_guard<std::mutex> lock(mu);
  calls.push_back("teardown " + runsc_id);
  attached.erase(runsc_id);
  return absl::OkStatus();
}

bool FakeSandboxNetwork::IsOurs(const std::string& runsc_id) {
  std::lock_guard<std::mutex> lock(mu);
  return attached.count(runsc_id) > 0;
}

absl::StatusOr<std::vector<std::string>> FakeSandboxNetwork::ListAttachments() {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<std::string> ids;
  for (const auto& [id, a] : attached) ids.push_back(id);
  return ids;
}

}  // namespace osgv
