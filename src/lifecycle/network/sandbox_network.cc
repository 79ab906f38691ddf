// Configuration glue and the host-netns guard of sandbox_network.h. The
// real implementation is host_network.cc; the unit tests' fake is
// tests/unit/fake_sandbox_network.h.
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

}  // namespace osgv
